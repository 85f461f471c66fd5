"""The OpenAPI document: complete against the router, valid, and true of the live service."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import urllib.request
from collections import Counter
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode, SerializationContext
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err, Ok

from exporter import payloads
from exporter.config import Config, normalize_database_url
from exporter.intervals import parse_interval
from exporter.model import check_id, check_organization_name
from exporter.web import create_app
from exporter.web.keys import STORE
from exporter.web.openapi import DOCUMENT, ID_PATTERN, INTERVAL_PATTERN, PATH, SCHEMAS
from tests.support import FakeClock, make_token

Client = TestClient[Any, Any]
_T = TypeVar("_T")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
SCHEMATHESIS_EXAMPLES = 25
DERANDOMIZE = True
"""Examples per operation and generation mode (positive, negative), on each backend."""

POSITIVE_NEEDS_CONTEXT = {"POST /api/v1/activity", "GET /api/private/metrics/activity"}
"""Schema-valid requests these refuse with 400 for reasons a schema cannot state: an event
time too far in the future or older than the retention, an ``end`` not after ``start`` or more
than 1000 buckets. Every other check still runs on them."""


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_context: SerializationContext, value: Any) -> bytes:
    """The documented NDJSON body: the sequence of events, one JSON value per line."""
    lines = value if isinstance(value, list) else [value]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _ok(result: Ok[_T] | Err[InvalidSchema]) -> _T:
    """The operation, or the error that kept schemathesis from reading it from the document."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def _documented_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_route_is_documented_and_every_operation_is_routed(tmp_path: Path) -> None:
    """The router's (method, path) pairs and the document's operations are the same set."""
    app = create_app(Config(database_url=normalize_database_url(f"sqlite:///{tmp_path}/x.db")))
    resources = [(route.method, route.resource) for route in app.router.routes()]
    assert all(resource is not None for _, resource in resources)
    routed = {(m, resource.canonical) for m, resource in resources if resource is not None}
    heads = {(method, path) for method, path in routed if method == "HEAD"}
    assert {("GET", path) for _, path in heads} <= routed  # aiohttp adds HEAD beside each GET
    assert routed - heads == _documented_operations()
    assert len(routed - heads) == 15


def test_document_is_valid_openapi_3_1() -> None:
    """openapi-spec-validator accepts the document, and every operation is secured or public."""
    validate_openapi(DOCUMENT)
    assert DOCUMENT["openapi"] == "3.1.0"
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["SessionToken"] == {"type": "apiKey", "in": "header", "name": "Session-Token"}
    assert schemes["CoderSessionToken"]["name"] == "Coder-Session-Token"
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer"}
    public = set()
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS and operation["security"] == []:
                public.add(path)
    assert public == {"/", "/static/{name}", "/healthz", "/readyz", PATH}


