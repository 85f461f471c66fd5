"""Storing, listing, revoking and checking API tokens."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.auth import NewToken, Principal, new_token, secret_matches, split_token
from exporter.errors import NotFound, Unauthorized
from exporter.store.directory import roles_of
from exporter.store.schema import api_tokens, users


@dataclasses.dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as ``tokens list`` shows it (never the secret)."""

    id: str
    user_id: str
    username: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None


async def create_token(
    connection: AsyncConnection, user_id: str, *, now: float, lifetime: float | None
) -> NewToken:
    """Store a new token for a live user."""
    user = await connection.execute(
        sa.select(users.c.id).where(users.c.id == user_id, users.c.deleted_at.is_(None))
    )
    if user.first() is None:
        raise NotFound(f"User {user_id!r} does not exist.")
    token = new_token()
    await connection.execute(
        sa.insert(api_tokens).values(
            id=token.id,
            user_id=user_id,
            secret_sha256=token.secret_sha256,
            created_at=int(now),
            expires_at=None if lifetime is None else int(now + lifetime),
        )
    )
    return token


async def list_tokens(connection: AsyncConnection) -> list[TokenInfo]:
    """Every token, newest first."""
    rows = await connection.execute(
        sa.select(api_tokens, users.c.username)
        .join(users, users.c.id == api_tokens.c.user_id)
        .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
    )
    return [
        TokenInfo(
            id=row.id,
            user_id=row.user_id,
            username=row.username,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


async def revoke_token(connection: AsyncConnection, token_id: str, *, now: float) -> None:
    """Revoke a token; it stops working at once."""
    result = await connection.execute(
        sa.update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=int(now))
    )
    if not result.rowcount:
        raise NotFound(f"Token {token_id[:32]!r} does not exist or is revoked already.")


async def authenticate(connection: AsyncConnection, text: str, *, now: float) -> Principal:
    """The principal behind a token; ``Unauthorized`` for anything unusable."""
    parts = split_token(text)
    if parts is None:
        raise Unauthorized("The token is malformed.")
    token_id, secret = parts
    row = (
        await connection.execute(
            sa.select(api_tokens, users.c.deleted_at.label("user_deleted_at"))
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.id == token_id)
        )
    ).first()
    if row is None or not secret_matches(secret, row.secret_sha256):
        raise Unauthorized("The token is unknown.")
    if row.revoked_at is not None or row.user_deleted_at is not None:
        raise Unauthorized("The token is revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("The token is expired.")
    site, organization = await roles_of(connection, row.user_id)
    return Principal(row.user_id, site, organization)
