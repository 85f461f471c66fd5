"""Helpers for the activity report tests: ingesting events and asking for reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp.test_utils import TestClient

from exporter.events import parse_events
from exporter.store import Store, directory

REPORT = "/api/private/metrics/activity"
NS_PER_MINUTE = 60 * 10**9


async def ingest(store: Store, events: Sequence[Mapping[str, Any]]) -> None:
    """Validate and store events as ``POST /api/v1/activity`` would, at the store's clock."""
    await store.ingest(parse_events(list(events), store.ingest_limits()))


async def put_user(
    store: Store,
    user_id: str,
    *,
    username: str,
    name: str = "",
    avatar_hash: str = "",
    roles: Sequence[str] = (),
) -> None:
    """PUT a user's profile into the directory."""
    async with store.write() as connection:
        await store.directory(connection).put_user(
            user_id,
            directory.UserRecord(
                username=username, name=name, avatar_hash=avatar_hash, roles=list(roles)
            ),
        )


async def put_organization(store: Store, organization_id: str, name: str) -> None:
    """PUT an organization into the directory."""
    async with store.write() as connection:
        await store.directory(connection).put_organization(
            organization_id, name=name, display_name=name.title()
        )


async def get_report(
    client: TestClient[Any, Any], headers: Mapping[str, str], **params: str
) -> tuple[int, Any]:
    """Status and JSON body of ``GET /api/private/metrics/activity`` with these parameters."""
    response = await client.get(REPORT, params=params, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.json()


def counts(body: Mapping[str, Any]) -> list[dict[str, int]]:
    """Each bucket's counts by user, checking that durations agree with counts."""
    result = []
    for bucket in body["activity"]:
        for entry in bucket["user_activity"]:
            assert entry["duration"] == entry["count"] * NS_PER_MINUTE
        result.append({e["user_id"]: e["count"] for e in bucket["user_activity"]})
    return result
