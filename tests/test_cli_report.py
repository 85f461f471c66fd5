"""``usage-metrics report``: the activity report JSON from the store, without HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from exporter.cli import main
from exporter.web.keys import STORE
from tests.report_helpers import get_report, ingest, put_organization, put_user

DAY = {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
DAY_FLAGS = ["--start", DAY["start"], "--end", DAY["end"]]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit status, standard output and standard error of one in-process command.

    The command sees no USAGE_METRICS_* variables, and the root logger it configures is
    restored afterwards.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("USAGE_METRICS_"):
                patch.delenv(name)
        try:
            status = main(list(args))
        except SystemExit as stop:
            status = int(stop.code or 0)
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
    out, err = capsys.readouterr()
    return status, out, err


async def _fill(client: TestClient[Any, Any]) -> None:
    store = client.app[STORE]
    await put_organization(store, "acme-id", "acme")
    await put_user(store, "u1", username="joe", name="Joe", roles=["site-member"])
    events: list[dict[str, str]] = [
        {
            "user_id": "u1",
            "organization_id": "acme-id",
            "category": "ide",
            "time": "2026-11-24T09:00:00Z",
            "end_time": "2026-11-24T11:30:30Z",
        },
        {"user_id": "u2", "category": "tunnel", "time": "2026-11-24T10:15:00Z"},
        {"user_id": "u2", "category": "ide", "time": "2026-11-23T23:59:59Z"},
    ]
    await ingest(store, events)


@pytest.mark.parametrize(
    "params",
    [
        {**DAY, "interval": "1 hour"},
        {**DAY, "interval": "90 minutes", "category": "ide", "org": "acme"},
        {"start": "2026-11-23T23:30:00+05:30", "end": "2026-11-24T23:00:00Z"},
    ],
    ids=["hourly", "ide-in-acme", "offset"],
)
async def test_same_json_as_http(
    client: TestClient[Any, Any],
    admin_headers: dict[str, str],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    params: dict[str, str],
) -> None:
    """The command prints exactly the report the HTTP route answers for the same store."""
    await _fill(client)
    status, expected = await get_report(client, admin_headers, **params)
    assert status == 200
    assert expected["users"]  # the comparison is not between two empty reports
    flags = [item for name, value in params.items() for item in (f"--{name}", value)]
    code, out, err = await asyncio.to_thread(
        _run, capsys, "report", *flags, "--database-url", database_url
    )
    assert code == 0, err
    assert json.loads(out) == expected
    assert list(json.loads(out)["users"]) == list(expected["users"])


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--start", "yesterday", "--end", DAY["end"]], "--start"),
        (["--start", DAY["start"], "--end", DAY["start"]], "--end"),
        ([*DAY_FLAGS, "--interval", "0 day"], "--interval"),
        ([*DAY_FLAGS, "--interval", "1 minute"], "--interval"),
        ([*DAY_FLAGS, "--category", "editor"], "--category"),
        ([*DAY_FLAGS, "--org", "no such org"], "--org"),
        (["--end", DAY["end"]], "--start"),
    ],
    ids=["time", "order", "zero", "too-many", "category", "org", "missing"],
)
def test_bad_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, args: list[str], flag: str
) -> None:
    """Bad arguments are one line on standard error and exit status 2; nothing is opened."""
    database = tmp_path / "never-created.db"
    code, out, err = _run(capsys, "report", *args, "--database-url", f"sqlite:///{database}")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert flag in err
    assert not database.exists()


def test_unknown_organization(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An organization that does not exist is one line on standard error and exit status 1."""
    assert _run(capsys, "migrate", "--database-url", database_url)[0] == 0
    code, out, err = _run(
        capsys,
        "report",
        "--start",
        DAY["start"],
        "--end",
        DAY["end"],
        "--org",
        "nope",
        "--database-url",
        database_url,
    )
    assert code == 1
    assert out == ""
    assert err == "usage-metrics: Organization 'nope' does not exist.\n"


def test_read_only_commands_leave_an_unmigrated_store_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report on a store that was never migrated says so (exit 1) and creates no tables."""
    database = tmp_path / "new.db"
    code, out, err = _run(
        capsys,
        "report",
        "--start",
        DAY["start"],
        "--end",
        DAY["end"],
        "--database-url",
        f"sqlite:///{database}",
    )
    assert (code, out) == (1, "")
    assert "not migrated" in err
    assert err.count("\n") == 1
    with sqlite3.connect(database) as connection:
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ).fetchall()
    assert tables == []
