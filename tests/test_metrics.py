"""/metrics (docs/metrics.md): gauges from a refreshed snapshot, counters from monotonic totals."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpClient

from exporter.config import Config
from exporter.metric_families import FAMILIES, SOURCE_FAMILIES
from exporter.model import EVENT_CATEGORIES
from exporter.store.schema import activity
from exporter.web import create_app
from exporter.web.keys import REFRESHER, STORE
from tests.conftest import PostgresDatabases
from tests.metrics_helpers import active, refresh, scrape, value
from tests.support import T0, FakeClock, event, iso, make_token

METRICS_DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"

CATEGORIES = ["any", *(c.token for c in EVENT_CATEGORIES)]
WINDOWS = ["1h", "1d", "7d", "30d"]
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


async def post(
    client: TestClient[Any, Any], headers: dict[str, str], *events: dict[str, Any]
) -> None:
    """Ingest events through the API and insist they were accepted."""
    response = await client.post("/api/v1/activity", json={"events": list(events)}, headers=headers)
    assert response.status == 200, await response.text()


async def test_window_edges_are_exact_to_the_minute(
    client: TestClient[Any, Any], admin_headers: dict[str, str], clock: FakeClock
) -> None:
    """A 1 h window at 12:00:30 holds minutes 11:01..12:00: 11:01 counts, 11:00 does not."""
    await post(
        client,
        admin_headers,
        event("edge-in", iso(T0 - dt.timedelta(minutes=59)), category="ide", organization_id=None),
    )
    await post(
        client,
        admin_headers,
        event("edge-out", iso(T0 - dt.timedelta(minutes=60)), category="app", organization_id=None),
    )
    clock.set(T0 + dt.timedelta(seconds=30))
    await refresh(client)
    samples = await scrape(client)
    assert active(samples, "any", "ide", "1h") == 1
    assert active(samples, "any", "app", "1h") == 0
    assert active(samples, "any", "app", "1d") == 1
    assert active(samples, "any", "any", "1h") == 1
    clock.set(T0 + dt.timedelta(minutes=1))
    await refresh(client)
    assert active(await scrape(client), "any", "ide", "1h") == 0


async def test_current_minute_counts_and_future_minutes_wait(
    client: TestClient[Any, Any], admin_headers: dict[str, str], clock: FakeClock
) -> None:
    """The minute holding now is in every window; a minute ahead of now counts once it arrives."""
    await post(
        client, admin_headers, event("now", iso(T0), category="tunnel", organization_id=None)
    )
    await post(
        client,
        admin_headers,
        event("ahead", iso(T0 + dt.timedelta(minutes=3)), category="tunnel", organization_id=None),
    )
    await refresh(client)
    assert active(await scrape(client), "any", "tunnel", "1h") == 1
    clock.advance(3 * 60)
    await refresh(client)
    assert active(await scrape(client), "any", "tunnel", "1h") == 2


async def test_future_minute_does_not_hide_earlier_activity(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """A user whose newest minute is ahead of now still counts for the minutes before it."""
    await post(
        client,
        admin_headers,
        event("early", iso(T0 - dt.timedelta(minutes=10)), category="ide", organization_id=None),
        event("early", iso(T0 + dt.timedelta(minutes=4)), category="ide", organization_id=None),
    )
    await refresh(client)
    samples = await scrape(client)
    assert active(samples, "any", "ide", "1h") == 1
    assert active(samples, "default", "any", "1h") == 1


async def test_future_minute_over_older_activity(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """Ahead of now, with nothing in the last two hours: the older minute decides the windows."""
    await post(
        client,
        admin_headers,
        event("back", iso(T0 - dt.timedelta(days=3)), category="ide", organization_id=None),
        event("back", iso(T0 + dt.timedelta(minutes=4)), category="ide", organization_id=None),
    )
    await refresh(client)
    samples = await scrape(client)
    assert [active(samples, "any", "ide", window) for window in ("1d", "7d", "30d")] == [0, 1, 1]


async def test_any_is_a_distinct_union(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """A user in two categories and two organizations counts once in each union."""
    for org in ("alpha", "beta"):
        response = await client.put(
            f"/api/v1/organizations/{org}", json={"name": org}, headers=admin_headers
        )
        assert response.status == 201
    await post(
        client,
        admin_headers,
        event("u1", iso(T0), category="ide", organization_id="alpha"),
        event("u1", iso(T0), category="app", organization_id="beta"),
        event("u2", iso(T0 - dt.timedelta(days=2)), category="ide", organization_id="alpha"),
    )
    await refresh(client)
    samples = await scrape(client)
    assert active(samples, "alpha", "ide", "1d") == 1
    assert active(samples, "alpha", "ide", "7d") == 2
    assert active(samples, "beta", "app", "1d") == 1
    assert active(samples, "beta", "ide", "1d") == 0
    assert active(samples, "alpha", "any", "1d") == 1
    assert active(samples, "any", "ide", "1d") == 1
    assert active(samples, "any", "any", "1d") == 1
    assert active(samples, "any", "any", "7d") == 2
    assert (
        value(samples, "usage_activity_seconds_total", organization="alpha", category="ide") == 120
    )
    assert value(samples, "usage_activity_seconds_total", organization="beta", category="app") == 60
    assert (
        value(samples, "usage_activity_seconds_total", organization="any", category="ide") is None
    )
    assert (
        value(samples, "usage_activity_seconds_total", organization="alpha", category="any") is None
    )
    assert (
        value(samples, "usage_last_activity_timestamp_seconds", organization="any", category="any")
        == T0.timestamp()
    )


async def test_every_combination_is_exported_with_zeros(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """Organizations (plus any) x categories (plus any) x windows are all present, zeros too."""
    response = await client.put(
        "/api/v1/organizations/o1", json={"name": "quiet"}, headers=admin_headers
    )
    assert response.status == 201
    await refresh(client)
    samples = await scrape(client)
    for org in ("any", "default", "quiet"):
        for category in CATEGORIES:
            for window in WINDOWS:
                assert active(samples, org, category, window) == 0, (org, category, window)
        assert value(samples, "usage_users", organization=org) is not None
        assert value(samples, "usage_dormant_users", organization=org) is not None
    for category in CATEGORIES[1:]:
        assert (
            value(samples, "usage_activity_seconds_total", organization="quiet", category=category)
            == 0
        )
    assert (
        value(
            samples,
            "usage_organization_info",
            organization="quiet",
            organization_id="o1",
            display_name="",
        )
        == 1
    )
    assert value(samples, "usage_up") == 1


async def test_deleted_organization_disappears_and_renamed_one_moves(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """A deleted organization's series leave; a rename changes the label."""
    for org in ("gone", "moving"):
        await client.put(f"/api/v1/organizations/{org}", json={"name": org}, headers=admin_headers)
    await post(
        client,
        admin_headers,
        event("u1", iso(T0), category="ide", organization_id="gone"),
        event("u1", iso(T0), category="ide", organization_id="moving"),
    )
    assert (await client.delete("/api/v1/organizations/gone", headers=admin_headers)).status == 204
    response = await client.put(
        "/api/v1/organizations/moving", json={"name": "moved"}, headers=admin_headers
    )
    assert response.status == 200
    await refresh(client)
    samples = await scrape(client)
    labels = {dict(key[1]).get("organization") for key in samples}
    assert "gone" not in labels
    assert "moving" not in labels
    assert active(samples, "moved", "ide", "1h") == 1
    assert active(samples, "any", "ide", "1h") == 1


