"""A private PostgreSQL for the fleet tests (``edge_app.tools.bench.postgres``).

``postgres`` is one server for the whole test session, on a free 127.0.0.1 port in a
temporary folder, removed at the end; the machine's own PostgreSQL is never touched.
``fleet_url`` is a new, empty database on it for one test. The tests skip, saying how to run
them, when PostgreSQL's server binaries are not installed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from edge_app.tools.bench.postgres import PostgresServer, PostgresUnavailable, private_postgres

HOW = "scripts/test.sh installs it (apt-get install postgresql)"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[dev]'")
    try:
        with private_postgres() as server:
            yield server
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL for the fleet tests: {exc}; {HOW}")


@pytest.fixture
def fleet_url(postgres: PostgresServer) -> str:
    """The SQLAlchemy URL of a new, empty database (not yet migrated)."""
    if not postgres.running:
        postgres.start()
    return postgres.create_database(f"fleet_{next(_names)}")
