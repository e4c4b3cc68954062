"""Run the store's schema migrations (alembic) on an open connection, without alembic.ini.

Alembic is imported here, lazily: importing it logs its plugin set-up at INFO, which the
daemon's log does not need, so its logger is quietened first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from edge_app.core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# PostgreSQL advisory lock key held while migrating, so that several collectors starting
# at once migrate the central database once ("edge-app" in ASCII, as a 64-bit integer).
_MIGRATION_LOCK = 0x656467652D617070

log = logging.getLogger(__name__)


def _quiet_alembic() -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _alembic_config() -> Config:
    _quiet_alembic()
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _scripts() -> ScriptDirectory:
    _quiet_alembic()
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The revision the code expects (the newest script in ``edge_app/sinks/migrations``)."""
    head = _scripts().get_current_head()
    if head is None:
        raise StoreError(f"no migration scripts found in {MIGRATIONS_DIR} (broken install)")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; ``None`` for a new, empty database."""
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, db_name: str) -> str:
    """Bring the database on ``connection`` to the head revision and return that revision.

    ``db_name`` only names the database in error messages. A database from a newer edge-app
    (a revision these scripts do not know) is refused rather than guessed at. On PostgreSQL
    the migration holds an advisory lock until the transaction ends.
    """
    head = head_revision()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    current = current_revision(connection)
    if current == head:
        return head
    known = {rev.revision for rev in _scripts().walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(
            f"{db_name}: schema revision {current!r} is newer than this edge-app knows "
            f"(head {head!r}); upgrade edge-app or set store.path to another file"
        )
    log.info("migrating event store %s from %s to %s", db_name, current or "empty", head)
    from alembic import command

    cfg = _alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
    return head
