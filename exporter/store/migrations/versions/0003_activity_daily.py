"""The daily rollup ``activity_daily``, backfilled from the hourly ``activity`` rows.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "activity_daily",
        sa.Column("organization_id", ID),
        sa.Column("category", sa.SmallInteger),
        sa.Column("day", sa.BigInteger),
        sa.Column("user_id", ID),
        sa.Column("minutes", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "category", "day", "user_id", name="pk_activity_daily"
        ),
    )
    op.execute(
        sa.text(
            "INSERT INTO activity_daily (organization_id, category, day, user_id, minutes) "
            "SELECT organization_id, category, hour - hour % 86400, user_id, sum(minutes) "
            "FROM activity GROUP BY organization_id, category, hour - hour % 86400, user_id"
        )
    )
    op.create_index("ix_activity_daily_day", "activity_daily", ["day"])
