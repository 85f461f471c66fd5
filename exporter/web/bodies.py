"""Reading request bodies within limits, and decoding JSON safely."""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import EofStream
from aiohttp.web_protocol import RequestPayloadError

from exporter.errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType

log = logging.getLogger("exporter.web")

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_DIRECTORY_BODY_BYTES = 256 * 1024
BODY_READ_SECONDS = 120.0
"""A body must arrive whole within this (16 MiB at 140 kB/s): slow clients are cut off."""


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


_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CHUNK = 64 * 1024


def content_decoder(request: web.Request) -> Any | None:
    """A zlib decompressor for the body's ``Content-Encoding``; ``None`` for none or identity.

    ``gzip`` and ``deflate`` (zlib-wrapped, or raw as some clients send it) are decoded; any
    other coding, or a stack of several, is ``415`` (aiohttp's own decoding is turned off so
    that every failure here answers in the JSON shape).
    """
    codings = [
        part.strip().lower()
        for part in request.headers.get("Content-Encoding", "").split(",")
        if part.strip().lower() not in ("", "identity")
    ]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
        return zlib.decompressobj(_GZIP_WBITS)
    if codings == ["deflate"]:
        return _DeflateDecoder()
    raise UnsupportedMediaType(
        f"Content-Encoding {', '.join(codings)[:64]!r} is not supported; "
        "send the body as is, gzip or deflate."
    )


class _DeflateDecoder:
    """``deflate`` as RFC 9110 says (zlib-wrapped) or as some clients send it (raw)."""

    def __init__(self) -> None:
        self._inner: Any | None = None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return bytes(self._inner.decompress(data, max_length))

    @property
    def eof(self) -> bool:
        return self._inner is not None and bool(self._inner.eof)

    @property
    def unused_data(self) -> bytes:
        return b"" if self._inner is None else bytes(self._inner.unused_data)

    @property
    def unconsumed_tail(self) -> bytes:
        return b"" if self._inner is None else bytes(self._inner.unconsumed_tail)


async def read_bytes(request: web.Request, limit: int) -> bytes:
    """The decoded body, at most ``limit`` bytes before and after decoding (else ``413``).

    A corrupt or truncated encoding is ``400``, one not supported ``415``; a client gone
    mid-body is logged at info, without a traceback, and answered ``400`` (nobody reads it).
    """
    decoder = content_decoder(request)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(BODY_READ_SECONDS):
            async for received in request.content.iter_chunked(_CHUNK):
                chunk = received if decoder is None else _inflate(decoder, received, limit - size)
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.")
                chunks.append(chunk)
    except TimeoutError:
        log.info("a body arrived too slowly", extra={"path": request.path})
        raise RequestTimeout(
            f"The body did not arrive within {BODY_READ_SECONDS:g} s; nothing was stored."
        ) from None
    except (ConnectionError, EofStream, HttpProcessingError, RequestPayloadError) as error:
        log.info(
            "the client went away or broke off the body",
            extra={"path": request.path, "error": type(error).__name__},
        )
        raise BadRequest("The body ended before it was complete.") from None
    if decoder is not None and not decoder.eof:
        raise BadRequest("The compressed body is truncated.", detail="the stream never ended")
    return b"".join(chunks)


def _inflate(decoder: Any, chunk: bytes, room: int) -> bytes:
    """Decompress ``chunk``; at most ``room + 1`` bytes (a bomb stops at the limit)."""
    if decoder.eof:
        if chunk:
            raise BadRequest("The compressed body has data after its end.")
        return b""
    try:
        out = bytes(decoder.decompress(chunk, room + 1))
    except zlib.error:
        raise BadRequest(
            "The body is not valid for its Content-Encoding.", detail="corrupt compressed data"
        ) from None
    if decoder.unconsumed_tail and len(out) <= room:  # pragma: no cover  (zlib fills max_length)
        raise BadRequest("The compressed body could not be decoded.")
    if decoder.unused_data:
        raise BadRequest("The compressed body has data after its end.")
    return out


async def read_text(request: web.Request, limit: int) -> str:
    """The decoded body as UTF-8 text; ``400`` for bytes that aren't UTF-8 (see ``read_bytes``)."""
    data = await read_bytes(request, limit)
    try:
        return data.decode("utf-8")
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
