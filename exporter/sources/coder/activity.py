"""Coder's activity tables, read incrementally as minute masks per hour ("cells").

Each table is read from its position minus the look-back, all of them in one read-only
REPEATABLE READ transaction: a summary query per table (rows, skipped rows, the new position)
and one query for the activity of all (``combined``), streamed in chunks from a server-side
cursor. Coder's database turns sessions and agent stats into minute masks per (user,
organization, action, UTC hour) ("cells"), so that a first pass over months of history sends
the service a few rows per user-hour rather than every row.

A later pass reads agent stats (an hour of every agent's stats is its look-back) only from the
first minute whose row count differs from the last stored pass's (``CountedMinutes``).

The minutes are those of the product's rules: an app session covers every minute that
``[session_started_at, session_ended_at)`` overlaps (the minute of its start when the two are
equal); an agent stats row, a login key or an audit login covers the minute of its time.
Rows ending more than 5 minutes after now are skipped and counted; minutes older than the
retention are cut off (they are never read: the look-back starts no earlier).

Each query computes a row's minutes in a subquery fenced with ``OFFSET 0``: PostgreSQL would
otherwise inline the expression into every place that names it, and work out a timestamp's
minute (``epoch_minute``) several times per row.

``workspace_app_stats`` has no index on time and is never purged, but its ids grow: a pass
reads ids from the smallest one that might still change (a session whose end was recent at
the last pass; Coder moves ``session_ended_at`` every 30 s while a session runs) minus a
slack for inserts that commit out of order, and filters on the end time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.events import MAX_FUTURE_SECONDS
from exporter.model import Category
from exporter.sources.coder.shape import CoderShape

ID_SLACK = 10_000
"""How far below the smallest id that may still change a pass starts reading."""

LOGIN_TYPES = ("password", "github", "oidc")
APPLICATION_CONNECT_SCOPES = ("application_connect", "coder:application_connect")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """What one pass may read and store, fixed when the pass starts."""

    now: float
    horizon_minute: int  # the oldest minute inside the retention
    lookback_seconds: float
    default_organization: str
    system_users: list[str]
    ide_apps: list[str]
    desktop_ide: Category

    @property
    def latest(self) -> dt.datetime:
        """Rows after this are in the future and skipped."""
        return to_datetime((self.now + MAX_FUTURE_SECONDS) * 1_000_000)

    @property
    def recent(self) -> dt.datetime:
        """Rows ending after this may still grow."""
        return to_datetime((self.now - self.lookback_seconds) * 1_000_000)

    def since(self, position_us: int | None) -> dt.datetime:
        """Where a read starts: the position minus the look-back, never before the retention."""
        horizon_us = self.horizon_minute * 60_000_000
        if position_us is None:
            return to_datetime(horizon_us)
        return to_datetime(max(position_us - int(self.lookback_seconds * 1_000_000), horizon_us))


@dataclasses.dataclass(frozen=True, slots=True)
class UserSlice:
    """The users whose id lies from ``first`` up to, not including, ``end`` (uuid order).

    ``None`` leaves that side open, so that slices can cover every id, including those of
    users the pass's directory does not list.
    """

    first: str | None = None
    end: str | None = None

    def condition(self, column: str) -> str:
        """SQL to AND onto a query's conditions: ``column`` (a uuid) lies in the slice."""
        sql = f" AND {column} >= CAST(:slice_first AS uuid)" if self.first else ""
        return sql + (f" AND {column} < CAST(:slice_end AS uuid)" if self.end else "")

    def parameters(self) -> dict[str, object]:
        """The parameters that ``condition`` names."""
        return {
            name: value
            for name, value in (("slice_first", self.first), ("slice_end", self.end))
            if value
        }


EVERY_USER = UserSlice()


def user_slices(user_ids: list[str], size: int) -> list[UserSlice]:
    """Slices of ``size`` of ``user_ids`` each (the last fewer) that cover every possible id."""
    ordered = sorted(user_ids)  # canonical lowercase uuids: text order is uuid order
    bounds = ordered[size::size]
    starts: list[str | None] = [None, *bounds]
    ends: list[str | None] = [*bounds, None]
    return [UserSlice(first, end) for first, end in zip(starts, ends, strict=True)]


