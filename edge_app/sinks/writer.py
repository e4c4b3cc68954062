"""The store's single writer thread: batches frames, samples and acks into few commits.

``submit`` (the pipeline's thread) and ``ack`` (the MQTT thread) only append to a queue;
the writer thread folds zone states into samples, writes events with their visits, marks
acknowledged events published and applies retention, committing whatever has gathered in
one transaction. Frames beyond ``max_queued_frames`` are dropped and counted, so a stalled
disk cannot grow memory without bound.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_app.core.backoff import Backoff
from edge_app.core.domain import ZoneState
from edge_app.core.errors import StoreError
from edge_app.core.events import Event
from edge_app.sinks.aggregate import OccupancyAggregator, OccupancySample
from edge_app.sinks.retention import apply_retention
from edge_app.sinks.store import Ack, EventStore, RetainedChange, WriteBatch

log = logging.getLogger(__name__)

# Pause between commits so that a stream of acks becomes a few large transactions.
_COMMIT_PAUSE_S = 0.02
# Most items one transaction takes (frames and ack lists): bounds a transaction's length.
_MAX_ITEMS_PER_COMMIT = 5000
# A commit the disk refused is retried after about 0.5 s, doubling up to 10 s, until it
# succeeds or the writer stops.
RETRY_BACKOFF = Backoff(0.5, 10.0)
_DROP_LOG_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Delete rows older than ``max_age_s`` and keep the data under ``max_bytes``, checked
    every ``interval_s`` seconds (and once at start). ``keep_unpublished`` protects the
    outbox from age retention (false when MQTT is off: nothing would ever publish it)."""

    max_age_s: float
    max_bytes: int
    interval_s: float = 600.0
    keep_unpublished: bool = True


@dataclass(frozen=True, slots=True)
class WriterCounters:
    """Totals since start: frames and events dropped at a full queue, failed commits."""

    queued_frames: int
    dropped_frames: int
    dropped_events: int
    write_errors: int


@dataclass(frozen=True, slots=True)
class _Frame:
    events: Sequence[Event]
    states: Sequence[ZoneState]
    wall: float


@dataclass(frozen=True, slots=True)
class _Acks:
    acks: Sequence[Ack]
    done: Callable[[Sequence[str]], None] | None


@dataclass(frozen=True, slots=True)
class _Retained:
    changes: Sequence[RetainedChange]


@dataclass(frozen=True, slots=True)
class _Barrier:
    reached: threading.Event


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Item = _Frame | _Acks | _Retained | _Barrier | _Stop


