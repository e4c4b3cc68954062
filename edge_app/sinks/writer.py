"""The store's single writer thread: batches frames, samples and acks into few commits.

``submit`` (the pipeline's thread) and ``ack`` (the MQTT thread) only append to a queue;
the writer thread folds zone states into samples, writes events with their visits, marks
acknowledged events published and applies retention, committing whatever has gathered in
one transaction (after a refused commit, in smaller ones, so a transaction fits again
once some space is free).

Events and zone states take separate paths, so a slow or full disk never costs an event to
make room for states:

- zone states are bounded by ``max_queued_frames`` frames; beyond that a frame's states
  are dropped (its events are kept) and counted (``states_dropped``);
- events are bounded by ``max_queued_events``; beyond that ``submit`` waits for room
  (back-pressure: the pipeline's analysis waits, and live cameras' latest-frame slots
  turn that into dropped frames, counted there). ``stop_waiting`` (at a stop) ends the
  waiting: what then cannot be stored is counted.

A commit the disk refuses is retried with backoff, on fresh connections (a full disk
that gets space back is written to again; ``sinks.commit``). Every event that is not
stored is counted (``events_lost``), logged at the stop, and makes the daemon's exit
status non-zero.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_app.core.backoff import Backoff
from edge_app.core.domain import ZoneState
from edge_app.core.errors import StoreError
from edge_app.core.events import Event
from edge_app.sinks.aggregate import OccupancyAggregator
from edge_app.sinks.commit import MAX_EVENTS_PER_COMMIT, RETRY_BACKOFF, ChunkedCommit
from edge_app.sinks.retention import RetentionPolicy, apply_retention
from edge_app.sinks.store import Ack, EventStore, RetainedChange, WriteBatch
from edge_app.sinks.write_queue import (
    Barrier,
    CloseVisits,
    Item,
    QueuedAcks,
    QueuedFrame,
    QueuedRetained,
    Stop,
    WriteQueue,
    gather,
)

log = logging.getLogger(__name__)

# Pause between commits so that a stream of acks becomes a few large transactions.
_COMMIT_PAUSE_S = 0.02
# Most items one transaction takes (frames and ack lists): bounds a transaction's length.
_MAX_ITEMS_PER_COMMIT = 5000
MAX_QUEUED_EVENTS = 10_000
"""Events waiting for the disk before ``submit`` waits for room (about 10 MB)."""
_LOG_EVERY_S = 10.0
_WAIT_SLICE_S = 0.25  # how often a waiting submit re-checks the writer's state


@dataclass(frozen=True, slots=True)
class WriterCounters:
    """Totals since start.

    ``queued_frames``: frames waiting now; ``queued_events``: events waiting now;
    ``states_dropped``: frames whose zone states were dropped (the writer was behind);
    ``events_lost``: events that were not and will not be stored (refused after the
    writer stopped or failed, or still unstored when it stopped); ``write_errors``:
    commits the disk refused; ``waiting_s``: how long ``submit`` has been waiting for room
    (0 when it is not); ``failure``: why the writer thread died (None while it runs).
    """

    queued_frames: int
    queued_events: int
    states_dropped: int
    events_lost: int
    write_errors: int
    waiting_s: float = 0.0
    failure: str | None = None


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
        max_queued_events: int = MAX_QUEUED_EVENTS,
    ) -> None:
        if max_queued_frames < 1:
            raise ValueError(f"max_queued_frames must be >= 1, got {max_queued_frames}")
        if max_queued_events < 1:
            raise ValueError(f"max_queued_events must be >= 1, got {max_queued_events}")
        self._store = store
        self.device = device
        self._aggregator = OccupancyAggregator(sample_interval_s)
        self._max_frames = max_queued_frames
        self._max_events = max_queued_events
        self._retention = retention
        self.on_events = on_events
        self._wall_clock = wall_clock
        self._cond = threading.Condition()
        self._queue = WriteQueue()
        self._states_dropped = 0
        self._events_accepted = 0
        self._events_committed = 0
        self._events_refused = 0
        self._highest_seq = 0  # of the events accepted: never handed out again
        self._write_errors = 0
        self._waiting_since: float | None = None
        self._last_log: dict[str, float] = {}
        self._no_waiting = False
        self._stopping = False
        self._ended = False  # the thread ended (or was given up on at the stop)
        self._failure: str | None = None
        self._stop_requested = threading.Event()  # ends a retry's wait at once
        self._commits = ChunkedCommit(store, retry, self._stop_requested, self._log_every)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    # --- any thread -----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, events: Sequence[Event], states: Sequence[ZoneState]) -> bool:
        """Queue one frame's events and states; ``False`` when its events were refused
        (the writer stopped or failed: they are counted as lost).

        The states are dropped (and counted) when ``max_queued_frames`` frames' states
        already wait; the events wait for room when ``max_queued_events`` events already
        wait, until there is room, the writer ends or ``stop_waiting`` is called.
        """
        events = tuple(events)
        item = QueuedFrame(events, tuple(states), self._wall_clock())
        with self._cond:
            if item.states and self._queue.frames >= self._max_frames:
                self._states_dropped += 1
                item = QueuedFrame(events, (), item.wall)
                self._log_every(
                    "states",
                    logging.WARNING,
                    "event store writer is behind (%d frames queued): dropped the zone "
                    "states of %d frames so far (events are kept); check the disk "
                    "holding the store",
                    self._queue.frames,
                    self._states_dropped,
                )
            if events:
                self._wait_for_room(len(events))
            if self._closed_for_events():
                self._events_refused += len(events)
                if events:
                    self._log_every(
                        "refused",
                        logging.ERROR,
                        "event store writer is %s: %d events not stored so far",
                        "stopped" if self._failure is None else "dead",
                        self._events_refused,
                    )
                return not events
            if not (item.events or item.states):
                return True
            self._queue.append(item)
            self._events_accepted += len(events)
            self._highest_seq = max([self._highest_seq, *(e.seq for e in events)])
            self._cond.notify_all()
        return True

    def _closed_for_events(self) -> bool:
        return self._stopping or self._failure is not None or self._ended

    def _wait_for_room(self, n: int) -> None:
        """Back-pressure (``self._cond`` held): wait while the events queue is full."""
        started = time.monotonic()
        while (
            self._queue.events
            and self._queue.events + n > self._max_events
            and not self._no_waiting
            and not self._closed_for_events()
        ):
            if self._waiting_since is None:
                self._waiting_since = started
                self._log_every(
                    "waiting",
                    logging.WARNING,
                    "event store writer is behind (%d events queued): the pipeline waits "
                    "for the disk holding the store (frames of live cameras are dropped "
                    "meanwhile, events are kept)",
                    self._queue.events,
                )
            self._cond.wait(_WAIT_SLICE_S)
        self._waiting_since = None

    def stop_waiting(self) -> None:
        """From now on ``submit`` never waits for room (at a stop: the pipeline must be
        able to finish; what the writer cannot store in the end is counted as lost)."""
        with self._cond:
            self._no_waiting = True
            self._cond.notify_all()

    def ack(self, acks: Sequence[Ack], done: Callable[[Sequence[str]], None] | None) -> None:
        """Mark events published; ``done(ids)`` is called once that is committed."""
        with self._cond:
            self._queue.append(QueuedAcks(tuple(acks), done))
            self._cond.notify_all()

    def retained(self, changes: Sequence[RetainedChange]) -> None:
        """Record retained MQTT topics published (``True``) or cleared (``False``)."""
        if changes:
            with self._cond:
                self._queue.append(QueuedRetained(tuple(changes)))
                self._cond.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued before this call is committed; ``False`` on timeout."""
        barrier = Barrier(threading.Event())
        with self._cond:
            if not self._thread.is_alive():
                return False
            self._queue.append(barrier)
            self._cond.notify_all()
        return barrier.reached.wait(timeout_s)

    def close_visits(self, timeout_s: float) -> bool:
        """Once everything queued is committed, close the visits still open (the pipeline
        has ended: they are the ones it could not finish) with their ``zone.exit`` events,
        which ``on_events`` then announces. ``False`` when that did not happen in time."""
        request = CloseVisits(threading.Event())
        with self._cond:
            if not self._thread.is_alive():
                return False
            self._queue.append(request)
            self._cond.notify_all()
        return request.reached.wait(timeout_s)

    def stop(self, timeout_s: float) -> bool:
        """Write what is queued and the open samples, close open visits, end the thread.

        Returns ``False`` when the thread did not finish within ``timeout_s``; every event
        not stored by then counts as lost. Logs the run's tally of what was not stored.
        """
        with self._cond:
            if not self._stopping:
                self._stopping = True
                self._no_waiting = True
                self._queue.append(Stop())
                self._cond.notify_all()
        self._stop_requested.set()
        if self._thread.ident:
            self._thread.join(timeout_s)
        finished = not self._thread.is_alive()
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        self._log_tally()
        return finished

    def counters(self) -> WriterCounters:
        with self._cond:
            lost = self._events_refused
            if self._ended or self._failure is not None:
                lost += self._events_accepted - self._events_committed
            waiting = self._waiting_since
            return WriterCounters(
                self._queue.frames,
                self._queue.events,
                self._states_dropped,
                lost,
                self._write_errors,
                0.0 if waiting is None else time.monotonic() - waiting,
                self._failure,
            )

    def _log_every(self, key: str, level: int, message: str, *args: object) -> None:
        """Log at ``level`` at most every ``_LOG_EVERY_S`` per ``key``; DEBUG in between."""
        now = time.monotonic()
        if now - self._last_log.get(key, float("-inf")) < _LOG_EVERY_S:
            level = logging.DEBUG
        else:
            self._last_log[key] = now
        log.log(level, message, *args)

    def _log_tally(self) -> None:
        counters = self.counters()
        if counters.events_lost:
            log.error(
                "event store %s: %d events of this run were not stored (see the errors "
                "above); the daemon exits with a failure",
                self._store.path,
                counters.events_lost,
            )
        if counters.states_dropped:
            log.warning(
                "event store %s: the zone states of %d frames were dropped in this run "
                "(the writer was behind); their occupancy samples are incomplete",
                self._store.path,
                counters.states_dropped,
            )

    # --- the writer thread ----------------------------------------------------------

    def _take(self, timeout_s: float) -> list[Item]:
        with self._cond:
            if not self._queue:
                self._cond.wait(timeout_s)
            taken = self._queue.take(_MAX_ITEMS_PER_COMMIT, MAX_EVENTS_PER_COMMIT)
            if taken:
                self._cond.notify_all()  # room for a waiting submit
            return taken

    def _run(self) -> None:
        try:
            self._write_until_stopped()
        except BaseException as exc:  # a bug: the writer cannot go on; the daemon stops
            log.exception("event store writer failed; the daemon stops")
            with self._cond:
                self._failure = f"event store writer failed: {type(exc).__name__}: {exc}"
                self._cond.notify_all()

    def _write_until_stopped(self) -> None:
        next_retention = time.monotonic()
        stopped = False
        while not stopped:
            if self._retention is not None and time.monotonic() >= next_retention:
                self._apply_retention(self._retention)
                next_retention = time.monotonic() + self._retention.interval_s
            wait = max(0.0, next_retention - time.monotonic()) if self._retention else 1.0
            taken = gather(self._take(min(wait, 1.0)), self._aggregator)
            batch, stopped = taken.batch, taken.stopped
            if batch and self._commit(batch, give_up=stopped):
                for callback, ids in taken.done:
                    callback(ids)
                if batch.events and self.on_events is not None:
                    self.on_events()
            for barrier in taken.barriers:
                closed = isinstance(barrier, CloseVisits) and self._close_visits()
                if closed and self.on_events is not None:
                    self.on_events()
                barrier.reached.set()
            if batch and not stopped:
                time.sleep(_COMMIT_PAUSE_S)
        self._close_visits()

    def _commit(self, batch: WriteBatch, give_up: bool) -> bool:
        return self._commits.commit(batch, give_up, self._refused, self._stored)

    def _refused(self) -> bool:
        """A commit was refused: count it; whether the writer is stopping."""
        with self._cond:
            self._write_errors += 1
            return self._stopping

    def _stored(self, events: int) -> None:
        with self._cond:
            self._events_committed += events

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

    def _close_visits(self) -> int:
        try:
            with self._cond:
                after = self._highest_seq
            last_t = self._aggregator.last_t()
            closed = self._store.close_open_visits(self.device, last_t, after_seq=after)
        except StoreError as exc:
            log.error("%s; open visits will be closed at the next start", exc)
            return 0
        if closed:
            log.info("closed %d open visit(s) at stop (zone.exit, reason ended)", len(closed))
        return len(closed)