async def test_users_and_dormant_users(
    client: TestClient[Any, Any], admin_headers: dict[str, str], clock: FakeClock
) -> None:
    """Seats leave out deleted users and service accounts; dormancy runs from last activity."""
    store = client.app[STORE]
    await client.put("/api/v1/organizations/acme", json={"name": "acme"}, headers=admin_headers)
    await make_token(store, "writer", roles=["activity-writer"])
    for user in ("active", "idle", "never", "deleted"):
        body = {"username": user, "organizations": {"acme": ["organization-member"]}}
        assert (
            await client.put(f"/api/v1/users/{user}", json=body, headers=admin_headers)
        ).status == 201
    await post(
        client, admin_headers, event("idle", iso(T0), category="login", organization_id="acme")
    )
    clock.advance(91 * 86400)
    await post(
        client,
        admin_headers,
        event(
            "active",
            iso(dt.datetime.fromtimestamp(clock.now, dt.UTC)),
            category="login",
            organization_id="acme",
        ),
    )
    assert (await client.delete("/api/v1/users/deleted", headers=admin_headers)).status == 204
    await refresh(client)
    samples = await scrape(client)
    assert value(samples, "usage_users", organization="acme") == 3
    assert value(samples, "usage_dormant_users", organization="acme") == 2
    # admin (created at T0, never active) is dormant too; "writer" is a service account.
    assert value(samples, "usage_users", organization="any") == 4
    assert value(samples, "usage_dormant_users", organization="any") == 3


