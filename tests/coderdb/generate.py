"""Realistic rows for a Coder-shaped database, kept in memory for the oracle and written by COPY.

The rows follow what Coder writes (see docs/coder.md): app sessions per
(user, agent, session) whose end Coder moves every 30 s while they run, short requests rolled
up into one-minute rows, web terminals with an empty slug, agent stats every 30 s with session
counts that are gauges, a new API key per interactive login (password, GitHub, OIDC) beside
tokens and app-access keys, and audit entries of logins (201 for a password, 307 for a
redirect, 401 when refused). Working days have working hours; weekends are quiet. Edge rows:
a system user (newest shape), suspended, dormant and deleted users, a deleted organization
whose name a live one reuses, deleted workspaces, rows older than any retention a test uses,
rows in the future, names with characters the directory refuses.

    python -m tests.coderdb.generate postgresql://…/coder --users 200 --days 30

fills an empty database (schema included) for a first look at ``sync coder``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import sys
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import psycopg

from tests.coderdb.schema import NEWEST, OLDER, Shape, statements

SYSTEM_USER_ID = "c42fdf75-3097-471c-8c33-fb52454d81c0"  # Coder's "prebuilds" user
IDE_SLUGS = ("code-server", "vscode-web", "jupyter", "JupyterLab", "rstudio")
APP_SLUGS = ("grafana", "dashboard", "8080", "filebrowser")
NIL = uuid.UUID(int=0)


@dataclasses.dataclass(frozen=True, slots=True)
class Org:
    """A row of ``organizations``."""

    id: str
    name: str
    display_name: str
    is_default: bool
    deleted: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A row of ``users``."""

    id: str
    username: str
    name: str
    status: str
    rbac_roles: tuple[str, ...]
    deleted: bool = False
    is_system: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """A row of ``organization_members``."""

    user_id: str
    organization_id: str
    roles: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Workspace:
    """A row of ``workspaces``."""

    id: str
    owner_id: str
    organization_id: str
    agent_id: str
    deleted: bool = False


@dataclasses.dataclass(slots=True)
class AppStat:
    """A row of ``workspace_app_stats`` (``id`` is given by the database's sequence order)."""

    id: int
    user_id: str
    workspace_id: str
    agent_id: str
    access_method: str
    slug_or_port: str
    session_id: str
    started: dt.datetime
    ended: dt.datetime
    requests: int


@dataclasses.dataclass(frozen=True, slots=True)
class AgentStat:
    """A row of ``workspace_agent_stats``: session counts are what was open at ``created``."""

    id: str
    created: dt.datetime
    user_id: str
    agent_id: str
    workspace_id: str
    ssh: int
    vscode: int
    jetbrains: int
    pty: int


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """A row of ``api_keys``."""

    id: str
    user_id: str
    created: dt.datetime
    login_type: str
    application_connect: bool
    token_name: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class AuditLog:
    """A row of ``audit_logs``."""

    id: str
    time: dt.datetime
    user_id: str
    action: str
    status_code: int


@dataclasses.dataclass
class CoderData:
    """Everything in the fixture database, as written."""

    shape: Shape
    organizations: list[Org] = dataclasses.field(default_factory=list)
    users: list[User] = dataclasses.field(default_factory=list)
    members: list[Member] = dataclasses.field(default_factory=list)
    workspaces: list[Workspace] = dataclasses.field(default_factory=list)
    app_stats: list[AppStat] = dataclasses.field(default_factory=list)
    agent_stats: list[AgentStat] = dataclasses.field(default_factory=list)
    api_keys: list[ApiKey] = dataclasses.field(default_factory=list)
    audit_logs: list[AuditLog] = dataclasses.field(default_factory=list)

    def workspace(self, workspace_id: str) -> Workspace:
        """The workspace with this id."""
        return next(w for w in self.workspaces if w.id == workspace_id)


@dataclasses.dataclass(frozen=True, slots=True)
class Scale:
    """How much to generate."""

    users: int = 24
    organizations: int = 4
    days: int = 14
    agent_hours: float = 6.0
    agents: int = 8
    seed: int = 7


Row = AppStat | AgentStat | ApiKey | AuditLog


