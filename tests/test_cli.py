"""The command line against a real store (docs/operations.md), in-process and as a program."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from exporter.auth import Principal
from exporter.cli import build_parser, main
from exporter.config import Config
from exporter.errors import Unauthorized
from exporter.model import Category
from exporter.store import Store
from exporter.store.tokens import authenticate
from exporter.timeutil import format_utc
from tests.support import (
    memberships_of,
    organization_row,
    site_roles_of,
    stored_activity,
    stored_totals,
    user_row,
)

_T = TypeVar("_T")
PROGRAM = Path(sys.executable).with_name("usage-metrics")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No USAGE_METRICS_* from the outside; the root logger restored after each command."""
    for name in list(os.environ):
        if name.startswith("USAGE_METRICS_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _with_store(database_url: str, work: Callable[[Store], Awaitable[_T]]) -> _T:
    """Run ``work`` on a store over the test database, outside the command line."""

    async def run() -> _T:
        store = Store.open(Config(database_url=database_url))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


class Cli:
    """Runs ``main`` in-process with ``--database-url`` and captures its output."""

    def __init__(self, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.database_url = database_url
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """Exit status, standard output and standard error of one command."""
        self.capsys.readouterr()
        try:
            status = main([*args, "--database-url", self.database_url])
        except SystemExit as stop:
            status = int(stop.code or 0)
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, *args: str) -> str:
        """Standard output of a command that must succeed."""
        status, out, err = self(*args)
        assert status == 0, err
        return out


@pytest.fixture
def cli(database_url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The command line over the test's database."""
    return Cli(database_url, capsys)


def _table(out: str) -> list[list[str]]:
    """Rows of a printed table, cells split on runs of two or more spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


# --- migrate, orgs, users ---------------------------------------------------------------------


def test_migrate_reports_the_revision(cli: Cli) -> None:
    """``migrate`` brings the store to the newest revision and says which."""
    assert cli.ok("migrate") == "store is at revision 0009\n"
    assert cli.ok("migrate") == "store is at revision 0009\n"


def test_orgs_create_and_list(cli: Cli) -> None:
    """``orgs create`` prints the id; ``orgs list`` shows every organization."""
    assert cli.ok("orgs", "create", "acme", "--display-name", "Acme Corp") == "acme\n"
    assert cli.ok("orgs", "create", "Beta", "--id", "b-1") == "b-1\n"
    rows = _table(cli.ok("orgs", "list"))
    assert rows == [
        ["ID", "NAME", "DISPLAY NAME", "PLACEHOLDER"],
        ["acme", "acme", "Acme Corp", "no"],
        ["b-1", "beta", "no"],
        ["default", "default", "yes"],
    ]


def test_orgs_create_with_a_taken_name_fails_in_one_line(cli: Cli) -> None:
    """A name clash is exit 1 and one line on standard error."""
    cli.ok("orgs", "create", "acme")
    status, out, err = cli("orgs", "create", "acme", "--id", "other")
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert "taken" in err


def test_users_create_with_roles_and_organizations(cli: Cli, database_url: str) -> None:
    """``--role`` and ``--org ORG[:ROLE]`` repeat; ORG is an id or a name."""
    cli.ok("orgs", "create", "acme")
    cli.ok("orgs", "create", "beta", "--id", "b-1")
    out = cli.ok(
        "users",
        "create",
        "joe",
        "--id",
        "u1",
        "--name",
        "Joe",
        "--role",
        "site-member",
        "--role",
        "site-auditor",
        "--org",
        "acme",
        "--org",
        "beta:organization-admin",
        "--org",
        "b-1:organization-manager",
    )
    assert out == "u1\n"
    assert _with_store(database_url, lambda s: site_roles_of(s, "u1")) == [
        "site-auditor",
        "site-member",
    ]
    assert _with_store(database_url, lambda s: memberships_of(s, "u1")) == {
        "acme": "organization-member",
        "b-1": "organization-admin organization-manager",
    }
    rows = _table(cli.ok("users", "list"))
    assert rows[0] == [
        "ID",
        "USERNAME",
        "NAME",
        "ROLES",
        "ORGANIZATIONS",
        "STATUS",
        "LAST ACTIVITY",
        "DORMANT",
    ]
    assert rows[1] == [
        "u1",
        "joe",
        "Joe",
        "site-auditor,site-member",
        "acme,b-1",
        "active",
        "never",
        "no",
    ]
    cli.ok("users", "create", "away", "--id", "u2", "--status", "suspended")
    assert _with_store(database_url, lambda s: user_row(s, "u2")).status == "suspended"
    away = next(line for line in cli.ok("users", "list").splitlines() if line.startswith("u2 "))
    assert " suspended " in away


def test_users_create_without_id_makes_a_uuid(cli: Cli, database_url: str) -> None:
    """Without ``--id`` the user gets a new UUID, printed."""
    user_id = cli.ok("users", "create", "ann").strip()
    assert len(user_id) == 36
    assert _with_store(database_url, lambda s: user_row(s, user_id)).username == "ann"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["users", "create", "joe", "--org", "nowhere"], "does not exist"),
        (["users", "create", "joe", "--org", "default:owner"], "unknown organization role"),
        (["users", "create", "joe", "--role", "root"], "unknown site role"),
        (["users", "create", "joe smith"], "invalid user"),
        (["orgs", "create", "any"], "reserved"),
        (["users", "delete", "ghost"], "does not exist"),
        (["tokens", "create", "--user", "ghost"], "does not exist"),
        (["tokens", "revoke", "0123456789abcdef"], "does not exist"),
    ],
)
def test_failures_are_one_line_and_exit_1(cli: Cli, args: list[str], reason: str) -> None:
    """A command that cannot do its work exits 1 with one line naming why, storing nothing."""
    status, out, err = cli(*args)
    assert (status, out) == (1, "")
    assert err.startswith("usage-metrics: ")
    assert err.count("\n") == 1
    assert reason in err


def test_users_delete_by_username(cli: Cli, database_url: str) -> None:
    """``users delete`` takes a username, prints the id, and the user leaves the list."""
    cli.ok("users", "create", "joe", "--id", "u1")
    assert cli.ok("users", "delete", "joe") == "u1\n"
    assert len(_table(cli.ok("users", "list"))) == 1
    assert _with_store(database_url, lambda s: user_row(s, "u1")).deleted_at is not None


# --- tokens ----------------------------------------------------------------------------------


def _authenticate(database_url: str, token: str) -> Principal:
    async def work(store: Store) -> Principal:
        async with store.read() as connection:
            return await authenticate(connection, token, now=time.time())

    return _with_store(database_url, work)


def test_tokens_create_list_revoke(cli: Cli, database_url: str) -> None:
    """The token alone is printed once, it authenticates, list hides it, revoke ends it."""
    cli.ok("users", "create", "svc", "--id", "svc-1", "--role", "activity-writer")
    out = cli.ok("tokens", "create", "--user", "svc")
    assert out.count("\n") == 1
    token = out.strip()
    assert token.startswith("um_")
    principal = _authenticate(database_url, token)
    assert (principal.user_id, principal.site_roles) == ("svc-1", frozenset({"activity-writer"}))

    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    listing = cli.ok("tokens", "list")
    assert secret not in listing
    rows = _table(listing)
    assert rows[0] == ["ID", "USER", "CREATED", "EXPIRES", "STATE"]
    assert [rows[1][0], rows[1][1], rows[1][3], rows[1][4]] == [token_id, "svc", "never", "active"]

    assert cli.ok("tokens", "revoke", token_id) == f"revoked {token_id}\n"
    with pytest.raises(Unauthorized, match="revoked"):
        _authenticate(database_url, token)
    assert _table(cli.ok("tokens", "list"))[1][4] == "revoked"


def test_tokens_create_with_a_lifetime(cli: Cli) -> None:
    """``--lifetime 90d`` sets an expiry 90 days out; a bad lifetime is exit 1."""
    cli.ok("users", "create", "joe")
    before = int(time.time())
    cli.ok("tokens", "create", "--user", "joe", "--lifetime", "90d")
    expires = _table(cli.ok("tokens", "list"))[1][3]
    assert expires in {format_utc(before + 90 * 86400 + s) for s in range(5)}
    status, _, err = cli("tokens", "create", "--user", "joe", "--lifetime", "soon")
    assert status == 1
    assert "--lifetime" in err


# --- import ----------------------------------------------------------------------------------


def _minute(offset_minutes: int) -> str:
    now = int(time.time()) // 60 * 60
    return format_utc(now - 3600 + offset_minutes * 60)


def test_import_events(cli: Cli, database_url: str, tmp_path: Path) -> None:
    """An NDJSON file is stored; progress goes to standard error, the summary to stdout."""
    lines = [
        {"user_id": "u1", "organization_id": "o1", "category": "ide", "time": _minute(0)},
        {"user_id": "u1", "category": "app", "time": _minute(1), "end_time": _minute(4)},
        {"user_id": "u2", "organization_id": "o1", "category": "tunnel", "time": _minute(2)},
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    status, out, err = cli("import", str(path))
    assert status == 0, err
    assert out == "imported 3 events, 5 new active minutes\n"
    assert "storing events.ndjson" in err
    totals = _with_store(database_url, stored_totals)
    assert totals == {
        ("o1", int(Category.IDE)): 1,
        ("o1", int(Category.TUNNEL)): 1,
        ("default", int(Category.APP)): 3,
    }
    again = cli.ok("import", str(path))
    assert again == "imported 3 events, 0 new active minutes\n"


def test_import_with_a_bad_line_stores_nothing(cli: Cli, database_url: str, tmp_path: Path) -> None:
    """One bad line refuses the whole file, naming the line and the field."""
    good = {"user_id": "u1", "category": "ide", "time": _minute(0)}
    path = tmp_path / "events.ndjson"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                json.dumps(good),
                json.dumps({**good, "category": "ssh"}),
                "{oops",
                "1" * 5000,
            ]
        )
    )
    status, out, err = cli("import", str(path))
    assert (status, out) == (1, "")
    message = err.strip().splitlines()[-1]
    assert message.startswith("usage-metrics: 3 bad line(s), nothing stored: ")
    assert "line 3: .category" in message
    assert "line 4: not valid JSON" in message
    assert "line 5: not valid JSON" in message
    assert _with_store(database_url, stored_activity) == {}
    assert _with_store(database_url, lambda s: user_row(s, "u1")) is None


def test_import_directory_dump(cli: Cli, database_url: str, tmp_path: Path) -> None:
    """A JSON dump shaped like the GET listings creates organizations and users."""
    dump = {
        "organizations": [
            {"id": "o1", "name": "Acme", "display_name": "Acme Corp", "placeholder": False}
        ],
        "users": [
            {
                "id": "u1",
                "username": "joe",
                "name": "Joe",
                "avatar_hash": "abc",
                "roles": ["site-member"],
                "organizations": {"o1": ["organization-admin"]},
                "last_activity_at": None,
                "dormant": False,
                "placeholder": False,
            }
        ],
    }
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(dump, indent=2))
    assert cli.ok("import", str(path)) == "imported 1 organizations and 1 users\n"
    org = _with_store(database_url, lambda s: organization_row(s, "o1"))
    assert (org.name, org.display_name, org.placeholder) == ("acme", "Acme Corp", False)
    user = _with_store(database_url, lambda s: user_row(s, "u1"))
    assert (user.username, user.name, user.avatar_hash, user.placeholder) == (
        "joe",
        "Joe",
        "abc",
        False,
    )
    assert _with_store(database_url, lambda s: memberships_of(s, "u1")) == {
        "o1": "organization-admin"
    }


def test_import_bad_directory_dump_stores_nothing(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """A dump with one bad user stores none of it, and says which field."""
    dump = {
        "organizations": [{"id": "o1", "name": "acme"}],
        "users": [{"id": "u1", "username": "joe"}, {"id": "u2", "username": "ann", "roles": ["x"]}],
    }
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(dump))
    status, out, err = cli("import", str(path))
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert "roles" in err
    assert _with_store(database_url, lambda s: organization_row(s, "o1")) is None
    assert _with_store(database_url, lambda s: user_row(s, "u1")) is None


def test_import_missing_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    """A file that cannot be read is exit 1 and one line."""
    status, _, err = cli("import", str(tmp_path / "nope.ndjson"))
    assert status == 1
    assert err.count("\n") == 1
    assert "cannot read" in err


# --- arguments, configuration, help -----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["users"],
        ["users", "create"],
        ["tokens", "create"],
        ["orgs", "create", "acme", "--colour", "red"],
        ["tokens", "revoke"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Argument errors are exit 2 and a single line on standard error."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "error:" in err


def test_bad_environment_value_exits_2_with_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``USAGE_METRICS_RETENTION=abc`` stops the command before it starts: exit 2, one line."""
    monkeypatch.setenv("USAGE_METRICS_RETENTION", "abc")
    status, out, err = cli("migrate")
    assert (status, out) == (2, "")
    assert err == (
        "usage-metrics: error: USAGE_METRICS_RETENTION: "
        "'abc' is not a duration like 30s, 5m, 1h30m or 90d\n"
    )


def test_flag_overrides_environment(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--retention`` wins over ``USAGE_METRICS_RETENTION``; the result is still checked."""
    monkeypatch.setenv("USAGE_METRICS_RETENTION", "abc")
    assert cli("migrate", "--retention", "400d")[0] == 0
    status, _, err = cli("migrate", "--retention", "10d")
    assert status == 2
    assert "must not be shorter than USAGE_METRICS_DORMANCY" in err


def _commands() -> list[list[str]]:
    """Every command path of the parser, e.g. ``["tokens", "create"]``."""
    paths: list[list[str]] = [[]]

    def walk(parser: Any, prefix: list[str]) -> None:
        for action in parser._actions:  # argparse has no public walk
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return paths


def test_the_command_tree_is_complete() -> None:
    """Every documented command this part of the project owns is there."""
    names = {" ".join(path) for path in _commands()}
    assert {
        "serve",
        "migrate",
        "orgs create",
        "orgs list",
        "users create",
        "users list",
        "users delete",
        "tokens create",
        "tokens list",
        "tokens revoke",
        "import",
    } <= names


@pytest.mark.parametrize("path", _commands(), ids=lambda path: " ".join(path) or "top")
def test_every_command_has_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` prints usage for every command and exits 0."""
    with pytest.raises(SystemExit) as stop:
        main([*path, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: usage-metrics" + "".join(f" {p}" for p in path))


# --- the installed program --------------------------------------------------------------------


def _program(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    return subprocess.run(
        [str(PROGRAM), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


def test_installed_program_runs(database_url: str) -> None:
    """The ``usage-metrics`` console script migrates, creates and lists, via the environment."""
    assert PROGRAM.exists(), f"{PROGRAM} is not installed (pip install -e .)"
    env = {"USAGE_METRICS_DATABASE_URL": database_url}
    created = _program("orgs", "create", "acme", "--display-name", "Acme", env=env)
    assert (created.returncode, created.stdout, created.stderr) == (0, "acme\n", "")
    listed = _program("orgs", "list", env=env)
    assert listed.returncode == 0
    assert ["acme", "acme", "Acme", "no"] in _table(listed.stdout)


def test_installed_program_refuses_bad_configuration() -> None:
    """A bad variable is exit 2 and one line, from the real program too."""
    done = _program("migrate", env={"USAGE_METRICS_RETENTION": "abc"})
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "USAGE_METRICS_RETENTION" in done.stderr


def test_python_dash_m_exporter_is_the_same_program() -> None:
    """``python -m exporter --version`` answers like the console script."""
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage-metrics ")