async def test_suspended_users_are_no_seats(
    client: TestClient[Any, Any], admin_headers: dict[str, str], clock: FakeClock
) -> None:
    """A suspended member leaves usage_users and usage_dormant_users for usage_suspended_users."""
    await client.put("/api/v1/organizations/acme", json={"name": "acme"}, headers=admin_headers)
    for user, status in (("worker", "active"), ("away", "suspended"), ("idle", "suspended")):
        body = {"username": user, "status": status, "organizations": {"acme": []}}
        response = await client.put(f"/api/v1/users/{user}", json=body, headers=admin_headers)
        assert response.status == 201
        assert (await response.json())["status"] == status
    await post(
        client, admin_headers, event("away", iso(T0), category="ide", organization_id="acme")
    )
    clock.advance(91 * 86400)  # everyone dormant now
    await refresh(client)
    samples = await scrape(client)
    assert value(samples, "usage_users", organization="acme") == 1
    assert value(samples, "usage_dormant_users", organization="acme") == 1
    assert value(samples, "usage_suspended_users", organization="acme") == 2
    assert value(samples, "usage_suspended_users", organization="any") == 2
    listed = await client.get("/api/v1/users?org=acme", headers=admin_headers)
    assert {u["id"]: u["status"] for u in (await listed.json())["users"]} == {
        "worker": "active",
        "away": "suspended",
        "idle": "suspended",
    }
    bad = await client.put(
        "/api/v1/users/worker", json={"username": "worker", "status": "gone"}, headers=admin_headers
    )
    assert bad.status == 400
    assert (await bad.json())["validations"] == [
        {"field": "status", "detail": "must be one of active, suspended"}
    ]


async def test_replays_and_pruning_never_move_counters(
    client: TestClient[Any, Any], admin_headers: dict[str, str], clock: FakeClock
) -> None:
    """Replaying a batch leaves the counter; pruning old rollups leaves it too."""
    session = event(
        "u1",
        iso(T0 - dt.timedelta(hours=2)),
        category="app",
        organization_id=None,
        end_time=iso(T0 - dt.timedelta(hours=1)),
    )
    await post(client, admin_headers, session)
    await post(client, admin_headers, session)
    await refresh(client)
    before = value(
        await scrape(client), "usage_activity_seconds_total", organization="default", category="app"
    )
    assert before == 3600
    clock.advance(401 * 86400)
    refresher = client.app[REFRESHER]
    await refresher.prune_if_due()
    async with client.app[STORE].read() as connection:
        assert (
            await connection.execute(sa.select(sa.func.count()).select_from(activity))
        ).scalar_one() == 0
    await refresh(client)
    samples = await scrape(client)
    assert (
        value(samples, "usage_activity_seconds_total", organization="default", category="app")
        == before
    )
    assert active(samples, "any", "any", "30d") == 0


async def test_openmetrics_and_gzip(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """OpenMetrics parses with the official parser, each family once; gzip decodes to the same."""
    await post(client, admin_headers, event("u1", iso(T0), category="ide", organization_id=None))
    await refresh(client)
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = await response.text()
    # prometheus_client leaves its OpenMetrics parser unannotated.
    families = [f.name for f in parse_om(text)]  # type: ignore[no-untyped-call]
    assert len(families) == len(set(families))
    assert {"usage_active_users", "usage_activity_seconds", "usage_up"} <= set(families)
    assert text.count("# TYPE usage_active_users gauge") == 1
    assert text.endswith("# EOF\n")
    plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    for accept, last_line in (("text/plain", b"process_max_fds"), (OPENMETRICS, b"# EOF")):
        zipped = await client.get(
            "/metrics",
            headers={"Accept-Encoding": "gzip", "Accept": accept},
            auto_decompress=False,
        )
        assert zipped.headers["Content-Encoding"] == "gzip"
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)  # reads exactly one gzip member
        unzipped = member.decompress(await zipped.read())
        assert member.eof, "one complete gzip member"
        assert member.unused_data == b"", "nothing after the first member"
        assert b"usage_active_users" in unzipped
        assert unzipped.splitlines()[-1].startswith(last_line)


