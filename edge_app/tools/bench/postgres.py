"""A private, throw-away PostgreSQL server for the fleet benchmark and the fleet tests.

``private_postgres()`` runs ``initdb`` and ``pg_ctl`` from the machine's PostgreSQL
installation (``/usr/lib/postgresql/*/bin`` on Debian) into a new temporary folder, on a
free 127.0.0.1 port, with no Unix socket and trust authentication on loopback only, and
removes everything when the block ends. The machine's own PostgreSQL is never touched.

``initdb`` refuses to run as root: as root the server runs as the ``postgres`` system user
(``EDGE_APP_PG_USER`` names another), its folder owned by that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or no unprivileged user to run them as."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/N/bin`` with ``initdb`` (or ``EDGE_APP_PG_BINDIR``)."""
    given = os.environ.get("EDGE_APP_PG_BINDIR")
    candidates = [given] if given else []
    found = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(found, key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql "
        "(or set EDGE_APP_PG_BINDIR)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to drop to, or None when already unprivileged."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("EDGE_APP_PG_USER", "postgres")
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root and there is no {name!r} user to run PostgreSQL as "
            "(initdb refuses root): install postgresql, or set EDGE_APP_PG_USER"
        ) from exc
    return entry.pw_uid, entry.pw_gid


@dataclass
class PostgresServer:
    """One private server: ``url`` for SQLAlchemy (database ``postgres``, user ``edge``)."""

    bindir: Path
    folder: Path
    port: int
    user_ids: tuple[int, int] | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://edge@{HOST}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string, for plain psycopg."""
        return f"host={HOST} port={self.port} user=edge dbname={database}"

    def _preexec(self) -> Callable[[], None] | None:
        if self.user_ids is None:
            return None
        uid, gid = self.user_ids

        def drop() -> None:
            os.setgid(gid)
            os.setuid(uid)

        return drop

    def _run(self, *args: str, timeout_s: float = 120.0) -> None:
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            preexec_fn=self._preexec(),  # drops root for initdb and pg_ctl
            cwd=self.folder,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "edge",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{HOST}'\nport = {self.port}\n"
                "unix_socket_directories = ''\nmax_connections = 100\n"
                # A test and benchmark server: durability of the machine is not at stake.
                "fsync = off\nfull_page_writes = off\n"
            )
        (self.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: like a crash)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        return pid_file.exists()

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A started private server, stopped and deleted when the block ends."""
    bindir = find_bindir()
    user_ids = _run_as()
    # Not under pytest's tmp_path: that folder is private to root, and the server user
    # must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="edge-app-pg-"))
    try:
        if user_ids is not None:
            os.chown(folder, *user_ids)
        server = PostgresServer(bindir, folder, _free_port(), user_ids)
        server.init()
        server.start()
        try:
            yield server
        finally:
            if server.running:
                with suppress(RuntimeError, subprocess.TimeoutExpired):
                    server.stop("immediate")  # best effort: the folder goes anyway
    finally:
        shutil.rmtree(folder, ignore_errors=True)
