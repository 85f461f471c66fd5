"""Coder's activity tables, read incrementally as minute masks per hour ("cells").

Each table is read from its position minus the look-back, in one read-only REPEATABLE READ
transaction: a summary query (rows, skipped rows, the new position) and the activity itself,
streamed in chunks from a server-side cursor. Coder's database turns sessions and agent
stats into minute masks per (user, organization, action, UTC hour) ("cells"), so that a first
pass over months of history sends the service a few rows per user-hour rather than every row.

The minutes are those of the product's rules: an app session covers every minute that
``[session_started_at, session_ended_at)`` overlaps (the minute of its start when the two are
equal); an agent stats row, a login key or an audit login covers the minute of its time.
Rows ending more than 5 minutes after now are skipped and counted; minutes older than the
retention are cut off (they are never read: the look-back starts no earlier).

``workspace_app_stats`` has no index on time and is never purged, but its ids grow: a pass
reads ids from the smallest one that might still change (a session whose end was recent at
the last pass; Coder moves ``session_ended_at`` every 30 s while a session runs) minus a
slack for inserts that commit out of order, and filters on the end time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncGenerator, Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from exporter.events import MAX_FUTURE_SECONDS
from exporter.model import HOUR, Category
from exporter.sources.coder.shape import CoderShape
from exporter.store.driver import batches
from exporter.store.ingest import Minutes

CHUNK_ROWS = 5000
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


def to_datetime(epoch_us: float) -> dt.datetime:
    """An aware UTC datetime of epoch microseconds."""
    return _EPOCH + dt.timedelta(microseconds=int(epoch_us))


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

    async def summarize(self, connection: AsyncConnection) -> int:
        """Count the rows to read and work out the new positions; the rows to read."""
        raise NotImplementedError

    def statement(self) -> sa.TextClause:
        """The activity query: (user, organization, hour, source rows, mask per category)."""
        raise NotImplementedError

    def categories(self) -> tuple[Category, ...]:
        """The category of each mask column of ``statement``."""
        raise NotImplementedError

    async def cells(self, connection: AsyncConnection) -> AsyncGenerator[tuple[Minutes, int], None]:
        """The minute masks of the rows read, a chunk at a time, with the source rows they cover."""
        categories = [int(category) for category in self.categories()]
        async for chunk in batches(connection, self.statement(), size=CHUNK_ROWS):
            cells: Minutes = {}
            covered = 0
            for user_id, organization_id, hour, rows, *masks in chunk:
                covered += rows
                start = hour * HOUR
                for category, mask in zip(categories, masks, strict=True):
                    if mask:  # two columns may share a category (desktop IDEs as Tunnel)
                        key = (organization_id, category, start, user_id)
                        cells[key] = cells.get(key, 0) | mask
            yield cells, covered


_APP_SESSIONS = """
WITH session AS (
    SELECT CAST(s.user_id AS text) AS user_id,
           COALESCE(CAST(w.organization_id AS text), :default_organization) AS organization_id,
           CASE WHEN s.access_method = 'terminal' THEN {web_terminal}
                WHEN lower(s.slug_or_port) = ANY (CAST(:ide_apps AS text[])) THEN {ide}
                ELSE {app} END AS category,
           CAST(floor(extract(epoch FROM s.session_started_at) / 60) AS bigint) AS start_minute,
           CAST(ceil(extract(epoch FROM s.session_ended_at) / 60) AS bigint) AS end_minute
    FROM workspace_app_stats AS s
    LEFT JOIN workspaces AS w ON w.id = s.workspace_id
    WHERE s.id >= :floor AND s.session_ended_at > :since AND s.session_ended_at <= :latest
      AND s.user_id <> ALL (CAST(:system_users AS uuid[]))
), clipped AS (
    SELECT user_id, organization_id, category,
           GREATEST(start_minute, :horizon_minute) AS first_minute,
           GREATEST(start_minute + 1, end_minute) AS end_minute
    FROM session
)
SELECT user_id, organization_id, hour,
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

    def statement(self) -> sa.TextClause:
        """Minute masks of the sessions per user, organization and hour, one per category."""
        masks = ", ".join(
            f"bit_or(CASE WHEN category = {int(c)} THEN {_RUN_MASK} ELSE 0 END)"
            for c in _APP_CATEGORIES
        )
        sql = _APP_SESSIONS.format(
            web_terminal=int(Category.WEB_TERMINAL),
            ide=int(Category.IDE),
            app=int(Category.APP),
            masks=masks,
        )
        return sa.text(sql).bindparams(
            **self._parameters(),
            default_organization=self.window.default_organization,
            ide_apps=self.window.ide_apps,
            horizon_minute=self.window.horizon_minute,
        )

    def categories(self) -> tuple[Category, ...]:
        """IDE, App and Web Terminal masks."""
        return _APP_CATEGORIES


