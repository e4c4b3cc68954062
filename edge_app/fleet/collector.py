"""``edge-app collect``: every device's events into the central PostgreSQL, exactly once.

Threads: paho's network thread queues what the broker delivers (``Intake``); one writer
thread takes batches of up to ``ingest.batch_max`` messages, commits each batch in one
transaction (``IngestDatabase``) and only then acknowledges its messages; the main thread
supervises (STATUS, watchdog, stats, log line, Prometheus) until a stop.

A failed commit (the database down or restarting) keeps the batch and its messages
unacknowledged and retries it with backoff and jitter; the broker stops sending once
``receive_maximum`` messages wait for acks, and keeps the rest. A collector that dies
loses nothing either: what it had not acknowledged is delivered again, and the ingest is
idempotent. A clean stop commits and acknowledges what it holds, then disconnects; its
session and subscription stay on the broker, which keeps this collector's share of the
messages for it until it is back (with a single collector, nothing published meanwhile
is dropped for want of a subscriber).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from edge_app.core.backoff import Backoff
from edge_app.core.errors import StoreError
from edge_app.fleet.config import CollectorConfig
from edge_app.fleet.database import describe, migrate, open_database
from edge_app.fleet.health import CollectorSnapshot, CollectorStats, start_metrics_server
from edge_app.fleet.ingest import GapAlert, IngestDatabase, WriteResult
from edge_app.fleet.intake import Intake, Received
from edge_app.fleet.messages import (
    IncomingEvent,
    IncomingState,
    InvalidMessage,
    parse_message,
)
from edge_app.runtime.health import WatchdogGate
from edge_app.runtime.systemd import Notifier, watchdog_interval_s
from edge_app.sinks.topics import dumps

log = logging.getLogger(__name__)

_TAKE_WAIT_S = 0.5  # the writer's longest idle sleep (it checks for a stop and sweeps)
_HANG_TIMEOUT_S = 300.0  # one commit running longer than this stops the watchdog pings
_SAME_FAILURE_LOG_S = 60.0


def _transient(exc: SQLAlchemyError) -> bool:
    """A failure to retry as is (connection lost, server restarting, deadlock), as opposed
    to one that this batch's content causes."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    # 08: connection exception; 40: rollback (serialization, deadlock); 53: resources;
    # 57: operator intervention (shutdown, restart); 58: system error.
    return sqlstate[:2] in {"08", "40", "53", "57", "58", ""}


