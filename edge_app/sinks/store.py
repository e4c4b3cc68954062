"""The durable event store: one SQLite file in WAL mode, schema by migrations.

``EventStore`` is the only code that touches the database. One writer thread
(``sinks.writer``) calls ``write``; the MQTT publisher reads the outbox from its own
connection (WAL lets readers run beside the writer). Times are UTC epoch seconds.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

import edge_app.sinks.schema as schema
from edge_app.core.errors import StoreError
from edge_app.core.events import Event
from edge_app.sinks.aggregate import OccupancySample
from edge_app.sinks.migrate import upgrade
from edge_app.sinks.rows import insert_events, next_seq
from edge_app.sinks.visits import close_after_crash, close_at_stop, record_visit

log = logging.getLogger(__name__)

Synchronous = Literal["NORMAL", "FULL"]

DB_ERRORS = (SQLAlchemyError, sqlite3.Error)
"""What a database call can raise: SQLAlchemy's errors, and sqlite3's own from the
connection set-up (its pragmas run on a full disk too)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """The broker acknowledged event ``event_id`` at ``published_at`` (epoch seconds)."""

    event_id: str
    published_at: float


RetainedChange = tuple[bool, str]
"""``(True, topic)``: a retained topic was published; ``(False, topic)``: it was cleared."""


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """Everything one commit writes: new events (with their visits), samples, acks and
    changes to the retained topics (applied in order)."""

    events: Sequence[Event] = ()
    samples: Sequence[OccupancySample] = ()
    acks: Sequence[Ack] = ()
    retained: Sequence[RetainedChange] = ()

    def __bool__(self) -> bool:
        return bool(self.events or self.samples or self.acks or self.retained)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An unpublished event: its sequence number, id and the JSON text to publish."""

    seq: int
    event_id: str
    payload: str


# Served by the partial index ix_events_outbox (device, seq) WHERE published_at IS NULL.
_OUTBOX = (
    "SELECT seq, id, payload FROM events WHERE device = ? AND published_at IS NULL "
    "AND seq > ? ORDER BY seq LIMIT ?"
)
_ADD_RETAINED = "INSERT OR IGNORE INTO retained_topics (topic) VALUES (?)"
_FORGET_RETAINED = "DELETE FROM retained_topics WHERE topic = ?"


def store_error(path: Path, action: str, exc: BaseException) -> StoreError:
    """A ``StoreError`` naming the file, what failed and what to do about it."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "errno", None)
    reason = getattr(orig, "strerror", None) or str(orig) or type(orig).__name__
    lower = reason.lower()
    if code in (errno.ENOSPC, errno.EDQUOT) or "full" in lower:
        fix = "free space on that filesystem, or lower store.max_size_mb / store.retention_days"
    elif (
        code in (errno.EROFS, errno.EACCES, errno.EPERM)
        or "readonly" in lower
        or ("read-only" in lower)
    ):
        fix = "make it writable by the service user, or set store.path to a writable place"
    elif "not a database" in lower:
        fix = "move that file away or set store.path to a new file"
    else:
        fix = "check store.path, the permissions of its folder and the free space"
    return StoreError(f"cannot {action} the event store {path}: {reason} ({fix})")


