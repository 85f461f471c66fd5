"""Read-only views for SQL readers such as Grafana's PostgreSQL data source.

``usage_activity_hourly`` has one row per user, organization (name, or ``any`` for the union
over organizations), category (token, or ``any``) and hour, with the distinct active minutes
of that hour. ``usage_organizations`` lists the organizations not deleted. Grant a reader
``SELECT`` on these two views and nothing else.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_CATEGORY_TOKENS = (
    "CASE a.category WHEN 0 THEN 'any' WHEN 1 THEN 'ide' WHEN 2 THEN 'login' "
    "WHEN 3 THEN 'app' WHEN 4 THEN 'tunnel' WHEN 5 THEN 'web_terminal' END"
)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        hour_start = "to_timestamp(a.hour)"
    else:
        hour_start = "datetime(a.hour, 'unixepoch')"
    # Only this module's constants are interpolated into the statement.
    view = f"""
            CREATE VIEW usage_activity_hourly AS
            SELECT {hour_start} AS time,
                   CASE WHEN a.organization_id = '*' THEN 'any' ELSE o.name END AS organization,
                   {_CATEGORY_TOKENS} AS category,
                   a.user_id AS user_id,
                   u.username AS username,
                   u.name AS name,
                   a.minutes AS active_minutes
            FROM activity AS a
            JOIN users AS u ON u.id = a.user_id
            LEFT JOIN organizations AS o ON o.id = a.organization_id
            WHERE a.organization_id = '*' OR o.id IS NOT NULL
            """
    op.execute(sa.text(view))
    op.execute(
        sa.text(
            "CREATE VIEW usage_organizations AS "
            "SELECT id, name, display_name FROM organizations WHERE deleted_at IS NULL"
        )
    )
