"""Hostile input (issue 8): fuzzed bodies, parameters and headers never give a 5xx.

Every refusal is a 4xx in the JSON error shape of docs/api.md and stores nothing; every response
carries the security headers; bodies over their limit are refused before they are read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from pytest_aiohttp import AiohttpClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from exporter.config import Config
from exporter.model import Category, check_id
from exporter.timeutil import parse_rfc3339
from exporter.web import create_app
from exporter.web.bodies import MAX_BODY_BYTES, MAX_DIRECTORY_BODY_BYTES
from exporter.web.errors import SECURITY_HEADERS
from exporter.web.keys import STORE
from exporter.web.openapi import DOCUMENT
from tests.support import ACTIVITY, FakeClock, at, event, make_token, stored_activity, whole_state

Client = TestClient[Any, Any]
Headers = dict[str, str]
REPORT = "/api/private/metrics/activity"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE_STRINGS = [
    "",
    " ",
    '"',
    "'",
    "\\",
    '"; DROP TABLE users; --',
    "' OR '1'='1",
    "\x00",
    "u1\x00",
    "\x00u1",
    "\x1b[31mred",
    "a" * 10_000,  # 100 kB values have tests of their own (a failure would print them)
    "1" * 5000,
    "\u2028",
    "u\u2029x",
    "\u202eevil",
    "u1\u2066",
    "\ufeffu1",
    "\ud800",
    "\udfff\ud800",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    "%2F",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "\U0001d566\U0001d7d9",  # mathematical double-struck u1: looks like an id, is not
    "é",
    "u1 ",
    " u1",
    "u1\n",
    "u/1",
    "any\x00",
    "IDE",
    "ide ",
    "2026-11-24T10:15:30Z\x00",
    "2026-11-24T10:15:30",
    "2026-02-30T10:15:30Z",
    "9999-99-99T99:99:99Z",
    "2026-11-24T10:15:30+24:00",
    "NaN",
]
"""Strings that no field of an event accepts (ids, categories and times alike)."""

_json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(HOSTILE_STRINGS)
)
json_values = st.recursive(
    _json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
not_null_or_string = json_values.filter(
    lambda value: value is not None and not isinstance(value, str)
)

_REGISTRY = Registry().with_resource(
    "urn:openapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def _schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:openapi#/components/schemas/{name}"}, registry=_REGISTRY
    )


ERROR_SCHEMA = _schema("Error")


def assert_security_headers(headers: Mapping[str, str]) -> None:
    """The headers every answer carries: no sniffing, no framing, no referrer, no caching."""
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert len(headers.get("X-Request-Id", "")) == 32


def assert_error(status: int, headers: Mapping[str, str], body: bytes, expected: int) -> Any:
    """A 4xx in docs/api.md's error shape, with no trace of the implementation in it."""
    assert status == expected, body[:500]
    assert headers["Content-Type"].startswith("application/json"), headers["Content-Type"]
    decoded = json.loads(body)
    ERROR_SCHEMA.validate(decoded)
    assert decoded["message"].endswith((".", "?")), decoded["message"]
    text = body.decode()
    for marker in ("Traceback", 'File "', "exporter/", '.py"', "sqlalchemy", "psycopg"):
        assert marker not in text, text[:500]
    assert_security_headers(headers)
    return decoded


async def _post(
    client: Client, headers: Headers, data: bytes, content_type: str = "application/json"
) -> tuple[int, CIMultiDict[str], bytes]:
    response = await client.post(
        ACTIVITY, data=data, headers={**headers, "Content-Type": content_type}
    )
    return response.status, CIMultiDict(response.headers), await response.read()


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


# --- ingest bodies ----------------------------------------------------------------------------


