"""Sources: users' status, where a record came from, and each source's sync position.

* ``users.status``: ``active`` (every existing user) or ``suspended``.
* ``users.source`` and ``organizations.source``: the platform a record was read from
  (``coder``), NULL for records written through the API or the command line. A source deletes
  only its own records when they vanish from the platform.
* ``source_positions``: per source and table, the newest change read by the last successful
  pass; ``source_passes``: how the last pass went (shared by replicas).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: no table is copied (the users table's foreign keys
    # cascade on delete, and SQLite's copy-and-move would run them).
    op.add_column(
        "users", sa.Column("status", sa.String(16), nullable=False, server_default="active")
    )
    op.add_column("users", sa.Column("source", sa.String(32)))
    op.add_column("organizations", sa.Column("source", sa.String(32)))
    op.create_table(
        "source_positions",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("position_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("source", "table_name", name="pk_source_positions"),
    )
    op.create_table(
        "source_passes",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("last_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("last_success_at", sa.BigInteger),
        sa.Column("last_pass_ok", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_source_passes"),
    )