def _create_private_file(path: Path) -> None:
    """Create the database file (and its folder) readable by its owner only (0600)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise store_error(path, "create the folder of", exc) from exc
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise store_error(path, "open", exc) from exc
    try:
        mode = os.fstat(fd).st_mode & 0o777
        if mode & 0o077:
            # Events reveal when people are where: keep the file private. SQLite gives its
            # -wal and -shm files the database's mode, so this covers them too.
            os.fchmod(fd, 0o600)
            log.info("event store %s was mode %o; made it 0600", path, mode)
    except OSError as exc:
        raise store_error(path, "restrict the permissions of", exc) from exc
    finally:
        os.close(fd)


# The WAL is truncated back to this after a checkpoint (SQLite checkpoints it every 1000
# pages, 4 MiB), so it cannot keep the space of a past burst: committed data sits in the
# WAL until a checkpoint copies it into the database, which needs room to grow, and a WAL
# that is a large share of a small, full disk could never be checkpointed again.
_WAL_SIZE_LIMIT = 4 * 1024 * 1024
_RELEASE_WAIT_S = 0.2  # how long release_space waits for a lock


def _create_engine(path: Path, synchronous: Synchronous) -> Engine:
    """An engine whose transactions are real SQLite transactions.

    The sqlite3 module would otherwise begin them lazily before the first INSERT only, so
    a migration's DDL would not be atomic; see SQLAlchemy's pysqlite notes.
    """
    engine = create_engine(f"sqlite+pysqlite:///{path}", connect_args={"timeout": 30.0})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        # Retention by size needs freed pages handed back to the filesystem. This only
        # takes effect on a new, empty file (a no-op otherwise), and must come before the
        # switch to WAL writes the file's first page.
        dbapi_conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")
        dbapi_conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


class EventStore:
    """An open event store. Create with ``EventStore.open``; ``close`` when done."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine

    @classmethod
    def open(cls, path: Path, synchronous: Synchronous = "FULL") -> EventStore:
        """Open or create the store at ``path`` and migrate it to the current schema.

        ``synchronous`` FULL makes every commit survive a power cut; NORMAL survives a
        crash of the process only. Raises ``StoreError`` for a read-only or full disk, a
        file that is not SQLite or a schema from a newer edge-app.
        """
        path = path.expanduser().resolve()
        _create_private_file(path)
        engine = _create_engine(path, synchronous)
        try:
            with engine.begin() as conn:
                upgrade(conn, str(path))
        except DB_ERRORS as exc:
            engine.dispose()
            raise store_error(path, "initialise", exc) from exc
        except StoreError:
            engine.dispose()
            raise
        return cls(path, engine)

    def close(self) -> None:
        """Release every connection; the file stays consistent (WAL checkpoint on close)."""
        self.engine.dispose()

    def release_space(self) -> None:
        """After a write the disk refused: drop every connection (a new one starts clean)
        and try to checkpoint and truncate the WAL, handing its space back to a full disk.
        Best effort and brief (readers are not waited for): a disk still full is simply
        refused again at the next write."""
        self.engine.dispose()
        try:
            conn = sqlite3.connect(self.path, timeout=_RELEASE_WAIT_S, isolation_level=None)
        except sqlite3.Error as exc:
            log.debug("event store %s: cannot reconnect after a refused write: %s", self.path, exc)
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.debug("event store %s: WAL checkpoint after a refused write: %s", self.path, exc)
        finally:
            conn.close()

    # --- writing (the writer thread only) -------------------------------------------

    def write(self, batch: WriteBatch) -> None:
        """Commit a batch in one transaction; raises ``StoreError`` when it cannot."""
        try:
            with self.engine.begin() as conn:
                if batch.events:
                    # Plain DB-API parameters: this is the hot path of the store.
                    insert_events(conn, batch.events)
                    for ev in batch.events:
                        record_visit(conn, ev)
                if batch.samples:
                    conn.execute(
                        insert(schema.occupancy_samples), [s.as_row() for s in batch.samples]
                    )
                if batch.acks:
                    conn.exec_driver_sql(
                        "UPDATE events SET published_at = ? WHERE id = ?",
                        [(a.published_at, a.event_id) for a in batch.acks],
                    )
                for published, topic in batch.retained:
                    statement = _ADD_RETAINED if published else _FORGET_RETAINED
                    conn.exec_driver_sql(statement, (topic,))
        except DB_ERRORS as exc:
            raise store_error(self.path, "write to", exc) from exc

    def close_open_visits(
        self, device: str, last_t: Mapping[str, float], after_seq: int = 0
    ) -> list[Event]:
        """At a clean stop: close the visits the analytics could not (see
        ``sinks.visits.close_at_stop``); returns their ``zone.exit`` events, already stored."""
        try:
            with self.engine.begin() as conn:
                return close_at_stop(conn, device, last_t, after_seq)
        except DB_ERRORS as exc:
            raise store_error(self.path, "write to", exc) from exc

    def recover(self, device: str) -> list[Event]:
        """At start: close visits a crash left open (see ``sinks.visits.close_after_crash``);
        returns their ``zone.exit`` events (reason ``restart``), already stored."""
        try:
            with self.engine.begin() as conn:
                exits = close_after_crash(conn, device)
        except DB_ERRORS as exc:
            raise store_error(self.path, "recover", exc) from exc
        if exits:
            log.info(
                "closed %d visit(s) left open by the previous run (zone.exit, reason restart)",
                len(exits),
            )
        return exits

    # --- reading (any thread) ---------------------------------------------------------

    def max_seq(self, device: str) -> int:
        """The highest sequence number ever stored for ``device`` (0 when none), also
        when retention has deleted that event since: numbering resumes past it."""
        try:
            with self.engine.connect() as conn:
                return next_seq(conn, device) - 1
        except DB_ERRORS as exc:
            raise store_error(self.path, "read", exc) from exc

    def outbox(self, device: str, after_seq: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` unpublished events of ``device`` with ``seq > after_seq``, in order."""
        try:
            with self.engine.connect() as conn:
                # Plain DB-API rows fetched at once: this runs for every chunk of a drain.
                rows = conn.exec_driver_sql(_OUTBOX, (device, after_seq, limit)).fetchall()
        except DB_ERRORS as exc:
            raise store_error(self.path, "read", exc) from exc
        return [OutboxRow(int(seq), str(event_id), str(payload)) for seq, event_id, payload in rows]

    def backlog(self, device: str) -> int:
        """How many events of ``device`` the broker has not acknowledged yet."""
        e = schema.events
        query = select(func.count()).where(e.c.device == device, e.c.published_at.is_(None))
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        except DB_ERRORS as exc:
            raise store_error(self.path, "read", exc) from exc

    def retained_topics(self) -> set[str]:
        """The retained MQTT topics published and not cleared since (see migration 0005)."""
        try:
            with self.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT topic FROM retained_topics").fetchall()
        except DB_ERRORS as exc:
            raise store_error(self.path, "read", exc) from exc
        return {str(topic) for (topic,) in rows}

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for an intact file."""
        with self.engine.connect() as conn:
            return "\n".join(str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check"))

    def used_bytes(self) -> int:
        """Bytes of the database in use (pages minus free pages), without the WAL."""
        with self.engine.connect() as conn:
            page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        return int(page_size) * (int(pages) - int(free))