_AGENT_STATS = """
WITH stat AS (
    SELECT CAST(a.user_id AS text) AS user_id,
           COALESCE(CAST(w.organization_id AS text), :default_organization) AS organization_id,
           CAST(floor(extract(epoch FROM a.created_at) / 60) AS bigint) AS minute,
           {ssh} > 0 AS ssh, ({vscode} > 0 OR {jetbrains} > 0) AS desktop, {pty} > 0 AS pty
    FROM workspace_agent_stats AS a
    LEFT JOIN workspaces AS w ON w.id = a.workspace_id
    WHERE a.created_at > :since AND a.created_at <= :latest
      AND a.user_id <> ALL (CAST(:system_users AS uuid[]))
      AND ({ssh} > 0 OR {vscode} > 0 OR {jetbrains} > 0 OR {pty} > 0)
)
SELECT user_id, organization_id, minute / 60 AS hour, count(*) AS source_rows,
       bit_or(CASE WHEN ssh THEN CAST(1 AS bigint) << CAST(minute % 60 AS int) ELSE 0 END),
       bit_or(CASE WHEN desktop THEN CAST(1 AS bigint) << CAST(minute % 60 AS int) ELSE 0 END),
       bit_or(CASE WHEN pty THEN CAST(1 AS bigint) << CAST(minute % 60 AS int) ELSE 0 END)
FROM stat
GROUP BY user_id, organization_id, minute / 60
"""
_AGENT_SUMMARY = """
SELECT count(*) FILTER (WHERE a.created_at <= :latest AND {sessions}),
       count(*) FILTER (WHERE a.created_at > :latest AND {sessions}),
       max(a.created_at) FILTER (WHERE a.created_at <= :latest)
FROM workspace_agent_stats AS a
WHERE a.created_at > :since AND a.user_id <> ALL (CAST(:system_users AS uuid[]))
"""


_AGENT_TOO_OLD = """
SELECT count(*) FROM workspace_agent_stats AS a
WHERE a.created_at <= :since AND a.user_id <> ALL (CAST(:system_users AS uuid[])) AND {sessions}
"""


