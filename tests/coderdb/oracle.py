"""What the store must hold after syncing a fixture, worked out from its rows minute by minute.

This follows the README's table of what each Coder table feeds, written as plainly as
possible and independently of ``exporter.sources``: it never builds masks or SQL.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

from exporter.config import DEFAULT_CODER_IDE_APPS
from exporter.model import Category
from tests.coderdb.generate import CoderData

Minute = tuple[str, str, int, int]  # user, organization, category, epoch minute
LOGIN_TYPES = {"password", "github", "oidc"}


@dataclasses.dataclass(frozen=True, slots=True)
class Rules:
    """The settings the minutes depend on."""

    now: float
    retention: float
    ide_apps: frozenset[str] = frozenset(DEFAULT_CODER_IDE_APPS)
    desktop_ide: Category = Category.TUNNEL

    @property
    def horizon_minute(self) -> int:
        """The oldest minute kept."""
        return int((self.now - self.retention) // 60)

    @property
    def latest(self) -> float:
        """Rows with a time after this are in the future."""
        return self.now + 300


def expected_minutes(data: CoderData, rules: Rules) -> set[Minute]:
    """Every (user, organization, category, minute) the fixture's rows give."""
    system = {u.id for u in data.users if u.is_system}
    organization_of = {w.id: w.organization_id for w in data.workspaces}
    horizon_seconds = rules.horizon_minute * 60
    minutes: set[Minute] = set()

    def add(user: str, organization: str, category: Category, first: int, end: int) -> None:
        for minute in range(max(first, rules.horizon_minute), end):
            minutes.add((user, organization, int(category), minute))

    for row in data.app_stats:
        start, end = row.started.timestamp(), row.ended.timestamp()
        if row.user_id in system or end > rules.latest or end <= horizon_seconds:
            continue
        if row.access_method == "terminal":
            category = Category.WEB_TERMINAL
        elif row.slug_or_port.lower() in rules.ide_apps:
            category = Category.IDE
        else:
            category = Category.APP
        first = math.floor(start / 60)
        add(
            row.user_id,
            organization_of[row.workspace_id],
            category,
            first,
            max(first + 1, math.ceil(end / 60)),
        )

    for stat in data.agent_stats:
        at = stat.created.timestamp()
        if stat.user_id in system or at > rules.latest or at <= horizon_seconds:
            continue
        minute = math.floor(at / 60)
        organization = organization_of[stat.workspace_id]
        for count, category in (
            (stat.ssh, Category.TUNNEL),
            (stat.vscode + stat.jetbrains, rules.desktop_ide),
            (stat.pty, Category.WEB_TERMINAL),
        ):
            if count > 0:
                add(stat.user_id, organization, category, minute, minute + 1)

    login_organizations = _login_organizations(data)
    logins = [
        (key.user_id, key.created.timestamp())
        for key in data.api_keys
        if key.login_type in LOGIN_TYPES and not key.application_connect
    ] + [
        (entry.user_id, entry.time.timestamp())
        for entry in data.audit_logs
        if entry.action == "login" and 200 <= entry.status_code < 400
    ]
    for user, at in logins:
        if user in system or at > rules.latest or at <= horizon_seconds:
            continue
        minute = math.floor(at / 60)
        for organization in login_organizations.get(user, [_default(data)]):
            add(user, organization, Category.LOGIN, minute, minute + 1)
    return minutes


def _default(data: CoderData) -> str:
    return next(o.id for o in data.organizations if o.is_default)


def _login_organizations(data: CoderData) -> dict[str, list[str]]:
    live = {o.id for o in data.organizations if not o.deleted}
    found: dict[str, list[str]] = {}
    for member in data.members:
        if member.organization_id in live:
            found.setdefault(member.user_id, []).append(member.organization_id)
    return found


def active_users(
    minutes: Iterable[Minute], *, now: float, windows: Mapping[str, int]
) -> dict[tuple[str | None, int, str], int]:
    """Distinct users per (organization or None for all, category or 0 for any, window)."""
    minute_now = int(now // 60)
    seen: dict[tuple[str | None, int, str], set[str]] = {}
    for user, organization, category, minute in minutes:
        for window, width in windows.items():
            if minute_now - width // 60 < minute <= minute_now:
                for org in (organization, None):
                    for cat in (category, 0):
                        seen.setdefault((org, cat, window), set()).add(user)
    return {key: len(users) for key, users in seen.items()}


def counts(
    minutes: Iterable[Minute], *, organization: str | None, category: int, first: int, end: int
) -> dict[str, int]:
    """Active minutes per user in [first, end), for one organization (None: all) and category."""
    distinct: dict[str, set[int]] = {}
    for user, org, cat, minute in minutes:
        if first <= minute < end and organization in (None, org) and category in (0, cat):
            distinct.setdefault(user, set()).add(minute)
    return {user: len(found) for user, found in distinct.items()}
