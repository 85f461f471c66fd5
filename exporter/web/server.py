"""Serving the application: refusals made before any handler runs answer in the JSON shape too.

aiohttp refuses a request whose line or headers it cannot parse (too long, a control
character in a value, a bad method) before the application sees it, with a plain-text body
that echoes the offending bytes and a logged traceback holding them: a token with a stray CR
ended up in both. ``Runner`` serves the application through a protocol whose refusals are
the JSON errors of docs/api.md with the security headers, logged at info without the bytes.

Slow clients are cut off: a request's line and headers must arrive whole within
``HEADER_READ_SECONDS`` of their first byte (else a JSON ``408`` and the connection is
closed; bodies have their own deadline in ``bodies``), and a connection that starts no
request within ``IDLE_CONNECTION_SECONDS`` of opening or of its last answer is closed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from exporter.web.errors import SECURITY_HEADERS, SERVER_HEADER, error_response

log = logging.getLogger("exporter.web")

__all__ = ["JsonErrorProtocol", "Runner", "serve_forever"]

HEADER_READ_SECONDS = 10.0
"""A request's line and headers must arrive whole within this of their first byte."""
IDLE_CONNECTION_SECONDS = 75.0
"""A connection is closed when it starts no request within this of opening or of its last answer."""


class JsonErrorProtocol(RequestHandler):
    """aiohttp's HTTP protocol, with its own refusals answered as JSON errors."""

    __slots__ = ("_head_deadline",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does; the first byte of a request's head starts its deadline."""
        if self._head_deadline is None and self._awaiting_request():
            self._head_deadline = self._loop.call_later(HEADER_READ_SECONDS, self._head_too_slow)
        super().data_received(data)
        if self._head_deadline is not None and not self._awaiting_request():
            self._head_deadline.cancel()  # the head is complete (or refused)
            self._head_deadline = None

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget the head's deadline along with the connection."""
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _awaiting_request(self) -> bool:
        """The connection is between requests: aiohttp waits for the next request's head."""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _head_too_slow(self) -> None:
        """Answer ``408`` through aiohttp's own path for refused requests, then close."""
        self._head_deadline = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        self._messages.append((_ErrInfo(status=408, exc=TimeoutError(), message=""), EMPTY_PAYLOAD))
        waiter.set_result(None)

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
    if status == 408:
        return f"The request's headers did not arrive within {HEADER_READ_SECONDS:g} s."
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
    Idle connections close after ``IDLE_CONNECTION_SECONDS`` (aiohttp's runner keeps them an hour).
    """

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs["handler_cancellation"] = False
        kwargs.setdefault("keepalive_timeout", IDLE_CONNECTION_SECONDS)
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
