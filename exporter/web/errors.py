"""One middleware that answers every failure in the JSON error shape of docs/api.md."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from exporter.errors import ApiError, RequestTimeout

log = logging.getLogger("exporter.web")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SERVER_HEADER = "usage-metrics"
"""The ``Server`` header: the product, no versions of it or of Python and aiohttp."""


def error_response(status: int, body: dict[str, object]) -> web.Response:
    """A JSON error response."""
    return web.json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ``ApiError``, aiohttp's HTTP errors and anything unexpected into JSON errors."""
    request_id = uuid.uuid4().hex
    try:
        response = await handler(request)
    except ApiError as error:
        response = error_response(error.status, error.body())
        response.headers.update(error.headers())
        if isinstance(error, RequestTimeout):  # the rest of its body is not worth waiting for
            response.force_close()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = error_response(error.status, {"message": _http_message(error)})
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
    except Exception:
        log.exception("unhandled error", extra={"request_id": request_id, "path": request.path})
        response = error_response(500, {"message": "internal error", "detail": request_id})
    response.headers["X-Request-Id"] = request_id
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER_HEADER
    return response


def _http_message(error: web.HTTPException) -> str:
    if error.status == 404:
        return "No such route."
    if error.status == 405:
        return f"Method not allowed; use {error.headers.get('Allow', 'another method')}."
    if error.status == 413:
        return "The request body is too large."
    return error.reason + "."