@FUZZ
@given(value=json_values)
async def test_arbitrary_json_body_is_refused_and_stores_nothing(
    client: Client, admin_headers: Headers, value: object
) -> None:
    """Any JSON value as an ingest body is a 400 error (an empty batch a 200 of zeros)."""
    before = await whole_state(client.app[STORE])
    status, headers, body = await _post(client, admin_headers, _dumps(value))
    if status == 200:
        assert isinstance(value, dict)
        assert value["events"] == []
        assert json.loads(body) == {"accepted": 0, "minutes": 0, "new_minutes": 0}
    else:
        assert_error(status, headers, body, 400)
    assert await whole_state(client.app[STORE]) == before


@FUZZ
@given(
    data=st.binary(max_size=600) | st.text(max_size=200).map(str.encode),
    content_type=st.sampled_from(["application/json", "application/x-ndjson"]),
)
async def test_arbitrary_bytes_are_refused_and_store_nothing(
    client: Client, admin_headers: Headers, data: bytes, content_type: str
) -> None:
    """Arbitrary bytes (not UTF-8, not JSON, truncated) as JSON or NDJSON are a 400 error."""
    before = await whole_state(client.app[STORE])
    status, headers, body = await _post(client, admin_headers, data, content_type)
    if status == 200:  # only bodies that are, in effect, no events at all
        assert json.loads(body) == {"accepted": 0, "minutes": 0, "new_minutes": 0}
    else:
        decoded = assert_error(status, headers, body, 400)
        if b"\xff" in data:
            assert decoded["message"] == "The body is not valid UTF-8."
    assert await whole_state(client.app[STORE]) == before


_valid_lines = st.builds(
    lambda user, minute, category: json.dumps(event(user, at(10, minute), category=category.token)),
    st.sampled_from(["u1", "u2", "svc:a.b-c_d"]),
    st.integers(0, 59),
    st.sampled_from(list(Category)[1:]),
)
_bad_lines = (
    json_values.map(json.dumps)
    | st.text(max_size=30)
    | st.sampled_from(['{"user_id": "u1"', "[", "}", '{"events": []}', "null", '"\\ud800"'])
)


@FUZZ
@given(
    lines=st.lists(st.tuples(st.booleans(), _valid_lines, _bad_lines), min_size=1, max_size=8),
    crlf=st.booleans(),
)
async def test_ndjson_lines_are_all_stored_or_none_is(
    client: Client, admin_headers: Headers, lines: list[tuple[bool, str, str]], crlf: bool
) -> None:
    """A batch of NDJSON lines, some bad, is stored whole or refused whole with a 400."""
    chosen = [valid if keep else bad for keep, valid, bad in lines]
    data = ("\r\n" if crlf else "\n").join(chosen).encode("utf-8", "surrogatepass")
    before = await whole_state(client.app[STORE])
    status, headers, body = await _post(client, admin_headers, data, "application/x-ndjson")
    only_valid_or_blank = all(keep or not bad.strip() for keep, _, bad in lines)
    if status == 200:
        assert only_valid_or_blank
        assert json.loads(body)["accepted"] == sum(keep for keep, _, _ in lines)
    else:
        assert_error(status, headers, body, 400)
        assert not only_valid_or_blank
        assert await whole_state(client.app[STORE]) == before


EVENT_FIELDS = ("user_id", "organization_id", "category", "time", "end_time")


def _invalid_for(field: str, value: object) -> bool:
    """True when the service must refuse ``value`` in ``field`` (``None`` means absent)."""
    if value is None:
        return field in ("user_id", "category", "time")
    if not isinstance(value, str):
        return True
    try:
        if field in ("user_id", "organization_id"):
            check_id(value)
        elif field == "category":
            return value not in [c.token for c in Category if c is not Category.ANY]
        else:
            parse_rfc3339(value)
    except ValueError:
        return True
    return False


