"""Finding the principal of a request from its token headers."""

from __future__ import annotations

from aiohttp import web

from exporter.auth import Principal
from exporter.errors import Unauthorized
from exporter.store.tokens import authenticate
from exporter.web.keys import STORE

_TOKEN_HEADERS = ("Session-Token", "Coder-Session-Token")


def presented_token(request: web.Request) -> str | None:
    """The token from ``Session-Token``, ``Coder-Session-Token`` or ``Authorization: Bearer``."""
    for header in _TOKEN_HEADERS:
        value = request.headers.get(header)
        if value:
            return value.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def principal(request: web.Request) -> Principal:
    """The authenticated principal; ``401`` when there is no usable token."""
    token = presented_token(request)
    if token is None:
        raise Unauthorized(
            "A token is required.",
            detail="Send it in the Session-Token header (or Authorization: Bearer).",
        )
    if not (token.isascii() and token.isprintable()):  # tokens are ASCII; the store needs text
        raise Unauthorized("The token is malformed.")
    store = request.app[STORE]

    async def look_up() -> Principal:
        async with store.read() as connection:
            return await authenticate(connection, token, now=store.clock())

    return await store.within_deadline(look_up())
