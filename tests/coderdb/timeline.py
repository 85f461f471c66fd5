"""A data set written into Coder's database as time passes, the way Coder itself writes it.

At each moment the database holds what Coder had written by then: directory rows from the
start; a session's row once it started (ids in that order), its end moved up to the last
30-second flush while it runs; agent stats, keys and audit entries once their time has come.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import psycopg

from tests.coderdb.generate import (
    AppStat,
    CoderData,
    write,
    write_agent_stats,
    write_api_keys,
    write_app_stats,
    write_audit_logs,
)

FLUSH_LAG = dt.timedelta(seconds=10)
LATE = dt.timedelta(minutes=20)
"""How late a late row commits: well inside the default look-back (1 h)."""


class Timeline:
    """Writes ``data`` into the database at ``url`` up to a moment, step by step."""

    def __init__(self, url: str, data: CoderData, *, late: frozenset[str] = frozenset()) -> None:
        self.url = url
        self.data = data
        self.late = late  # ids of agent stats, keys and audits that commit LATE after their time
        self.app: dict[str, AppStat] = {}  # session id -> the row as written
        self.agent: set[str] = set()
        self.keys: set[str] = set()
        self.audits: set[str] = set()
        self.started = False

    def advance_to(self, moment: dt.datetime) -> None:
        """Write what Coder would have written by ``moment``."""
        data = self.data
        with psycopg.connect(self.url) as connection:
            if not self.started:
                empty = dataclasses.replace(
                    data, app_stats=[], agent_stats=[], api_keys=[], audit_logs=[]
                )
                write(connection, empty)
                self.started = True
            new: list[AppStat] = []
            for row in sorted(data.app_stats, key=lambda r: r.started):
                if row.started > moment:
                    continue
                ended = min(row.ended, max(row.started, moment - FLUSH_LAG))
                known = self.app.get(row.session_id)
                if known is None:
                    written = dataclasses.replace(row, id=len(self.app) + len(new) + 1, ended=ended)
                    new.append(written)
                elif ended > known.ended:
                    connection.execute(
                        "UPDATE workspace_app_stats SET session_ended_at = %s WHERE id = %s",
                        (ended, known.id),
                    )
                    known.ended = ended
            if new:
                write_app_stats(connection, new)
                self.app.update((row.session_id, row) for row in new)
            agent = [
                s
                for s in data.agent_stats
                if self._due(s.id, s.created, moment) and s.id not in self.agent
            ]
            write_agent_stats(connection, data.shape, agent)
            self.agent.update(s.id for s in agent)
            keys = [
                k
                for k in data.api_keys
                if self._due(k.id, k.created, moment) and k.id not in self.keys
            ]
            write_api_keys(connection, data.shape, keys)
            self.keys.update(k.id for k in keys)
            audits = [
                a
                for a in data.audit_logs
                if self._due(a.id, a.time, moment) and a.id not in self.audits
            ]
            write_audit_logs(connection, audits)
            self.audits.update(a.id for a in audits)

    def _due(self, row_id: str, at: dt.datetime, moment: dt.datetime) -> bool:
        return at + (LATE if row_id in self.late else dt.timedelta()) <= moment

    def written(self) -> CoderData:
        """The rows as the database holds them now."""
        data = self.data
        return dataclasses.replace(
            data,
            app_stats=sorted(self.app.values(), key=lambda r: r.id),
            agent_stats=[s for s in data.agent_stats if s.id in self.agent],
            api_keys=[k for k in data.api_keys if k.id in self.keys],
            audit_logs=[a for a in data.audit_logs if a.id in self.audits],
        )


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection to the fixture database (autocommit), for changes made by hand."""
    return psycopg.connect(url, autocommit=True)
