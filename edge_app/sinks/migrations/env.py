"""Alembic environment: runs on the connection ``edge_app.sinks.migrate`` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "edge_app migrations run through edge_app.sinks.migrate.upgrade(), not the alembic CLI"
    )
# Batch mode lets later migrations ALTER tables on SQLite (copy-and-move). The store's
# engine runs each migration inside a real SQLite transaction, so DDL is atomic.
context.configure(connection=connection, render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
