"""``tokens`` commands: the secret is printed once, alone, by ``tokens create``."""

from __future__ import annotations

import argparse

from exporter.cli.common import CommandError, print_table, run_with_store
from exporter.config import parse_duration
from exporter.store import Store, directory
from exporter.store.tokens import TokenInfo, create_token, list_tokens, revoke_token
from exporter.timeutil import format_utc


def tokens_create(args: argparse.Namespace) -> int:
    """Create a token for a user and print it (only it) on standard output."""
    lifetime = None
    if args.lifetime is not None:
        try:
            lifetime = parse_duration(args.lifetime)
        except ValueError as error:
            raise CommandError(f"--lifetime: {error}") from None

    async def work(store: Store) -> str:
        async with store.write() as connection:
            user_id = await directory.find_user_id(connection, args.user)
            token = await create_token(connection, user_id, now=store.clock(), lifetime=lifetime)
            return token.text

    print(run_with_store(args, work))
    return 0


def tokens_list(args: argparse.Namespace) -> int:
    """Print every token's id, user and state (never a secret)."""

    async def work(store: Store) -> list[TokenInfo]:
        async with store.read() as connection:
            return await list_tokens(connection)

    rows: list[tuple[str, ...]] = [("ID", "USER", "CREATED", "EXPIRES", "STATE")]
    for token in run_with_store(args, work, migrate=False):
        state = "revoked" if token.revoked_at is not None else "active"
        rows.append(
            (
                token.id,
                token.username,
                format_utc(token.created_at),
                "never" if token.expires_at is None else format_utc(token.expires_at),
                state,
            )
        )
    print_table(rows)
    return 0


def tokens_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by id; it stops working at once."""

    async def work(store: Store) -> None:
        async with store.write() as connection:
            await revoke_token(connection, args.id, now=store.clock())

    run_with_store(args, work)
    print(f"revoked {args.id}")
    return 0