def test_documented_errors_match_the_spec_statuses() -> None:
    """Token routes list 401 and 403, body routes 413 and 415, every error uses Error."""
    paths = DOCUMENT["paths"]
    for path in ("/api/v1/activity", "/api/v1/organizations/{id}", "/api/v1/users/{id}"):
        for method in ("post", "put"):
            if method in paths[path]:
                assert {"400", "401", "403", "413", "415", "503"} <= set(
                    paths[path][method]["responses"]
                ), path
    assert set(paths["/api/private/metrics/activity"]["get"]["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "503",
    }
    assert "409" in paths["/api/v1/users/{id}"]["put"]["responses"]
    for name, response in DOCUMENT["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name


def _examples(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """``(pointer to the schema, example)`` for every media type example in the document."""
    if isinstance(node, dict):
        if "example" in node and "schema" in node:
            yield f"{pointer}/schema", node["example"]
        for key, value in node.items():
            yield from _examples(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")


def test_examples_validate_against_their_schemas() -> None:
    """Every example (report, ingest JSON and NDJSON, directory bodies) fits its schema."""
    registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
    )
    found = list(_examples(DOCUMENT))
    assert len(found) >= 6
    for pointer, example in found:
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"urn:openapi#{pointer}"},
            registry=registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], pointer
    report = DOCUMENT["paths"]["/api/private/metrics/activity"]["get"]["responses"]["200"]
    example = report["content"]["application/json"]["example"]
    user = next(iter(example["users"].values()))
    assert user["total_duration"] == user["total_count"] * 60 * 10**9


def _ecma_validator(name: str) -> Any:
    """A validator with ECMA 262 regular expressions, as clients in other languages use.

    Python's ``re`` (and so ``jsonschema``) lets ``$`` match before a final newline.
    """
    return jsonschema_rs.validator_for(SCHEMAS[name])


def _accepted(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


_ID_LIKE = st.text(alphabet="Aa0._:-/ é\n", max_size=70)


@given(value=_ID_LIKE | st.text(max_size=70))
def test_id_pattern_agrees_with_the_service(value: str) -> None:
    """A string matches the documented id pattern exactly when the service accepts it as an id."""
    assert bool(re.fullmatch(ID_PATTERN.strip("^$"), value)) == _accepted(check_id, value)
    assert _ecma_validator("Id").is_valid(value) == _accepted(check_id, value)


@given(value=st.text(alphabet="aZ0-_ nyAY", max_size=66) | st.sampled_from(["any", "ANY", "x"]))
def test_organization_name_schema_agrees_with_the_service(value: str) -> None:
    """The PUT name schema accepts a name exactly when the service does (reserved any included)."""
    schema = _ecma_validator("OrganizationPut")
    assert schema.is_valid({"name": value}) == _accepted(check_organization_name, value)


_TEXT_CHARACTERS = st.sampled_from(
    "a \u00e9\x00\x1f\x7f\x80\x85\x9f\xa0\u200d\u200e\u2028\u2029\u202a\u202e\u2066\u2069"
)


@given(value=st.text(_TEXT_CHARACTERS | st.characters(exclude_categories=["Cs"]), max_size=300))
def test_text_schema_agrees_with_the_service(value: str) -> None:
    """Names, avatar hashes and display names: the schema accepts exactly what the service does."""
    schema = jsonschema_rs.validator_for(SCHEMAS["UserPut"]["properties"]["name"])
    assert schema.is_valid(value) == _accepted(payloads.text, value)


_INTERVALS = st.builds(
    lambda pad, count, gap, unit, plural, tail: f"{pad}{count}{gap}{unit}{plural}{tail}",
    st.sampled_from(["", " ", "\t", "\u00a0"]),
    st.sampled_from(["1", "0", "12", "01", "-1", "x"]),
    st.sampled_from([" ", "  ", "", "+", "\u2028", "\n"]),
    st.sampled_from(["day", "DAY", "Week", "months", "fortnight", "minute", "hour", "yeaR"]),
    st.sampled_from(["", "s", "S", "es"]),
    st.sampled_from(["", " ", "\r\n", "\u3000"]),
)


@given(value=_INTERVALS | st.text(max_size=20))
def test_interval_pattern_agrees_with_the_service(value: str) -> None:
    """The documented interval pattern matches exactly the intervals the service parses."""
    documented = re.fullmatch(INTERVAL_PATTERN.strip("^$"), value, re.ASCII) is not None
    assert documented == _accepted(parse_interval, value)


async def test_document_is_served_without_a_token(client: Client) -> None:
    """GET /api/openapi.json answers the document as JSON, with the security headers."""
    response = await client.get(PATH)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == json.loads(json.dumps(DOCUMENT))
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- schemathesis against the live service ----------------------------------------------------


class ServedApp:
    """The real application on a real port, run by an event loop in its own thread.

    schemathesis sends its requests synchronously (``requests``), so the server cannot share
    the test's event loop.
    """

    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.app = create_app(config, clock=clock)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(self.app)
        self.base_url = self.run(self._start())

    async def _start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        """Stop serving, close the store, stop the loop."""
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def served(config: Config, clock: FakeClock) -> Iterator[ServedApp]:
    """The application served from a background thread."""
    app = ServedApp(config, clock)
    yield app
    app.close()


def _run_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str], counts: Counter[str]
) -> list[str]:
    """Up to ``SCHEMATHESIS_EXAMPLES`` cases of one operation; the failures, as text."""
    label = f"{operation.label} [{mode.value}]"
    excluded = [positive_data_acceptance] if operation.label in POSITIVE_NEEDS_CONTEXT else []

    @settings(
        max_examples=SCHEMATHESIS_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=DERANDOMIZE,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        counts[label] += 1
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:  # nothing to negate: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, label
    except (FailureGroup, Exception) as error:  # collect all, then fail
        return [f"{label}: {error}"]
    return []


def test_schemathesis_finds_no_fault_in_the_live_service(served: ServedApp) -> None:
    """Generated requests to every operation: no 5xx, documented statuses, conforming answers."""
    token = served.run(make_token(served.app[STORE], "admin", roles=["site-admin"]))
    with urllib.request.urlopen(f"{served.base_url}{PATH}") as answer:  # the served document
        schema = schemathesis.openapi.from_dict(json.load(answer))
    schema.config.update(base_url=served.base_url)
    headers = {"Session-Token": token}
    counts: Counter[str] = Counter()
    failures: list[str] = []
    operations = [_ok(result) for result in schema.get_all_operations()]
    assert len(operations) == 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _run_operation(operation, mode, headers, counts)
    assert failures == []
    positive = [label for label in counts if label.endswith("[positive]")]
    assert len(positive) == 15
    assert sum(counts.values()) >= 15 + 6 * SCHEMATHESIS_EXAMPLES
    print(f"schemathesis: {sum(counts.values())} requests", dict(sorted(counts.items())))
