"""An optional Prometheus endpoint (``daemon.metrics``; needs prometheus-client).

Serves, from the daemon's latest ``HealthSnapshot`` (the figures the MQTT ``stats`` topic
and ``systemctl status`` show too)::

    edge_app_camera_fps{camera}                      analysed frames per second
    edge_app_camera_online{camera}                   1 up (or a file), 0 offline
    edge_app_camera_frames_processed_total{camera}
    edge_app_camera_frames_dropped_total{camera}     stale frames replaced (latest-frame slot)
    edge_app_camera_frames_skipped_total{camera}     frames skipped by the camera's fps limit
    edge_app_camera_reconnects_total{camera}
    edge_app_inference_batch_seconds                 histogram of segmenter calls
    edge_app_inference_frame_seconds                 recent mean per frame
    edge_app_events_total{type}                      events handed to the sinks
    edge_app_outbox_backlog                          events not yet acknowledged by MQTT
    edge_app_events_lost_total                       events of this run not stored
    edge_app_zone_states_dropped_total               frames whose zone states were dropped
    edge_app_store_write_errors_total                commits the disk refused
    edge_app_thread_restarts_total{thread}           worker threads started over
    edge_app_uptime_seconds
    edge_app_build_info{version, python}             always 1

and prometheus-client's process collector (``process_start_time_seconds`` as a Unix time,
CPU seconds, resident memory, open files; Linux). Every figure is in base units (seconds,
bytes) and counters end in ``_total``, as ``promtool check metrics`` asks. A private
registry is used (no platform or GC collectors), and prometheus-client is imported only
when the endpoint is enabled, so the package works without it.
"""

from __future__ import annotations

import importlib
import logging
import platform
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from edge_app import __version__
from edge_app.core.backoff import Backoff
from edge_app.core.errors import ConfigError
from edge_app.runtime.health import HealthSnapshot

log = logging.getLogger(__name__)

SnapshotProvider = Callable[[], HealthSnapshot | None]
RESTART_BACKOFF = Backoff(1.0, 30.0)
"""Delays before the endpoint is served again after its thread died."""


def _prometheus() -> Any:
    try:
        return importlib.import_module("prometheus_client")
    except ImportError as exc:
        raise ConfigError(
            "(config)",
            "daemon.metrics.enabled",
            "the Prometheus endpoint needs prometheus-client, which is not installed",
            "pip install 'edge-app[metrics]', or set enabled: false",
        ) from exc


class SnapshotCollector:
    """A prometheus-client collector reading the daemon's latest snapshot at each scrape."""

    def __init__(self, provider: SnapshotProvider) -> None:
        self.provider = provider
        core = importlib.import_module("prometheus_client.core")
        self._gauge = core.GaugeMetricFamily
        self._counter = core.CounterMetricFamily
        self._histogram = core.HistogramMetricFamily

    def collect(self) -> Iterator[Any]:
        snap = self.provider()
        if snap is None:
            return
        per_camera = {
            "fps": self._gauge(
                "edge_app_camera_fps", "Analysed frames per second", labels=["camera"]
            ),
            "online": self._gauge(
                "edge_app_camera_online",
                "1 when the camera delivers frames (or is a file), 0 offline",
                labels=["camera"],
            ),
            "processed": self._counter(
                "edge_app_camera_frames_processed", "Frames analysed", labels=["camera"]
            ),
            "dropped": self._counter(
                "edge_app_camera_frames_dropped",
                "Stale frames replaced before inference took them",
                labels=["camera"],
            ),
            "skipped": self._counter(
                "edge_app_camera_frames_skipped",
                "Frames skipped by the camera's processing rate",
                labels=["camera"],
            ),
            "reconnects": self._counter(
                "edge_app_camera_reconnects",
                "Reconnect attempts of a live camera",
                labels=["camera"],
            ),
        }
        for cam in snap.cameras:
            label = [cam.camera_id]
            per_camera["fps"].add_metric(label, cam.fps)
            per_camera["online"].add_metric(label, 0.0 if cam.online is False else 1.0)
            per_camera["processed"].add_metric(label, cam.frames_processed)
            per_camera["dropped"].add_metric(label, cam.frames_dropped)
            per_camera["skipped"].add_metric(label, cam.frames_skipped)
            per_camera["reconnects"].add_metric(label, cam.reconnects)
        yield from per_camera.values()
        hist = snap.inference
        yield self._histogram(
            "edge_app_inference_batch_seconds",
            "Duration of one segmenter call (a batch across cameras)",
            buckets=[("+Inf" if le == float("inf") else repr(le), n) for le, n in hist.buckets],
            sum_value=hist.sum_s,
        )
        yield self._gauge(
            "edge_app_inference_frame_seconds",
            "Recent mean segmentation time per frame",
            value=snap.inference_ms / 1000.0,
        )
        events = self._counter("edge_app_events", "Events handed to the sinks", labels=["type"])
        for event_type, n in snap.events_by_type.items():
            events.add_metric([event_type], n)
        yield events
        if snap.outbox_backlog is not None:
            yield self._gauge(
                "edge_app_outbox_backlog",
                "Events stored but not yet acknowledged by the MQTT broker",
                value=snap.outbox_backlog,
            )
        store = snap.store
        for name, text, value in (
            ("edge_app_events_lost", "Events of this run not stored", store.events_lost),
            (
                "edge_app_zone_states_dropped",
                "Frames whose zone states were dropped (the store's writer was behind)",
                store.states_dropped,
            ),
            (
                "edge_app_store_write_errors",
                "Commits the disk refused (each is retried)",
                store.write_errors,
            ),
        ):
            yield self._counter(name, text, value=value)
        restarts = self._counter(
            "edge_app_thread_restarts",
            "Restarts of a worker thread after an unexpected error",
            labels=["thread"],
        )
        for thread, n in sorted(snap.thread_restarts.items()):
            restarts.add_metric([thread], n)
        yield restarts
        yield self._gauge(
            "edge_app_uptime_seconds", "Seconds since the daemon started", value=snap.uptime_s
        )
        build = self._gauge(
            "edge_app_build_info",
            "The running edge-app; always 1",
            labels=["version", "python"],
        )
        build.add_metric([__version__, platform.python_version()], 1.0)
        yield build


