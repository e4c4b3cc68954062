"""The central PostgreSQL: an engine (psycopg) migrated to the current schema.

The same alembic scripts as a device's SQLite store (``edge_app/sinks/migrations``) create
the same tables there, plus the collector's own and the fleet views.
"""

from __future__ import annotations

import importlib.util
import logging

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from edge_app.core.errors import ConfigError, StoreError
from edge_app.fleet.config import DatabaseConfig
from edge_app.sinks.migrate import upgrade

log = logging.getLogger(__name__)


def database_url(url: str, password: str | None = None) -> URL:
    """A SQLAlchemy URL on the psycopg driver (``postgresql://`` is taken to mean it)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            "(config)", "database.url", f"not a URL: {exc}", "see docs/fleet.md"
        ) from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed


def describe(url: URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


def _need_psycopg() -> None:
    if importlib.util.find_spec("psycopg") is None:
        raise ConfigError(
            "(config)",
            "database",
            "the central database needs psycopg, which is not installed",
            "pip install 'edge-app[fleet]'",
        )


def open_database(config: DatabaseConfig) -> Engine:
    """An engine on the central database (nothing connected yet)."""
    _need_psycopg()
    password = config.password.resolve() if config.password is not None else None
    url = database_url(config.url, password)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=2,
        connect_args={"connect_timeout": max(1, round(config.connect_timeout_s))},
    )


def migrate(engine: Engine) -> str:
    """Bring the central database to the current schema; returns the revision.

    Raises ``StoreError`` naming the database when it cannot be reached or migrated.
    """
    where = describe(engine.url)
    try:
        with engine.begin() as conn:
            return upgrade(conn, where)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(
            f"cannot open the central database {where}: {reason} (is PostgreSQL running "
            "there, does the database exist, and may this user create tables in it?)"
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the central database {where}: {exc}") from exc