@FUZZ
@given(
    field=st.sampled_from(EVENT_FIELDS),
    value=st.sampled_from(HOSTILE_STRINGS) | not_null_or_string,
    where=st.tuples(st.integers(0, 3), st.booleans()),
)
async def test_event_with_a_hostile_field_refuses_the_batch(
    client: Client, admin_headers: Headers, field: str, value: object, where: tuple[int, bool]
) -> None:
    """A hostile value in any event field is a 400 naming events[i].field; nothing is stored."""
    assume(_invalid_for(field, value))  # "IDE" and "NaN" are fine ids, for instance
    position, ndjson = where
    events: list[dict[str, Any]] = [event(f"u{i}", at(10, i)) for i in range(4)]
    events[position][field] = value
    before = await whole_state(client.app[STORE])
    if ndjson:
        data = "\n".join(json.dumps(item) for item in events).encode("utf-8", "surrogatepass")
        status, headers, body = await _post(client, admin_headers, data, "application/x-ndjson")
    else:
        status, headers, body = await _post(client, admin_headers, _dumps({"events": events}))
    decoded = assert_error(status, headers, body, 400)
    assert decoded["validations"] == [
        {"field": f"events[{position}].{field}", "detail": decoded["validations"][0]["detail"]}
    ]
    assert decoded["message"] == "1 event is invalid; nothing was stored."
    assert len(body) < 2000  # a 100 kB value is never echoed back whole
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize("field", EVENT_FIELDS)
async def test_event_field_of_100_kb_is_400_and_not_echoed(
    client: Client, admin_headers: Headers, field: str
) -> None:
    """A 100 kB value in any event field is refused by name, quoted at most 64 characters."""
    item = {**event(), field: "\u202e" + "a" * 100_000}
    before = await whole_state(client.app[STORE])
    status, headers, body = await _post(client, admin_headers, _dumps({"events": [item]}))
    decoded = assert_error(status, headers, body, 400)
    assert [v["field"] for v in decoded["validations"]] == [f"events[0].{field}"]
    assert len(body) < 1000
    assert await whole_state(client.app[STORE]) == before


@FUZZ
@given(key=st.sampled_from(HOSTILE_STRINGS).filter(lambda k: k not in EVENT_FIELDS))
async def test_event_with_a_hostile_unknown_key_is_refused(
    client: Client, admin_headers: Headers, key: str
) -> None:
    """An unknown key, however hostile, is named (cut to 64 characters) and nothing is stored."""
    item = {**event(), key: 1}
    before = await whole_state(client.app[STORE])
    status, headers, body = await _post(client, admin_headers, _dumps({"events": [item]}))
    decoded = assert_error(status, headers, body, 400)
    assert decoded["validations"] == [
        {"field": f"events[0].{key[:64]}", "detail": "is not a known field"}
    ]
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "application/json"),
        (b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
        (b'{"events": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}", "application/json"),
        (b"[" * 100_000 + b"\n", "application/x-ndjson"),
        (b'{"user_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "application/x-ndjson"),
    ],
    ids=["array", "events", "objects", "ndjson-open", "ndjson-field"],
)
async def test_json_nesting_bombs_are_400(
    client: Client, admin_headers: Headers, data: bytes, content_type: str
) -> None:
    """Deeply nested JSON is refused with a 400 that says so; nothing is stored."""
    before = await whole_state(client.app[STORE])
    status, headers, body = await _post(client, admin_headers, data, content_type)
    decoded = assert_error(status, headers, body, 400)
    assert "nested too deeply" in decoded["message"] or "not valid JSON" in decoded["message"]
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=latin-1",
        "application/x-ndjson; charset=utf-16",
        "text/plain",
        "application/json-patch+json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ],
)
async def test_content_types_not_listed_are_415(
    client: Client, admin_headers: Headers, content_type: str
) -> None:
    """Only UTF-8 application/json and application/x-ndjson are read; others are 415."""
    before = await whole_state(client.app[STORE])
    data = _dumps({"events": [event()]})
    status, headers, body = await _post(client, admin_headers, data, content_type)
    assert_error(status, headers, body, 415)
    assert await whole_state(client.app[STORE]) == before


