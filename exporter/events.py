"""Validating activity events (docs/api.md) and turning them into active minutes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from exporter.errors import BadRequest, Validation
from exporter.model import Category, check_id
from exporter.timeutil import MICROSECONDS, rfc3339_microseconds

MAX_EVENTS: Final = 10_000
MAX_FUTURE_SECONDS: Final = 300
MAX_SESSION_SECONDS: Final = 86_400
_MINUTE_US: Final = 60 * MICROSECONDS
_T = TypeVar("_T")
_FIELDS: Final = frozenset({"user_id", "organization_id", "category", "time", "end_time"})


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """An accepted event: active in epoch minutes ``[first_minute, end_minute)``."""

    user_id: str
    organization_id: str
    category: Category
    first_minute: int
    end_minute: int


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What the clock and the configuration allow at the moment of ingest."""

    now: float
    retention_seconds: float
    default_organization: str

    @property
    def horizon_minute(self) -> int:
        """The oldest epoch minute still inside the retention, and never before 1970.

        The day blocks count days from the epoch in SQL, whose integer division truncates
        where Python's floors; a retention of over 56 years would otherwise reach them.
        """
        return max(int((self.now - self.retention_seconds) // 60), 0)


def parse_events(items: Sequence[object], limits: Limits) -> list[Event]:
    """Validate every item; raise one ``BadRequest`` listing each bad event, or return all."""
    if len(items) > MAX_EVENTS:
        raise BadRequest(
            f"Too many events: {len(items)} in one request, at most {MAX_EVENTS}.",
            detail="Split the batch; replaying overlapping batches is safe.",
        )
    events: list[Event] = []
    validations: list[Validation] = []
    for index, item in enumerate(items):
        try:
            events.append(_parse_event(item, limits))
        except _EventError as error:
            validations.append(Validation(f"events[{index}]{error.field}", error.detail))
    if validations:
        noun = "event is" if len(validations) == 1 else "events are"
        raise BadRequest(
            f"{len(validations)} {noun} invalid; nothing was stored.", validations=validations
        )
    return events


class _EventError(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def _parse_event(item: object, limits: Limits) -> Event:
    if not isinstance(item, dict):
        raise _EventError("", "must be a JSON object")
    if not _FIELDS.issuperset(item):
        unknown = sorted(str(key) for key in item if key not in _FIELDS)
        raise _EventError(f".{unknown[0][:64]}", "is not a known field")
    user_id = _field(item, "user_id", check_id)
    organization = item.get("organization_id")
    organization_id = (
        limits.default_organization
        if organization is None
        else _field(item, "organization_id", check_id)
    )
    category = _field(item, "category", lambda v: Category.parse(_str(v), allow_any=False))
    start_us = _field(item, "time", rfc3339_microseconds)
    end_us = start_us
    if item.get("end_time") is not None:
        end_us = _field(item, "end_time", rfc3339_microseconds)
        if end_us < start_us:
            raise _EventError(".end_time", "must not be before time")
        if end_us - start_us > MAX_SESSION_SECONDS * MICROSECONDS:
            raise _EventError(".end_time", "a session may last at most 24h; send it in parts")
    latest_us = int((limits.now + MAX_FUTURE_SECONDS) * MICROSECONDS)
    if end_us > latest_us:
        field = ".end_time" if end_us != start_us else ".time"
        raise _EventError(field, "is more than 5 minutes in the future")
    first_minute = start_us // _MINUTE_US
    end_minute = max(first_minute + 1, -(-end_us // _MINUTE_US))
    if end_minute <= limits.horizon_minute:
        raise _EventError(".time", "is older than the retention; it can no longer be stored")
    return Event(
        user_id=user_id,
        organization_id=organization_id,
        category=category,
        first_minute=max(first_minute, limits.horizon_minute),
        end_minute=end_minute,
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _field(item: dict[object, object], name: str, parse: Callable[[object], _T]) -> _T:
    if item.get(name) is None:
        raise _EventError(f".{name}", "is required")
    try:
        return parse(item[name])
    except ValueError as error:
        raise _EventError(f".{name}", str(error)) from None
