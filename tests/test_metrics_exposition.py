"""The Prometheus exposition: base units, build info, process start time, and what
``promtool check metrics`` says about it (where promtool is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_app import __version__
from edge_app.runtime.health import CameraFigures, HealthSnapshot, HistogramSnapshot
from edge_app.runtime.metrics import metrics_registry

prometheus = pytest.importorskip("prometheus_client", reason="pip install 'edge-app[metrics]'")


def _snapshot() -> HealthSnapshot:
    cameras = (
        CameraFigures("floor", True, True, 9.5, 1200, 12, 3, 1),
        CameraFigures("door", True, False, 0.0, 40, 0, 0, 4),
    )
    buckets = ((0.05, 10), (0.1, 30), (0.25, 39), (float("inf"), 40))
    return HealthSnapshot(
        cameras=cameras,
        inference=HistogramSnapshot(buckets, 40, 3.2),
        inference_ms=48.0,
        batch_size=2,
        events_by_type={"zone.enter": 12, "camera.online": 2},
        outbox_backlog=3,
        uptime_s=125.0,
    )


@pytest.fixture(scope="module")
def exposition() -> str:
    registry = metrics_registry(prometheus, _snapshot)
    return str(prometheus.generate_latest(registry).decode())


def promtool() -> str:
    """promtool from PATH or beside this Python (scripts/setup.sh puts it in .venv/bin)."""
    found = shutil.which("promtool") or shutil.which(
        "promtool", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.skip(
            "promtool is not installed: scripts/test.sh extracts it from Debian's prometheus "
            "package into .venv/bin (or: apt-get install prometheus)"
        )
    return found


def test_figures_are_in_base_units_with_build_info_and_start_time(exposition: str) -> None:
    assert "edge_app_inference_frame_seconds 0.048" in exposition
    assert "milliseconds" not in exposition
    assert 'edge_app_build_info{python="' in exposition
    assert f'version="{__version__}"}} 1.0' in exposition
    if sys.platform.startswith("linux"):
        start = next(
            line
            for line in exposition.splitlines()
            if line.startswith("process_start_time_seconds")
        )
        assert float(start.split()[1]) > 1.6e9  # a Unix time, not an uptime
    assert 'edge_app_camera_frames_processed_total{camera="floor"} 1200.0' in exposition
    assert 'edge_app_inference_batch_seconds_bucket{le="+Inf"} 40.0' in exposition


def test_promtool_finds_nothing_to_say(exposition: str) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "LANG": "C"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