def metrics_registry(prometheus: Any, provider: SnapshotProvider) -> Any:
    """A private registry: the daemon's figures and the process collector."""
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(provider))
    prometheus.ProcessCollector(registry=registry)
    return registry


class MetricsServer:
    """The endpoint's HTTP server and its thread. ``check`` (every supervisor tick)
    restarts a server whose thread died, after a backoff, and counts it in ``restarts``:
    the endpoint never goes away quietly. ``stop`` ends it."""

    def __init__(
        self, host: str, port: int, registry: Any, backoff: Backoff = RESTART_BACKOFF
    ) -> None:
        self.host = host
        self.port = port
        self.restarts = 0
        self._registry = registry
        self._backoff = backoff
        self._server: Any = None
        self._thread: Any = None
        self._retry_at: float | None = None
        self._attempt = 0
        self._serve()

    def _serve(self) -> None:
        prometheus = _prometheus()
        try:
            self._server, self._thread = prometheus.start_http_server(
                self.port, addr=self.host, registry=self._registry
            )
        except OSError as exc:
            raise ConfigError(
                "(config)",
                "daemon.metrics.port",
                f"cannot listen on {self.host}:{self.port}: {exc.strerror}",
                "choose a free port or another host address",
            ) from exc

    @property
    def alive(self) -> bool:
        return self._thread is not None and bool(self._thread.is_alive())

    def check(self, now: float | None = None) -> bool:
        """Restart the server if its thread has died (after a backoff); True when it
        serves now."""
        if self.alive:
            self._attempt = 0
            return True
        now = time.monotonic() if now is None else now
        if self._retry_at is None:
            delay = self._backoff.delay(self._attempt, random.random())
            self._attempt += 1
            self._retry_at = now + delay
            log.error(
                "metrics: the Prometheus endpoint on %s:%d stopped; restarting it in %.1f s",
                self.host,
                self.port,
                delay,
            )
            self._close()
        if now < self._retry_at:
            return False
        self._retry_at = None
        self.restarts += 1
        try:
            self._serve()
        except ConfigError as exc:
            log.error("metrics: %s; trying again", exc)
            return False
        log.info("metrics: Prometheus endpoint on http://%s:%d/metrics again", self.host, self.port)
        return True

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2.0)

    def kill(self) -> None:
        """Stop serving as a crash would (for tests of ``check``)."""
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def stop(self) -> None:
        self._close()


def start_metrics_server(host: str, port: int, provider: SnapshotProvider) -> MetricsServer:
    """Serve ``/metrics`` on ``host:port`` in a thread; returns the server (``stop`` it).

    Raises ``ConfigError`` when prometheus-client is missing or the port cannot be bound.
    """
    prometheus = _prometheus()
    registry = metrics_registry(prometheus, provider)
    server = MetricsServer(host, port, registry)
    log.info("metrics: Prometheus endpoint on http://%s:%d/metrics", host, port)
    return server