async def test_no_per_user_label(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """No label value anywhere in /metrics is a user id or username."""
    await post(
        client,
        admin_headers,
        event("someone-unique", iso(T0), category="ide", organization_id=None),
    )
    await refresh(client)
    text = await (await client.get("/metrics")).text()
    assert "someone-unique" not in text


@pytest.fixture
async def guarded_client(
    aiohttp_client: AiohttpClient, database_url: str, clock: FakeClock
) -> TestClient[Any, Any]:
    """The app with USAGE_METRICS_METRICS_TOKEN set."""
    config = Config(database_url=database_url, metrics_token="scrape-secret")
    return await aiohttp_client(create_app(config, clock=clock))


async def test_metrics_token(guarded_client: TestClient[Any, Any]) -> None:
    """With a metrics token set, /metrics needs it as a bearer token."""
    assert (await guarded_client.get("/metrics")).status == 401
    wrong = await guarded_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await wrong.json())["message"].startswith("/metrics needs")
    right = await guarded_client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status == 200


async def test_scrape_while_store_is_down_serves_previous_values(
    aiohttp_client: AiohttpClient, postgres_databases: PostgresDatabases, clock: FakeClock
) -> None:
    """With the database gone, a scrape answers at once with the last values and usage_up 0.

    PostgreSQL only: an embedded SQLite file cannot go away underneath a running process.
    """
    database_url = postgres_databases.create()
    client = await aiohttp_client(create_app(Config(database_url=database_url), clock=clock))
    admin_headers = {
        "Session-Token": await make_token(client.app[STORE], "admin", roles=["site-admin"])
    }
    await post(client, admin_headers, event("u1", iso(T0), category="ide", organization_id=None))
    await refresh(client)
    url = sa.make_url(database_url)
    admin = url.set(database="postgres", drivername="postgresql").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
    assert not await client.app[REFRESHER].refresh()
    samples = await scrape(client)
    assert value(samples, "usage_up") == 0
    assert value(samples, "usage_refresh_errors_total") == 1
    assert active(samples, "any", "ide", "1h") == 1
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await client.get("/healthz")).status == 200


async def test_ingest_counters_are_current_on_every_scrape(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    """Accepted events and refused batches show at the next scrape, without a refresh."""
    before = await scrape(client)
    assert value(before, "usage_ingest_events_total") == 0
    await post(
        client,
        admin_headers,
        event("u1", iso(T0), category="ide", organization_id=None),
        event("u2", iso(T0), category="app", organization_id=None),
    )
    refused = await client.post(
        "/api/v1/activity", json={"events": [{"user_id": "u1"}]}, headers=admin_headers
    )
    assert refused.status == 400
    after = await scrape(client)
    assert value(after, "usage_ingest_events_total") == 2
    assert value(after, "usage_ingest_rejected_batches_total") == 1


async def test_scrape_exports_exactly_the_family_table(client: TestClient[Any, Any]) -> None:
    """/metrics carries the table's families with their types and help, nothing else of ours."""
    await refresh(client)
    response = await client.get("/metrics")
    scraped = {
        family.name: (family.type, family.documentation)
        for family in text_string_to_metric_families(await response.text())
        if not family.name.startswith("process_")
    }
    expected = {
        family.name: (family.kind, family.help)
        for family in FAMILIES
        if family not in SOURCE_FAMILIES  # only with a configured source
    }
    assert scraped == expected


def test_documented_metrics_table_is_the_family_table() -> None:
    """Each row of docs/metrics.md's table names a family with its type and labels."""
    section = (
        METRICS_DOC.read_text(encoding="utf-8").split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    )
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `usage_"):
            labels = () if cells[2] == "—" else tuple(re.findall(r"`([^`]+)`", cells[2]))
            rows[cells[0].strip("`")] = (cells[1], labels)
    assert rows == {family.sample_name: (family.kind, family.labels) for family in FAMILIES}
