"""The daemon left alone for months: sources that end, restarts, clocks, learned state.

Each test runs the daemon in this process (``App``) with the tiny ONNX person model and
asserts what a store would see afterwards in SQLite (and on MQTT where it matters).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_app.analytics.personsize import PersonSize
from edge_app.config import AppConfig, CameraConfig, load_config
from edge_app.config.zones import load_camera_zones
from edge_app.core.errors import EdgeAppError, SourceError
from edge_app.runtime.app import App
from edge_app.runtime.perspective_store import FORMAT, perspective_path
from edge_app.sinks.store import EventStore
from edge_app.sources import Source, create_source
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


# --- learned state survives a refused start ---------------------------------------------


def learned_file(config: AppConfig) -> Path:
    """A person-size file as an earlier run left it (a model with 40 samples)."""
    model = PersonSize()
    model.samples = 40
    path = perspective_path(config.store.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": FORMAT, "cameras": {"floor": model.state()}}))
    return path


def future_schema(config: AppConfig) -> None:
    EventStore.open(config.store.path).close()
    with sqlite3.connect(config.store.path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")


def garbage_database(config: AppConfig) -> None:
    config.store.path.write_bytes(b"not a database at all " * 200)


def camera_that_cannot_open(_config: AppConfig) -> None:
    pass  # see the source factory below


@pytest.mark.parametrize(
    "refusal", [future_schema, garbage_database, camera_that_cannot_open], ids=lambda f: f.__name__
)
def test_a_refused_start_leaves_the_learned_person_size_as_it_was(
    tmp_path: Path, refusal: Callable[[AppConfig], None]
) -> None:
    camera = synthetic_camera(tmp_path, duration_s=1.0)
    config = load_config(write_config(tmp_path, [camera]))
    path = learned_file(config)
    before = path.read_bytes()
    refusal(config)

    def make_source(cam: CameraConfig) -> Source:
        if refusal is camera_that_cannot_open:
            raise SourceError(f"camera {cam.id}: cannot be opened")
        return create_source(cam)

    app = App(config, load_camera_zones(config), make_source=make_source)
    try:
        with pytest.raises(EdgeAppError):
            app.start()
    finally:
        app.stop(1.0)
    assert path.read_bytes() == before


def test_a_run_saves_what_it_learned_privately_and_keeps_other_cameras(tmp_path: Path) -> None:
    camera = synthetic_camera(tmp_path, duration_s=2.0, people=3)
    config = load_config(write_config(tmp_path, [camera]))
    path = learned_file(config)
    other = json.loads(path.read_text())
    other["cameras"]["till"] = other["cameras"].pop("floor")  # a camera not in this run
    path.write_text(json.dumps(other))
    path.chmod(0o644)
    running = InProcessApp(App(config, load_camera_zones(config)))
    assert running.ended.wait(60)
    running.finish()
    saved = json.loads(path.read_text())
    assert set(saved["cameras"]) == {"floor", "till"}
    assert saved["cameras"]["till"] == other["cameras"]["till"]
    assert path.stat().st_mode & 0o777 == 0o600
