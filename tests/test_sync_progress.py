"""A long sync pass tells the log where it is; a short one says nothing."""

from __future__ import annotations

import logging

import pytest

from exporter.sources.progress import LogProgress


def test_progress_is_logged_every_ten_seconds_only(caplog: pytest.LogCaptureFixture) -> None:
    """Rows are counted per phase; a line comes out once ten seconds have passed, not before."""
    now = [0.0]
    progress = LogProgress(logging.getLogger("test.sync"), "coder", monotonic=lambda: now[0])
    caplog.set_level(logging.INFO, logger="test.sync")
    progress.phase("workspace_app_stats", 1000)
    progress.advance(300)
    now[0] = 9.9
    progress.advance(300)
    assert caplog.records == []
    now[0] = 10.0
    progress.advance(100)
    (record,) = caplog.records
    assert record.getMessage() == "coder sync in progress"
    assert (record.phase, record.rows_done, record.rows_total) == ("workspace_app_stats", 700, 1000)  # type: ignore[attr-defined]
    progress.phase("api_keys", None)
    now[0] = 15.0
    progress.advance(5)
    assert len(caplog.records) == 1
