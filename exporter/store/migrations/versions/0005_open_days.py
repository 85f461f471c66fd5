"""Cheaper live ingest: open days, and room for HOT updates of "last seen" and users.

* ``day_blocks_state.first_open_day``: the day blocks hold closed days only; ingest writes the
  open days' minutes (today's) to the hourly rows alone, and the service closes each day once
  it has ended. It starts at today (UTC, by this machine's clock): every day before it is
  exact in the blocks already, and today's column is rewritten whole when today closes.
* ``last_seen`` loses its index on ``last_minute``, and it and ``users`` keep half of each
  page free (PostgreSQL), so that moving a user's newest minute is a HOT update. Existing
  pages are not rewritten: each row moves to a page with room on its next update.

Stop every service of an earlier version before migrating: such a service adds today's
minutes to the day blocks, and its reports read today from there.

Revision ID: 0005
Revises: 0004
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    state = op.create_table(
        "day_blocks_state",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("first_open_day", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_day_blocks_state"),
    )
    op.bulk_insert(state, [{"id": 1, "first_open_day": int(time.time() // 86400)}])
    op.drop_index("ix_last_seen_last_minute", table_name="last_seen")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("ALTER TABLE last_seen SET (fillfactor = 50)"))
        op.execute(sa.text("ALTER TABLE users SET (fillfactor = 50)"))
