"""What the pipeline hands the sinks: the ``Sink`` protocol and the health figures.

The pipeline calls ``Sink.handle`` once per analysed frame per camera with that frame's
stamped events and zone states; ``handle`` only queues (bounded) and never waits on disk or
network. ``close`` flushes, drains the MQTT outbox for at most ``timeout_s`` and publishes
``offline``. Sinks that publish health take a ``PipelineStats`` through ``report_stats``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from edge_app.core.domain import ZoneState
from edge_app.core.events import Event


@dataclass(frozen=True, slots=True)
class SinkHealth:
    """What a sink reports about itself (health snapshot, MQTT stats, Prometheus).

    ``events_lost``: events of this run that were not and will not be stored (the writer
    stopped or failed first); ``states_dropped``: frames whose zone states were dropped
    because the store's writer was behind; ``write_errors``: commits the disk refused
    (each is retried); ``waiting_s``: how long the pipeline has been waiting for room in
    the store's queue (0 when it is not); ``restarts``: restarts of each sink thread after
    an unexpected error; ``failure``: why a sink thread died for good (the daemon must
    stop), None while all is well.
    """

    events_lost: int = 0
    states_dropped: int = 0
    write_errors: int = 0
    waiting_s: float = 0.0
    restarts: Mapping[str, int] = field(default_factory=dict)
    failure: str | None = None


class Sink(Protocol):
    """A consumer of events and zone states (SQLite store, MQTT publisher)."""

    def handle(self, events: Sequence[Event], states: Sequence[ZoneState]) -> None:
        """Queue one analysed frame's events and zone states. Never blocks on the network;
        waits only while the store's queue of events is full (a slow or full disk), until
        ``stopping``."""
        ...

    def stopping(self) -> None:
        """The pipeline is stopping: ``handle`` no longer waits for room."""
        ...

    def health(self) -> SinkHealth:
        """The sink's own figures (see ``SinkHealth``)."""
        ...

    def set_zones(self, zones: Mapping[str, Sequence[str]]) -> None:
        """The zone ids of each camera from now on (at start and after a zone reload); what
        was published for any other zone is withdrawn (retained MQTT topics)."""
        ...

    def close(self, timeout_s: float) -> None:
        """Flush, drain what can be drained within ``timeout_s`` seconds, release resources."""
        ...


@dataclass(frozen=True, slots=True)
class CameraStats:
    """Health of one camera over the last stats interval.

    ``fps`` is analysed frames per second; ``frames_dropped`` counts frames skipped since
    start (stale frames replaced in a latest-frame slot, or a full queue); ``online`` is
    false while a live camera delivers nothing; ``reconnects`` counts reconnect attempts of
    a live camera since start.
    """

    fps: float
    frames_dropped: int = 0
    online: bool = True
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Health figures the pipeline reports, published on ``{base}/stats``.

    ``inference_ms`` is the mean segmentation time per frame (milliseconds) over the last
    interval; ``frames_dropped`` the pipeline's total dropped frames since start;
    ``inference_p95_ms`` the 95th percentile of one segmenter call (a batch) since start,
    as the upper bound of its histogram bucket (None before the first); ``events`` the
    events handed to the sinks since start, by type; ``thread_restarts`` how often each
    worker thread started over after an unexpected error.
    """

    cameras: Mapping[str, CameraStats] = field(default_factory=dict)
    inference_ms: float = 0.0
    frames_dropped: int = 0
    inference_p95_ms: float | None = None
    events: Mapping[str, int] = field(default_factory=dict)
    thread_restarts: Mapping[str, int] = field(default_factory=dict)


@runtime_checkable
class StatsSink(Protocol):
    """A sink that also publishes the pipeline's health (see ``PipelineStats``)."""

    def report_stats(self, stats: PipelineStats) -> None:
        """Keep the latest figures; the sink publishes them at its own interval."""
        ...