class Collector:
    """One collector. ``start()``, ``run()`` (blocks until ``request_stop``), ``stop()``."""

    def __init__(
        self,
        config: CollectorConfig,
        notifier: Notifier | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier if notifier is not None else Notifier(None)
        self.engine = engine if engine is not None else open_database(config.database)
        self.ingest = IngestDatabase(
            self.engine,
            config.collector_id,
            config.ingest.sample_interval_s,
            config.ingest.gap_grace_s,
        )
        self.intake = Intake(config.mqtt, config.collector_id)
        self.stats = CollectorStats()
        self.stop_event = threading.Event()
        self.watchdog = WatchdogGate(self.notifier, watchdog_interval_s(), _HANG_TIMEOUT_S)
        self.healthy = True  # False once the writer thread died
        self._draining = threading.Event()
        self._backoff = Backoff(config.ingest.retry_min_s, config.ingest.retry_max_s)
        self._failures = 0  # database attempts failed in a row
        self._busy_since: float | None = None
        self._last_failure = ("", 0.0)
        self._started = time.monotonic()
        self._last_refresh = 0.0
        self._next_sweep = 0.0
        self._snapshot: CollectorSnapshot | None = None
        self._stop_metrics: Callable[[], None] | None = None
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer")
        self._alerts_topic = f"{config.mqtt.fleet_topic}/alerts"
        self._stats_topic = f"{config.mqtt.fleet_topic}/{config.collector_id}/stats"

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Migrate the database (waiting for it with backoff), then subscribe and write."""
        self._wait_for_database()
        if self.stop_event.is_set():
            return
        metrics = self.config.daemon.metrics
        if metrics.enabled:
            self._stop_metrics = start_metrics_server(
                metrics.host, metrics.port, lambda: self._snapshot
            )
        self._writer.start()
        self.intake.start()
        self._refresh()
        self.notifier.ready(self._status())
        log.info("ready: %s", self._status())

    def request_stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Supervise until a stop is requested."""
        interval = self.config.daemon.status_interval_s
        log_every = self.config.daemon.log_stats_interval_s
        next_log = time.monotonic() + log_every if log_every else float("inf")
        while not self.stop_event.wait(min(interval, 1.0)):
            now = time.monotonic()
            busy = 0.0 if self._busy_since is None else now - self._busy_since
            self.watchdog.tick(now, busy, self._writer.is_alive())
            if not self._writer.is_alive():
                log.error("the writer thread has stopped: stopping the collector")
                self.healthy = False
                break
            if now - self._last_refresh >= interval:
                self._refresh()
                self.notifier.status(self._status())
                self.intake.publish(self._stats_topic, dumps(self._snapshot_dict()))
            if now >= next_log:
                log.info("health: %s", self._status())
                next_log = now + log_every

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Commit and acknowledge what is held, disconnect; True when all of it was
        committed within ``timeout_s`` (otherwise the broker delivers it again)."""
        self.notifier.stopping("stopping: committing what was received")
        self._draining.set()
        self.stop_event.set()
        clean = True
        if self._writer.is_alive():
            self._writer.join(timeout_s)
            clean = not self._writer.is_alive()
        left = self.intake.pending()
        if left:
            clean = False
            log.warning(
                "%d received messages were not committed; the broker delivers them again", left
            )
        self.intake.close()
        if self._stop_metrics is not None:
            self._stop_metrics()
        self.engine.dispose()
        self.notifier.close()
        log.info("stopped: %s", self._status())
        return clean and self.healthy

    # --- health ----------------------------------------------------------------------

    def _refresh(self) -> None:
        self._last_refresh = time.monotonic()
        self._snapshot = self.snapshot()

    def snapshot(self) -> CollectorSnapshot:
        """The collector's figures now."""
        return self.stats.snapshot(
            self.config.collector_id,
            self.intake.pending(),
            self.intake.connected.is_set(),
            self.intake.reconnects,
            time.monotonic() - self._started,
        )

    def _snapshot_dict(self) -> dict[str, object]:
        return self.snapshot().as_dict()

    def _status(self) -> str:
        return self._snapshot.status_line() if self._snapshot else "starting"

    # --- the database ------------------------------------------------------------------

    def _wait_for_database(self) -> None:
        attempt = 0
        while not self.stop_event.is_set():
            try:
                revision = migrate(self.engine)
            except StoreError as exc:
                delay = self._backoff.delay(attempt, random.random())
                attempt += 1
                self._log_failure(f"{exc}; retrying in {delay:.1f} s")
                self.stop_event.wait(delay)
                continue
            log.info("central database %s at schema %s", describe(self.engine.url), revision)
            return

    def _log_failure(self, text: str) -> None:
        kind, when = self._last_failure
        now = time.monotonic()
        first_line = text.split(";")[0]
        if kind != first_line or now - when >= _SAME_FAILURE_LOG_S:
            log.warning("%s", text)
            self._last_failure = (first_line, now)
        else:
            log.debug("%s", text)

    # --- the writer thread -----------------------------------------------------------

    def _write_loop(self) -> None:
        cfg = self.config.ingest
        while True:
            if self._draining.is_set() and not self.intake.pending():
                return
            batch = self.intake.take(cfg.batch_max, _TAKE_WAIT_S, cfg.batch_wait_s)
            if batch:
                self.stats.received(len(batch))
                if not self._commit(batch):
                    return  # stopping while the database is down: the broker keeps them
            if time.monotonic() >= self._next_sweep:
                self._sweep()

    def _parse(self, batch: Sequence[Received]) -> tuple[list[IncomingEvent], list[IncomingState]]:
        events: list[IncomingEvent] = []
        states: list[IncomingState] = []
        for msg in batch:
            try:
                item = parse_message(self.intake.topics, msg.topic, msg.payload)
            except InvalidMessage as exc:
                self.stats.invalid()
                log.warning("ignored a message on %s: %s", msg.topic, exc)
                continue
            if isinstance(item, IncomingEvent):
                events.append(item)
            else:
                states.append(item)
        return events, states

    def _commit(self, batch: list[Received]) -> bool:
        """Write ``batch`` (retrying while the database fails), then acknowledge it.
        False when a stop came while the database was still failing."""
        events, states = self._parse(batch)
        while True:
            started = time.monotonic()
            self._busy_since = started
            try:
                result = self.ingest.write(events, states)
            except SQLAlchemyError as exc:
                self._busy_since = None
                self.stats.failed()
                if not _transient(exc) and len(batch) > 1:
                    # Something in this batch itself: store the messages one by one.
                    return all(self._commit([msg]) for msg in batch)
                if not _transient(exc):
                    self.stats.invalid()
                    log.error("a message on %s cannot be stored: %s", batch[0].topic, exc)
                    self.intake.ack(batch)
                    return True
                if self._draining.is_set():
                    return False
                delay = self._backoff.delay(self._failures, random.random())
                self._failures += 1
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                self._log_failure(
                    f"central database {describe(self.engine.url)} failed: {reason}; "
                    f"retrying in {delay:.1f} s ({len(batch)} messages kept unacknowledged)"
                )
                self._draining.wait(delay)
                continue
            self._busy_since = None
            break
        if self._failures:
            log.info("central database is back; committed the %d messages kept", len(batch))
        self._failures = 0
        self.stats.committed(result, time.monotonic() - started)
        self.intake.ack(batch)
        self._report_gaps(result)
        return True

    def _sweep(self) -> None:
        self._next_sweep = time.monotonic() + min(5.0, self.config.ingest.gap_grace_s / 4)
        try:
            result = self.ingest.sweep()
        except SQLAlchemyError as exc:
            log.debug("gap sweep failed (retried later): %s", exc)
            return
        if result.gaps or result.derived:
            self.stats.committed(result, None)
            self._report_gaps(result)

    def _report_gaps(self, result: WriteResult) -> None:
        for gap in result.gaps:
            self._alert(gap)

    def _alert(self, gap: GapAlert) -> None:
        payload = {**gap.as_dict(), "collector": self.config.collector_id}
        self.intake.publish(self._alerts_topic, dumps(payload), qos=1)
