"""The daemon's supervisor: what its main thread does between ``App.start`` and ``App.stop``.

Every tick (several per stall timeout) it acts on a zone reload request, looks for
stalled cameras, ends on a sink that failed, checks the metrics server and pings systemd's
watchdog only while the pipeline makes progress; on its schedule it reports health. It
reads the daemon's parts afresh at every tick (``Supervised``), as the daemon holds them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from edge_app.config import AppConfig
from edge_app.pipeline.runner import StreamRunner
from edge_app.runtime.camera import CameraParts
from edge_app.runtime.health import WatchdogGate
from edge_app.runtime.metrics import MetricsServer
from edge_app.sinks.base import Sink

_SUPERVISOR_TICK_S = 0.5  # the longest the supervisor sleeps between its checks


class Supervised(Protocol):
    """What the supervisor reads of the daemon (``runtime.app.App``)."""

    @property
    def config(self) -> AppConfig: ...
    @property
    def stop_event(self) -> threading.Event: ...
    @property
    def reload_event(self) -> threading.Event: ...
    @property
    def cameras(self) -> Mapping[str, CameraParts]: ...
    @property
    def sinks(self) -> Sequence[Sink]: ...
    @property
    def metrics(self) -> MetricsServer | None: ...
    @property
    def watchdog(self) -> WatchdogGate: ...

    def reload_zones(self) -> bool: ...


def supervise(app: Supervised, runner: StreamRunner, report: Callable[[bool], None]) -> str | None:
    """Supervise until a stop, until ``runner`` has finished (every finite source ended),
    or until a sink fails: then returns that failure (fatal: no more watchdog pings).
    ``report(log_it)`` reports health, logging it too when the log's interval is due."""
    daemon = app.config.daemon
    # Several looks per stall timeout, so a stalled camera is noticed close to it.
    tick = min(_SUPERVISOR_TICK_S, daemon.stall_timeout_s / 4)
    next_report = time.monotonic() + daemon.status_interval_s
    next_log = time.monotonic() + (daemon.log_stats_interval_s or float("inf"))
    while not app.stop_event.is_set():
        now = time.monotonic()
        if app.reload_event.is_set():
            app.reload_event.clear()
            app.reload_zones()
        for cam in app.cameras.values():
            cam.capture.check_stall(now)
        if runner.finished.is_set():
            break  # before the watchdog: a runner done with its files is not a dead one
        sinks = [sink.health() for sink in app.sinks]
        failure = next((h.failure for h in sinks if h.failure), None)
        if failure is not None:
            return failure
        if app.metrics is not None:
            app.metrics.check()
        # Waiting for a full or slow disk is not a hang: the writer retries and says
        # so, and a restart would not bring the space back.
        waiting = max((h.waiting_s for h in sinks), default=0.0)
        busy = max(0.0, runner.busy_for(now) - waiting)
        app.watchdog.tick(now, busy, runner.alive)
        if now >= next_report:
            next_report = now + daemon.status_interval_s
            report(now >= next_log)
            if now >= next_log:
                next_log = now + daemon.log_stats_interval_s
        app.stop_event.wait(tick)
    return None
