"""What each camera learned (person size, scene) kept across the daemon's restarts."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_app.runtime.learned_state import LearnedStateStore, learned_state_dir
from tests.conftest import REPO
from tests.daemon_support import WHOLE_FRAME, write_config, write_zones


def test_store_round_trip_private_files_missing_and_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "var" / "edge-app.db"
    store = LearnedStateStore.beside(db)
    assert store.folder == learned_state_dir(db) == tmp_path / "var" / "edge-app.learned"
    assert store.load("door") == {}
    store.save("door", {"person_size": {"samples": 20}, "background": {"version": 1}})
    assert store.load("door") == {"person_size": {"samples": 20}, "background": {"version": 1}}
    path = store.path("door")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a picture of the shop
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in store.folder.iterdir()) == ["door.json"]
    path.write_text("{not json")
    assert store.load("door") == {}
    path.write_text(json.dumps({"format": "something else", "learned": {}}))
    assert store.load("door") == {}


def test_store_reads_the_person_sizes_of_earlier_versions(tmp_path: Path) -> None:
    db = tmp_path / "edge-app.db"
    legacy = {"format": "edge-app person size", "cameras": {"door": {"samples": 7}}}
    (tmp_path / "edge-app.person-size.json").write_text(json.dumps(legacy))
    store = LearnedStateStore.beside(db)
    assert store.load("door") == {"person_size": {"samples": 7}}
    assert store.load("till") == {}
    store.save("door", {"person_size": {"samples": 9}})
    assert store.load("door") == {"person_size": {"samples": 9}}  # its own file wins


W, H, FPS = 320, 240, 10.0


def shop_video(path: Path, frames: int) -> Path:
    """A textured floor with one dark figure walking across, standing first (MJPG)."""
    rng = np.random.default_rng(2)
    floor = cv2.resize(rng.integers(90, 170, (12, 16, 3)).astype(np.uint8), (W, H))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (W, H))
    try:
        for i in range(frames):
            image = floor.copy()
            x = 40 + 4 * i
            cv2.rectangle(image, (x, 80), (x + 20, 200), (40, 30, 30), -1)
            writer.write(image)
    finally:
        writer.release()
    return path


def events_of(db: Path) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT payload FROM events ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_a_restart_with_the_saved_scene_counts_at_once(tmp_path: Path) -> None:
    # The first run starts cold: its first bootstrap_s seconds are counted from the
    # provisional model and every event of them says warming_up. It saves the scene when
    # the file ends; the second run starts from it and nothing it reports is warming up.
    video = shop_video(tmp_path / "cam.avi", 60)
    zones = write_zones(tmp_path / "cam.yaml", "cam", {"all": WHOLE_FRAME})
    source = {"type": "file", "path": str(video)}
    config = write_config(tmp_path, [{"id": "cam", "source": source, "zones": str(zones)}])
    data = yaml.safe_load(config.read_text())
    data["segmenter"] = {"type": "background", "bootstrap_s": 2.0}
    config.write_text(yaml.safe_dump(data))
    db = tmp_path / "var" / "edge-app.db"
    seen = 0
    warming = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "edge_app", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        events = events_of(db)[seen:]
        seen += len(events)
        zone_events = [e for e in events if e["zone"] is not None]
        assert zone_events
        warming.append([bool(e.get("warming_up")) for e in zone_events])
    saved = json.loads((tmp_path / "var" / "edge-app.learned" / "cam.json").read_text())
    assert set(saved["learned"]) == {"person_size", "background"}
    assert warming[0][0] and not warming[0][-1]
    assert not any(warming[1])


@pytest.mark.parametrize("moved", [False, True])
def test_the_daemon_checks_the_saved_scene_against_the_camera(tmp_path: Path, moved: bool) -> None:
    # A saved scene of another view (the camera was moved while the daemon was down) is
    # not used: that start is cold, and says so.
    video = shop_video(tmp_path / "cam.avi", 30)
    zones = write_zones(tmp_path / "cam.yaml", "cam", {"all": WHOLE_FRAME})
    source = {"type": "file", "path": str(video)}
    config = write_config(tmp_path, [{"id": "cam", "source": source, "zones": str(zones)}])
    data = yaml.safe_load(config.read_text())
    data["segmenter"] = {"type": "background", "bootstrap_s": 2.0}
    config.write_text(yaml.safe_dump(data))
    store = LearnedStateStore.beside(tmp_path / "var" / "edge-app.db")
    capture = cv2.VideoCapture(str(video))
    ok, first = capture.read()
    capture.release()
    assert ok
    from datetime import datetime, timezone

    from edge_app.config import BackgroundSegmenterConfig
    from edge_app.core.domain import Frame
    from edge_app.segmentation.background import BackgroundSegmenter

    empty = np.array(first)
    empty[:, 30:70] = cv2.resize(first[:, 90:130], (40, H))  # the figure's first place
    view = np.roll(empty, (15, 20), axis=(0, 1)) if moved else empty
    learner = BackgroundSegmenter(BackgroundSegmenterConfig(bootstrap_s=1.0))
    wall = datetime.now(timezone.utc)
    for i in range(15):
        learner.segment([Frame("cam", i, i / FPS, wall, view)])
    store.save("cam", {"background": learner.state("cam")})
    result = subprocess.run(
        [sys.executable, "-m", "edge_app", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    zone_events = [e for e in events_of(tmp_path / "var" / "edge-app.db") if e["zone"]]
    assert zone_events
    assert bool(zone_events[0].get("warming_up")) == moved
