"""Tables of the activity store (SQLAlchemy Core).

Times are epoch seconds (UTC) in ``BigInteger`` columns: identical on SQLite and PostgreSQL,
cheap to compare, and free of time-zone surprises.

Activity is kept as a rollup: one row per (organization, hour, user) with a minute mask per
category (``mask_ide``, …): bit *i* is set when minute *i* of that hour was active in that
category. Besides the real organizations and categories, ingest maintains the unions the API
and gauges need: the column ``mask_any`` (every category) and the rows of organization ``*``
(every organization). Reports and windows are then sums over one slice, the same SQL on both
databases. (A row per category as well made a live heartbeat write four hourly rows instead
of two; the categories of one hour share a row, so one write carries them all.)

``activity_days`` rolls the hours up once more, into the active minutes of each UTC day, unions
included, per category. One row holds a block of ``DAYS_PER_BLOCK`` consecutive days of one
(organization, category, user): day number *n* (days since the epoch) is column
``DAY_COLUMNS[n % 32]`` of block ``n // 32``. Ingest adds to it exactly the bits each hourly
upsert newly set (``activity.added_*``), so every day always equals the popcounts of that
category's hourly masks summed over that day (until pruning, which zeroes or drops whole days
only). Reports read whole days from it: a 30-day report reads two rows per user where one row
per day took eight times as many.

Only *closed* days are kept this way: the days before ``day_blocks_state.first_open_day``. The
days from it on (today, in a running service) are open: ingest writes their minutes to the
hourly rows only, which saves the day-block writes of a live heartbeat, and readers
take them from there. Closing a day (``exporter.store.day_blocks.close_days``, once a day)
writes its totals from the hourly rows into its column and moves ``first_open_day`` past it.
"""

from __future__ import annotations

import sqlalchemy as sa

from exporter.model import Category

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

ID = sa.String(64)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("placeholder", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.BigInteger),
    sa.Column("source", sa.String(32)),  # the platform it was read from; NULL: API or CLI
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("name", sa.String(256), nullable=False, server_default=""),
    sa.Column("avatar_hash", sa.String(256), nullable=False, server_default=""),
    sa.Column("placeholder", sa.Boolean, nullable=False),
    sa.Column("managed", sa.Boolean, nullable=False),  # ever PUT: memberships are authoritative
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("deleted_at", sa.BigInteger),
    # ``active`` or ``suspended``: a suspended user is no seat (usage_suspended_users).
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("source", sa.String(32)),  # the platform it was read from; NULL: API or CLI
    sa.Index(
        "ix_users_username_live",
        "username",
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)
"""A user's newest activity anywhere is ``last_seen``'s ``last_any`` in organization ``*``."""

site_roles = sa.Table(
    "site_roles",
    metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column(
        "organization_id",
        ID,
        sa.ForeignKey("organizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("roles", sa.String(256), nullable=False),  # space-separated, sorted
    sa.Index("ix_memberships_user_id", "user_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("revoked_at", sa.BigInteger),
)

MASK_COLUMNS = tuple(f"mask_{category.token}" for category in Category)
"""One per category, ``Category`` order: ``mask_any``, ``mask_ide``, … ``mask_web_terminal``."""

ADDED_COLUMNS = tuple(f"added_{category.token}" for category in Category)
"""Per category, how many bits the row's last write set: ``added_any``, … (``RETURNING``)."""

activity = sa.Table(
    "activity",
    metadata,
    sa.Column("organization_id", ID, primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True),
    sa.Column("user_id", ID, primary_key=True),
    # Bit i set: minute i of the hour was active in that category; 0 while none was.
    *(sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in MASK_COLUMNS),
    *(
        sa.Column(name, sa.SmallInteger, nullable=False, server_default="0")
        for name in ADDED_COLUMNS
    ),
    sa.Index("ix_activity_hour", "hour"),
    # Half of each page left free: a row is rewritten up to once a minute for an hour, and an
    # update that finds room on its page and changes no indexed column is HOT, with no index
    # entries to write.
    postgresql_with={"fillfactor": 50},
)

DAYS_PER_BLOCK = 32
DAY_COLUMNS = tuple(f"d{index:02d}" for index in range(DAYS_PER_BLOCK))

activity_days = sa.Table(
    "activity_days",
    metadata,
    sa.Column("organization_id", ID, primary_key=True),
    sa.Column("category", sa.SmallInteger, primary_key=True),
    sa.Column("block", sa.Integer, primary_key=True),  # days since the epoch // DAYS_PER_BLOCK
    sa.Column("user_id", ID, primary_key=True),
    *(sa.Column(name, sa.SmallInteger, nullable=False, server_default="0") for name in DAY_COLUMNS),
    sa.Index("ix_activity_days_block", "block"),
)

day_blocks_state = sa.Table(
    "day_blocks_state",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),  # always 1: one row
    # Days from this day number on are open: their minutes are in the hourly rows only.
    sa.Column("first_open_day", sa.Integer, nullable=False),
)

activity_totals = sa.Table(
    "activity_totals",
    metadata,
    sa.Column("organization_id", ID, primary_key=True),
    sa.Column("category", sa.SmallInteger, primary_key=True),
    sa.Column("minutes", sa.BigInteger, nullable=False),  # never decreases, not even on pruning
)

LAST_SEEN_COLUMNS = tuple(f"last_{category.token}" for category in Category)
"""One per category, ``Category`` order: ``last_any``, ``last_ide``, … ``last_web_terminal``."""


last_seen = sa.Table(
    "last_seen",
    metadata,
    sa.Column("organization_id", ID, primary_key=True),
    sa.Column("user_id", ID, primary_key=True),
    # The newest active minute (epoch seconds) per category; NULL while the user has none.
    *(sa.Column(name, sa.BigInteger) for name in LAST_SEEN_COLUMNS),
    # One row per (organization, user) rather than per category as well: a live heartbeat
    # moves two rows (its organization's and ``*``'s) instead of four. No index on the
    # minutes, and half of each page left free: an update that changes no indexed column and
    # finds room on its page is HOT, with no index entries to write.
    postgresql_with={"fillfactor": 50},
)


source_positions = sa.Table(
    "source_positions",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("table_name", sa.String(64), primary_key=True),
    # The newest value of the table's change column read by the last successful pass
    # (epoch microseconds); the next pass reads from it minus the look-back.
    sa.Column("position_us", sa.BigInteger, nullable=False),
)

source_passes = sa.Table(
    "source_passes",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("last_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("last_success_at", sa.BigInteger),
    sa.Column("last_pass_ok", sa.Boolean, nullable=False),
)
"""How the last pass of each source went, shared by replicas: whichever ran it wrote it."""