def to_datetime(epoch_us: float) -> dt.datetime:
    """An aware UTC datetime of epoch microseconds."""
    return _EPOCH + dt.timedelta(microseconds=int(epoch_us))


def epoch_minute(moment: str, *, rounding: str = "floor") -> str:
    """SQL: the epoch minute of ``moment`` (a timestamptz), rounded down, or up with ``ceil``.

    ``date_part`` answers in double precision, much cheaper than ``extract``'s numeric, and
    precise to well under a microsecond for this era's times: every timestamp lands in its
    right minute.
    """
    return f"CAST({rounding}(date_part('epoch', {moment}) / 60) AS bigint)"


def to_epoch_us(moment: dt.datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly."""
    return (moment - _EPOCH) // _MICROSECOND


class TableReader:
    """One Coder table's part of a pass: its cells in chunks, then its counts and positions."""

    table: str

    def __init__(self, window: Window, positions: Mapping[str, int], shape: CoderShape) -> None:
        self.window = window
        self.old_positions = positions
        self.shape = shape
        self.organizations: Mapping[str, list[str]] = {}
        self.rows = 0
        self.skipped = 0
        self.positions: dict[str, int] = {}

    async def summarize(self, connection: AsyncConnection) -> int | None:
        """Work out the new positions; the rows to read, when counted before reading."""
        raise NotImplementedError

    def select(self, users: UserSlice = EVERY_USER) -> tuple[str, dict[str, object]]:
        """The activity query of ``users`` and its parameters.

        Its columns: user (a uuid), organization (text), hour, source rows, then a mask per
        ``categories``. A (user, organization, hour) may come twice (a missing workspace's
        rows, in the default organization), which the merge ORs (``combined``). Grouping by
        uuids, not their text, costs Coder's database less.
        """
        raise NotImplementedError

    def categories(self) -> tuple[Category, ...]:
        """The category of each mask column of ``select``."""
        raise NotImplementedError

    def count_read(self, rows: int) -> None:
        """``rows`` more source rows were read."""


_APP_SESSIONS = """
WITH session AS (
    SELECT s.user_id, w.organization_id,
           CASE WHEN s.access_method = 'terminal' THEN {web_terminal}
                WHEN lower(s.slug_or_port) = ANY (CAST(:ide_apps AS text[])) THEN {ide}
                ELSE {app} END AS category,
           {start_minute} AS start_minute,
           {end_minute} AS end_minute
    FROM workspace_app_stats AS s
    LEFT JOIN workspaces AS w ON w.id = s.workspace_id
    WHERE s.id >= :floor AND s.session_ended_at > :since AND s.session_ended_at <= :latest
      AND s.user_id <> ALL (CAST(:system_users AS uuid[])){users}
    OFFSET 0
), clipped AS (
    SELECT user_id, organization_id, category,
           GREATEST(start_minute, :horizon_minute) AS first_minute,
           GREATEST(start_minute + 1, end_minute) AS end_minute
    FROM session OFFSET 0
)
SELECT user_id, COALESCE(CAST(organization_id AS text), :default_organization), hour,
       count(*) FILTER (WHERE hour = first_minute / 60) AS source_rows,
       {masks}
FROM clipped
CROSS JOIN LATERAL generate_series(first_minute / 60, (end_minute - 1) / 60) AS hour
GROUP BY user_id, organization_id, hour
"""
_RUN_MASK = (
    "((CAST(1 AS bigint) << CAST(LEAST(end_minute, hour * 60 + 60) "
    "- GREATEST(first_minute, hour * 60) AS int)) - 1) "
    "<< CAST(GREATEST(first_minute, hour * 60) - hour * 60 AS int)"
)
_APP_CATEGORIES = (Category.IDE, Category.APP, Category.WEB_TERMINAL)
_APP_SUMMARY = """
SELECT count(*) FILTER (WHERE s.session_ended_at <= :latest),
       count(*) FILTER (WHERE s.session_ended_at > :latest),
       max(s.session_ended_at) FILTER (WHERE s.session_ended_at <= :latest),
       max(s.id),
       min(s.id) FILTER (WHERE s.session_ended_at > :recent)
FROM workspace_app_stats AS s
WHERE s.id >= :floor AND s.session_ended_at > :since
  AND s.user_id <> ALL (CAST(:system_users AS uuid[]))
"""


_APP_TOO_OLD = """
SELECT count(*) FROM workspace_app_stats AS s
WHERE s.session_ended_at <= :since AND s.user_id <> ALL (CAST(:system_users AS uuid[]))
"""


async def _count(connection: AsyncConnection, sql: str, parameters: Mapping[str, object]) -> int:
    """The one number a counting statement returns."""
    return int((await connection.execute(sa.text(sql), parameters)).scalar_one())


class AppSessions(TableReader):
    """``workspace_app_stats``: sessions of web IDEs, apps and web terminals."""

    table = "workspace_app_stats"
    _ENDED = "workspace_app_stats.session_ended_at"
    _FLOOR = "workspace_app_stats.id"

    @property
    def _floor(self) -> int:
        return self.old_positions.get(self._FLOOR, 0)

    def _parameters(self) -> dict[str, object]:
        return {
            "floor": self._floor,
            "since": self.window.since(self.old_positions.get(self._ENDED)),
            "latest": self.window.latest,
            "system_users": self.window.system_users,
        }

    async def summarize(self, connection: AsyncConnection) -> int:
        """Count the rows and find the new end position and id floor."""
        rows, skipped, newest, top_id, open_id = (
            await connection.execute(
                sa.text(_APP_SUMMARY), {**self._parameters(), "recent": self.window.recent}
            )
        ).one()
        self.rows, self.skipped = int(rows), int(skipped)
        if self._ENDED not in self.old_positions:  # a first read: count what it leaves out
            self.skipped += await _count(connection, _APP_TOO_OLD, self._parameters())
        if newest is not None:
            self.positions[self._ENDED] = to_epoch_us(newest)
        if top_id is not None:
            lowest_open = int(open_id) if open_id is not None else int(top_id) + 1
            self.positions[self._FLOOR] = max(self._floor, lowest_open - ID_SLACK, 0)
        return self.rows

    def select(self, users: UserSlice = EVERY_USER) -> tuple[str, dict[str, object]]:
        """Minute masks of the sessions per user, organization and hour, one per category."""
        masks = ", ".join(
            f"bit_or(CASE WHEN category = {int(c)} THEN {_RUN_MASK} ELSE 0 END)"
            for c in _APP_CATEGORIES
        )
        sql = _APP_SESSIONS.format(
            start_minute=epoch_minute("s.session_started_at"),
            end_minute=epoch_minute("s.session_ended_at", rounding="ceil"),
            web_terminal=int(Category.WEB_TERMINAL),
            ide=int(Category.IDE),
            app=int(Category.APP),
            masks=masks,
            users=users.condition("s.user_id"),
        )
        return sql, {
            **self._parameters(),
            **users.parameters(),
            "default_organization": self.window.default_organization,
            "ide_apps": self.window.ide_apps,
            "horizon_minute": self.window.horizon_minute,
        }

    def categories(self) -> tuple[Category, ...]:
        """IDE, App and Web Terminal masks."""
        return _APP_CATEGORIES


_AGENT_STATS = """
WITH stat AS (
    SELECT a.user_id, w.organization_id,
           {minute} AS minute,
           k.ssh, k.desktop, k.pty
    FROM workspace_agent_stats AS a
    {kinds}
    LEFT JOIN workspaces AS w ON w.id = a.workspace_id
    WHERE a.created_at > :since AND a.created_at <= :latest
      AND a.user_id <> ALL (CAST(:system_users AS uuid[])){users}
      AND (k.ssh OR k.desktop OR k.pty)
    OFFSET 0
)
SELECT user_id, COALESCE(CAST(organization_id AS text), :default_organization),
       minute / 60 AS hour, count(*) AS source_rows,
       bit_or(CASE WHEN ssh THEN CAST(1 AS bigint) << CAST(minute % 60 AS int) ELSE 0 END),
       bit_or(CASE WHEN desktop THEN CAST(1 AS bigint) << CAST(minute % 60 AS int) ELSE 0 END),
       bit_or(CASE WHEN pty THEN CAST(1 AS bigint) << CAST(minute % 60 AS int) ELSE 0 END)
FROM stat
GROUP BY user_id, organization_id, minute / 60
"""
_AGENT_SUMMARY = """
SELECT count(*) FILTER (WHERE a.created_at <= :latest AND (k.ssh OR k.desktop OR k.pty)),
       count(*) FILTER (WHERE a.created_at > :latest AND (k.ssh OR k.desktop OR k.pty)),
       max(a.created_at) FILTER (WHERE a.created_at <= :latest)
FROM workspace_agent_stats AS a
{kinds}
WHERE a.created_at > :since AND a.user_id <> ALL (CAST(:system_users AS uuid[]))
"""


_AGENT_AHEAD = """
SELECT (SELECT count(*) FROM workspace_agent_stats AS a
        {kinds}
        WHERE a.created_at > :latest AND a.user_id <> ALL (CAST(:system_users AS uuid[]))
          AND (k.ssh OR k.desktop OR k.pty)),
       (SELECT max(created_at) FROM workspace_agent_stats
        WHERE created_at > :since AND created_at <= :latest)
"""
"""A later read's summary, from the index: future rows with sessions, and the newest time."""


_AGENT_MINUTES = """
SELECT {minute}, count(*) FROM workspace_agent_stats
WHERE created_at >= :counted_from AND created_at <= :latest
GROUP BY 1
"""
"""Rows per epoch minute from ``counted_from`` on, with sessions or not (the index answers)."""


@dataclasses.dataclass(frozen=True, slots=True)
class CountedMinutes:
    """``workspace_agent_stats`` rows per epoch minute, as one pass's snapshot held them.

    From minute ``first`` up to the pass's latest time; a minute not listed had none.
    """

    first: int
    counts: dict[int, int]

    def first_change(self, now: CountedMinutes) -> int | None:
        """The first minute from ``now.first`` on whose rows may differ; ``None`` if none does.

        Rows are only ever added to a minute this recent (Coder purges days-old stats), so a
        minute with as many rows as before holds the same rows. Minutes before ``self.first``
        are unknown, so they differ.
        """
        if now.first < self.first:
            return now.first
        minutes = sorted({*now.counts, *(m for m in self.counts if m >= now.first)})
        return next((m for m in minutes if now.counts.get(m, 0) != self.counts.get(m, 0)), None)


_AGENT_TOO_OLD = """
SELECT count(*) FROM workspace_agent_stats AS a
{kinds}
WHERE a.created_at <= :since AND a.user_id <> ALL (CAST(:system_users AS uuid[]))
  AND (k.ssh OR k.desktop OR k.pty)
"""


class AgentSessions(TableReader):
    """``workspace_agent_stats``: SSH, desktop IDE and web terminal sessions, every 30 s."""

    table = "workspace_agent_stats"
    _CREATED = "workspace_agent_stats.created_at"
    _count_as_read = False
    stored: CountedMinutes | None = None
    """The counts of the last pass this process stored: its minutes' rows are stored."""
    counted: CountedMinutes | None = None
    """This pass's counts, whose rows are all stored once the pass is."""
    _read_after: dt.datetime | None = None
    """Where this pass reads from (rows after it), when not from ``since``."""

    def with_stored(self, stored: CountedMinutes | None) -> AgentSessions:
        """Take the counts of the last pass this process stored."""
        self.stored = stored
        return self

    def _kinds(self) -> str:
        """SQL joining each row's session kinds: ``k.ssh``, ``k.desktop`` and ``k.pty``.

        ``OFFSET 0`` keeps the subquery whole, so each count is read once per row, not once
        per mention (reading a JSON key is the costliest part of the query).
        """
        if self.shape.session_counts_json:  # keyed by Coder's canonical app names
            ssh, vscode, jetbrains, pty = (
                f"COALESCE(CAST(a.session_counts ->> '{key}' AS numeric), 0)"
                for key in ("ssh", "vscode", "jetbrains", "reconnecting_pty")
            )
        else:
            ssh, vscode, jetbrains, pty = (
                f"a.session_count_{kind}"
                for kind in ("ssh", "vscode", "jetbrains", "reconnecting_pty")
            )
        return (
            f"CROSS JOIN LATERAL (SELECT {ssh} > 0 AS ssh, "
            f"({vscode} > 0 OR {jetbrains} > 0) AS desktop, {pty} > 0 AS pty OFFSET 0) AS k"
        )

    def _parameters(self) -> dict[str, object]:
        return {
            "since": self.window.since(self.old_positions.get(self._CREATED)),
            "latest": self.window.latest,
            "system_users": self.window.system_users,
        }

    async def summarize(self, connection: AsyncConnection) -> int | None:
        """Count the rows with sessions and find the newest time read.

        A later read does not count ahead (that would read its look-back, an hour of every
        agent's stats, twice): its rows are counted as they are read, and the newest time and
        the future rows come from the ``created_at`` index.
        """
        if self._CREATED in self.old_positions:
            skipped, newest = (
                await connection.execute(
                    sa.text(_AGENT_AHEAD.format(kinds=self._kinds())), self._parameters()
                )
            ).one()
            self.skipped = int(skipped)
            if newest is not None:
                self.positions[self._CREATED] = to_epoch_us(newest)
            self._count_as_read = True
            await self._count_minutes(connection, later=True)
            return None
        kinds = self._kinds()
        rows, skipped, newest = (
            await connection.execute(
                sa.text(_AGENT_SUMMARY.format(kinds=kinds)), self._parameters()
            )
        ).one()
        self.rows, self.skipped = int(rows), int(skipped)
        if self._CREATED not in self.old_positions:  # a first read: count what it leaves out
            too_old = _AGENT_TOO_OLD.format(kinds=kinds)
            self.skipped += await _count(connection, too_old, self._parameters())
        if newest is not None:
            self.positions[self._CREATED] = to_epoch_us(newest)
        await self._count_minutes(connection, later=False)
        return self.rows

    async def _count_minutes(self, connection: AsyncConnection, *, later: bool) -> None:
        """Count this pass's rows per minute, and so find where a later read must start.

        A later read counts from the minute of its ``since``, and reads from the first minute
        whose rows differ from those of the last pass stored (from that whole minute: reading
        more is harmless), or reads nothing. A first read reads everything and counts only the
        minutes the next pass will look back on (its rows after ``since``).
        """
        since_minute = to_epoch_us(self.window.since(self.old_positions.get(self._CREATED)))
        since_minute //= 60_000_000
        if later:
            first = since_minute
        else:
            lookback_minutes = int(self.window.lookback_seconds // 60) + 1
            first = max(since_minute + 1, int(self.window.now) // 60 - 2 * lookback_minutes)
        counts = await connection.execute(
            sa.text(_AGENT_MINUTES.format(minute=epoch_minute("created_at"))),
            {"counted_from": to_datetime(first * 60_000_000), "latest": self.window.latest},
        )
        self.counted = CountedMinutes(first, {int(m): int(n) for m, n in counts})
        if later:
            change = self.stored.first_change(self.counted) if self.stored else first
            start = self.window.latest if change is None else to_datetime(change * 60_000_000 - 1)
            self._read_after = start

    def select(self, users: UserSlice = EVERY_USER) -> tuple[str, dict[str, object]]:
        """Minute masks per user, organization and hour: SSH, desktop IDEs, web terminals."""
        sql = _AGENT_STATS.format(
            kinds=self._kinds(),
            minute=epoch_minute("a.created_at"),
            users=users.condition("a.user_id"),
        )
        parameters = self._parameters() | users.parameters()
        if self._read_after is not None:
            parameters["since"] = self._read_after
        return sql, {**parameters, "default_organization": self.window.default_organization}

    def count_read(self, rows: int) -> None:
        """Count the rows as they are read when ``summarize`` did not."""
        if self._count_as_read:
            self.rows += rows

    def categories(self) -> tuple[Category, ...]:
        """Tunnel, the configured desktop IDE category, and Web Terminal masks."""
        return (Category.TUNNEL, self.window.desktop_ide, Category.WEB_TERMINAL)


class Logins(TableReader):
    """Logins: ``api_keys`` made by a login, or ``audit_logs`` login entries."""

    _TIME: str

    def with_organizations(self, organizations: Mapping[str, list[str]]) -> Logins:
        """Where each user's logins count: its live organizations, else the default one."""
        self.organizations = organizations
        return self

    def _query(self, after: str = ">", users: UserSlice = EVERY_USER) -> str:
        """Login rows (user_id, t) with ``t`` after (``>``) or not after (``<=``) ``:since``."""
        raise NotImplementedError

    def _parameters(self) -> dict[str, object]:
        return {
            "since": self.window.since(self.old_positions.get(self._TIME)),
            "latest": self.window.latest,
            "system_users": self.window.system_users,
        }

    async def summarize(self, connection: AsyncConnection) -> int:
        """Count the logins and find the newest time read."""
        rows, skipped, newest = (
            await connection.execute(
                sa.text(
                    "SELECT count(*) FILTER (WHERE t <= :latest), "
                    "count(*) FILTER (WHERE t > :latest), max(t) FILTER (WHERE t <= :latest) "
                    f"FROM ({self._query()}) AS logins"
                ),
                self._parameters(),
            )
        ).one()
        self.rows, self.skipped = int(rows), int(skipped)
        if self._TIME not in self.old_positions:  # a first read: count what it leaves out
            too_old = f"SELECT count(*) FROM ({self._query('<=')}) AS logins"
            self.skipped += await _count(connection, too_old, self._parameters())
        if newest is not None:
            self.positions[self._TIME] = to_epoch_us(newest)
        return self.rows

    def select(self, users: UserSlice = EVERY_USER) -> tuple[str, dict[str, object]]:
        """A login minute per organization the user's logins count in, per user and hour.

        Each login row is counted once, in the first of its user's organizations.
        """
        listed_users: list[str] = []
        organizations: list[str] = []
        first: list[bool] = []
        for user_id, listed in self.organizations.items():
            for index, organization_id in enumerate(listed):
                listed_users.append(user_id)
                organizations.append(organization_id)
                first.append(index == 0)
        sql = _LOGINS.format(logins=self._query(users=users), minute=epoch_minute("t"))
        return sql, {
            **self._parameters(),
            **users.parameters(),
            "default_organization": self.window.default_organization,
            "login_users": listed_users,
            "login_organizations": organizations,
            "login_first": first,
        }

    def categories(self) -> tuple[Category, ...]:
        """Login only."""
        return (Category.LOGIN,)


_LOGINS = """
WITH login AS (
    SELECT user_id, {minute} AS minute FROM ({logins}) AS logins WHERE t <= :latest OFFSET 0
)
SELECT l.user_id, COALESCE(m.organization_id, :default_organization), l.minute / 60,
       count(*) FILTER (WHERE m.first IS NOT FALSE),
       bit_or(CAST(1 AS bigint) << CAST(l.minute % 60 AS int))
FROM login AS l
LEFT JOIN unnest(CAST(:login_users AS uuid[]), CAST(:login_organizations AS text[]),
                 CAST(:login_first AS boolean[])) AS m (user_id, organization_id, first)
  ON m.user_id = l.user_id
GROUP BY 1, 2, 3
"""
"""Login minutes per (user, organization, hour): a user's logins count in each of the
organizations listed for it (``login_users``/``login_organizations``), else the default one."""


class LoginKeys(Logins):
    """``api_keys`` made by a password, GitHub or OIDC login (not tokens, not app access)."""

    table = "api_keys"
    _TIME = "api_keys.created_at"

    def _query(self, after: str = ">", users: UserSlice = EVERY_USER) -> str:
        scope = {
            "scopes": " AND NOT (CAST(scopes AS text[]) && CAST(:app_scopes AS text[]))",
            "scope": " AND NOT (CAST(scope AS text) = ANY (CAST(:app_scopes AS text[])))",
            None: "",
        }[self.shape.api_key_scope]
        return (
            "SELECT user_id, created_at AS t FROM api_keys "
            f"WHERE created_at {after} :since "
            "AND CAST(login_type AS text) = ANY (CAST(:login_types AS text[])) "
            "AND user_id <> ALL (CAST(:system_users AS uuid[]))"
            + users.condition("user_id")
            + scope
        )

    def _parameters(self) -> dict[str, object]:
        parameters = super()._parameters() | {"login_types": list(LOGIN_TYPES)}
        if self.shape.api_key_scope is not None:
            parameters["app_scopes"] = list(APPLICATION_CONNECT_SCOPES)
        return parameters


class AuditLogins(Logins):
    """``audit_logs`` entries of successful logins (licensed deployments write them)."""

    table = "audit_logs"
    _TIME = "audit_logs.time"

    def _query(self, after: str = ">", users: UserSlice = EVERY_USER) -> str:
        return (
            'SELECT user_id, "time" AS t FROM audit_logs '
            f"WHERE \"time\" {after} :since AND CAST(action AS text) = 'login' "
            "AND status_code BETWEEN 200 AND 399 "
            "AND user_id <> ALL (CAST(:system_users AS uuid[]))" + users.condition("user_id")
        )
