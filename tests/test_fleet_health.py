"""The collector's health figures: counters from committed batches, the status line, and
the Prometheus endpoint (promtool-clean names when promtool is installed)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest

from edge_app.fleet.health import CollectorStats, start_metrics_server
from edge_app.fleet.ingest import GapAlert, WriteResult
from tests.mqtt_broker import free_port


def test_counters_and_status_follow_the_batches() -> None:
    stats = CollectorStats()
    stats.received(12)
    stats.invalid()
    stats.committed(WriteResult(inserted=9, duplicates=2, states=3), 0.02)
    stats.failed()
    gap = GapAlert("store-1", 5, 7, 0.0)
    stats.committed(WriteResult(gaps=[gap]), None)
    snap = stats.snapshot("collector-1", queue=4, connected=True, reconnects=1, uptime_s=3.0)
    assert (snap.messages_received, snap.events_stored, snap.events_duplicate) == (12, 9, 2)
    assert (snap.seq_gaps, snap.events_missing, snap.database_errors) == (1, 3, 1)
    assert snap.database_ok and snap.commit.count == 1
    assert snap.status_line() == (
        "MQTT up, database ok; 9 events stored, 2 duplicates, queue 4; 1 seq gaps (3 events lost)"
    )


def test_the_prometheus_endpoint_serves_the_snapshot() -> None:
    pytest.importorskip("prometheus_client")
    stats = CollectorStats()
    stats.committed(WriteResult(inserted=5), 0.01)
    snap = stats.snapshot("c", queue=0, connected=False, reconnects=0, uptime_s=1.0)
    port = free_port()
    stop = start_metrics_server("127.0.0.1", port, lambda: snap)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    finally:
        stop()
    assert "edge_app_collector_events_stored_total 5.0" in text
    assert "edge_app_collector_mqtt_connected 0.0" in text
    assert 'edge_app_collector_commit_seconds_bucket{le="0.01"} 1.0' in text
    promtool = shutil.which("promtool")
    if promtool is not None:
        check = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout + check.stderr
