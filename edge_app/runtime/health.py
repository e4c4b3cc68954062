"""Health figures of the running pipeline, and the watchdog decision.

The same ``HealthSnapshot`` feeds the ``STATUS=`` line systemd shows, the periodic log line,
the MQTT ``stats`` topic and the optional Prometheus endpoint, so they always agree.
``WatchdogGate`` pings systemd's watchdog only while the pipeline makes progress:
a segmenter call that hangs for longer than ``hang_timeout_s`` stops the pings, and systemd
restarts the service after ``WatchdogSec=``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from edge_app.runtime.systemd import Notifier

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Upper bounds (seconds) of the inference latency histogram; +Inf is implied."""


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """Cumulative counts per upper bound ``le`` (seconds, the last is +Inf), as Prometheus
    expects; ``sum_s`` is the total of every observation."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_s: float

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` (0..1); None when empty."""
        if self.count == 0:
            return None
        rank = q * self.count
        for le, cumulative in self.buckets:
            if cumulative >= rank:
                return le
        return self.buckets[-1][0]


class LatencyHistogram:
    """Thread-safe fixed-bucket histogram of durations in seconds."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"histogram bounds must be increasing and unique, got {bounds}")
        self.bounds = (*bounds, float("inf"))
        self._counts = [0] * len(self.bounds)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            for i, le in enumerate(self.bounds):
                if seconds <= le:
                    self._counts[i] += 1
                    break
            self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            cumulative, total = [], 0
            for le, n in zip(self.bounds, self._counts, strict=True):
                total += n
                cumulative.append((le, total))
            return HistogramSnapshot(tuple(cumulative), total, self._sum)


class RecentMean:
    """Mean of the last ``size`` values (e.g. milliseconds per frame). Thread-safe."""

    def __init__(self, size: int = 256) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def mean(self) -> float:
        with self._lock:
            return sum(self._values) / len(self._values) if self._values else 0.0


class EventCounter:
    """Events handed to the sinks, by type, since start. Thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, event_type: str, n: int = 1) -> None:
        with self._lock:
            self._counts[event_type] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


class FpsMeter:
    """Analysed frames per second of one camera, over the interval between two reads."""

    def __init__(self, now: float) -> None:
        self.total = 0
        self._lock = threading.Lock()
        self._mark_total = 0
        self._mark_time = now
        self.fps = 0.0

    def count(self) -> None:
        with self._lock:
            self.total += 1

    def update(self, now: float) -> float:
        """Recompute ``fps`` from the frames counted since the last update."""
        with self._lock:
            dt = now - self._mark_time
            if dt > 0:
                self.fps = (self.total - self._mark_total) / dt
                self._mark_total, self._mark_time = self.total, now
            return self.fps


@dataclass(frozen=True, slots=True)
class CameraFigures:
    """One camera's health. ``online`` is None for a finite source (a file) or before a
    live camera's first frame or failure; counters are totals since start."""

    camera_id: str
    live: bool
    online: bool | None
    fps: float
    frames_processed: int
    frames_dropped: int
    frames_skipped: int
    reconnects: int


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """The event store's figures since start: ``events_lost`` (events not stored and never
    to be), ``states_dropped`` (frames whose zone states were dropped because the writer
    was behind), ``write_errors`` (commits the disk refused, each retried)."""

    events_lost: int = 0
    states_dropped: int = 0
    write_errors: int = 0


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Everything the daemon reports about itself at one moment.

    ``inference`` is the histogram of segmenter calls (seconds per batch);
    ``inference_ms`` the recent mean per frame; ``outbox_backlog`` the events not yet
    acknowledged by the MQTT broker (None when unknown); ``store`` the event store's
    figures; ``thread_restarts`` how often each worker thread started over after an
    unexpected error (``mqtt-outbox``, ``capture-CAMERA``, ``metrics``).
    """

    cameras: tuple[CameraFigures, ...]
    inference: HistogramSnapshot
    inference_ms: float
    batch_size: int
    events_by_type: Mapping[str, int] = field(default_factory=dict)
    outbox_backlog: int | None = None
    uptime_s: float = 0.0
    store: StoreFigures = field(default_factory=StoreFigures)
    thread_restarts: Mapping[str, int] = field(default_factory=dict)

    @property
    def cameras_up(self) -> int:
        return sum(1 for c in self.cameras if c.online is not False)

    @property
    def fps(self) -> float:
        return sum(c.fps for c in self.cameras)

    @property
    def frames_dropped(self) -> int:
        return sum(c.frames_dropped for c in self.cameras)

    def status_line(self) -> str:
        """The one line systemd shows: cameras up, fps, inference time, drops."""
        down = [c.camera_id for c in self.cameras if c.online is False]
        text = (
            f"{self.cameras_up}/{len(self.cameras)} cameras up, {self.fps:.1f} fps, "
            f"inference {self.inference_ms:.0f} ms/frame, {self.frames_dropped} dropped"
        )
        if down:
            text += f"; offline: {', '.join(down)}"
        if self.outbox_backlog:
            text += f"; outbox {self.outbox_backlog}"
        if self.store.events_lost:
            text += f"; {self.store.events_lost} events not stored"
        restarts = sum(self.thread_restarts.values())
        if restarts:
            text += f"; {restarts} thread restarts"
        return text


class WatchdogGate:
    """Pings the watchdog every ``interval_s / 2`` while the pipeline makes progress.

    ``interval_s`` is systemd's ``WatchdogSec`` (None: no watchdog, nothing is sent).
    Unhealthy means a stage of the stream runner has died, or its current segmenter (or
    analysis) call has run longer than ``hang_timeout_s``; the first unhealthy tick logs
    why and sets STATUS.
    """

    def __init__(self, notifier: Notifier, interval_s: float | None, hang_timeout_s: float) -> None:
        self.notifier = notifier
        self.interval_s = interval_s
        self.hang_timeout_s = hang_timeout_s
        self.pings = 0
        self.healthy = True
        self._last_ping: float | None = None

    def tick(self, now: float, busy_s: float, pipeline_alive: bool) -> bool:
        """Called every supervisor tick; True when a ping went out."""
        problem = None
        if not pipeline_alive:
            problem = "the pipeline has stopped"
        elif busy_s > self.hang_timeout_s:
            problem = f"the pipeline has been stuck for {busy_s:.0f} s"
        if problem is not None:
            if self.healthy:
                log.error("%s: no more watchdog pings (systemd will restart the service)", problem)
                self.notifier.status(f"unhealthy: {problem}")
            self.healthy = False
            return False
        if not self.healthy:
            log.info("inference is making progress again")
        self.healthy = True
        if self.interval_s is None:
            return False
        if self._last_ping is not None and now - self._last_ping < self.interval_s / 2:
            return False
        self._last_ping = now
        self.pings += 1
        return self.notifier.watchdog()