class AgentSessions(TableReader):
    """``workspace_agent_stats``: SSH, desktop IDE and web terminal sessions, every 30 s."""

    table = "workspace_agent_stats"
    _CREATED = "workspace_agent_stats.created_at"

    def _counts(self) -> dict[str, str]:
        if self.shape.session_counts_json:  # keyed by Coder's canonical app names
            return {
                kind: f"COALESCE(CAST(a.session_counts ->> '{key}' AS numeric), 0)"
                for kind, key in (
                    ("ssh", "ssh"),
                    ("vscode", "vscode"),
                    ("jetbrains", "jetbrains"),
                    ("pty", "reconnecting_pty"),
                )
            }
        return {
            "ssh": "a.session_count_ssh",
            "vscode": "a.session_count_vscode",
            "jetbrains": "a.session_count_jetbrains",
            "pty": "a.session_count_reconnecting_pty",
        }

    def _parameters(self) -> dict[str, object]:
        return {
            "since": self.window.since(self.old_positions.get(self._CREATED)),
            "latest": self.window.latest,
            "system_users": self.window.system_users,
        }

    async def summarize(self, connection: AsyncConnection) -> int:
        """Count the rows with sessions and find the newest time read."""
        counts = self._counts()
        sessions = " OR ".join(f"{counts[k]} > 0" for k in ("ssh", "vscode", "jetbrains", "pty"))
        rows, skipped, newest = (
            await connection.execute(
                sa.text(_AGENT_SUMMARY.format(sessions=f"({sessions})")), self._parameters()
            )
        ).one()
        self.rows, self.skipped = int(rows), int(skipped)
        if self._CREATED not in self.old_positions:  # a first read: count what it leaves out
            too_old = _AGENT_TOO_OLD.format(sessions=f"({sessions})")
            self.skipped += await _count(connection, too_old, self._parameters())
        if newest is not None:
            self.positions[self._CREATED] = to_epoch_us(newest)
        return self.rows

    def statement(self) -> sa.TextClause:
        """Minute masks per user, organization and hour: SSH, desktop IDEs, web terminals."""
        counts = self._counts()
        sql = _AGENT_STATS.format(
            ssh=counts["ssh"],
            vscode=counts["vscode"],
            jetbrains=counts["jetbrains"],
            pty=counts["pty"],
        )
        return sa.text(sql).bindparams(
            **self._parameters(), default_organization=self.window.default_organization
        )

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

    def _query(self, after: str = ">") -> str:
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

    def statement(self) -> sa.TextClause:
        """(user, minute) of each login up to the latest time."""
        return sa.text(
            f"SELECT user_id, CAST(floor(extract(epoch FROM t) / 60) AS bigint) "
            f"FROM ({self._query()}) AS logins WHERE t <= :latest"
        ).bindparams(**self._parameters())

    def categories(self) -> tuple[Category, ...]:
        """Login only."""
        return (Category.LOGIN,)

    async def cells(self, connection: AsyncConnection) -> AsyncGenerator[tuple[Minutes, int], None]:
        """A login minute per organization the user's logins count in."""
        default = [self.window.default_organization]
        login = int(Category.LOGIN)
        async for chunk in batches(connection, self.statement(), size=CHUNK_ROWS):
            cells: Minutes = {}
            for user_id, minute in chunk:
                hour, bit = divmod(minute, 60)
                for organization_id in self.organizations.get(user_id, default):
                    key = (organization_id, login, hour * HOUR, user_id)
                    cells[key] = cells.get(key, 0) | (1 << bit)
            yield cells, len(chunk)


class LoginKeys(Logins):
    """``api_keys`` made by a password, GitHub or OIDC login (not tokens, not app access)."""

    table = "api_keys"
    _TIME = "api_keys.created_at"

    def _query(self, after: str = ">") -> str:
        scope = {
            "scopes": " AND NOT (CAST(scopes AS text[]) && CAST(:app_scopes AS text[]))",
            "scope": " AND NOT (CAST(scope AS text) = ANY (CAST(:app_scopes AS text[])))",
            None: "",
        }[self.shape.api_key_scope]
        return (
            "SELECT CAST(user_id AS text) AS user_id, created_at AS t FROM api_keys "
            f"WHERE created_at {after} :since "
            "AND CAST(login_type AS text) = ANY (CAST(:login_types AS text[])) "
            "AND user_id <> ALL (CAST(:system_users AS uuid[]))" + scope
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

    def _query(self, after: str = ">") -> str:
        return (
            'SELECT CAST(user_id AS text) AS user_id, "time" AS t FROM audit_logs '
            f"WHERE \"time\" {after} :since AND CAST(action AS text) = 'login' "
            "AND status_code BETWEEN 200 AND 399 "
            "AND user_id <> ALL (CAST(:system_users AS uuid[]))"
        )
