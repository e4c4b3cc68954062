"""Counting people when blobs merge: the perspective model, fragments, merges carried by
the tracker, and the learned model kept across restarts."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.analytics import AnalyzerParams, ZoneAnalyzer, ZoneRule
from edge_app.analytics.blobs import Blob
from edge_app.analytics.personsize import PersonSize
from edge_app.config import AnalyticsConfig
from edge_app.config.zones import parse_zones
from edge_app.core.domain import Frame, MaskMapping, PersonMask
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics


def blobs_of(rows: list[tuple[float, float, float, float, float]]) -> list[Blob]:
    return [Blob(*row) for row in rows]


def trained(min_samples: int = 10) -> PersonSize:
    """A model that has seen single people: 10x30 with feet at y=50, 20x60 at y=150."""
    ps = PersonSize(min_samples=min_samples)
    ps.learn(blobs_of([(0, 20, 10, 30, 300), (50, 90, 20, 60, 1200)] * 10), frame_height=200)
    return ps


# --- the perspective model ---------------------------------------------------------------


def test_height_is_learned_along_with_area() -> None:
    ps = trained()
    heights = [ps.expected_height(y) for y in (50.0, 100.0, 150.0)]
    assert heights == pytest.approx([30, 45, 60])


def test_pairs_in_single_file_do_not_inflate_a_ready_model() -> None:
    ps = trained()
    before = ps.expected_area(150.0)
    # Person-shaped (tall) but twice the area: two people one behind the other.
    ps.learn(blobs_of([(50, 90, 20, 60, 2400)] * 50), frame_height=200)
    assert ps.expected_area(150.0) == pytest.approx(before)


def test_blobs_cut_by_the_frame_edge_are_not_learned() -> None:
    ps = PersonSize(min_samples=2)
    ps.learn(blobs_of([(0, 0, 10, 30, 300), (5, 170, 10, 30, 300)] * 5), frame_height=200)
    assert ps.samples == 0
    ps.learn(blobs_of([(0, 20, 10, 30, 300)]), frame_height=200, frame_width=100)
    assert ps.samples == 0  # touches the left edge


@pytest.mark.parametrize(
    ("area", "people"),
    [(1200, 1), (1900, 1), (2000, 2), (3600, 3), (100_000, 12)],
)
def test_split_threshold_and_cap(area: float, people: int) -> None:
    # split_at 0.65: a second person needs 1.65 people's area (1980 px at y=150).
    ps = trained()
    assert ps.people_per_blob(blobs_of([(50, 90, 60, 60, area)])) == [people]


def test_stacked_fragments_of_one_person_are_joined() -> None:
    ps = trained()
    # Torso (y 90..120) and legs (y 125..150) of one near person, and a far person apart.
    parts = blobs_of([(50, 90, 20, 30, 500), (52, 125, 16, 25, 350), (150, 20, 10, 30, 300)])
    joined = ps.join_fragments(parts)
    assert len(joined) == 2
    assert sorted((b.y, b.h, b.area) for b in joined) == [
        (20.0, 30.0, 300.0),
        (90.0, 60.0, 850.0),
    ]
    # Two people standing one above the other in the picture (near and far) stay apart:
    # together they are far taller than one person at the lower one's row.
    apart = blobs_of([(50, 90, 20, 60, 1200), (52, 10, 10, 30, 300)])
    assert len(ps.join_fragments(apart)) == 2


def test_state_round_trip_through_json_and_bad_states() -> None:
    ps = trained()
    other = PersonSize()
    other.restore(json.loads(json.dumps(ps.state())))
    assert other.ready == ps.ready or other.samples == ps.samples
    assert other.expected_height(120.0) == ps.expected_height(120.0)
    for bad in ({}, {"version": 1}, {**ps.state(), "side": [1, 2]}, {**ps.state(), "version": 9}):
        with pytest.raises(ValueError, match="person-size state"):
            PersonSize().restore(bad)


# --- merges carried by the tracker -------------------------------------------------------

W, H = 200, 100
MAPPING = MaskMapping.stretch((W, H), (W, H))


def scene(people: list[tuple[int, int]]) -> PersonMask:
    """6x20 people with feet at (x, y); people closer than 6 px merge into one blob."""
    m = np.zeros((H, W), np.uint8)
    for x, y in people:
        m[y - 20 : y, x - 3 : x + 3] = 1
    return PersonMask(m, MAPPING)


def analyzer(carry_s: float) -> ZoneAnalyzer:
    rule = ZoneRule("all", np.array([[0, 0], [W, 0], [W, H], [0, H]], float), 0.0, 0.0)
    params = AnalyzerParams(
        analysis_max_side=W, min_blob_area_frac=0.001, track_max_merge_s=carry_s
    )
    za = ZoneAnalyzer("cam", [rule], params)
    za.size_model = PersonSize(min_samples=5)
    return za


def walk_behind(za: ZoneAnalyzer, stop_at: int | None = None, frames: int = 32) -> list[int]:
    """A stands at x=100; B walks right from x=40 at 20 px/s (2 px a frame) and passes
    behind A (or stops behind A at ``stop_at``). Returns the count of each frame."""
    counts = []
    for k in range(frames):
        x = 40 + 2 * k if stop_at is None else min(40 + 2 * k, stop_at)
        counts.append(za.update(scene([(100, 80), (x, 80)]), k * 0.1).states[0].count)
    return counts


@pytest.mark.parametrize(("carry_s", "hidden_counts"), [(3.0, [2, 2, 2]), (0.0, [1, 1, 1])])
def test_a_person_passing_behind_another_is_still_counted(
    carry_s: float, hidden_counts: list[int]
) -> None:
    za = analyzer(carry_s)
    counts = walk_behind(za)
    # Frames 29-31 put B at x = 98, 100, 102: one blob of one or 1.33 people's area.
    assert counts[:29] == [2] * 29
    assert counts[29:32] == hidden_counts
    if carry_s:
        # Out the other side as the same two people.
        za2 = analyzer(carry_s)
        walk_behind(za2, frames=40)
        assert sorted(tr.id for tr in za2.tracks) == [1, 2]


def test_carrying_stops_after_max_merge_s() -> None:
    za = analyzer(carry_s=0.5)
    # B stops right behind A at frame 30 (t = 3.0 s) and stays hidden.
    counts = walk_behind(za, stop_at=100, frames=45)
    assert counts[29:34] == [2] * 5  # carried for 0.5 s after B was last seen (t=2.9)
    assert counts[-1] == 1


# --- kept across restarts ----------------------------------------------------------------


ZONES = parse_zones(
    {
        "camera": "cam",
        "frame_size": [W, H],
        "zones": [{"id": "all", "polygon": [[0, 0], [W, 0], [W, H], [0, H]]}],
    },
    Path("cam.yaml"),
)


def test_camera_analytics_restores_and_returns_the_learned_size() -> None:
    state = trained().state()
    cam = CameraAnalytics("cam", ZONES, AnalyticsConfig(), EventStamper("d"), size_state=state)
    assert cam.size_state() is None  # before the first frame nothing was learned
    frame = Frame("cam", 0, 0.0, datetime.now(timezone.utc), np.zeros((H, W, 3), np.uint8))
    cam.process(frame, scene([(100, 80)]))
    assert cam.analyzer is not None and cam.analyzer.size_model.samples >= 20
    restored = cam.size_state()
    assert restored is not None and restored["samples"] >= 20


def test_camera_analytics_ignores_a_bad_saved_size(caplog: pytest.LogCaptureFixture) -> None:
    cam = CameraAnalytics("cam", ZONES, AnalyticsConfig(), EventStamper("d"), size_state={"x": 1})
    frame = Frame("cam", 0, 0.0, datetime.now(timezone.utc), np.zeros((H, W, 3), np.uint8))
    cam.process(frame, scene([(100, 80)]))
    assert "saved person size ignored" in caplog.text


def test_a_person_standing_still_is_one_sample_not_one_per_frame() -> None:
    # Someone standing at a shelf for minutes, seen alone, must not outweigh the people
    # who walk past: the same box in the next frame is not learned again.
    ps = PersonSize(min_samples=5)
    stander = Blob(10.0, 20.0, 10.0, 30.0, 300.0)
    for _ in range(50):
        ps.learn([stander], frame_height=200)
    assert ps.samples == 1
    for step in range(50):  # a walker: a new box every frame
        ps.learn([stander, Blob(50.0 + step, 90.0, 20.0, 60.0, 1200.0)], frame_height=200)
    assert ps.samples == 51
    assert ps.ready and round(ps.expected_height(150.0)) == 60


def test_the_daemon_keeps_the_learned_size_across_restarts(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    from tests.conftest import REPO
    from tests.daemon_support import WHOLE_FRAME, make_video, write_config, write_zones
    from tests.fakes.onnx_models import bright_person_model

    video = make_video(tmp_path / "cam.avi", 40)
    zones = write_zones(tmp_path / "cam.yaml", "cam", {"all": WHOLE_FRAME})
    source = {"type": "file", "path": str(video)}
    config = write_config(tmp_path, [{"id": "cam", "source": source, "zones": str(zones)}])
    # A 64x48 mask: fine enough, and the frame's aspect, so the walker keeps its shape.
    data = yaml.safe_load(config.read_text())
    data["segmenter"]["model"] = str(bright_person_model(tmp_path / "p64.onnx", size=(48, 64)))
    data["segmenter"]["preprocess"]["infer_dims"] = [3, 48, 64]
    config.write_text(yaml.safe_dump(data))
    saved = tmp_path / "var" / "edge-app.learned" / "cam.json"
    samples = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "edge_app", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        samples.append(json.loads(saved.read_text())["learned"]["person_size"]["samples"])
    # One walker, seen whole as it moves: learned in the first run, and the second run
    # starts from there instead of from nothing.
    assert samples[0] >= 5
    assert samples[1] >= 2 * samples[0]
