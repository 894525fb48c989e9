"""Alembic environment: runs on the connection that pausewatch.store.upgrade passes in."""

from __future__ import annotations

from alembic import context

from pausewatch.store._tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
