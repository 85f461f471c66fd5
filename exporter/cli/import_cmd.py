"""``import FILE``: NDJSON events, or a directory dump (JSON), validated whole before storing.

A file with any bad line stores nothing; the first bad lines are reported with their numbers.
Events are stored in batches of up to 10,000 (each atomic, replays harmless), with progress on
standard error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from exporter import payloads
from exporter.cli.common import CommandError, run_with_store
from exporter.errors import ApiError, BadRequest
from exporter.events import MAX_EVENTS, Event, parse_events
from exporter.model import check_id
from exporter.store import Store

_SHOWN_ERRORS = 5


def import_file(args: argparse.Namespace) -> int:
    """Load a file of events or a directory dump."""
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {path}: {error}") from None
    dump = _directory_dump(text)
    if dump is not None:
        return run_with_store(args, lambda store: _import_directory(store, dump))
    return run_with_store(args, lambda store: _import_events(store, text, path.name))


def _directory_dump(text: str) -> dict[str, Any] | None:
    """The parsed dump when the whole file is one JSON object with organizations/users."""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return None  # one event per line, or broken: the event path reports it
    if isinstance(value, dict) and {"organizations", "users"} & set(value):
        return value
    return None


async def _import_events(store: Store, text: str, name: str) -> int:
    lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    limits = store.ingest_limits()
    events: list[Event] = []
    problems: list[str] = []
    for number, line in tqdm(lines, desc=f"checking {name}", unit="event", file=sys.stderr):
        try:
            events.extend(parse_events([json.loads(line)], limits))
        except BadRequest as error:
            detail = error.validations[0]
            problems.append(
                f"line {number}: {detail.field.removeprefix('events[0]')} {detail.detail}"
            )
        except (ValueError, RecursionError):  # JSONDecodeError, or a 4300+ digit integer
            problems.append(f"line {number}: not valid JSON")
    if problems:
        shown = "; ".join(problems[:_SHOWN_ERRORS])
        more = (
            f" (and {len(problems) - _SHOWN_ERRORS} more)" if len(problems) > _SHOWN_ERRORS else ""
        )
        raise CommandError(f"{len(problems)} bad line(s), nothing stored: {shown}{more}")
    new_minutes = 0
    with tqdm(total=len(events), desc=f"storing {name}", unit="event", file=sys.stderr) as bar:
        for start in range(0, len(events), MAX_EVENTS):
            batch = events[start : start + MAX_EVENTS]
            new_minutes += (await store.ingest(batch)).new_minutes
            bar.update(len(batch))
    print(f"imported {len(events)} events, {new_minutes} new active minutes")
    return 0


async def _import_directory(store: Store, dump: dict[str, Any]) -> int:
    organizations = dump.get("organizations", [])
    users = dump.get("users", [])
    if not isinstance(organizations, list) or not isinstance(users, list):
        raise CommandError("a directory dump holds lists 'organizations' and 'users'")
    try:
        async with store.write() as connection:
            writes = store.directory(connection)
            for index, item in enumerate(organizations):
                where = f"organizations[{index}]"
                body = _object(item, where)
                organization_id = _id(body.pop("id", None), where)
                body.pop("placeholder", None)
                name, display_name = payloads.organization(body)
                await writes.put_organization(organization_id, name=name, display_name=display_name)
            for index, item in enumerate(users):
                where = f"users[{index}]"
                body = _object(item, where)
                user_id = _id(body.pop("id", None), where)
                for listed_only in ("last_activity_at", "dormant", "placeholder"):
                    body.pop(listed_only, None)
                await writes.put_user(user_id, payloads.user(body))
    except ApiError as error:
        fields = "; ".join(f"{v.field}: {v.detail}" for v in error.validations)
        raise CommandError(f"{error.message} {fields}".strip() + " Nothing was stored.") from None
    print(f"imported {len(organizations)} organizations and {len(users)} users")
    return 0


def _object(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CommandError(f"{where} must be a JSON object; nothing was stored")
    return dict(item)


def _id(value: object, where: str) -> str:
    try:
        return check_id(value)
    except ValueError as error:
        raise CommandError(f"{where}.id {error}; nothing was stored") from None