class Sink(Protocol):
    """Where the generator puts activity rows."""

    def add(self, row: Row) -> None:
        """Take one row."""


class ListSink:
    """Keeps the rows in a ``CoderData``."""

    def __init__(self, data: CoderData) -> None:
        self._lists: dict[type, list[Any]] = {
            AppStat: data.app_stats,
            AgentStat: data.agent_stats,
            ApiKey: data.api_keys,
            AuditLog: data.audit_logs,
        }

    def add(self, row: Row) -> None:
        """Append the row to its table's list."""
        self._lists[type(row)].append(row)


class Generator:
    """Makes rows that end at ``now`` (history before it, a little after it).

    Activity goes day by day, everyone's day in turn, as Coder would have written it; with a
    ``sink`` of its own (the benchmark streams to the database) only the directory is kept.
    """

    def __init__(
        self, shape: Shape, now: dt.datetime, scale: Scale, sink: Sink | None = None
    ) -> None:
        self.shape = shape
        self.now = now
        self.scale = scale
        self.random = random.Random(scale.seed)
        self.data = CoderData(shape)
        self.sink = sink or ListSink(self.data)
        self._next_app_id = 1
        self._spaces: list[Workspace] = []
        self._by_owner: dict[str, list[Workspace]] = {}

    def uuid(self) -> str:
        """A random but repeatable uuid."""
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def build(self) -> CoderData:
        """The whole data set."""
        self.directory()
        self.activity()
        self.edges()
        # Coder inserts a session's row at its first flush: ids grow with the start time.
        self.data.app_stats.sort(key=lambda row: (row.started, row.id))  # (empty when streamed)
        for number, row in enumerate(self.data.app_stats, 1):
            row.id = number
        return self.data

    def activity(self) -> None:
        """Everyone's working days, then the agents' stats."""
        for day in self.days():
            for user in self.people():
                self.app_day(user, day)
                self.login_day(user, day)
        self.agent_history()

    def people(self) -> list[User]:
        """Users who work (not deleted, not system)."""
        return [u for u in self.data.users if not u.deleted and not u.is_system]

    def directory(self) -> None:
        """Organizations, users with every role and status, memberships, workspaces."""
        data = self.data
        data.organizations.append(Org(self.uuid(), "coder", "Coder", is_default=True))
        for index in range(1, self.scale.organizations):
            data.organizations.append(Org(self.uuid(), f"team-{index}", f"Team {index}", False))
        if self.shape.organizations_deleted:  # its name is reused by a live organization
            data.organizations.append(Org(self.uuid(), "team-1", "Old team 1", False, deleted=True))
        site_roles = [("owner",), ("user-admin",), ("auditor",), ("template-admin",)]
        statuses = ["suspended", "dormant"]
        for index in range(self.scale.users):
            roles: tuple[str, ...] = site_roles[index] if index < len(site_roles) else ()
            status = statuses[index - 4] if 4 <= index < 6 else "active"
            name = f"User {index}" if index != 6 else "Zoë \u202egnp.exe"
            data.users.append(User(self.uuid(), f"user{index}", name, status, roles))
        data.users.append(User(self.uuid(), "gone", "Deleted User", "active", (), deleted=True))
        if self.shape.users_is_system:
            data.users.append(
                User(SYSTEM_USER_ID, "prebuilds", "Prebuilds", "active", (), is_system=True)
            )
        default = data.organizations[0].id
        others = [o.id for o in data.organizations[1:] if not o.deleted]
        organization_roles: list[tuple[str, ...]] = [
            (),
            ("organization-admin",),
            ("organization-user-admin",),
            ("organization-auditor",),
            ("organization-template-admin",),
        ]
        for index, user in enumerate(data.users):
            data.members.append(Member(user.id, default, ()))
            if others and not user.is_system and index % 5 != 4:  # some belong to no team
                team = others[index % len(others)]
                roles = organization_roles[index % len(organization_roles)]
                data.members.append(Member(user.id, team, roles))
            orgs = [m.organization_id for m in data.members if m.user_id == user.id]
            for count in range(1 + index % 2):
                data.workspaces.append(
                    Workspace(
                        self.uuid(),
                        user.id,
                        orgs[count % len(orgs)],
                        agent_id=self.uuid(),
                        deleted=count == 1 and index % 3 == 0,
                    )
                )
        if others:  # a member of a deleted organization's workspace: it still counts there
            gone = next((o.id for o in data.organizations if o.deleted), None)
            if gone is not None:
                owner = self.people()[-1]
                data.workspaces.append(
                    Workspace(self.uuid(), owner.id, gone, agent_id=self.uuid(), deleted=True)
                )

    def workspaces_of(self, user: User) -> list[Workspace]:
        """The user's workspaces."""
        if len(self._spaces) != len(self.data.workspaces):  # the directory grew since
            self._by_owner = {}
            for space in self.data.workspaces:
                self._by_owner.setdefault(space.owner_id, []).append(space)
            self._spaces = list(self.data.workspaces)
        return self._by_owner.get(user.id, [])

    def app_stat(  # noqa: PLR0917  (one argument per column)
        self,
        user: User,
        workspace: Workspace,
        method: str,
        slug: str,
        started: dt.datetime,
        ended: dt.datetime,
        requests: int = 1,
    ) -> AppStat | None:
        """Append an app stats row (ids in insertion order, as the sequence gives them).

        History stops at ``now``: a session still running ends at Coder's last flush, a few
        seconds ago, and one that would start later is not there yet.
        """
        if started > self.now:
            return None
        ended = min(ended, self.now - dt.timedelta(seconds=10))
        row = AppStat(
            self._next_app_id,
            user.id,
            workspace.id,
            workspace.agent_id,
            method,
            slug,
            self.uuid(),
            started,
            ended,
            requests,
        )
        self._next_app_id += 1
        self.sink.add(row)
        return row

    def days(self) -> Iterable[dt.datetime]:
        """Midnights of the history, oldest first."""
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        for back in range(self.scale.days, -1, -1):
            yield today - dt.timedelta(days=back)

    def app_day(self, user: User, day: dt.datetime) -> None:
        """A working day: an IDE session, terminals, apps, short requests rolled up per minute."""
        rng = self.random
        spaces = self.workspaces_of(user)
        weekend = day.weekday() >= 5
        if rng.random() > (0.15 if weekend else 0.8):
            return
        space = rng.choice(spaces)
        start = day + dt.timedelta(hours=rng.uniform(7, 11), seconds=rng.uniform(0, 59))
        length = dt.timedelta(minutes=rng.uniform(20, 240))
        self.app_stat(user, space, "path", rng.choice(IDE_SLUGS), start, start + length)
        for _ in range(rng.randint(0, 2)):
            at = start + dt.timedelta(minutes=rng.uniform(0, 300), seconds=rng.uniform(0, 59))
            self.app_stat(
                user, space, "terminal", "", at, at + dt.timedelta(minutes=rng.uniform(1, 45))
            )
        for _ in range(rng.randint(0, 3)):
            at = start + dt.timedelta(minutes=rng.uniform(0, 400))
            self.app_stat(
                user,
                space,
                rng.choice(("path", "subdomain")),
                rng.choice(APP_SLUGS),
                at,
                at + dt.timedelta(minutes=rng.uniform(2, 90)),
            )
        for _ in range(rng.randint(0, 6)):  # rolled up: whole minutes, many requests
            minute = (start + dt.timedelta(minutes=rng.uniform(0, 480))).replace(
                second=0, microsecond=0
            )
            self.app_stat(
                user,
                space,
                "path",
                rng.choice(APP_SLUGS + IDE_SLUGS[:1]),
                minute,
                minute + dt.timedelta(minutes=1),
                requests=rng.randint(2, 40),
            )

    def login_day(self, user: User, day: dt.datetime) -> None:
        """A login key most working mornings, tokens now and then, app-access keys, audits."""
        rng = self.random
        if day.weekday() >= 5 or rng.random() > 0.7:
            return
        at = day + dt.timedelta(hours=rng.uniform(7, 10), seconds=rng.uniform(0, 59))
        if at > self.now - dt.timedelta(hours=3):
            return
        login_type = rng.choice(("password", "github", "oidc"))
        self.sink.add(ApiKey(self.key_id(), user.id, at, login_type, False))
        status = 201 if login_type == "password" else 307
        self.sink.add(AuditLog(self.uuid(), at, user.id, "login", status))
        if rng.random() < 0.2:  # a refused attempt before it
            refused = at - dt.timedelta(minutes=3)
            self.sink.add(AuditLog(self.uuid(), refused, user.id, "login", 401))
        if rng.random() < 0.3:
            opened = at + dt.timedelta(hours=2)
            self.sink.add(ApiKey(self.key_id(), user.id, opened, "password", True))
        if rng.random() < 0.1:
            made = at + dt.timedelta(hours=3)
            self.sink.add(
                ApiKey(self.key_id(), user.id, made, "token", False, token_name=f"ci-{made:%j}")
            )
            self.sink.add(AuditLog(self.uuid(), made, user.id, "create", 201))

    def key_id(self) -> str:
        """A 10-character key id, as Coder makes them."""
        return "".join(self.random.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(10))

    def agent_history(self) -> None:
        """Agent stats every 30 s for the connected agents over the last hours."""
        rng = self.random
        people = self.people()
        connected = [
            (user, rng.choice(self.workspaces_of(user)))
            for user in rng.sample(people, min(self.scale.agents, len(people)))
        ]
        steps = int(self.scale.agent_hours * 120)
        first = self.now - dt.timedelta(seconds=30 * steps)
        for user, space in connected:
            ssh = vscode = jetbrains = pty = 0
            offset = dt.timedelta(seconds=rng.uniform(0, 30))
            for step in range(steps):
                if rng.random() < 0.03:  # a session opens or closes now and then
                    ssh, vscode, jetbrains, pty = (
                        rng.choice((0, 0, 1, 2)),
                        rng.choice((0, 0, 1)),
                        rng.choice((0, 0, 0, 1)),
                        rng.choice((0, 0, 1)),
                    )
                created = first + offset + dt.timedelta(seconds=30 * step)
                self.sink.add(
                    AgentStat(
                        self.uuid(),
                        created,
                        user.id,
                        space.agent_id,
                        space.id,
                        ssh,
                        vscode,
                        jetbrains,
                        pty,
                    )
                )

    def edges(self) -> None:
        """Rows each rule must handle: old, future, running, system, deleted, zero-length."""
        data = self.data
        alice, bob = self.people()[0], self.people()[1]
        space = self.workspaces_of(alice)[0]
        now = self.now
        long_ago = now - dt.timedelta(days=self.scale.days + 30)
        self.app_stat(
            alice, space, "path", "code-server", long_ago, long_ago + dt.timedelta(hours=1)
        )
        # Straddles any retention a test uses: only its newer minutes stay.
        straddle = now - dt.timedelta(days=self.scale.days + 2)
        self.app_stat(bob, space, "path", "grafana", straddle, straddle + dt.timedelta(days=3))
        future = AppStat(
            0,
            alice.id,
            space.id,
            space.agent_id,
            "path",
            "grafana",
            self.uuid(),
            now + dt.timedelta(minutes=2),
            now + dt.timedelta(minutes=20),
            1,
        )
        future.id, self._next_app_id = self._next_app_id, self._next_app_id + 1
        self.sink.add(future)  # a coderd whose clock runs ahead
        self.app_stat(
            bob,
            space,
            "terminal",
            "",
            now - dt.timedelta(minutes=50),
            now - dt.timedelta(seconds=10),
        )
        at = now - dt.timedelta(hours=2, seconds=-17)
        self.app_stat(alice, space, "subdomain", "8080", at, at)  # zero length: its own minute
        gone = next(u for u in data.users if u.deleted)
        self.app_stat(
            gone,
            space,
            "path",
            "jupyter",
            now - dt.timedelta(days=3),
            now - dt.timedelta(days=3, minutes=-30),
        )
        self.sink.add(
            ApiKey(self.key_id(), alice.id, now + dt.timedelta(minutes=30), "oidc", False)
        )
        self.sink.add(ApiKey(self.key_id(), bob.id, long_ago, "password", False))
        self.sink.add(
            AgentStat(
                self.uuid(),
                now + dt.timedelta(hours=1),
                alice.id,
                space.agent_id,
                space.id,
                1,
                0,
                0,
                0,
            )
        )
        self.sink.add(
            AgentStat(self.uuid(), long_ago, alice.id, space.agent_id, space.id, 0, 1, 0, 0)
        )
        if self.shape.users_is_system:  # a prebuilt workspace's agent and apps: never counted
            system = next(u for u in data.users if u.is_system)
            prebuilt = next(w for w in data.workspaces if w.owner_id == system.id)
            at = now - dt.timedelta(hours=1)
            self.app_stat(
                system, prebuilt, "path", "code-server", at, at + dt.timedelta(minutes=30)
            )
            self.sink.add(
                AgentStat(self.uuid(), at, system.id, prebuilt.agent_id, prebuilt.id, 1, 1, 0, 1)
            )
            self.sink.add(ApiKey(self.key_id(), system.id, at, "password", False))


