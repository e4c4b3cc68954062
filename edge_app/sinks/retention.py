"""Retention of the event store: by age, then by size.

Age: published events, samples and closed visits older than ``retention_days`` go.
Unpublished events are the outbox and are kept past their age (unless MQTT is off, when
nothing would ever publish them). Size: while the data in use exceeds ``max_size_mb``,
the oldest published events, samples and closed visits go in slices; only when nothing
else is left do the oldest unpublished events go too, with a warning, because the disk
must not fill up. Freed pages are returned to the filesystem (the store is created with
``auto_vacuum=INCREMENTAL``).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass

from sqlalchemy import Connection, text

from edge_app.sinks.store import DB_ERRORS, EventStore, store_error

log = logging.getLogger(__name__)

BYTES_PER_MB = 1_000_000
"""``store.max_size_mb`` and the sizes in the logs count decimal megabytes, as disks do."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Delete rows older than ``max_age_s`` and keep the data under ``max_bytes``, checked
    every ``interval_s`` seconds (and once at start). ``keep_unpublished`` protects the
    outbox from age retention (false when MQTT is off: nothing would ever publish it)."""

    max_age_s: float
    max_bytes: int
    interval_s: float = 600.0
    keep_unpublished: bool = True


# Per round, delete at least this and at most that fraction of each table's old rows:
# enough to make progress, little enough not to throw away far more than needed.
_MIN_SLICE = 0.05
_MAX_SLICE = 0.5
_MAX_ROUNDS = 12

# Oldest-first deletion of "what may go" in each table, ``:n`` rows at a time.
_SLICES = {
    "events": "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
    "WHERE published_at IS NOT NULL ORDER BY wall LIMIT :n)",
    "samples": "DELETE FROM occupancy_samples WHERE rowid IN (SELECT rowid FROM "
    "occupancy_samples ORDER BY wall_start LIMIT :n)",
    "visits": "DELETE FROM visits WHERE rowid IN (SELECT rowid FROM visits "
    "WHERE exited_wall IS NOT NULL ORDER BY entered_wall LIMIT :n)",
}
_COUNTS = {
    "events": "SELECT count(*) FROM events WHERE published_at IS NOT NULL",
    "samples": "SELECT count(*) FROM occupancy_samples",
    "visits": "SELECT count(*) FROM visits WHERE exited_wall IS NOT NULL",
}


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention pass deleted, and the bytes in use afterwards."""

    events: int = 0
    unpublished_events: int = 0
    samples: int = 0
    visits: int = 0
    used_bytes: int = 0

    @property
    def deleted(self) -> int:
        return self.events + self.unpublished_events + self.samples + self.visits


def _by_age(conn: Connection, cutoff: float, keep_unpublished: bool) -> tuple[int, int, int]:
    statement = "DELETE FROM events WHERE wall < :c"
    if keep_unpublished:
        statement += " AND published_at IS NOT NULL"
    events = conn.execute(text(statement), {"c": cutoff}).rowcount
    samples = conn.execute(
        text("DELETE FROM occupancy_samples WHERE wall_end < :c"), {"c": cutoff}
    ).rowcount
    visits = conn.execute(
        text("DELETE FROM visits WHERE exited_wall IS NOT NULL AND exited_wall < :c"),
        {"c": cutoff},
    ).rowcount
    return events, samples, visits


def _slice(conn: Connection, fraction: float) -> dict[str, int]:
    deleted: dict[str, int] = {}
    for table, statement in _SLICES.items():
        count = int(conn.execute(text(_COUNTS[table])).scalar_one())
        n = math.ceil(count * fraction)
        deleted[table] = conn.execute(text(statement), {"n": n}).rowcount if n else 0
    return deleted


def _slice_unpublished(conn: Connection, fraction: float) -> int:
    count = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
    n = math.ceil(count * fraction)
    statement = (
        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY wall LIMIT :n)"
    )
    return conn.execute(text(statement), {"n": n}).rowcount if n else 0


def _give_back_free_pages(store: EventStore) -> None:
    """Shrink the file to the pages in use, then the WAL that holds the change.

    Run as a script, outside any transaction: ``incremental_vacuum`` frees one page per
    statement step, and a script steps each statement to its end.
    """
    raw = store.engine.raw_connection()
    try:
        driver = raw.driver_connection
        if isinstance(driver, sqlite3.Connection):
            driver.executescript("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
    finally:
        raw.close()


def apply_retention(
    store: EventStore,
    now: float,
    max_age_s: float,
    max_bytes: int,
    keep_unpublished: bool = True,
) -> RetentionReport:
    """Delete what is older than ``max_age_s`` (before ``now``, epoch seconds), then the
    oldest rows until at most ``max_bytes`` are in use. Raises ``StoreError``."""
    events = unpublished = samples = visits = 0
    try:
        with store.engine.begin() as conn:
            events, samples, visits = _by_age(conn, now - max_age_s, keep_unpublished)
        for _ in range(_MAX_ROUNDS):
            used = store.used_bytes()
            if used <= max_bytes:
                break
            fraction = min(_MAX_SLICE, max(_MIN_SLICE, 1.0 - 0.9 * max_bytes / used))
            with store.engine.begin() as conn:
                deleted = _slice(conn, fraction)
                if not any(deleted.values()):
                    lost = _slice_unpublished(conn, fraction)
                    unpublished += lost
                    log.warning(
                        "event store %s is over store.max_size_mb with only unpublished "
                        "events left: deleted the %d oldest; raise store.max_size_mb or "
                        "fix the MQTT connection",
                        store.path,
                        lost,
                    )
                    if not lost:
                        break
            events += deleted["events"]
            samples += deleted["samples"]
            visits += deleted["visits"]
        if events or unpublished or samples or visits:
            _give_back_free_pages(store)
        used = store.used_bytes()
    except DB_ERRORS as exc:
        raise store_error(store.path, "apply retention to", exc) from exc
    report = RetentionReport(events, unpublished, samples, visits, used)
    if report.deleted:
        log.info(
            "retention on %s: deleted %d events, %d samples, %d visits; %.1f MB in use",
            store.path,
            events + unpublished,
            samples,
            visits,
            used / BYTES_PER_MB,
        )
    return report
