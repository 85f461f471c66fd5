"""Validating directory bodies (docs/api.md) into store records, a ``validations`` entry a field."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from exporter.errors import BadRequest, Validation
from exporter.model import (
    ORGANIZATION_ROLES,
    SITE_ROLES,
    USER_STATUSES,
    check_id,
    check_organization_name,
    check_username,
)
from exporter.store.directory import UserRecord

_T = TypeVar("_T")
MAX_TEXT = 256


_FORBIDDEN_TEXT = re.compile(
    r"[\x00-\x1f\x7f-\x9f"  # C0 and C1 control characters
    r"\u2028\u2029"  # line and paragraph separators (they break lines in JS and logs)
    r"\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates (spoofing)
    r"\ud800-\udfff]"  # lone surrogates: JSON can spell them, no store can keep them
)


def text(value: object) -> str:
    """A printable string of at most 256 characters."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    bad = _FORBIDDEN_TEXT.search(value)
    if bad is not None:
        raise ValueError(
            f"must not contain U+{ord(bad.group()):04X} (control, separator, bidi override "
            "or lone surrogate characters)"
        )
    return value


def clean_text(value: str) -> str:
    """``value`` without the characters ``text`` refuses, cut to 256 characters."""
    return _FORBIDDEN_TEXT.sub("", value)[:MAX_TEXT]


def _roles(allowed: frozenset[str]) -> Callable[[object], list[str]]:
    def parse(value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
            raise ValueError("must be a list of role names")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(
                f"unknown role {unknown[0][:64]!r}; roles: {', '.join(sorted(allowed))}"
            )
        return sorted(set(value))

    return parse


site_roles = _roles(SITE_ROLES)
organization_roles = _roles(ORGANIZATION_ROLES)


def _status(value: object) -> str:
    if value not in USER_STATUSES:
        raise ValueError(f"must be one of {', '.join(USER_STATUSES)}")
    return str(value)


def _memberships(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ValueError("must be an object mapping organization ids to role lists")
    parsed = {}
    for key, roles in value.items():
        try:
            parsed[check_id(key)] = organization_roles(roles)
        except ValueError as error:
            raise ValueError(f"[{str(key)[:64]!r}]: {error}") from None
    return parsed


class _Fields:
    """Collects field errors so that one response names every bad field."""

    def __init__(self, body: dict[str, Any], known: set[str]) -> None:
        self.body = body
        self.validations = [
            Validation(str(key)[:64], "is not a known field") for key in body if key not in known
        ]

    def get(self, name: str, parse: Callable[[object], _T], default: _T | None = None) -> _T:
        if self.body.get(name) is None:
            if default is None:
                self.validations.append(Validation(name, "is required"))
            return default  # type: ignore[return-value]
        try:
            return parse(self.body[name])
        except ValueError as error:
            self.validations.append(Validation(name, str(error)))
            return default  # type: ignore[return-value]

    def check(self, what: str) -> None:
        if self.validations:
            raise BadRequest(f"The {what} is invalid.", validations=self.validations)


def organization(body: dict[str, Any]) -> tuple[str, str]:
    """``(name, display_name)`` of a PUT organization body."""
    fields = _Fields(body, {"name", "display_name"})
    name = fields.get("name", check_organization_name)
    display_name = fields.get("display_name", text, "")
    fields.check("organization")
    return name, display_name


def user(body: dict[str, Any]) -> UserRecord:
    """The record of a PUT user body."""
    fields = _Fields(body, {"username", "name", "avatar_hash", "roles", "organizations", "status"})
    record = UserRecord(
        username=fields.get("username", check_username),
        name=fields.get("name", text, ""),
        avatar_hash=fields.get("avatar_hash", text, ""),
        roles=fields.get("roles", site_roles, []),
        organizations=fields.get("organizations", _memberships, {}),
        status=fields.get("status", _status, USER_STATUSES[0]),
    )
    fields.check("user")
    return record
