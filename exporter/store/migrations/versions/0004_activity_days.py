"""Day blocks ``activity_days`` (32 days of one user per row) in place of ``activity_daily``.

A 30-day report read one row per active user-day from ``activity_daily``; from the blocks it
reads two rows per user. The blocks are filled from the daily rows, which then go.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

ID = sa.String(64)
DAYS_PER_BLOCK = 32
DAY_COLUMNS = [f"d{index:02d}" for index in range(DAYS_PER_BLOCK)]


def upgrade() -> None:
    op.create_table(
        "activity_days",
        sa.Column("organization_id", ID),
        sa.Column("category", sa.SmallInteger),
        sa.Column("block", sa.Integer),
        sa.Column("user_id", ID),
        *(
            sa.Column(name, sa.SmallInteger, nullable=False, server_default="0")
            for name in DAY_COLUMNS
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "category", "block", "user_id", name="pk_activity_days"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        # A service of the previous version still running holds off until the daily rows are
        # gone (and then fails on the missing table) instead of adding minutes the copy misses.
        op.execute(sa.text("LOCK TABLE activity_daily IN EXCLUSIVE MODE"))
    day = "day / 86400"
    sums = ", ".join(
        f"sum(CASE WHEN {day} % {DAYS_PER_BLOCK} = {index} THEN minutes ELSE 0 END)"
        for index in range(DAYS_PER_BLOCK)
    )
    op.execute(
        sa.text(
            f"INSERT INTO activity_days (organization_id, category, block, user_id, "
            f"{', '.join(DAY_COLUMNS)}) "
            f"SELECT organization_id, category, {day} / {DAYS_PER_BLOCK}, user_id, {sums} "
            f"FROM activity_daily "
            f"GROUP BY organization_id, category, {day} / {DAYS_PER_BLOCK}, user_id"
        )
    )
    op.create_index("ix_activity_days_block", "activity_days", ["block"])
    op.drop_table("activity_daily")
