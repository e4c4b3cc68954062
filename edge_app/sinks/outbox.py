"""The MQTT publisher's window on the outbox (``sinks.publisher``): events streamed in
sequence order, with at most ``inflight_max`` of them unacknowledged.

Rows are read from the store's outbox in chunks behind a cursor; each published row stays
in flight until its PUBACK. Acknowledged events are handed to the store writer in batches
to be marked published; until that is committed they are *unconfirmed*: not read again,
and while more than ``_MAX_UNCONFIRMED`` wait, nothing more is sent. When idle, the outbox
is checked for rows committed out of sequence order (behind the cursor). A lost session
forgets what was in flight: the next one resends from the oldest unacknowledged event.

Owned by the publisher thread; ``wake`` and the writer's confirmations come from others.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from edge_app.sinks.mqtt_session import Session
from edge_app.sinks.store import Ack, EventStore, OutboxRow
from edge_app.sinks.writer import StoreWriter

_READ_CHUNK = 500  # outbox rows read per query
_MAX_UNCONFIRMED = 20_000  # acked events whose "published" is not committed yet
# Hand acks to the writer this often (or per 2,000): fewer, larger "published" commits.
# A crash loses at most this much of the marking, which only means a few resends.
_ACK_FLUSH_S = 0.25
_ACK_BATCH = 2000
_RESCAN_EVERY_S = 1.0  # when idle, check the outbox for rows committed out of order


class OutboxWindow:
    """The events of ``device`` in ``store``'s outbox on their way to ``topic``; acks go to
    ``writer``. ``peak_inflight``: most events ever awaiting PUBACK at once."""

    def __init__(
        self, store: EventStore, device: str, writer: StoreWriter, topic: str, inflight_max: int
    ) -> None:
        self._store = store
        self._device = device
        self._writer = writer
        self._topic = topic
        self._inflight_max = inflight_max
        # Shared with other threads.
        self._lock = threading.Lock()
        self._unconfirmed: set[str] = set()
        self._new_events = threading.Event()
        self._new_events.set()
        # Owned by the publisher thread.
        self.peak_inflight = 0
        self._inflight: dict[int, OutboxRow] = {}
        self._buffer: deque[OutboxRow] = deque()
        self._read_seq = 0
        self._more_in_db = True
        self._acks: list[Ack] = []
        self._last_ack_flush = 0.0
        self._next_rescan = 0.0

    def wake(self) -> None:
        """New events were committed: read the outbox again (any thread)."""
        self._new_events.set()

    @property
    def inflight(self) -> int:
        """Events awaiting PUBACK now."""
        return len(self._inflight)

    def forget(self) -> None:
        """The session ended: what was in flight or read ahead is sent again from the store."""
        self._inflight.clear()
        self._buffer.clear()

    def restart(self) -> None:
        """A session is up: the outbox restarts at the oldest unacknowledged event."""
        self._inflight.clear()
        self._buffer.clear()
        self._read_seq = 0
        self._more_in_db = True

    def acked(self, mids: Sequence[int], now: float) -> int:
        """The session's acknowledged message ids: acks of the events among them (at wall
        time ``now``); returns how many events that was."""
        events = 0
        for mid in mids:
            row = self._inflight.pop(mid, None)
            if row is not None:
                self._acks.append(Ack(row.event_id, now))
                events += 1
        return events

    def fill(self, session: Session) -> None:
        """Publish outbox rows until ``inflight_max`` events await PUBACK."""
        with self._lock:
            if len(self._unconfirmed) > _MAX_UNCONFIRMED:
                return  # the writer is behind: let it catch up before sending more
        while len(self._inflight) < self._inflight_max:
            if not self._buffer and not self._refill():
                return
            row = self._buffer[0]
            mid = session.publish(self._topic, row.payload, qos=1)
            if mid is None:
                return  # the connection is going; the next round notices
            self._buffer.popleft()
            self._inflight[mid] = row
            self.peak_inflight = max(self.peak_inflight, len(self._inflight))

    def _refill(self) -> bool:
        if not (self._more_in_db or self._new_events.is_set()):
            return False
        # Clear before reading: a commit after the read sets it again.
        self._new_events.clear()
        rows = self._store.outbox(self._device, self._read_seq, _READ_CHUNK)
        self._more_in_db = len(rows) == _READ_CHUNK
        with self._lock:
            skip = set(self._unconfirmed)
        for row in rows:
            self._read_seq = max(self._read_seq, row.seq)
            if row.event_id not in skip:
                self._buffer.append(row)
        return bool(self._buffer)

    def flush_acks(self, force: bool) -> None:
        """Hand the acks to the writer when due (or now, with ``force``)."""
        if not self._acks:
            return
        now = time.monotonic()
        due = now - self._last_ack_flush >= _ACK_FLUSH_S or len(self._acks) >= _ACK_BATCH
        # Nothing more in flight: the outbox is drained, so mark it at once (a drain at a
        # stop, or a backlog after an outage, ends when the store says so).
        idle = not self._inflight and not self._buffer
        if not (force or due or idle):
            return
        acks, self._acks = self._acks, []
        self._last_ack_flush = now
        with self._lock:
            self._unconfirmed.update(a.event_id for a in acks)
        self._writer.ack(acks, self._confirmed)

    def _confirmed(self, ids: Sequence[str]) -> None:
        """Called by the writer once the acks are committed."""
        with self._lock:
            self._unconfirmed.difference_update(ids)

    def rescan_if_idle(self) -> None:
        """Catch rows committed out of sequence order (behind the read cursor)."""
        if self._buffer or self._inflight or self._acks:
            return
        now = time.monotonic()
        if now < self._next_rescan:
            return
        self._next_rescan = now + _RESCAN_EVERY_S
        with self._lock:
            if self._unconfirmed:
                return
        if self._store.backlog(self._device) > 0:
            self._read_seq = 0
            self._more_in_db = True
