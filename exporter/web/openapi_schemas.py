"""The schemas, headers and error responses of the OpenAPI document (``exporter.web.openapi``).

Patterns are written for ECMA 262 regular expressions (what JSON Schema means), and agree with
the service's own checks: ``tests/test_openapi.py`` compares them on generated strings.
"""

from __future__ import annotations

from typing import Any, Final

from exporter.events import MAX_EVENTS
from exporter.model import (
    EVENT_CATEGORIES,
    ORGANIZATION_ROLES,
    SERVICE_ROLE,
    SITE_ROLES,
    USER_STATUSES,
)
from exporter.payloads import MAX_TEXT
from exporter.web.errors import SECURITY_HEADERS

Json = dict[str, Any]

ID_PATTERN: Final = "^[A-Za-z0-9._:-]{1,64}$"
ORGANIZATION_NAME_PATTERN: Final = "^[a-z0-9][a-z0-9-]{0,63}$"
_SPACE: Final = r"[ \t\n\r\f\v]"  # the service's \s is ASCII-only; ECMA's \s is wider
INTERVAL_PATTERN: Final = (
    f"^{_SPACE}*[1-9][0-9]*{_SPACE}+"
    "([Mm][Ii][Nn][Uu][Tt][Ee]|[Hh][Oo][Uu][Rr]|[Dd][Aa][Yy]|[Ww][Ee][Ee][Kk]"
    f"|[Mm][Oo][Nn][Tt][Hh]|[Yy][Ee][Aa][Rr])[Ss]?{_SPACE}*$"
)
TIME_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
UTC_SECOND_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
TEXT_PATTERN: Final = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]*$"
)


