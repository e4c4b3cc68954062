"""The pipeline's counters and the reports made from them.

``HealthBook`` counts what the worker and the sinks see (inference time per batch and per
frame, events by type); ``snapshot`` combines that with each camera's figures into the
``HealthSnapshot`` that STATUS, the log line, the MQTT ``stats`` topic and Prometheus share,
and ``daemon_snapshot`` gathers those figures from the daemon's parts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict

from edge_app.core.domain import ZoneState
from edge_app.core.errors import EdgeAppError
from edge_app.core.events import Event
from edge_app.runtime.camera import CameraParts
from edge_app.runtime.health import (
    CameraFigures,
    EventCounter,
    HealthSnapshot,
    LatencyHistogram,
    RecentMean,
    StoreFigures,
)
from edge_app.sinks.base import CameraStats, PipelineStats, Sink

log = logging.getLogger(__name__)


class HealthBook:
    """Counters shared by the worker thread (batches, events) and the supervisor."""

    def __init__(self) -> None:
        self.events = EventCounter()
        self.inference = LatencyHistogram()
        self.frame_ms = RecentMean()
        self.started_at = time.monotonic()

    def on_batch(self, frames: int, seconds: float) -> None:
        """One segmenter call of ``frames`` frames took ``seconds``."""
        self.inference.observe(seconds)
        self.frame_ms.add(seconds * 1000 / max(1, frames))

    def snapshot(
        self,
        cameras: Iterable[CameraFigures],
        batch_size: int,
        outbox_backlog: int | None,
        store: StoreFigures | None = None,
        thread_restarts: Mapping[str, int] | None = None,
    ) -> HealthSnapshot:
        return HealthSnapshot(
            cameras=tuple(cameras),
            inference=self.inference.snapshot(),
            inference_ms=round(self.frame_ms.mean(), 2),
            batch_size=batch_size,
            events_by_type=self.events.snapshot(),
            outbox_backlog=outbox_backlog,
            uptime_s=round(time.monotonic() - self.started_at, 1),
            store=store or StoreFigures(),
            thread_restarts=dict(thread_restarts or {}),
        )


def daemon_snapshot(
    book: HealthBook,
    cameras: Mapping[str, CameraParts],
    batch_size: int,
    sinks: Sequence[Sink],
    metrics_restarts: int | None,
) -> HealthSnapshot:
    """The daemon's figures now: ``book``'s, each camera's, and the sinks' (store figures,
    outbox backlog); thread restarts of the sinks, each capture and the metrics server
    (``metrics_restarts``, None when it does not run)."""
    now = time.monotonic()
    health = [sink.health() for sink in sinks]
    restarts: dict[str, int] = {}
    for h in health:
        restarts.update(h.restarts)
    for cid, cam in cameras.items():
        restarts[f"capture-{cid}"] = cam.capture.failures
    if metrics_restarts is not None:
        restarts["metrics"] = metrics_restarts
    return book.snapshot(
        (cam.figures(now) for cam in cameras.values()),
        batch_size,
        outbox_backlog(sinks),
        store=StoreFigures(
            events_lost=sum(h.events_lost for h in health),
            states_dropped=sum(h.states_dropped for h in health),
            write_errors=sum(h.write_errors for h in health),
        ),
        thread_restarts=restarts,
    )


def pipeline_stats(snap: HealthSnapshot) -> PipelineStats:
    """What the sinks publish on the MQTT ``stats`` topic, from a snapshot."""
    p95_s = snap.inference.quantile(0.95)
    return PipelineStats(
        cameras={
            c.camera_id: CameraStats(c.fps, c.frames_dropped, c.online is not False, c.reconnects)
            for c in snap.cameras
        },
        inference_ms=snap.inference_ms,
        frames_dropped=snap.frames_dropped,
        inference_p95_ms=None if p95_s is None else round(p95_s * 1000, 1),
        events=dict(snap.events_by_type),
        thread_restarts=dict(snap.thread_restarts),
    )


def outbox_backlog(sinks: Sequence[Sink]) -> int | None:
    """Events not yet acknowledged by MQTT, from the first sink that knows (else None)."""
    for sink in sinks:
        backlog = getattr(sink, "outbox_backlog", None)
        if callable(backlog):
            try:
                value = backlog()
            except EdgeAppError as exc:
                log.warning("outbox backlog unknown: %s", exc)
                return None
            return None if value is None else int(value)
    return None


# Events an operator wants to see in the journal; the others are logged at DEBUG (camera
# online/offline are logged by the capture thread with their reason).
_LOGGED_EVENTS = frozenset({"zone.dwell_exceeded", "zone.capacity_exceeded"})


def log_events(events: tuple[Event, ...]) -> None:
    """One log line per event: alerts at INFO, the rest at DEBUG."""
    for event in events:
        level = logging.INFO if event.type in _LOGGED_EVENTS else logging.DEBUG
        if log.isEnabledFor(level):
            fields = " ".join(
                f"{k}={round(v, 3) if isinstance(v, float) else v}"  # as in the event's JSON
                for k, v in asdict(event.payload).items()
            )
            log.log(
                level,
                "event %s camera=%s zone=%s seq=%d %s",
                event.type,
                event.camera,
                event.zone,
                event.seq,
                fields,
            )


def hand_out(
    events: tuple[Event, ...], states: Sequence[ZoneState], sinks: Sequence[Sink], book: HealthBook
) -> None:
    """Events (and zone states) to every sink, counted in ``book``, logged (``log_events``)."""
    for sink in sinks:
        sink.handle(events, states)
    for event in events:
        book.events.add(event.type)
    log_events(events)
