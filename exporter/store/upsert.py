"""``INSERT … ON CONFLICT`` for both dialects."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(table: sa.Table, dialect_name: str) -> Any:
    """A dialect ``Insert`` that knows ``on_conflict_do_update`` / ``_nothing``."""
    module = postgresql if dialect_name == "postgresql" else sqlite
    return module.insert(table)
