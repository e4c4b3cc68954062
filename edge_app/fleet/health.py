"""The collector's health figures: one snapshot for STATUS, the log, MQTT and Prometheus.

Prometheus (``daemon.metrics``; needs prometheus-client), from the latest snapshot::

    edge_app_collector_messages_received_total        messages taken from the broker
    edge_app_collector_events_stored_total            events inserted (each once)
    edge_app_collector_events_duplicate_total         events already stored (resends)
    edge_app_collector_seq_conflicts_total            a different event with a stored seq
    edge_app_collector_messages_invalid_total         messages that could not be parsed
    edge_app_collector_states_total                   zone states stored
    edge_app_collector_seq_gaps_total                 seq gaps declared lost
    edge_app_collector_events_missing_total           events in those gaps
    edge_app_collector_database_errors_total          failed batch commits (retried)
    edge_app_collector_commit_seconds                 histogram of batch commits
    edge_app_collector_queue                          received, not yet committed
    edge_app_collector_mqtt_connected                 1 connected, 0 not
    edge_app_collector_database_ok                    0 while commits fail
    edge_app_collector_uptime_seconds
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from edge_app.core.errors import ConfigError
from edge_app.fleet.ingest import WriteResult
from edge_app.runtime.health import HistogramSnapshot, LatencyHistogram

log = logging.getLogger(__name__)

_COUNTERS = {
    "messages_received": "Messages taken from the broker",
    "events_stored": "Events inserted into the central database (each once)",
    "events_duplicate": "Events that were already stored (resent or redelivered)",
    "seq_conflicts": "Events refused because their device already stored that seq",
    "messages_invalid": "Messages that could not be parsed or stored (acknowledged)",
    "states": "Zone states stored",
    "seq_gaps": "Seq gaps declared lost after the grace time",
    "events_missing": "Events in the declared gaps",
    "database_errors": "Batch commits that failed and were retried",
}


@dataclass(frozen=True, slots=True)
class CollectorSnapshot:
    """The collector's counters (totals since start) and state at one moment."""

    collector: str
    messages_received: int
    events_stored: int
    events_duplicate: int
    seq_conflicts: int
    messages_invalid: int
    states: int
    seq_gaps: int
    events_missing: int
    database_errors: int
    batches: int
    queue: int
    mqtt_connected: bool
    mqtt_reconnects: int
    database_ok: bool
    uptime_s: float
    commit: HistogramSnapshot

    def status_line(self) -> str:
        text = (
            f"MQTT {'up' if self.mqtt_connected else 'down'}, database "
            f"{'ok' if self.database_ok else 'failing'}; {self.events_stored} events stored, "
            f"{self.events_duplicate} duplicates, queue {self.queue}"
        )
        if self.seq_gaps:
            text += f"; {self.seq_gaps} seq gaps ({self.events_missing} events lost)"
        return text

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        p95 = self.commit.quantile(0.95)
        data["commit"] = {"count": self.commit.count, "p95_s": p95}
        return data


class CollectorStats:
    """Counters updated by the writer thread, read by the supervisor. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self.batches = 0
        self.database_ok = True
        self.commit = LatencyHistogram()

    def received(self, n: int) -> None:
        with self._lock:
            self._counts["messages_received"] += n

    def invalid(self, n: int = 1) -> None:
        with self._lock:
            self._counts["messages_invalid"] += n

    def committed(self, result: WriteResult, seconds: float | None) -> None:
        """A batch (or a gap sweep: ``seconds`` None, not timed) was committed."""
        if seconds is not None:
            self.commit.observe(seconds)
        with self._lock:
            self.batches += 1
            self.database_ok = True
            c = self._counts
            c["events_stored"] += result.inserted
            c["events_duplicate"] += result.duplicates
            c["seq_conflicts"] += result.seq_conflicts
            c["states"] += result.states
            c["seq_gaps"] += len(result.gaps)
            c["events_missing"] += sum(g.missing for g in result.gaps)

    def failed(self) -> None:
        with self._lock:
            self._counts["database_errors"] += 1
            self.database_ok = False

    def snapshot(
        self, collector: str, queue: int, connected: bool, reconnects: int, uptime_s: float
    ) -> CollectorSnapshot:
        with self._lock:
            counts = dict(self._counts)
            batches, ok = self.batches, self.database_ok
        return CollectorSnapshot(
            collector=collector,
            batches=batches,
            queue=queue,
            mqtt_connected=connected,
            mqtt_reconnects=reconnects,
            database_ok=ok,
            uptime_s=round(uptime_s, 1),
            commit=self.commit.snapshot(),
            **counts,
        )


class _Exporter:
    """A prometheus-client collector reading the latest snapshot at each scrape."""

    def __init__(self, provider: Callable[[], CollectorSnapshot | None]) -> None:
        self.provider = provider
        self._core = importlib.import_module("prometheus_client.core")

    def collect(self) -> Iterator[Any]:
        snap = self.provider()
        if snap is None:
            return
        core = self._core
        for name, help_text in _COUNTERS.items():
            yield core.CounterMetricFamily(
                f"edge_app_collector_{name}", help_text, value=getattr(snap, name)
            )
        hist = snap.commit
        yield core.HistogramMetricFamily(
            "edge_app_collector_commit_seconds",
            "Duration of one batch commit",
            buckets=[("+Inf" if le == float("inf") else repr(le), n) for le, n in hist.buckets],
            sum_value=hist.sum_s,
        )
        gauges = {
            "queue": ("Messages received and not yet committed", snap.queue),
            "mqtt_connected": ("1 while connected to the broker", float(snap.mqtt_connected)),
            "database_ok": ("0 while batch commits fail", float(snap.database_ok)),
            "uptime_seconds": ("Seconds since the collector started", snap.uptime_s),
        }
        for name, (help_text, value) in gauges.items():
            yield core.GaugeMetricFamily(f"edge_app_collector_{name}", help_text, value=value)


def start_metrics_server(
    host: str, port: int, provider: Callable[[], CollectorSnapshot | None]
) -> Callable[[], None]:
    """Serve ``/metrics`` on ``host:port``; returns the function that stops it."""
    try:
        prometheus = importlib.import_module("prometheus_client")
    except ImportError as exc:
        raise ConfigError(
            "(config)",
            "daemon.metrics.enabled",
            "the Prometheus endpoint needs prometheus-client, which is not installed",
            "pip install 'edge-app[metrics]', or set enabled: false",
        ) from exc
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(_Exporter(provider))
    try:
        server, thread = prometheus.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            "(config)",
            "daemon.metrics.port",
            f"cannot listen on {host}:{port}: {exc.strerror}",
            "choose a free port or another host address",
        ) from exc
    log.info("metrics: Prometheus endpoint on http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2.0)

    return stop