class StoreWriter:
    """Owns the write side of an ``EventStore``; start with ``start``, end with ``stop``.

    ``device`` is the device id the events belong to: the ``zone.exit`` events of visits
    still open at the stop are stamped with its next seqs.

    ``on_events`` is called (on the writer thread) after each commit that stored new
    events, e.g. to wake the MQTT publisher; it may be set until ``start``. ``retry`` spaces
    the attempts at a commit the disk refused; ``stop`` cuts its wait short.
    """

    def __init__(
        self,
        store: EventStore,
        device: str,
        sample_interval_s: float,
        max_queued_frames: int,
        retention: RetentionPolicy | None = None,
        on_events: Callable[[], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
        retry: Backoff = RETRY_BACKOFF,
    ) -> None:
        if max_queued_frames < 1:
            raise ValueError(f"max_queued_frames must be >= 1, got {max_queued_frames}")
        self._store = store
        self.device = device
        self._aggregator = OccupancyAggregator(sample_interval_s)
        self._max_frames = max_queued_frames
        self._retention = retention
        self.on_events = on_events
        self._wall_clock = wall_clock
        self._retry = retry
        self._cond = threading.Condition()
        self._items: deque[_Item] = deque()
        self._frames_queued = 0
        self._dropped_frames = 0
        self._dropped_events = 0
        self._write_errors = 0
        self._last_drop_log = 0.0
        self._stopping = False
        self._stop_requested = threading.Event()  # ends a retry's wait at once
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    # --- any thread -----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, events: Sequence[Event], states: Sequence[ZoneState]) -> bool:
        """Queue one frame's events and states; ``False`` when dropped (full or stopped)."""
        item = _Frame(tuple(events), tuple(states), self._wall_clock())
        with self._cond:
            if self._stopping or self._frames_queued >= self._max_frames:
                self._dropped_frames += 1
                self._dropped_events += len(item.events)
                self._log_drop()
                return False
            self._items.append(item)
            self._frames_queued += 1
            self._cond.notify()
        return True

    def ack(self, acks: Sequence[Ack], done: Callable[[Sequence[str]], None] | None) -> None:
        """Mark events published; ``done(ids)`` is called once that is committed."""
        with self._cond:
            self._items.append(_Acks(tuple(acks), done))
            self._cond.notify()

    def retained(self, changes: Sequence[RetainedChange]) -> None:
        """Record retained MQTT topics published (``True``) or cleared (``False``)."""
        if changes:
            with self._cond:
                self._items.append(_Retained(tuple(changes)))
                self._cond.notify()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued before this call is committed; ``False`` on timeout."""
        barrier = _Barrier(threading.Event())
        with self._cond:
            if not self._thread.is_alive():
                return False
            self._items.append(barrier)
            self._cond.notify()
        return barrier.reached.wait(timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Write what is queued and the open samples, close open visits, end the thread.

        Returns ``False`` when the thread did not finish within ``timeout_s``.
        """
        with self._cond:
            if not self._stopping:
                self._stopping = True
                self._items.append(_Stop())
                self._cond.notify()
        self._stop_requested.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def counters(self) -> WriterCounters:
        with self._cond:
            return WriterCounters(
                self._frames_queued,
                self._dropped_frames,
                self._dropped_events,
                self._write_errors,
            )

    def _log_drop(self) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_EVERY_S:
            self._last_drop_log = now
            log.warning(
                "event store writer is behind (%d frames queued): dropped %d frames with "
                "%d events so far; check the disk holding the store",
                self._frames_queued,
                self._dropped_frames,
                self._dropped_events,
            )

    # --- the writer thread ----------------------------------------------------------

    def _take(self, timeout_s: float) -> list[_Item]:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout_s)
            taken: list[_Item] = []
            while self._items and len(taken) < _MAX_ITEMS_PER_COMMIT:
                item = self._items.popleft()
                if isinstance(item, _Frame):
                    self._frames_queued -= 1
                taken.append(item)
            return taken

    def _run(self) -> None:
        next_retention = time.monotonic()
        stopped = False
        while not stopped:
            if self._retention is not None and time.monotonic() >= next_retention:
                self._apply_retention(self._retention)
                next_retention = time.monotonic() + self._retention.interval_s
            wait = max(0.0, next_retention - time.monotonic()) if self._retention else 1.0
            items = self._take(min(wait, 1.0))
            events: list[Event] = []
            samples: list[OccupancySample] = []
            acks: list[Ack] = []
            retained: list[RetainedChange] = []
            done: list[tuple[Callable[[Sequence[str]], None], list[str]]] = []
            barriers: list[_Barrier] = []
            for item in items:
                if isinstance(item, _Frame):
                    events.extend(item.events)
                    for state in item.states:
                        samples.extend(self._aggregator.add(state, item.wall))
                elif isinstance(item, _Acks):
                    acks.extend(item.acks)
                    if item.done is not None:
                        done.append((item.done, [a.event_id for a in item.acks]))
                elif isinstance(item, _Retained):
                    retained.extend(item.changes)
                elif isinstance(item, _Barrier):
                    barriers.append(item)
                else:
                    stopped = True
            if stopped:
                samples.extend(self._aggregator.flush())
            batch = WriteBatch(events, samples, acks, retained)
            if batch and self._commit(batch, give_up=stopped):
                for callback, ids in done:
                    callback(ids)
                if events and self.on_events is not None:
                    self.on_events()
            for barrier in barriers:
                barrier.reached.set()
            if batch and not stopped:
                time.sleep(_COMMIT_PAUSE_S)
        self._close_visits()

    def _commit(self, batch: WriteBatch, give_up: bool) -> bool:
        """Commit, retrying with backoff while the disk refuses (a full disk may recover
        through retention or an operator); at a stop, one more try and then give up."""
        attempt = 0
        while True:
            try:
                self._store.write(batch)
                return True
            except StoreError as exc:
                with self._cond:
                    self._write_errors += 1
                    stopping = self._stopping
                if give_up or stopping:
                    log.error("%s; %d events were not stored", exc, len(batch.events))
                    return False
                delay = self._retry.delay(attempt, random.random())
                attempt += 1
                log.error("%s; retrying in %.1f s", exc, delay)
                self._stop_requested.wait(delay)  # a stop ends the wait: one last try

    def _apply_retention(self, policy: RetentionPolicy) -> None:
        try:
            apply_retention(
                self._store,
                self._wall_clock(),
                policy.max_age_s,
                policy.max_bytes,
                keep_unpublished=policy.keep_unpublished,
            )
        except StoreError as exc:
            log.error("%s; will try again in %.0f s", exc, policy.interval_s)

    def _close_visits(self) -> None:
        try:
            closed = self._store.close_open_visits(self.device, self._aggregator.last_t())
        except StoreError as exc:
            log.error("%s; open visits will be closed at the next start", exc)
            return
        if closed:
            log.info("closed %d open visit(s) at stop (zone.exit, reason ended)", len(closed))
