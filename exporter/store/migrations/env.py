"""Alembic environment: runs on the connection that ``exporter.store.migrate`` hands over."""

from alembic import context

from exporter.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `usage-metrics migrate`, not the alembic command")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
