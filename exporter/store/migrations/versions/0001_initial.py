"""Directory, tokens, the activity rollup and its totals.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False, server_default=""),
        sa.Column("placeholder", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("deleted_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
        sa.UniqueConstraint("name", name="uq_organizations_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", ID),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False, server_default=""),
        sa.Column("avatar_hash", sa.String(256), nullable=False, server_default=""),
        sa.Column("placeholder", sa.Boolean, nullable=False),
        sa.Column("managed", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("deleted_at", sa.BigInteger),
        sa.Column("last_activity_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index(
        "ix_users_username_live",
        "users",
        ["username"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "site_roles",
        sa.Column("user_id", ID),
        sa.Column("role", sa.String(32)),
        sa.PrimaryKeyConstraint("user_id", "role", name="pk_site_roles"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_site_roles_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "memberships",
        sa.Column("organization_id", ID),
        sa.Column("user_id", ID),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name="pk_memberships"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_memberships_organization_id_organizations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_memberships_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32)),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "activity",
        sa.Column("organization_id", ID),
        sa.Column("category", sa.SmallInteger),
        sa.Column("hour", sa.BigInteger),
        sa.Column("user_id", ID),
        sa.Column("mask", sa.BigInteger, nullable=False),
        sa.Column("minutes", sa.SmallInteger, nullable=False),
        sa.Column("added", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "category", "hour", "user_id", name="pk_activity"
        ),
    )
    op.create_index("ix_activity_hour", "activity", ["hour"])
    op.create_table(
        "activity_totals",
        sa.Column("organization_id", ID),
        sa.Column("category", sa.SmallInteger),
        sa.Column("minutes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "category", name="pk_activity_totals"),
    )
    op.create_table(
        "last_seen",
        sa.Column("organization_id", ID),
        sa.Column("category", sa.SmallInteger),
        sa.Column("user_id", ID),
        sa.Column("last_minute", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "category", "user_id", name="pk_last_seen"),
    )
    op.create_index("ix_last_seen_last_minute", "last_seen", ["last_minute"])
