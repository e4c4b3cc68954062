"""The daemon left alone for months: sources that end, restarts, clocks, learned state.

Each test runs the daemon in this process (``App``) with the tiny ONNX person model and
asserts what a store would see afterwards in SQLite (and on MQTT where it matters).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy
import yaml

from edge_app.analytics.personsize import PersonSize
from edge_app.config import AppConfig, CameraConfig, load_config
from edge_app.config.zones import load_camera_zones
from edge_app.core.domain import Frame
from edge_app.core.errors import EdgeAppError, SourceError
from edge_app.runtime.app import App
from edge_app.runtime.learned_state import LearnedStateStore
from edge_app.sinks.store import EventStore
from edge_app.sources import Source, create_source
from tests.daemon_support import (
    WHOLE_FRAME,
    InProcessApp,
    make_video,
    person_frame,
    wait_until,
    write_config,
    write_zones,
)
from tests.test_daemon_signals import events


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


def learned_file(config: AppConfig, camera: str = "floor") -> Path:
    """A camera's learned-state file as an earlier run left it (a person size of 40
    samples)."""
    model = PersonSize()
    model.samples = 40
    store = LearnedStateStore.beside(config.store.path)
    store.save(camera, {"person_size": model.state()})
    return store.path(camera)


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
    other = learned_file(config, "till")  # a camera not in this run
    before = other.read_bytes()
    running = InProcessApp(App(config, load_camera_zones(config)))
    assert running.ended.wait(60)
    running.finish()
    saved = LearnedStateStore.beside(config.store.path)
    assert "person_size" in saved.load("floor")
    assert saved.path("floor").stat().st_mode & 0o777 == 0o600
    assert other.read_bytes() == before


# --- a camera whose clock restarts at every connection ------------------------------------


class RestartingCamera:
    """A live camera (a test double of the ``Source`` protocol) whose timestamps start at
    0 on every connection, paced at 10 fps: the first connection shows a person who
    leaves before it ends, the later ones an empty floor."""

    live = True

    def __init__(self, connection: int, frames: int, person_frames: int) -> None:
        self.camera_id = "door"
        self.connection = connection
        self.frames_count = frames
        self.person_frames = person_frames if connection == 0 else 0
        self._stop = threading.Event()

    def frames(self) -> Iterator[Frame]:
        for i in range(self.frames_count):
            if self._stop.wait(0.1):
                return
            image = person_frame(i) if i < self.person_frames else np.zeros((120, 160, 3), np.uint8)
            yield Frame("door", i, 0.1 * i, datetime.now(timezone.utc), image)
        raise SourceError("camera door: the stream ended")

    def close(self) -> None:
        self._stop.set()


def test_a_camera_clock_that_restarts_keeps_one_clock_and_frees_the_zone_on_time(
    tmp_path: Path,
) -> None:
    zones = write_zones(tmp_path / "door.yaml", "door", {"all": WHOLE_FRAME})
    camera = {"id": "door", "source": {"type": "rtsp", "url": "rtsp://127.0.0.1:9/x"}}
    path = write_config(
        tmp_path,
        [{**camera, "zones": str(zones)}],
        daemon={"reconnect_min_s": 0.2, "reconnect_max_s": 0.2, "stall_timeout_s": 5},
    )
    data = yaml.safe_load(path.read_text())
    data["analytics"] = {"enter_after_s": 0.0, "exit_after_s": 1.0}
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    connections = iter(range(100))

    def make_source(_cam: CameraConfig) -> Source:
        # 1.5 s with the person leaving at 1.0 s (freed at 2.0 s, after the stream ended),
        # then connections of 2 s each whose clock starts at 0 again.
        return RestartingCamera(next(connections), frames=15, person_frames=10)

    db = config.store.path

    def kinds() -> list[str]:
        return [kind for _, kind, _, _, _ in events(db)]

    running = InProcessApp(App(config, load_camera_zones(config), make_source=make_source))
    try:  # until the second connection has ended too
        assert wait_until(lambda: kinds().count("camera.offline") >= 2, 30)
    finally:
        running.finish()
    stored = events(db)
    door = [(seq, kind, payload["t"]) for seq, kind, _, payload, _ in stored]
    online = [t for _, kind, t in door if kind == "camera.online"]
    offline = [t for _, kind, t in door if kind == "camera.offline"]
    assert len(online) >= 2 and offline  # it went away and came back
    # One clock for every event of the camera, in the order they were produced (only an
    # exit is dated back, to when the visitor was last seen).
    times = [t for _, kind, t in door if kind != "zone.exit"]
    assert times == sorted(times), door
    # Nobody since 1.0 s: the zone is freed once 1 s has passed on that clock, during the
    # second connection, not once the restarted clock has caught up with the old one.
    freed = [
        p["t"] for _, kind, _, p, _ in stored if kind == "zone.occupancy" and not p["occupied"]
    ]
    assert len(freed) == 1, door
    assert max(2.0, online[1]) <= freed[0] <= offline[1], door


# --- nothing fails silently ---------------------------------------------------------------


class BrokenFile:
    """A file camera (finite) whose reader hits a bug after a few frames."""

    live = False

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id

    def frames(self) -> Iterator[Frame]:
        for i in range(5):
            yield Frame(self.camera_id, i, 0.1 * i, datetime.now(timezone.utc), person_frame(i))
        raise RuntimeError("decoder state corrupted")

    def close(self) -> None:
        pass


def test_a_capture_thread_that_fails_stops_the_daemon_with_an_error(tmp_path: Path) -> None:
    camera = synthetic_camera(tmp_path, duration_s=1.0)
    config = load_config(write_config(tmp_path, [camera]))
    app = App(config, load_camera_zones(config), make_source=lambda cam: BrokenFile(cam.id))
    running = InProcessApp(app)
    try:
        assert running.ended.wait(30)
    finally:
        running.finish()
    # Not "all sources ended" with exit 0: the run fails, the watchdog stops.
    assert isinstance(running.error, EdgeAppError)
    assert "RuntimeError: decoder state corrupted" in str(running.error)
    assert not app.healthy_stop
    assert app.health.events.snapshot()  # the frames before it were analysed


def test_a_writer_thread_that_fails_stops_the_daemon_with_an_error(tmp_path: Path) -> None:
    video = make_video(tmp_path / "walk.avi", frames=40)
    zones = write_zones(tmp_path / "floor.yaml", "floor", {"all": WHOLE_FRAME})
    source = {"type": "file", "path": str(video), "realtime": True, "loop": True}
    config = load_config(
        write_config(tmp_path, [{"id": "floor", "source": source, "zones": str(zones)}])
    )
    app = App(config, load_camera_zones(config))
    running = InProcessApp(app)
    try:
        (sink,) = app.sinks

        def bug(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
                raise TypeError("a bug in the writer")

        sqlalchemy.event.listen(sink.store.engine, "before_cursor_execute", bug)  # type: ignore[attr-defined]
        assert running.ended.wait(30)  # the supervisor stops the daemon
    finally:
        running.finish(drain_timeout_s=2.0)
    assert isinstance(running.error, EdgeAppError)
    assert "event store writer failed: TypeError: a bug in the writer" in str(running.error)
    assert not app.healthy_stop


def refusing_writes(store: EventStore) -> threading.Event:
    """While the returned event is set, every write to ``store`` fails as on a full disk
    (SQLite's own error, raised where the driver would raise it)."""
    full = threading.Event()

    def refuse(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if full.is_set() and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", refuse)
    return full


def test_a_disk_that_fills_and_frees_loses_nothing_and_a_stop_while_full_fails_the_run(
    tmp_path: Path,
) -> None:
    video = make_video(tmp_path / "walk.avi", frames=40)
    zones = write_zones(tmp_path / "floor.yaml", "floor", {"all": WHOLE_FRAME})
    source = {"type": "file", "path": str(video), "realtime": True, "loop": True}
    config = load_config(
        write_config(tmp_path, [{"id": "floor", "source": source, "zones": str(zones)}])
    )
    app = App(config, load_camera_zones(config))
    running = InProcessApp(app)
    try:
        (sink,) = app.sinks
        full = refusing_writes(sink.store)  # type: ignore[attr-defined]
        assert wait_until(lambda: len(events(config.store.path)) >= 3, 20)
        full.set()  # the disk is full: commits are refused and retried
        assert wait_until(lambda: app.health_snapshot().store.write_errors >= 2, 20)
        stored = len(events(config.store.path))
        full.clear()  # space is freed: the writer gets going again
        assert wait_until(lambda: len(events(config.store.path)) > stored + 3, 30)
        assert app.health_snapshot().store.events_lost == 0
        assert running.error is None and app.watchdog.healthy

        full.set()  # full again, and the daemon stops meanwhile
        errors = app.health_snapshot().store.write_errors
        assert wait_until(lambda: app.health_snapshot().store.write_errors > errors, 20)
    finally:
        running.finish(drain_timeout_s=2.0)
    assert running.error is None
    assert not app.healthy_stop  # events were lost: the exit status says so
    seqs = [seq for seq, *_ in events(config.store.path)]
    assert seqs == list(range(1, len(seqs) + 1))  # what was stored has no hole
