"""``GET /api/openapi.json``: an OpenAPI 3.1 description of every route.

The document is plain data built once at import from the same constants the handlers use
(limits, categories, roles, security headers), so that it cannot drift from them silently;
``tests/test_openapi.py`` checks it against the router, and schemathesis against the live app.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from exporter import __version__
from exporter.events import MAX_EVENTS
from exporter.web.assets import CONTENT_TYPES, IMMUTABLE
from exporter.web.bodies import MAX_BODY_BYTES, MAX_DIRECTORY_BODY_BYTES
from exporter.web.openapi_schemas import (
    ERRORS,
    EXAMPLE_EVENTS,
    EXAMPLE_REPORT,
    HEADER_REFS,
    HEADERS,
    ID_PATTERN,
    INTERVAL_PATTERN,
    RESPONSES,
    SCHEMAS,
    TIME_PATTERN,
    Json,
    json_object,
    ref,
)
from exporter.web.view import CONTENT_SECURITY_POLICY

__all__ = ["DOCUMENT", "ID_PATTERN", "INTERVAL_PATTERN", "PATH", "SCHEMAS", "get_openapi"]

PATH: Final = "/api/openapi.json"
TOKEN_SECURITY: Final[list[Json]] = [
    {"SessionToken": []},
    {"CoderSessionToken": []},
    {"BearerToken": []},
]


def _response(description: str, content: Json | None = None) -> Json:
    response: Json = {"description": description, "headers": HEADER_REFS}
    if content is not None:
        response["content"] = content
    return response


def _json(description: str, schema: Json, example: object = None) -> Json:
    media: Json = {"schema": schema}
    if example is not None:
        media["example"] = example
    return _response(description, {"application/json": media})


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    success: dict[int, Json],
    errors: tuple[int, ...],
    *,
    security: list[Json] = TOKEN_SECURITY,
    parameters: tuple[Json, ...] = (),
    body: Json | None = None,
) -> Json:
    responses = {str(status): response for status, response in success.items()}
    for status in errors:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    operation: Json = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = body
    return operation


def _query(name: str, description: str, schema: Json, *, required: bool = False) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _json_body(schema: Json, limit: int, example: object) -> Json:
    return {
        "required": True,
        "description": f"At most {limit} bytes (413 beyond).",
        "content": {"application/json": {"schema": schema, "example": example}},
    }


_PATH_ID: Final = {"name": "id", "in": "path", "required": True, "schema": ref("Id")}
_ORG_FILTER: Final = {"type": "string", "pattern": "^([A-Za-z0-9._:-]{1,64})?$"}
_STATUS_OK: Final = json_object({"status": {"const": "ok"}}, required=("status",))
_STATUS_READY: Final = json_object({"status": {"const": "ready"}}, required=("status",))
_WRITEERRORS: Final = (400, 401, 403, 408, 409, 413, 415, 503)
_DELETEERRORS: Final = (400, 401, 403, 404, 503)
_CSP_HEADER: Final = {"required": True, "schema": {"const": CONTENT_SECURITY_POLICY}}
_ASSET_HEADERS: Final = {
    **{name: header for name, header in HEADER_REFS.items() if name != "Cache-Control"},
    "Cache-Control": {"required": True, "schema": {"const": IMMUTABLE}},
    "ETag": {"required": True, "schema": {"type": "string", "pattern": '^"[0-9a-f]{16}"$'}},
}

PATHS: Final[Json] = {
    "/": {
        "get": _operation(
            "metricsView",
            "The Metrics view: an HTML page whose script reads this API with the "
            "reader's token, which it asks for; links to /metrics and the documentation.",
            "view",
            {
                200: {
                    "description": "HTML, with a Content-Security-Policy of this origin only.",
                    "headers": {**HEADER_REFS, "Content-Security-Policy": _CSP_HEADER},
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
            (),
            security=[],
        )
    },
    "/static/{name}": {
        "get": _operation(
            "viewFile",
            "A file of the Metrics view, by the content-hashed name the page links to; "
            "any other name is 404.",
            "view",
            {
                200: {
                    "description": "The file; its name changes with its content.",
                    "headers": _ASSET_HEADERS,
                    "content": {
                        content_type.partition(";")[0]: {"schema": {"type": "string"}}
                        for content_type in CONTENT_TYPES.values()
                    },
                },
                304: {"description": "Not modified (If-None-Match).", "headers": _ASSET_HEADERS},
            },
            (404,),
            security=[],
            parameters=(
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            ),
        )
    },
    "/healthz": {
        "get": _operation(
            "healthz",
            "The process is up.",
            "operations",
            {200: _json("Up.", _STATUS_OK)},
            (),
            security=[],
        )
    },
    "/readyz": {
        "get": _operation(
            "readyz",
            "The store is reachable and migrated.",
            "operations",
            {200: _json("Ready.", _STATUS_READY)},
            (503,),
            security=[],
        )
    },
    "/metrics": {
        "get": _operation(
            "metrics",
            "Prometheus exposition: text 0.0.4, or OpenMetrics when Accept asks for it; "
            "gzip with Accept-Encoding: gzip. Open unless USAGE_METRICS_METRICS_TOKEN is set.",
            "operations",
            {
                200: _response(
                    "The metrics of the last refresh plus the live counters.",
                    {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/openmetrics-text": {"schema": {"type": "string"}},
                    },
                )
            },
            (401,),
            security=[{}, {"MetricsToken": []}],
        )
    },
    PATH: {
        "get": _operation(
            "openapi",
            "This document.",
            "operations",
            {
                200: _json(
                    "OpenAPI 3.1.", json_object({"openapi": {"type": "string"}}, closed=False)
                )
            },
            (),
            security=[],
        )
    },
    "/api/v1/activity": {
        "post": _operation(
            "ingestActivity",
            f"Store a batch of at most {MAX_EVENTS} events, atomically.",
            "activity",
            {
                200: _json(
                    "Stored.",
                    ref("IngestResult"),
                    {"accepted": 2, "minutes": 91, "new_minutes": 91},
                )
            },
            (400, 401, 403, 408, 409, 413, 415, 503),
            body={
                "required": True,
                "description": (
                    f"At most {MAX_BODY_BYTES} bytes (413 beyond, refused before it is read). "
                    "application/x-ndjson carries the same events one JSON object per line "
                    "(blank lines skipped); its schema describes the sequence of lines."
                ),
                "content": {
                    "application/json": {
                        "schema": ref("IngestRequest"),
                        "example": {"events": EXAMPLE_EVENTS},
                    },
                    "application/x-ndjson": {
                        "schema": {"type": "array", "maxItems": MAX_EVENTS, "items": ref("Event")},
                        "example": EXAMPLE_EVENTS,
                    },
                },
            },
        )
    },
    "/api/v1/me": {
        "get": _operation(
            "me",
            "The token's user, its site roles, and the organizations whose report it may read.",
            "directory",
            {200: _json("Any valid token may ask.", ref("Me"))},
            (401, 503),
        )
    },
    "/api/v1/organizations": {
        "get": _operation(
            "listOrganizations",
            "Organizations this reader may see.",
            "directory",
            {200: _json("Organizations by name.", ref("OrganizationList"))},
            (401, 403, 503),
        )
    },
    "/api/v1/organizations/{id}": {
        "parameters": [_PATH_ID],
        "put": _operation(
            "putOrganization",
            "Create (201) or replace (200) an organization.",
            "directory",
            {
                200: _json("Replaced.", ref("Organization")),
                201: _json("Created.", ref("Organization")),
            },
            _WRITEERRORS,
            body=_json_body(
                ref("OrganizationPut"),
                MAX_DIRECTORY_BODY_BYTES,
                {"name": "acme", "display_name": "Acme Corp"},
            ),
        ),
        "delete": _operation(
            "deleteOrganization",
            "Delete an organization (never the default one, 400); its history stays.",
            "directory",
            {204: _response("Deleted.")},
            _DELETEERRORS,
        ),
    },
    "/api/v1/users": {
        "get": _operation(
            "listUsers",
            "Users this reader may see (organization admins: their organizations only).",
            "directory",
            {200: _json("Users by username.", ref("UserList"))},
            (400, 401, 403, 404, 503),
            parameters=(
                _query("org", "Organization id or name; empty: every one.", _ORG_FILTER),
                _query(
                    "dormant",
                    "true: only dormant users (case-insensitive).",
                    {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"},
                ),
            ),
        )
    },
    "/api/v1/users/{id}": {
        "parameters": [_PATH_ID],
        "put": _operation(
            "putUser",
            "Create (201) or fully replace (200) a user; a PUT undeletes.",
            "directory",
            {200: _json("Replaced.", ref("User")), 201: _json("Created.", ref("User"))},
            _WRITEERRORS,
            body=_json_body(
                ref("UserPut"),
                MAX_DIRECTORY_BODY_BYTES,
                {
                    "username": "joe2",
                    "name": "Joe",
                    "roles": ["site-member"],
                    "organizations": {"o1": ["organization-member"]},
                },
            ),
        ),
        "delete": _operation(
            "deleteUser",
            "Delete a user: no longer a seat, tokens revoked; its history stays.",
            "directory",
            {204: _response("Deleted.")},
            _DELETEERRORS,
        ),
    },
    "/api/private/metrics/activity": {
        "get": _operation(
            "activityReport",
            "Active minutes per bucket and user, in the Coder Activity API's shape.",
            "report",
            {200: _json("The report.", ref("Report"), EXAMPLE_REPORT)},
            (400, 401, 403, 404, 503),
            parameters=(
                _query(
                    "start",
                    "RFC 3339 time, any offset, fractional seconds allowed.",
                    {"type": "string", "pattern": TIME_PATTERN},
                    required=True,
                ),
                _query(
                    "end",
                    "RFC 3339 time after start (at most 1000 buckets).",
                    {"type": "string", "pattern": TIME_PATTERN},
                    required=True,
                ),
                _query("category", "Default any.", {"enum": ["any", *SCHEMAS["Category"]["enum"]]}),
                _query(
                    "interval",
                    "Bucket length '<N> <unit>', case-insensitive; default '1 day'.",
                    {"type": "string", "pattern": INTERVAL_PATTERN},
                ),
                _query("org", "Organization id or name; absent, empty or any: all.", _ORG_FILTER),
            ),
        )
    },
}

DOCUMENT: Final[Json] = {
    "openapi": "3.1.0",
    "info": {
        "title": "usage-metrics",
        "version": __version__,
        "summary": "Active users of a remote-development platform, by action and organization.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "tags": [
        {"name": "operations", "description": "Liveness, readiness, metrics, this document."},
        {"name": "view", "description": "The Metrics view in the browser and its files."},
        {"name": "activity", "description": "Ingesting activity events."},
        {"name": "directory", "description": "Organizations and users."},
        {"name": "report", "description": "The activity report."},
    ],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "headers": HEADERS,
        "securitySchemes": {
            "SessionToken": {"type": "apiKey", "in": "header", "name": "Session-Token"},
            "CoderSessionToken": {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
            "BearerToken": {"type": "http", "scheme": "bearer"},
            "MetricsToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "USAGE_METRICS_METRICS_TOKEN, when it is set.",
            },
        },
    },
}


async def get_openapi(_request: web.Request) -> web.Response:
    """Serve the OpenAPI document."""
    return web.json_response(DOCUMENT)
