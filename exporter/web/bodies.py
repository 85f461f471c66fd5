"""Reading request bodies within limits, and decoding JSON safely."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from exporter.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_DIRECTORY_BODY_BYTES = 256 * 1024


def media_type(request: web.Request, allowed: tuple[str, ...]) -> str:
    """The request's media type when it is one of ``allowed``, else ``415``."""
    kind = request.content_type.lower()
    if kind not in allowed:
        raise UnsupportedMediaType(
            f"Content type {kind[:64]!r} is not supported; use {' or '.join(allowed)}."
        )
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"Charset {charset[:32]!r} is not supported; bodies are UTF-8.",
        )
    return kind


async def read_text(request: web.Request, limit: int) -> str:
    """The body as UTF-8 text; ``413`` past ``limit`` bytes, ``400`` for bytes that aren't UTF-8."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(
            "The body is not valid UTF-8.", detail=f"bad byte at {error.start}"
        ) from None


def decode_json(text: str, *, what: str = "The body") -> Any:
    """Parse JSON; ``400`` with the position for malformed or absurdly nested input."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"{what} is not valid JSON.", detail=f"{error.msg} at line {error.lineno}"
        ) from None
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply.") from None
    except ValueError as error:  # e.g. an integer literal over Python's 4300-digit limit
        raise BadRequest(f"{what} is not valid JSON.", detail=str(error)[:200]) from None


async def read_json_object(request: web.Request, limit: int = MAX_DIRECTORY_BODY_BYTES) -> Any:
    """A JSON object body (``application/json``)."""
    media_type(request, ("application/json",))
    value = decode_json(await read_text(request, limit))
    if not isinstance(value, dict):
        raise BadRequest("The body must be a JSON object.")
    return value