# --- report parameters ------------------------------------------------------------------------

_times = st.sampled_from(
    ["2026-11-24T00:00:00Z", "2026-11-24T12:00:00+05:30", "2026-11-01T00:00:00.123456789Z"]
) | st.text(max_size=40)
_report_params = st.fixed_dictionaries(
    {},
    optional={
        "start": _times | st.sampled_from(HOSTILE_STRINGS),
        "end": _times | st.sampled_from(HOSTILE_STRINGS),
        "category": st.sampled_from(["any", "ide", "web_terminal", "ANY"]) | st.text(max_size=12),
        "interval": st.sampled_from(["1 day", "2 Hours", "1 month", "0 day"])
        | st.text(max_size=16),
        "org": st.sampled_from(["o1", "default", "any", "ANY", ""]) | st.text(max_size=70),
    },
)


@FUZZ
@given(params=_report_params.filter(lambda p: all(_in_a_url(v) for v in p.values())))
async def test_report_parameters_never_give_a_server_error(
    client: Client, admin_headers: Headers, params: dict[str, str]
) -> None:
    """Any start, end, category, interval and org: a report, or a 400/404 error; no 5xx."""
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    response = await client.get(f"{REPORT}?{query}", headers=admin_headers)
    body = await response.read()
    if response.status == 200:
        _schema("Report").validate(json.loads(body))
        assert_security_headers(response.headers)
    else:
        assert response.status in (400, 404), body
        decoded = assert_error(response.status, response.headers, body, response.status)
        if response.status == 400:
            fields = {v["field"] for v in decoded["validations"]}
            assert fields <= {"start", "end", "category", "interval", "org"}