def generate(shape: Shape, now: dt.datetime, scale: Scale | None = None) -> CoderData:
    """A whole data set ending at ``now``."""
    return Generator(shape, now, scale or Scale()).build()


def create_schema(connection: psycopg.Connection[Any], shape: Shape) -> None:
    """Create the tables of ``shape`` in an empty database."""
    for statement in statements(shape):
        connection.execute(statement)


def write(connection: psycopg.Connection[Any], data: CoderData) -> None:
    """Insert every row (COPY), in an order the foreign keys accept."""
    shape = data.shape
    stamp = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    deleted = ["deleted"] if shape.organizations_deleted else []
    _copy(
        connection,
        "organizations",
        [
            "id",
            "name",
            "description",
            "created_at",
            "updated_at",
            "is_default",
            "display_name",
            *deleted,
        ],
        [
            [o.id, o.name, "", stamp, stamp, o.is_default, o.display_name]
            + ([o.deleted] if deleted else [])
            for o in data.organizations
        ],
    )
    system = ["is_system"] if shape.users_is_system else []
    _copy(
        connection,
        "users",
        [
            "id",
            "email",
            "username",
            "hashed_password",
            "created_at",
            "updated_at",
            "status",
            "rbac_roles",
            "login_type",
            "deleted",
            "name",
            *system,
        ],
        [
            [
                u.id,
                f"{u.username}@example.com",
                u.username,
                b"",
                stamp,
                stamp,
                u.status,
                list(u.rbac_roles),
                "none" if u.is_system else "password",
                u.deleted,
                u.name,
            ]
            + ([u.is_system] if system else [])
            for u in data.users
        ],
    )
    _copy(
        connection,
        "organization_members",
        ["user_id", "organization_id", "created_at", "updated_at", "roles"],
        [[m.user_id, m.organization_id, stamp, stamp, list(m.roles)] for m in data.members],
    )
    _copy(
        connection,
        "workspaces",
        [
            "id",
            "created_at",
            "updated_at",
            "owner_id",
            "organization_id",
            "template_id",
            "deleted",
            "name",
        ],
        [
            [w.id, stamp, stamp, w.owner_id, w.organization_id, NIL, w.deleted, f"ws-{w.id[:8]}"]
            for w in data.workspaces
        ],
    )
    write_app_stats(connection, data.app_stats)
    write_agent_stats(connection, shape, data.agent_stats)
    write_api_keys(connection, shape, data.api_keys)
    write_audit_logs(connection, data.audit_logs)


