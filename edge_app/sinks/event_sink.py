"""The sink the pipeline calls: the SQLite store first, then MQTT from its outbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from edge_app.core.domain import ZoneState
from edge_app.core.errors import StoreError
from edge_app.core.events import Event
from edge_app.sinks.base import PipelineStats, SinkHealth
from edge_app.sinks.publisher import OutboxPublisher
from edge_app.sinks.store import EventStore
from edge_app.sinks.topics import utc_now
from edge_app.sinks.writer import StoreWriter

log = logging.getLogger(__name__)

# Of close()'s time budget, keep this share (at most 2 s) for publishing "offline" and
# committing the last acknowledgements after the drain.
_CLOSE_RESERVE = 0.2
_CLOSE_RESERVE_MAX_S = 2.0


class EventSink:
    """Durable before visible: events are committed by the writer, then published from
    the outbox. ``handle`` only queues; ``close`` flushes, drains and disconnects.

    Implements ``Sink`` and ``StatsSink``.
    """

    def __init__(
        self, store: EventStore, writer: StoreWriter, publisher: OutboxPublisher | None
    ) -> None:
        self.store = store
        self.writer = writer
        self.publisher = publisher
        self._closed = False

    def handle(self, events: Sequence[Event], states: Sequence[ZoneState]) -> None:
        # After close the writer refuses (and counts) what still comes.
        self.writer.submit(events, states)
        if self.publisher is not None and not self._closed:
            self.publisher.offer_states(states, utc_now())

    def stopping(self) -> None:
        self.writer.stop_waiting()

    def health(self) -> SinkHealth:
        counters = self.writer.counters()
        restarts: dict[str, int] = {}
        failure = counters.failure
        if self.publisher is not None:
            restarts["mqtt-outbox"] = self.publisher.restarts
        return SinkHealth(
            events_lost=counters.events_lost,
            states_dropped=counters.states_dropped,
            write_errors=counters.write_errors,
            waiting_s=counters.waiting_s,
            restarts=restarts,
            failure=failure,
        )

    def set_zones(self, zones: Mapping[str, Sequence[str]]) -> None:
        if self.publisher is not None:
            self.publisher.set_zones(zones)

    def outbox_backlog(self) -> int | None:
        """Events the MQTT broker has not acknowledged yet; ``None`` with MQTT disabled.

        Raises ``StoreError`` when the store cannot be read.
        """
        if self.publisher is None:
            return None
        return self.store.backlog(self.publisher.device)

    def report_stats(self, stats: PipelineStats) -> None:
        if self.publisher is not None:
            self.publisher.report_stats(stats)

    def _drain(self, device: str, timeout_s: float) -> bool:
        """Wait until the broker acknowledged every stored event; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.store.backlog(device) == 0:
                    return True
            except StoreError as exc:
                log.error("%s", exc)
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self, timeout_s: float) -> None:
        """Commit what is queued, drain the outbox for up to ``timeout_s`` seconds in all,
        publish ``offline``, then close the store. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout_s
        reserve = min(_CLOSE_RESERVE_MAX_S, timeout_s * _CLOSE_RESERVE)

        def left(keep: float = 0.0) -> float:
            return max(0.0, deadline - time.monotonic() - keep)

        if not self.writer.flush(left(reserve)):
            log.warning("event store writer did not catch up before the stop deadline")
        # Visits the pipeline could not close get their exits now, so they are published
        # in this run's drain.
        self.writer.close_visits(left(reserve))
        if self.publisher is not None:
            drained = self._drain(self.publisher.device, left(reserve))
            self.publisher.stop(max(left(), 0.5 + _CLOSE_RESERVE_MAX_S))
            if not drained:
                try:
                    backlog = self.store.backlog(self.publisher.device)
                except StoreError as exc:
                    log.error("%s", exc)
                    backlog = -1
                if backlog:
                    log.warning(
                        "%s events are not yet acknowledged by the MQTT broker; they stay "
                        "in the outbox (%s) and are published at the next start",
                        backlog if backlog > 0 else "some",
                        self.store.path,
                    )
        if not self.writer.stop(max(left(), 1.0)):
            log.error("event store writer did not stop in time; the store is closed anyway")
        self.store.close()