def _in_a_url(value: str) -> bool:
    """Values a URL can carry: UTF-8 (no lone surrogates), short of aiohttp's 8190-byte line."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return len(value) < 2000


@pytest.mark.parametrize("value", [s for s in HOSTILE_STRINGS if _in_a_url(s)])
async def test_hostile_org_filter_is_a_clear_error(
    client: Client, admin_headers: Headers, value: str
) -> None:
    """A hostile org in the report or the user listing is a 400 (404 when merely unknown)."""
    for path in (REPORT, "/api/v1/users"):
        params = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z", "org": value}
        response = await client.get(path, params=params, headers=admin_headers)
        body = await response.read()
        if value == "":  # empty means every organization
            assert response.status == 200, body
        elif not _invalid_for("organization_id", value):
            assert_error(response.status, response.headers, body, 404)
        else:
            decoded = assert_error(response.status, response.headers, body, 400)
            assert decoded["validations"][0]["field"] == "org"


# --- directory bodies and paths ---------------------------------------------------------------

_user_bodies = st.dictionaries(
    st.sampled_from(["username", "name", "avatar_hash", "roles", "organizations"])
    | st.sampled_from(HOSTILE_STRINGS),
    json_values,
    max_size=5,
)
_organization_bodies = st.dictionaries(
    st.sampled_from(["name", "display_name"]) | st.sampled_from(HOSTILE_STRINGS),
    json_values,
    max_size=3,
)


@FUZZ
@given(
    kind=st.sampled_from(["users", "organizations"]),
    body=st.data(),
)
async def test_directory_put_bodies_never_give_a_server_error(
    client: Client, admin_headers: Headers, kind: str, body: st.DataObject
) -> None:
    """Fuzzed PUT bodies are stored (200/201) or refused with 400/409 storing nothing."""
    value = body.draw(_user_bodies if kind == "users" else _organization_bodies)
    before = await whole_state(client.app[STORE])
    data = json.dumps(value).encode("utf-8", "surrogatepass")
    response = await client.put(
        f"/api/v1/{kind}/x1",
        data=data,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    answer = await response.read()
    if response.status in (200, 201):
        assert_security_headers(response.headers)
        assert json.loads(answer)["id"] == "x1"
    else:
        assert response.status in (400, 409), answer
        assert_error(response.status, response.headers, answer, response.status)
        assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize("field", ["name", "avatar_hash", "display_name", "username"])
@pytest.mark.parametrize(
    "value",
    [
        "\x00",
        "Joe\u2028",
        "\u202eeoJ",
        "Jo\u2066e",
        "\ud800",
        "a\x85b",
        "x" * 100_000,
        '"; DROP TABLE users; --\x00',
    ],
    ids=["nul", "u2028", "rlo", "isolate", "surrogate", "c1", "100k", "sql"],
)
async def test_hostile_text_in_directory_fields_is_400(
    client: Client, admin_headers: Headers, field: str, value: str
) -> None:
    """Control, separator, bidi override and lone surrogate characters are refused by field."""
    if field == "display_name":
        path, item = "/api/v1/organizations/o1", {"name": "acme", field: value}
    else:
        path, item = "/api/v1/users/u1", {"username": "joe", "name": "Joe", field: value}
    before = await whole_state(client.app[STORE])
    data = json.dumps(item).encode()
    response = await client.put(
        path, data=data, headers={**admin_headers, "Content-Type": "application/json"}
    )
    decoded = assert_error(response.status, response.headers, await response.read(), 400)
    assert [v["field"] for v in decoded["validations"]] == [field]
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("kind", ["users", "organizations"])
@pytest.mark.parametrize(
    "path_id",
    ["%00", "%22", "a%20b", "%E2%80%AE", "%FF", "x" * 65, "u%0Au", "any%00", "%3Cb%3E"],
)
async def test_hostile_ids_in_the_path_are_400(
    client: Client, admin_headers: Headers, method: str, kind: str, path_id: str
) -> None:
    """An id outside [A-Za-z0-9._:-]{1,64} in the path is a 400 naming id; nothing is stored."""
    before = await whole_state(client.app[STORE])
    body = {"username": "joe"} if kind == "users" else {"name": "acme"}
    response = await client.request(
        method, f"/api/v1/{kind}/{path_id}", json=body, headers=admin_headers
    )
    decoded = assert_error(response.status, response.headers, await response.read(), 400)
    assert decoded["validations"] == [
        {"field": "id", "detail": "must be 1-64 characters from A-Z a-z 0-9 . _ : -"}
    ]
    assert await whole_state(client.app[STORE]) == before


# --- hostile headers --------------------------------------------------------------------------


async def _raw(client: Client, request: bytes) -> tuple[int, CIMultiDict[str], bytes]:
    """Send raw bytes; read one response (status, headers, body) without waiting for EOF."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(60):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers: CIMultiDict[str] = CIMultiDict()
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers.add(name.strip(), value.strip())
            length = int(headers.get("Content-Length", "0"))
            body = await reader.readexactly(length) if length else await reader.read()
    finally:
        writer.close()
    return status, headers, body


HOSTILE_HEADER_VALUES = [
    b"\xff\xfe",
    b"um_" + b"\xff" * 16 + b"_secret",
    b"um_0123456789abcdef_\xc3\x28",
    "um_\u202e123456789abcdef_x".encode(),
    b'"; DROP TABLE api_tokens; --',
    b"um_0123456789abcdef_" + b"a" * 4000,
    b"%00",
    b"Bearer",
    b"   ",
]