def write_app_stats(connection: psycopg.Connection[Any], rows: Sequence[AppStat]) -> None:
    """Insert app stats rows with their own ids (then move the sequence past them)."""
    _copy(
        connection,
        "workspace_app_stats",
        [
            "id",
            "user_id",
            "workspace_id",
            "agent_id",
            "access_method",
            "slug_or_port",
            "session_id",
            "session_started_at",
            "session_ended_at",
            "requests",
        ],
        [
            [
                r.id,
                r.user_id,
                r.workspace_id,
                r.agent_id,
                r.access_method,
                r.slug_or_port,
                r.session_id,
                r.started,
                r.ended,
                r.requests,
            ]
            for r in rows
        ],
    )
    connection.execute(
        "SELECT setval('workspace_app_stats_id_seq', (SELECT max(id) FROM workspace_app_stats))"
    )


def write_agent_stats(
    connection: psycopg.Connection[Any], shape: Shape, rows: Sequence[AgentStat]
) -> None:
    """Insert agent stats rows in the shape's form of session counts."""
    if shape.session_counts_json:
        counts = ["session_counts"]

        def values(r: AgentStat) -> list[object]:
            named = {
                "ssh": r.ssh,
                "vscode": r.vscode,
                "jetbrains": r.jetbrains,
                "reconnecting_pty": r.pty,
            }
            return [json.dumps({k: v for k, v in named.items() if v})]
    else:
        counts = [
            "session_count_ssh",
            "session_count_vscode",
            "session_count_jetbrains",
            "session_count_reconnecting_pty",
        ]

        def values(r: AgentStat) -> list[object]:
            return [r.ssh, r.vscode, r.jetbrains, r.pty]

    _copy(
        connection,
        "workspace_agent_stats",
        [
            "id",
            "created_at",
            "user_id",
            "agent_id",
            "workspace_id",
            "template_id",
            "connection_count",
            *counts,
        ],
        [
            [
                r.id,
                r.created,
                r.user_id,
                r.agent_id,
                r.workspace_id,
                NIL,
                int(bool(r.ssh or r.vscode or r.jetbrains or r.pty)),
                *values(r),
            ]
            for r in rows
        ],
    )


