"""The daemon left alone for months: sources that end, restarts, clocks, learned state.

Each test runs the daemon in this process (``App``) with the tiny ONNX person model and
asserts what a store would see afterwards in SQLite (and on MQTT where it matters).
"""

from __future__ import annotations

from pathlib import Path

from edge_app.config import load_config
from edge_app.config.zones import load_camera_zones
from edge_app.runtime.app import App
from tests.daemon_support import WHOLE_FRAME, InProcessApp, write_config, write_zones


def synthetic_camera(tmp_path: Path, **source: object) -> dict[str, object]:
    zones = write_zones(tmp_path / "floor.yaml", "floor", {"all": WHOLE_FRAME})
    settings = {"type": "synthetic", "width": 192, "height": 128, "fps": 10, **source}
    return {"id": "floor", "source": settings, "zones": str(zones)}


def test_a_realtime_synthetic_camera_ends_after_its_duration(tmp_path: Path) -> None:
    camera = synthetic_camera(tmp_path, duration_s=1.0, realtime=True, people=2)
    config = load_config(write_config(tmp_path, [camera]))
    running = InProcessApp(App(config, load_camera_zones(config)))
    try:
        # Paced at 10 fps, 10 frames: it ends by itself, as a file does.
        assert running.ended.wait(30), "the synthetic camera never ended"
        assert running.error is None
        frames = running.app.health_snapshot().cameras[0].frames_processed
        assert frames == 10
    finally:
        running.finish()
    assert running.app.healthy_stop