@pytest.mark.parametrize("header", [b"Session-Token", b"Coder-Session-Token", b"Authorization"])
@pytest.mark.parametrize("value", HOSTILE_HEADER_VALUES)
async def test_hostile_token_headers_are_401(
    client: Client, admin_headers: Headers, header: bytes, value: bytes
) -> None:
    """Malformed, non-UTF-8 or absurd tokens in any token header are a JSON 401, not a 5xx."""
    before = await whole_state(client.app[STORE])
    if header == b"Authorization":
        value = b"Bearer " + value
    body = _dumps({"events": [event()]})
    request = (
        b"POST "
        + ACTIVITY.encode()
        + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        + header
        + b": "
        + value
        + b"\r\nContent-Type: application/json\r\n"
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    status, headers, answer = await _raw(client, request)
    decoded = assert_error(status, headers, answer, 401)
    assert decoded["message"] in (
        "The token is malformed.",
        "The token is unknown.",
        "A token is required.",
    )
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize("secret", [b"\xff\xfe", b"\xc3\x28", "\u202e".encode(), "\u00e9".encode()])
async def test_known_token_id_with_a_hostile_secret_is_401(
    client: Client, admin_headers: Headers, secret: bytes
) -> None:
    """A real token's id with a non-ASCII or non-printable secret is a 401, never a 5xx."""
    token_id = admin_headers["Session-Token"].split("_")[1]
    request = b"GET /api/v1/users HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    request += b"Session-Token: um_" + token_id.encode() + b"_" + secret + b"\r\n\r\n"
    status, headers, body = await _raw(client, request)
    decoded = assert_error(status, headers, body, 401)
    assert decoded["message"] == "The token is malformed."


async def test_metrics_token_header_with_non_utf8_bytes_is_401(
    aiohttp_client: AiohttpClient, config: Config, clock: FakeClock
) -> None:
    """With USAGE_METRICS_METRICS_TOKEN set, a non-UTF-8 bearer on /metrics is a 401."""
    guarded = await aiohttp_client(
        create_app(dataclasses.replace(config, metrics_token="s3cret"), clock=clock)
    )
    request = b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    request += b"Authorization: Bearer \xff\xfe\r\n\r\n"
    status, headers, body = await _raw(guarded, request)
    assert_error(status, headers, body, 401)
    good = await guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert good.status == 200
    assert "usage_up" in await good.text()


async def test_header_of_100_kb_is_refused_before_the_app(
    client: Client, admin_headers: Headers
) -> None:
    """A 100 kB header is refused with 400 by the HTTP parser; nothing is stored."""
    before = await whole_state(client.app[STORE])
    body = _dumps({"events": [event()]})
    request = (
        b"POST "
        + ACTIVITY.encode()
        + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        + b"Session-Token: "
        + admin_headers["Session-Token"].encode()
        + b"\r\n"
        + b"X-Padding: "
        + b"a" * 100_000
        + b"\r\nContent-Type: application/json\r\n"
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    status, _, answer = await _raw(client, request)
    assert status == 400
    assert b"Traceback" not in answer
    assert await whole_state(client.app[STORE]) == before


# --- security headers and limits --------------------------------------------------------------


async def test_every_kind_of_response_carries_the_security_headers(
    client: Client, admin_headers: Headers
) -> None:
    """200, 201, 204, 400, 401, 403, 404, 405, 413, 415 and /metrics all carry them."""
    reader = {"Session-Token": "um_0000000000000000_nope"}
    json_type = {"Content-Type": "application/json"}
    calls: list[tuple[str, str, Mapping[str, str], bytes | None, int]] = [
        ("GET", "/", {}, None, 200),
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/readyz", {}, None, 200),
        ("GET", "/metrics", {}, None, 200),
        ("GET", "/metrics", {"Accept": "application/openmetrics-text"}, None, 200),
        ("GET", "/metrics", {"Accept-Encoding": "gzip"}, None, 200),
        ("GET", "/api/openapi.json", {}, None, 200),
        ("PUT", "/api/v1/organizations/o9", {**admin_headers, **json_type}, b'{"name":"o9"}', 201),
        ("DELETE", "/api/v1/organizations/o9", admin_headers, None, 204),
        ("GET", "/api/v1/users?dormant=maybe", admin_headers, None, 400),
        ("GET", "/api/v1/users", reader, None, 401),
        ("GET", "/api/v1/users", {}, None, 401),
        ("DELETE", "/api/v1/organizations/default", admin_headers, None, 400),
        ("DELETE", "/api/v1/users/nobody", admin_headers, None, 404),
        ("GET", "/no/such/route", {}, None, 404),
        ("PATCH", "/api/v1/users/u1", admin_headers, None, 405),
        ("POST", "/metrics", {}, None, 405),
        ("POST", ACTIVITY, {**admin_headers, "Content-Type": "text/csv"}, b"a,b", 415),
        (
            "PUT",
            "/api/v1/users/u1",
            {**admin_headers, **json_type},
            b'{"name": "' + b"x" * MAX_DIRECTORY_BODY_BYTES + b'"}',
            413,
        ),
    ]
    for method, path, headers, data, expected in calls:
        response = await client.request(method, path, headers=headers, data=data)
        assert response.status == expected, (method, path, await response.text())
        assert_security_headers(response.headers)
        if expected >= 400:
            assert_error(response.status, response.headers, await response.read(), expected)
    forbidden = await client.get("/api/private/metrics/activity", headers=await _member(client))
    assert forbidden.status == 403
    assert_security_headers(forbidden.headers)


async def _member(client: Client) -> Headers:
    token = await make_token(client.app[STORE], "member", roles=["site-member"])
    return {"Session-Token": token}


def _partial_request(
    method: str, path: str, headers: Headers, content_length: int, sent: bytes
) -> bytes:
    """Headers announcing ``content_length`` bytes, then only ``sent`` of them."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {content_length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + sent


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
async def test_ingest_body_over_16_mib_is_413_before_it_is_read(
    client: Client, admin_headers: Headers, content_type: str
) -> None:
    """A Content-Length of 17 MiB gets its 413 while only 1 KiB of the body was sent."""
    before = await whole_state(client.app[STORE])
    headers = {**admin_headers, "Content-Type": content_type}
    request = _partial_request(
        "POST", ACTIVITY, headers, 17 * 1024 * 1024, b'{"events": [' + b" " * 1024
    )
    status, answer_headers, answer = await _raw(client, request)
    decoded = assert_error(status, answer_headers, answer, 413)
    assert str(MAX_BODY_BYTES) in decoded["message"]
    assert await whole_state(client.app[STORE]) == before
    assert await stored_activity(client.app[STORE]) == {}


@pytest.mark.parametrize("path", ["/api/v1/users/u1", "/api/v1/organizations/o1"])
async def test_directory_body_over_256_kib_is_413_before_it_is_read(
    client: Client, admin_headers: Headers, path: str
) -> None:
    """A directory PUT announcing more than 256 KiB is refused at once, nothing stored."""
    before = await whole_state(client.app[STORE])
    headers = {**admin_headers, "Content-Type": "application/json"}
    request = _partial_request("PUT", path, headers, MAX_DIRECTORY_BODY_BYTES + 1, b'{"name": "')
    status, answer_headers, answer = await _raw(client, request)
    decoded = assert_error(status, answer_headers, answer, 413)
    assert str(MAX_DIRECTORY_BODY_BYTES) in decoded["message"]
    assert await whole_state(client.app[STORE]) == before


@pytest.mark.parametrize("path", ["/api/v1/users/u1", "/api/v1/organizations/o1"])
async def test_chunked_directory_body_over_256_kib_is_413(
    client: Client, admin_headers: Headers, path: str
) -> None:
    """Without Content-Length the directory body is counted as it arrives and cut at 256 KiB."""
    before = await whole_state(client.app[STORE])

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(5):
            yield b"x" * (64 * 1024)
        yield b'"}'

    response = await client.put(
        path, data=chunks(), headers={**admin_headers, "Content-Type": "application/json"}
    )
    decoded = assert_error(response.status, response.headers, await response.read(), 413)
    assert "limit" in decoded["message"]
    assert await whole_state(client.app[STORE]) == before
