"""Serving the application: refusals made before any handler runs answer in the JSON shape too.

aiohttp refuses a request whose line or headers it cannot parse (too long, a control
character in a value, a bad method) before the application sees it, with a plain-text body
that echoes the offending bytes and a logged traceback holding them: a token with a stray CR
ended up in both. ``Runner`` serves the application through a protocol whose refusals are
the JSON errors of docs/api.md with the security headers, logged at info without the bytes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, LineTooLong
from aiohttp.web_protocol import RequestHandler

from exporter.web.errors import SECURITY_HEADERS, SERVER_HEADER, error_response

log = logging.getLogger("exporter.web")

__all__ = ["JsonErrorProtocol", "Runner", "serve_forever"]


class JsonErrorProtocol(RequestHandler):
    """aiohttp's HTTP protocol, with its own refusals answered as JSON errors."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,  # aiohttp's text, which echoes the request: never used
    ) -> web.StreamResponse:
        """A JSON error for a request aiohttp refused; the request's bytes go nowhere."""
        log.info(
            "refused a malformed request",
            extra={"status": status, "error": type(exc).__name__ if exc else None},
        )
        if request.writer.output_size > 0:  # a response is under way: nothing more to say
            raise ConnectionError("response already started")
        response = error_response(status, {"message": _message(status, exc)})
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        response.headers["Server"] = SERVER_HEADER
        response.force_close()
        return response


def _message(status: int, exc: BaseException | None) -> str:
    if status == 504:
        return "The request took too long."
    if status >= 500:
        return "internal error"
    if isinstance(exc, LineTooLong):
        return "The request line or a header is too long."
    if isinstance(exc, (BadStatusLine, BadHttpMethod)):
        return "The request line is malformed."
    return "The request's headers or framing are malformed."


class _JsonErrorServer(web.Server):
    """aiohttp's connection factory, making ``JsonErrorProtocol`` connections."""

    def __call__(self) -> RequestHandler:
        return JsonErrorProtocol(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` whose connections speak ``JsonErrorProtocol``.

    Handlers are not cancelled when their client goes away (aiohttp's default for
    ``run_app``): a write that began is finished or rolled back by the store, not cut short.
    """

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs["handler_cancellation"] = False
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        return _JsonErrorServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            # aiohttp keeps these private; tests/test_hostile_http.py pins them.
            loop=made._loop,
            **made._kwargs,
        )


async def serve_forever(
    app: web.Application, *, host: str, port: int, shutdown_timeout: float, **kwargs: Any
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then finish in-flight requests and stop."""
    runner = Runner(app, shutdown_timeout=shutdown_timeout, **kwargs)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
