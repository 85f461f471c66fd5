"""The vocabulary of the README's Concepts: actions, roles, identifiers, active minutes."""

from __future__ import annotations

import enum
import hashlib
import re
from typing import Final

ANY: Final = "any"
"""Filter and label value for the distinct union over categories or organizations."""

ALL_ORGANIZATIONS_KEY: Final = "*"
"""Organization key of the rollup rows that hold the union over organizations.

It cannot clash with a real organization id: ``*`` is not in the id alphabet.
"""

MINUTE: Final = 60
HOUR: Final = 3600
DAY: Final = 86400
NANOSECONDS_PER_MINUTE: Final = 60 * 10**9


class Category(enum.IntEnum):
    """An action a user performs; the integer is what the store keeps."""

    ANY = 0
    IDE = 1
    LOGIN = 2
    APP = 3
    TUNNEL = 4
    WEB_TERMINAL = 5

    @property
    def token(self) -> str:
        """The lower-case name used in the API and in labels (``web_terminal``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, token: str, *, allow_any: bool) -> Category:
        """Turn an API token into a category; raise ``ValueError`` for anything else."""
        category = _CATEGORY_TOKENS.get(token)
        if category is not None and (allow_any or category is not cls.ANY):
            return category
        allowed = ", ".join(c.token for c in cls if allow_any or c is not cls.ANY)
        raise ValueError(f"must be one of {allowed}")


_CATEGORY_TOKENS: Final = {category.token: category for category in Category}
EVENT_CATEGORIES: Final = tuple(c for c in Category if c is not Category.ANY)

SITE_READER_ROLES: Final = frozenset({"site-admin", "site-manager", "site-auditor"})
WRITER_ROLES: Final = frozenset({"site-admin", "activity-writer"})
SERVICE_ROLE: Final = "activity-writer"
SITE_ROLES: Final = frozenset(SITE_READER_ROLES | {"site-member", SERVICE_ROLE})
ORGANIZATION_READER_ROLES: Final = frozenset({"organization-admin", "organization-manager"})
GUARDED_ROLES: Final = frozenset(SITE_READER_ROLES | {SERVICE_ROLE} | ORGANIZATION_READER_ROLES)
"""Roles that read reports, and the service role: only a site admin grants or removes them, or
changes a user who holds one (an activity writer manages member roles only)."""
ORGANIZATION_ROLES: Final = frozenset(ORGANIZATION_READER_ROLES | {"organization-member"})
DEFAULT_ORGANIZATION_ROLE: Final = "organization-member"

ACTIVE: Final = "active"
SUSPENDED: Final = "suspended"
USER_STATUSES: Final = (ACTIVE, SUSPENDED)
"""A suspended user is not a seat: it leaves ``usage_users`` and ``usage_dormant_users``."""

_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ORGANIZATION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_USERNAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def check_id(value: object) -> str:
    """Return ``value`` when it is a valid user or organization id, else raise ``ValueError``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError("must be 1-64 characters from A-Z a-z 0-9 . _ : -")
    return value


def check_organization_name(value: object) -> str:
    """Return the lower-cased organization name, or raise ``ValueError``."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    name = value.lower()
    if not _ORGANIZATION_NAME.fullmatch(name):
        raise ValueError("must match ^[a-z0-9][a-z0-9-]{0,63}$ (case-insensitive)")
    if name == ANY:
        raise ValueError("'any' is reserved for the union over organizations")
    return name


def check_username(value: object) -> str:
    """Return ``value`` when it is a valid username, else raise ``ValueError``."""
    if not isinstance(value, str) or not _USERNAME.fullmatch(value):
        raise ValueError("must be 1-64 characters from A-Z a-z 0-9 . _ : -")
    return value


def placeholder_organization_names(organization_id: str, digits: int = 6) -> tuple[str, str]:
    """The name a placeholder organization wants, and the fallback when that is not free.

    The fallback is the slug, ``-`` and ``digits`` hex digits of the id's SHA-256, cut to 64
    characters; a slug that does not start with a letter or digit gets an ``o`` in front.
    """
    slug = re.sub(r"[^a-z0-9-]", "-", organization_id.lower())[:64]
    stem = slug if slug[0].isalnum() else f"o{slug}"
    return slug, suffixed_name(stem, organization_id, digits)


def suffixed_name(name: str, owner_id: str, digits: int = 6) -> str:
    """``name`` + ``-`` + ``digits`` hex digits of SHA-256(``owner_id``), at most 64 characters."""
    digest = hashlib.sha256(owner_id.encode()).hexdigest()[:digits]
    return f"{name[: 63 - digits]}-{digest}"


def is_valid_organization_name(name: str) -> bool:
    """True when ``name`` may name an organization."""
    return bool(_ORGANIZATION_NAME.fullmatch(name)) and name != ANY


def minute_mask(first_bit: int, last_bit_exclusive: int) -> int:
    """A mask with bits ``first_bit`` up to but not including ``last_bit_exclusive`` set."""
    return ((1 << (last_bit_exclusive - first_bit)) - 1) << first_bit


def mask_runs(mask: int) -> list[tuple[int, int]]:
    """The runs of set bits of ``mask`` as ``(first_bit, end_bit_exclusive)``, lowest first."""
    runs = []
    while mask:
        first = (mask & -mask).bit_length() - 1
        rest = mask >> first
        length = (~rest & (rest + 1)).bit_length() - 1  # trailing ones of ``rest``
        runs.append((first, first + length))
        mask &= ~minute_mask(first, first + length)
    return runs


def split_minutes(first_minute: int, end_minute: int) -> list[tuple[int, int]]:
    """Split epoch minutes ``[first_minute, end_minute)`` into ``(hour_start_seconds, mask)``."""
    pieces = []
    minute = first_minute
    while minute < end_minute:
        hour = minute // 60
        stop = min(end_minute, (hour + 1) * 60)
        pieces.append((hour * HOUR, minute_mask(minute - hour * 60, stop - hour * 60)))
        minute = stop
    return pieces