def write_api_keys(
    connection: psycopg.Connection[Any], shape: Shape, rows: Sequence[ApiKey]
) -> None:
    """Insert API keys with the shape's scope column."""
    if shape.scopes_array:
        scope_column = "scopes"

        def scope(key: ApiKey) -> object:
            return ["coder:application_connect" if key.application_connect else "coder:all"]
    else:
        scope_column = "scope"

        def scope(key: ApiKey) -> object:
            return "application_connect" if key.application_connect else "all"

    _copy(
        connection,
        "api_keys",
        [
            "id",
            "hashed_secret",
            "user_id",
            "last_used",
            "expires_at",
            "created_at",
            "updated_at",
            "login_type",
            "token_name",
            scope_column,
        ],
        [
            [
                k.id,
                b"\x00",
                k.user_id,
                k.created,
                k.created + dt.timedelta(days=1),
                k.created,
                k.created,
                k.login_type,
                k.token_name,
                scope(k),
            ]
            for k in rows
        ],
    )


def write_audit_logs(connection: psycopg.Connection[Any], rows: Sequence[AuditLog]) -> None:
    """Insert audit entries."""
    _copy(
        connection,
        "audit_logs",
        [
            "id",
            "time",
            "user_id",
            "organization_id",
            "resource_type",
            "resource_id",
            "resource_target",
            "action",
            "diff",
            "status_code",
            "additional_fields",
            "request_id",
            "resource_icon",
        ],
        [
            [
                a.id,
                a.time,
                a.user_id,
                NIL,
                "api_key" if a.action == "login" else "workspace",
                a.user_id,
                "",
                a.action,
                "{}",
                a.status_code,
                "{}",
                NIL,
                "",
            ]
            for a in rows
        ],
    )


def _copy(
    connection: psycopg.Connection[Any], table: str, columns: list[str], rows: Iterable[list[Any]]
) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def main(argv: Sequence[str] | None = None) -> int:
    """Create the schema in an empty database and fill it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="libpq URL of an empty database")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--organizations", type=int, default=5)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--shape", choices=("newest", "older"), default="newest")
    args = parser.parse_args(argv)
    shape = NEWEST if args.shape == "newest" else OLDER
    now = dt.datetime.now(dt.UTC)
    scale = Scale(
        users=args.users,
        organizations=args.organizations,
        days=args.days,
        agents=max(1, args.users // 5),
    )
    data = generate(shape, now, scale)
    with psycopg.connect(args.url) as connection:
        create_schema(connection, shape)
        write(connection, data)
    print(
        f"wrote {len(data.users)} users, {len(data.app_stats)} app sessions, "
        f"{len(data.agent_stats)} agent stats, {len(data.api_keys)} API keys",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