def ref(name: str) -> Json:
    """A reference to a schema of ``components``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Json) -> Json:
    """The schema, or ``null`` (which the service reads as "absent")."""
    return {**schema, "type": [schema["type"], "null"]}


def json_object(properties: Json, *, required: tuple[str, ...] = (), closed: bool = True) -> Json:
    """An object schema; ``closed`` ones refuse unknown keys, as the service does."""
    schema: Json = {"type": "object", "properties": properties, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


_ID: Final = {"type": "string", "pattern": ID_PATTERN}
_TEXT: Final = {"type": "string", "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN}
_COUNT: Final = {"type": "integer", "minimum": 0}
_SITE_ROLES: Final = {"type": "array", "items": {"enum": sorted(SITE_ROLES)}}
_ORGANIZATION_ROLES: Final = {"type": "array", "items": {"enum": sorted(ORGANIZATION_ROLES)}}
_STATUS: Final = {"type": "string", "enum": list(USER_STATUSES)}
_MEMBERSHIPS: Final = {
    "type": "object",
    "propertyNames": {"pattern": ID_PATTERN},
    "additionalProperties": _ORGANIZATION_ROLES,
}

EXAMPLE_EVENTS: Final = [
    {"user_id": "u1", "organization_id": "o1", "category": "ide", "time": "2026-11-24T10:15:30Z"},
    {
        "user_id": "u1",
        "category": "app",
        "time": "2026-11-24T10:00:05Z",
        "end_time": "2026-11-24T11:30:00Z",
    },
]
_EXAMPLE_USER_ID: Final = "6004ad77-a7a69a24d779dd9f44357014"
EXAMPLE_REPORT: Final = {
    "activity": [
        {
            "time": "2022-08-01T00:00:00Z",
            "duration": 604800000000000,
            "user_activity": [
                {"user_id": _EXAMPLE_USER_ID, "duration": 72000000000000, "count": 1200}
            ],
        }
    ],
    "users": {
        _EXAMPLE_USER_ID: {
            "id": _EXAMPLE_USER_ID,
            "name": "Joe",
            "username": "joe2",
            "roles": ["site-manager", "site-member"],
            "avatar_hash": "671b4b1d",
            "total_count": 4713,
            "total_duration": 282780000000000,
        }
    },
}

SCHEMAS: Final[Json] = {
    "Id": {**_ID, "description": "A user or organization id: 1-64 of A-Z a-z 0-9 . _ : -"},
    "Category": {"type": "string", "enum": [c.token for c in EVENT_CATEGORIES]},
    "Error": json_object(
        {
            "message": {"type": "string", "minLength": 1, "description": "One sentence."},
            "detail": {"type": "string"},
            "validations": {
                "type": "array",
                "minItems": 1,
                "items": json_object(
                    {"field": {"type": "string"}, "detail": {"type": "string"}},
                    required=("field", "detail"),
                ),
            },
        },
        required=("message",),
    ),
    "Event": json_object(
        {
            "user_id": ref("Id"),
            "organization_id": {
                **nullable(_ID),
                "description": "Absent or null: the default organization.",
            },
            "category": ref("Category"),
            "time": {"type": "string", "format": "date-time", "pattern": TIME_PATTERN},
            "end_time": {
                **nullable({"type": "string", "pattern": TIME_PATTERN}),
                "description": "A session [time, end_time), at most 24 h; absent: a point event.",
            },
        },
        required=("user_id", "category", "time"),
    ),
    "IngestRequest": json_object(
        {"events": {"type": "array", "maxItems": MAX_EVENTS, "items": ref("Event")}},
        required=("events",),
        closed=False,
    ),
    "IngestResult": json_object(
        {"accepted": _COUNT, "minutes": _COUNT, "new_minutes": _COUNT},
        required=("accepted", "minutes", "new_minutes"),
    ),
    "Report": json_object(
        {
            "activity": {"type": "array", "minItems": 1, "items": ref("ReportBucket")},
            "users": {
                "type": "object",
                "propertyNames": {"pattern": ID_PATTERN},
                "additionalProperties": ref("ReportUser"),
            },
        },
        required=("activity", "users"),
    ),
    "ReportBucket": json_object(
        {
            "time": {"type": "string", "pattern": UTC_SECOND_PATTERN},
            "duration": {"type": "integer", "minimum": 1, "description": "Nanoseconds."},
            "user_activity": {
                "type": "array",
                "items": json_object(
                    {
                        "user_id": ref("Id"),
                        "duration": {"type": "integer", "minimum": 60_000_000_000},
                        "count": {"type": "integer", "minimum": 1},
                    },
                    required=("user_id", "duration", "count"),
                ),
            },
        },
        required=("time", "duration", "user_activity"),
    ),
    "ReportUser": json_object(
        {
            "id": ref("Id"),
            "name": {"type": "string"},
            "username": {"type": "string"},
            "roles": {"type": "array", "items": {"enum": sorted(SITE_ROLES - {SERVICE_ROLE})}},
            "avatar_hash": {"type": "string"},
            "total_count": {"type": "integer", "minimum": 1},
            "total_duration": {"type": "integer", "minimum": 60_000_000_000},
        },
        required=(
            "id",
            "name",
            "username",
            "roles",
            "avatar_hash",
            "total_count",
            "total_duration",
        ),
    ),
    "OrganizationPut": json_object(
        {
            "name": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,63}$",
                "not": {"pattern": "^[Aa][Nn][Yy]$"},
                "description": "A slug, case-insensitive (stored lower-cased); 'any' is reserved.",
            },
            "display_name": nullable(_TEXT),
        },
        required=("name",),
    ),
    "Organization": json_object(
        {
            "id": ref("Id"),
            "name": {"type": "string", "pattern": ORGANIZATION_NAME_PATTERN},
            "display_name": {"type": "string"},
            "placeholder": {"type": "boolean"},
        },
        required=("id", "name", "display_name", "placeholder"),
    ),
    "OrganizationList": json_object(
        {"organizations": {"type": "array", "items": ref("Organization")}},
        required=("organizations",),
    ),
    "Me": json_object(
        {
            "id": ref("Id"),
            "username": {"type": "string"},
            "name": {"type": "string"},
            "roles": {"type": "array", "items": {"enum": sorted(SITE_ROLES)}},
            "reads_every_organization": {
                "type": "boolean",
                "description": "A site admin, manager or auditor: reads the report without org.",
            },
            "readable_organizations": {
                "type": "array",
                "items": ref("Id"),
                "description": "Ids of the live organizations whose report it may read.",
            },
        },
        required=(
            "id",
            "username",
            "name",
            "roles",
            "reads_every_organization",
            "readable_organizations",
        ),
    ),
    "UserPut": json_object(
        {
            "username": ref("Id"),
            "name": nullable(_TEXT),
            "avatar_hash": nullable(_TEXT),
            "roles": nullable(_SITE_ROLES),
            "organizations": {
                **nullable(_MEMBERSHIPS),
                "description": "Organization id -> roles; unknown ids become placeholders.",
            },
            "status": {
                "type": ["string", "null"],
                "enum": [*USER_STATUSES, None],
                "description": "active (the default) or suspended: a suspended user is no seat.",
            },
        },
        required=("username",),
    ),
    "User": json_object(
        {
            "id": ref("Id"),
            "username": ref("Id"),
            "name": {"type": "string"},
            "avatar_hash": {"type": "string"},
            "roles": _SITE_ROLES,
            "organizations": _MEMBERSHIPS,
            "status": _STATUS,
        },
        required=("id", "username", "name", "avatar_hash", "roles", "organizations", "status"),
    ),
    "UserListing": json_object(
        {
            "id": ref("Id"),
            "username": {"type": "string"},
            "name": {"type": "string"},
            "avatar_hash": {"type": "string"},
            "roles": _SITE_ROLES,
            "organizations": _MEMBERSHIPS,
            "status": _STATUS,
            "last_activity_at": nullable({"type": "string", "pattern": UTC_SECOND_PATTERN}),
            "dormant": {"type": "boolean"},
            "placeholder": {"type": "boolean"},
        },
        required=(
            "id",
            "username",
            "name",
            "avatar_hash",
            "roles",
            "organizations",
            "status",
            "last_activity_at",
            "dormant",
            "placeholder",
        ),
    ),
    "UserList": json_object(
        {"users": {"type": "array", "items": ref("UserListing")}}, required=("users",)
    ),
}

_HEADER_VALUES: Final = {
    **{name: {"type": "string", "const": value} for name, value in SECURITY_HEADERS.items()},
    "X-Request-Id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
HEADERS: Final[Json] = {
    name: {"required": True, "schema": schema} for name, schema in _HEADER_VALUES.items()
}
HEADER_REFS: Final = {name: {"$ref": f"#/components/headers/{name}"} for name in HEADERS}

ERRORS: Final = {
    400: ("BadRequest", "Bad input; `validations` names each bad field. Nothing was stored."),
    401: ("Unauthorized", "No token, or one that is unknown, revoked or expired."),
    403: ("Forbidden", "The token's user lacks the permission."),
    404: ("NotFound", "The organization or user named in the path or in `org` does not exist."),
    408: ("RequestTimeout", "The body did not arrive in time. Nothing was stored."),
    409: (
        "Conflict",
        "The name or username is held by another organization or user, or an organization id "
        "is another organization's name.",
    ),
    413: ("PayloadTooLarge", "The body is over the limit (before or after decoding)."),
    415: ("UnsupportedMediaType", "The content type or Content-Encoding is not one accepted."),
    503: (
        "StoreUnavailable",
        "The store cannot be reached, does not answer within the deadline, or its schema is "
        "not this version's; or (report) too many reports are running or waiting, and "
        "Retry-After says how many seconds to wait.",
    ),
}
RESPONSES: Final[Json] = {
    name: {
        "description": description,
        "headers": HEADER_REFS,
        "content": {"application/json": {"schema": ref("Error")}},
    }
    for name, description in ERRORS.values()
}
