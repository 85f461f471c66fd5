"""``last_seen``: one row per (organization, user), a column per category.

A row per (organization, category, user) made a live heartbeat move four rows: its own, the
``any`` row and both again under ``*``. With the categories as columns it moves two, and each
statement writes half as many rows. The newest minutes are copied over, and a category the
user has none in is NULL.

Stop every service of an earlier version before migrating: it writes the old shape.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

ID = sa.String(64)
COLUMNS = ["last_any", "last_ide", "last_login", "last_app", "last_tunnel", "last_web_terminal"]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        # Index names are unique per schema: the new table's primary key takes this name.
        # (The rename locks the table against writers until the migration commits.)
        op.execute(sa.text("ALTER TABLE last_seen RENAME CONSTRAINT pk_last_seen TO pk_narrow"))
    op.rename_table("last_seen", "last_seen_narrow")
    op.create_table(
        "last_seen",
        sa.Column("organization_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        *(sa.Column(name, sa.BigInteger) for name in COLUMNS),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name="pk_last_seen"),
        postgresql_with={"fillfactor": 50},
    )
    newest = ", ".join(
        f"max(CASE WHEN category = {category} THEN last_minute END)"
        for category in range(len(COLUMNS))
    )
    op.execute(
        sa.text(
            f"INSERT INTO last_seen (organization_id, user_id, {', '.join(COLUMNS)}) "
            f"SELECT organization_id, user_id, {newest} FROM last_seen_narrow "
            "GROUP BY organization_id, user_id"
        )
    )
    op.drop_table("last_seen_narrow")
