"""Bad ingest input: 400 with one validations entry per bad event, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.model import Category
from exporter.web.keys import STORE
from tests.support import (
    at,
    event,
    make_token,
    organization_row,
    post_events,
    post_raw,
    stored_activity,
    user_row,
    whole_state,
)

Client = TestClient[Any, Any]
Headers = dict[str, str]
IDE = int(Category.IDE)


# --- bad input: 400, and nothing stored -------------------------------------------------------

BAD_BODIES = [
    pytest.param(b'{"events": [', "application/json", "not valid JSON", id="truncated-json"),
    pytest.param(b"", "application/json", "not valid JSON", id="empty-json"),
    pytest.param(b"[]", "application/json", "JSON object", id="array-instead-of-object"),
    pytest.param(b'{"events": {}}', "application/json", "JSON object", id="events-not-a-list"),
    pytest.param(b'{"event": []}', "application/json", "JSON object", id="no-events-key"),
    pytest.param(b"null", "application/json", "JSON object", id="null"),
    pytest.param(
        b'{"events": [{"user_id": "\xff"}]}', "application/json", "UTF-8", id="invalid-utf8"
    ),
    pytest.param(b"\xef\xbb\xbf\xc3\x28", "application/json", "UTF-8", id="invalid-utf8-2"),
    pytest.param(b"[" * 100_000, "application/json", "nested", id="nesting-bomb"),
    pytest.param(
        b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "application/json",
        "nested",
        id="nested-events-bomb",
    ),
    pytest.param(b"[" * 100_000, "application/x-ndjson", "nested", id="ndjson-nesting-bomb"),
    pytest.param(
        b'{"user_id": "u1", "category": "ide", "time": "2026-11-24T10:00:00Z"}\n{oops\n',
        "application/x-ndjson",
        "Line 2",
        id="ndjson-bad-line",
    ),
    pytest.param(b"\xc3\x28\n", "application/x-ndjson", "UTF-8", id="ndjson-invalid-utf8"),
    pytest.param(
        b'{"events": [' + b"1" * 5000 + b"]}", "application/json", "not valid JSON", id="huge-int"
    ),
    pytest.param(b"9" * 5000, "application/x-ndjson", "Line 1", id="ndjson-huge-int"),
]


@pytest.mark.parametrize(("data", "content_type", "message"), BAD_BODIES)
async def test_malformed_body_is_400_and_stores_nothing(
    client: Client, admin_headers: Headers, data: bytes, content_type: str, message: str
) -> None:
    """Bodies that are not a batch of events are 400 with a one-line message."""
    before = await whole_state(client.app[STORE])
    status, body = await post_raw(client, admin_headers, data, content_type)
    assert status == 400
    assert message in body["message"]
    assert "\n" not in body["message"]
    assert await whole_state(client.app[STORE]) == before


GOOD = event("good-user", organization_id="good-org")

BAD_EVENTS = [
    pytest.param("not an object", "events[1]", id="string"),
    pytest.param(["u1", "ide"], "events[1]", id="list"),
    pytest.param(42, "events[1]", id="number"),
    pytest.param(None, "events[1]", id="null"),
    pytest.param({**GOOD, "seconds": 60}, "events[1].seconds", id="unknown-field"),
    pytest.param({**GOOD, "category": "IDE"}, "events[1].category", id="upper-case-category"),
    pytest.param({**GOOD, "category": "any"}, "events[1].category", id="any-category"),
    pytest.param({**GOOD, "category": "ssh"}, "events[1].category", id="unknown-category"),
    pytest.param({**GOOD, "category": 1}, "events[1].category", id="numeric-category"),
    pytest.param({**GOOD, "category": ""}, "events[1].category", id="empty-category"),
    pytest.param({"user_id": "u", "time": at(10)}, "events[1].category", id="no-category"),
    pytest.param({"category": "ide", "time": at(10)}, "events[1].user_id", id="no-user"),
    pytest.param({"user_id": "u", "category": "ide"}, "events[1].time", id="no-time"),
    pytest.param({**GOOD, "user_id": 'u"1'}, "events[1].user_id", id="quote-in-id"),
    pytest.param({**GOOD, "user_id": "u\x001"}, "events[1].user_id", id="nul-in-id"),
    pytest.param({**GOOD, "user_id": "u" * 65}, "events[1].user_id", id="65-characters"),
    pytest.param({**GOOD, "user_id": "joe smith"}, "events[1].user_id", id="space-in-id"),
    pytest.param({**GOOD, "user_id": ""}, "events[1].user_id", id="empty-id"),
    pytest.param({**GOOD, "user_id": "u1\n"}, "events[1].user_id", id="newline-in-id"),
    pytest.param({**GOOD, "user_id": "jöe"}, "events[1].user_id", id="non-ascii-id"),
    pytest.param({**GOOD, "user_id": 7}, "events[1].user_id", id="numeric-id"),
    pytest.param({**GOOD, "organization_id": "a/b"}, "events[1].organization_id", id="slash-org"),
    pytest.param({**GOOD, "organization_id": ""}, "events[1].organization_id", id="empty-org"),
    pytest.param({**GOOD, "organization_id": "*"}, "events[1].organization_id", id="star-org"),
    pytest.param({**GOOD, "time": "2026-11-24T10:00:00"}, "events[1].time", id="no-offset"),
    pytest.param({**GOOD, "time": "yesterday"}, "events[1].time", id="junk-time"),
    pytest.param({**GOOD, "time": "2026-11-24"}, "events[1].time", id="date-only"),
    pytest.param({**GOOD, "time": "2026-13-01T00:00:00Z"}, "events[1].time", id="month-13"),
    pytest.param({**GOOD, "time": 1795000000}, "events[1].time", id="epoch-number"),
    pytest.param(
        {**GOOD, "time": "\u0662\u0660\u0662\u0666-11-24T10:00:00Z"},
        "events[1].time",
        id="arabic-digits",
    ),
    pytest.param({**GOOD, "end_time": "soon"}, "events[1].end_time", id="junk-end-time"),
    pytest.param({**GOOD, "end_time": 5}, "events[1].end_time", id="numeric-end-time"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_EVENTS)
async def test_bad_event_refuses_the_batch_naming_the_field(
    client: Client, admin_headers: Headers, bad: object, field: str
) -> None:
    """One bad event: 400, one validation naming it, no activity and no placeholder."""
    before = await whole_state(client.app[STORE])
    for ndjson in (False, True):
        status, body = await post_events(client, admin_headers, [GOOD, bad, GOOD], ndjson=ndjson)
        assert status == 400
        assert [v["field"] for v in body["validations"]] == [field]
        assert body["validations"][0]["detail"]
        assert body["message"] == "1 event is invalid; nothing was stored."
    assert await whole_state(client.app[STORE]) == before
    assert await user_row(client.app[STORE], "good-user") is None
    assert await organization_row(client.app[STORE], "good-org") is None


async def test_each_bad_event_gets_one_validation(client: Client, admin_headers: Headers) -> None:
    """Several bad events: one entry each, in order, even when an event has two bad fields."""
    items: list[object] = [GOOD] * 14
    items[2] = {**GOOD, "category": "nope", "user_id": "bad id"}
    items[5] = "oops"
    items[12] = {**GOOD, "category": "shell"}
    status, body = await post_events(client, admin_headers, items)
    assert status == 400
    fields = [v["field"] for v in body["validations"]]
    assert fields[0] in ("events[2].user_id", "events[2].category")
    assert fields[1:] == ["events[5]", "events[12].category"]
    assert body["message"] == "3 events are invalid; nothing was stored."
    assert await stored_activity(client.app[STORE]) == {}


async def test_error_fields_of_long_unknown_keys_are_bounded(
    client: Client, admin_headers: Headers
) -> None:
    """An absurd unknown key is cut in the validation's field name."""
    status, body = await post_events(client, admin_headers, [{**GOOD, "k" * 10_000: 1}])
    assert status == 400
    assert len(body["validations"][0]["field"]) < 100


async def test_non_writer_may_not_ingest(client: Client) -> None:
    """A site-member's batch is 403 and stores nothing."""
    token = await make_token(client.app[STORE], "member", roles=["site-member"])
    before = await whole_state(client.app[STORE])
    status, body = await post_events(client, {"Session-Token": token}, [GOOD])
    assert status == 403
    assert "activity-writer" in body["message"]
    assert await whole_state(client.app[STORE]) == before
