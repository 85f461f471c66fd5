"""Cheaper live ingest: ``activity`` goes wide, and users' last activity comes from "last seen".

* ``activity`` has one row per (organization, hour, user) with a minute mask per category. A
  row per category as well made a live heartbeat write four hourly rows: its category's and
  ``any``'s, under its organization and again under ``*``. Now it writes two, and the table
  holds about a third as many rows. On PostgreSQL, pages written from now on keep half their
  room free, so that the minute-by-minute updates of an hour are HOT; the copied history
  stays packed. A row's ``minutes`` column goes (readers count the bits of the mask they
  need); the ``added_*`` columns, which only the statement that wrote a row reads back, start
  at zero. The reader view ``usage_activity_hourly`` keeps
  its columns, their types, its rows and, on PostgreSQL, its grants; it is unpivoted from the
  new shape (on SQLite it counts bits with the service's own ``usage_popcount`` function, so
  read it through the service; the views are made for PostgreSQL's readers).
* ``users.last_activity_at`` goes: it always equalled ``last_seen``'s ``last_any`` in
  organization ``*``, which readers now take instead, and ingest no longer writes a user row
  per event. ``users`` packs its pages again.

Copying takes about a minute per 20 million rows of the old shape on PostgreSQL, during which
the table is locked. Stop every service of an earlier version before migrating: it writes the
old shape.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

ID = sa.String(64)
TOKENS = ["any", "ide", "login", "app", "tunnel", "web_terminal"]  # category numbers 0 to 5
MASKS = [f"mask_{token}" for token in TOKENS]
ADDED = [f"added_{token}" for token in TOKENS]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if not postgresql:  # PostgreSQL replaces the view in place below, keeping its grants
        op.execute(sa.text("DROP VIEW usage_activity_hourly"))
    # Index names are unique per schema (per database on SQLite): the new table takes these.
    op.drop_index("ix_activity_hour", table_name="activity")
    if postgresql:
        op.execute(sa.text("ALTER TABLE activity RENAME CONSTRAINT pk_activity TO pk_narrow"))
    op.rename_table("activity", "activity_narrow")
    op.create_table(
        "activity",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("hour", sa.BigInteger, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in MASKS),
        *(sa.Column(name, sa.SmallInteger, nullable=False, server_default="0") for name in ADDED),
        sa.PrimaryKeyConstraint("organization_id", "hour", "user_id", name="pk_activity"),
    )
    pivoted = ", ".join(
        f"coalesce(max(CASE WHEN category = {category} THEN mask END), 0)"
        for category in range(len(MASKS))
    )
    op.execute(
        sa.text(
            f"INSERT INTO activity (organization_id, hour, user_id, {', '.join(MASKS)}) "
            f"SELECT organization_id, hour, user_id, {pivoted} FROM activity_narrow "
            "GROUP BY organization_id, hour, user_id ORDER BY organization_id, hour, user_id"
        )
    )
    op.create_index("ix_activity_hour", "activity", ["hour"])
    if postgresql:
        op.execute(sa.text("ALTER TABLE activity SET (fillfactor = 50)"))  # history stays packed
        op.execute(sa.text("ANALYZE activity"))  # plans for the first reports
    op.execute(sa.text(_reader_view(postgresql)))
    op.drop_table("activity_narrow")
    op.execute(sa.text("ALTER TABLE users DROP COLUMN last_activity_at"))
    if postgresql:
        op.execute(sa.text("ALTER TABLE users RESET (fillfactor)"))


def _reader_view(postgresql: bool) -> str:
    """``usage_activity_hourly`` over the wide rows: a row per category with minutes.

    Its columns keep their names and types, so that PostgreSQL can replace the old view in
    place (``CREATE OR REPLACE``), which keeps what was granted on it. SQLite, which has
    neither, drops the old one first.
    """
    if postgresql:
        hour_start = "to_timestamp(h.hour)"
        popcount = "bit_count(CAST(h.mask AS BIT(64)))"
    else:
        hour_start = "datetime(h.hour, 'unixepoch')"
        popcount = "usage_popcount(h.mask)"
    per_category = " UNION ALL ".join(
        f"SELECT organization_id, hour, user_id, '{token}' AS category, {mask} AS mask "
        f"FROM activity WHERE {mask} <> 0"
        for token, mask in zip(TOKENS, MASKS, strict=True)
    )
    return f"""
        {"CREATE OR REPLACE" if postgresql else "CREATE"} VIEW usage_activity_hourly AS
        SELECT {hour_start} AS time,
               CASE WHEN h.organization_id = '*' THEN 'any' ELSE o.name END AS organization,
               h.category AS category,
               h.user_id AS user_id,
               u.username AS username,
               u.name AS name,
               CAST({popcount} AS SMALLINT) AS active_minutes
        FROM ({per_category}) AS h
        JOIN users AS u ON u.id = h.user_id
        LEFT JOIN organizations AS o ON o.id = h.organization_id
        WHERE h.organization_id = '*' OR o.id IS NOT NULL
    """
