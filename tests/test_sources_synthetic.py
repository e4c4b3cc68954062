"""The synthetic shop camera: determinism, truth consistency, itineraries and its zone file."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edge_app.config import CameraConfig, SyntheticSourceConfig
from edge_app.sources import create_source
from edge_app.sources.file import FileSource
from edge_app.sources.synthetic.clip import write_clip
from edge_app.sources.synthetic.layout import STORE_LAYOUT
from edge_app.sources.synthetic.render import draw_person, person_shape
from edge_app.sources.synthetic.scene import PersonTruth, SyntheticSource, people_inside
from tests.conftest import REPO

ZONES_FILE = REPO / "zones" / "store-floor.yaml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def zone_file() -> dict[str, Any]:
    data = yaml.safe_load(ZONES_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def zone_polygons() -> dict[str, np.ndarray]:
    return {z["id"]: np.array(z["polygon"], dtype=np.float64) for z in zone_file()["zones"]}


@pytest.fixture(scope="module")
def default_run() -> tuple[SyntheticSource, list[list[PersonTruth]]]:
    """The truth of every frame of the default demo run (truth only: no pixels drawn)."""
    src = SyntheticSource("store-floor", SyntheticSourceConfig())
    return src, [src.truth(i) for i in range(src.frame_count)]


def stays(
    src: SyntheticSource, truths: list[list[PersonTruth]], polygon: np.ndarray
) -> dict[int, float]:
    """Each person's longest uninterrupted stay (seconds) with the foot inside ``polygon``."""
    since: dict[int, float] = {}
    longest: dict[int, float] = defaultdict(float)
    for index, people in enumerate(truths):
        t = src.time_of(index)
        inside = people_inside(people, polygon)
        since = {pid: since.get(pid, t) for pid in inside}
        for pid, t0 in since.items():
            longest[pid] = max(longest[pid], t - t0)
    return dict(longest)


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_truth() -> None:
    cfg = SyntheticSourceConfig(seed=3, duration_s=40, fps=5)
    a, b = SyntheticSource("s", cfg), SyntheticSource("s", cfg)
    for index in (0, 57, 123, 199):
        assert np.array_equal(a.render(index), b.render(index))
        assert a.truth(index) == b.truth(index)
    other = SyntheticSource("s", cfg.model_copy(update={"seed": 4}))
    assert any(a.truth(i) != other.truth(i) for i in range(0, 200, 10))
    assert not np.array_equal(a.render(150), other.render(150))


def test_frames_clock_size_and_truth_stream() -> None:
    cfg = SyntheticSourceConfig(duration_s=2.05, fps=10, width=320, height=180)
    src = SyntheticSource("store-floor", cfg)
    pairs = list(src.frames_with_truth())
    assert src.frame_count == len(pairs) == 21
    for index, (frame, truth) in enumerate(pairs):
        assert frame.index == index and frame.camera_id == "store-floor"
        assert frame.t == pytest.approx(index / 10)
        assert frame.size == (320, 180)
        assert (frame.wall - pairs[0][0].wall).total_seconds() == pytest.approx(frame.t)
        assert truth == src.truth(index)
        assert np.array_equal(frame.image, src.render(index))
    assert src.live is False
    # Paced or not, it ends after duration_s like a file: nothing reconnects it.
    assert SyntheticSource("x", cfg.model_copy(update={"realtime": True})).live is False


def test_close_stops_frames() -> None:
    src = SyntheticSource("s", SyntheticSourceConfig(duration_s=60, width=160, height=120))
    it = src.frames()
    next(it)
    src.close()
    src.close()
    assert list(it) == []


def test_a_clip_of_the_scene_reads_back_frame_for_frame(tmp_path: Path) -> None:
    cfg = SyntheticSourceConfig(duration_s=1.5, fps=10.0, width=320, height=180)
    clip = write_clip(SyntheticSource("shop", cfg), tmp_path / "clips" / "shop.avi")
    frames = list(FileSource("shop", clip).frames())
    assert len(frames) == 15
    assert frames[0].image.shape == (180, 320, 3)
    assert [round(f.t, 3) for f in frames[:3]] == [0.0, 0.1, 0.2]
    # Motion-JPEG is lossy: the picture is close to the rendered one, not equal.
    rendered = SyntheticSource("shop", cfg).render(5).astype(np.int16)
    assert np.abs(frames[5].image.astype(np.int16) - rendered).mean() < 4.0


def test_factory_builds_the_synthetic_source() -> None:
    camera = CameraConfig(
        id="store-floor", source=SyntheticSourceConfig(duration_s=1), zones=ZONES_FILE
    )
    src = create_source(camera)
    assert isinstance(src, SyntheticSource)
    assert src.camera_id == "store-floor"


# --- truth consistency -------------------------------------------------------------------


def test_truth_boxes_feet_and_visibility(default_run: Any) -> None:
    src, truths = default_run
    w, h = src.size
    seen_partial = seen_visible = 0
    for people in truths:
        assert [p.person_id for p in people] == sorted({p.person_id for p in people})
        for p in people:
            x, y, bw, bh = p.bbox
            assert bw > 0 and bh > 0
            assert p.foot == (x + bw / 2, y + bh)
            assert x < w and y < h and x + bw > 0 and y + bh > 0  # at least partly in view
            if p.visible:
                seen_visible += 1
                assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
                assert p.hidden <= 0.5
            else:
                seen_partial += 1
    assert seen_visible > 1000 and seen_partial > 0  # people do enter from the edge


def test_truth_box_is_the_drawn_silhouette() -> None:
    src = SyntheticSource("s", SyntheticSourceConfig())
    checked = 0
    for index in (150, 300, 450, 600, 750):
        for p in src.truth(index):
            plan = src.plans[p.person_id]
            shape = person_shape(plan, src.time_of(index), src.layout, src.size)
            assert shape is not None and shape.bbox == p.bbox
            x, y, bw, bh = p.bbox
            pad = 4
            canvas = np.zeros((bh + 2 * pad, bw + 2 * pad, 3), np.uint8)
            # Draw the person alone, shifted so the box starts at (pad, pad).
            moved = type(shape)(
                tuple((poly - [x - pad, y - pad], c) for poly, c in shape.polygons),
                tuple(
                    ((cx - x + pad, cy - y + pad), axes, angle, c)
                    for (cx, cy), axes, angle, c in shape.ellipses
                ),
                shape.shadow,
                shape.bbox,
                shape.depth,
            )
            draw_person(canvas, moved)
            ys, xs = np.nonzero(canvas.any(axis=2))
            # The box is the outline's; anti-aliasing may tint up to 3 pixels beyond it
            # (thin shoes drawn with sub-pixel precision).
            lo_x, lo_y = xs.min() - pad, ys.min() - pad
            hi_x, hi_y = xs.max() - (pad + bw - 1), ys.max() - (pad + bh - 1)
            assert -3 <= lo_x <= 3 and -3 <= lo_y <= 3
            assert -3 <= hi_x <= 3 and -3 <= hi_y <= 3
            checked += 1
    assert checked > 10


def test_speeds_are_walking_speeds(default_run: Any) -> None:
    src, truths = default_run
    speeds = []
    for a, b in itertools.pairwise(truths):
        before = {p.person_id: p.floor_xy for p in a}
        for p in b:
            if p.person_id in before and p.moving:
                speeds.append(math.dist(before[p.person_id], p.floor_xy) * src.cfg.fps)
    assert max(speeds) <= 1.5
    assert 1.0 <= float(np.median(speeds)) <= 1.45


def test_foot_pixel_lies_on_the_floor_position(default_run: Any) -> None:
    src, truths = default_run
    cam = src.layout.camera
    errors = [
        math.dist(cam.image_to_floor(np.array([p.foot]), src.size)[0], p.floor_xy)
        for people in truths[::10]
        for p in people
        if p.visible and not p.moving
    ]
    assert errors and max(errors) < 0.35  # metres; the box's bottom centre is near the feet


def test_some_people_overlap(default_run: Any) -> None:
    _, truths = default_run

    def overlap(a: PersonTruth, b: PersonTruth) -> bool:
        ax, ay, aw, ah = a.bbox
        bx, by, bw, bh = b.bbox
        return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah

    merges = sum(
        1
        for people in truths
        for a, b in itertools.combinations([p for p in people if p.visible], 2)
        if overlap(a, b)
    )
    assert merges > 20


def test_truth_scales_with_the_frame_size() -> None:
    small = SyntheticSource("s", SyntheticSourceConfig())
    large = SyntheticSource("s", SyntheticSourceConfig(width=1920, height=1080))
    for index in (200, 500):
        for a, b in zip(small.truth(index), large.truth(index), strict=True):
            assert a.person_id == b.person_id
            assert np.allclose(np.array(b.foot) / 2, a.foot, atol=1.5)


def test_no_people_means_an_empty_shop() -> None:
    src = SyntheticSource("s", SyntheticSourceConfig(people=0, duration_s=1, width=320, height=180))
    pairs = list(src.frames_with_truth())
    assert len(pairs) == 10 and all(truth == [] for _, truth in pairs)


# --- itineraries against the zone file -----------------------------------------------------


def test_zone_file_format_and_match_with_the_layout() -> None:
    data = zone_file()
    assert data["camera"] == "store-floor"
    assert data["frame_size"] == [960, 540]
    zones = data["zones"]
    assert 3 <= len(zones) <= 5
    allowed = {"id", "name", "polygon", "capacity", "dwell_alert_s", "enter_after_s",
               "exit_after_s"}  # fmt: skip
    for zone in zones:
        assert SLUG.match(zone["id"]) and set(zone) <= allowed
        area = STORE_LAYOUT.area(zone["id"])
        assert zone["name"] == area.title
        projected = STORE_LAYOUT.area_polygon_px(zone["id"], (960, 540))
        assert np.abs(np.array(zone["polygon"]) - projected).max() <= 1.0
        assert np.all(projected >= 0) and np.all(projected <= [960, 540])
    assert any("capacity" in z for z in zones) and any("dwell_alert_s" in z for z in zones)


def test_every_stop_is_inside_its_zone(default_run: Any) -> None:
    src, truths = default_run
    polygons = zone_polygons()
    stops = [(p, s) for p in src.plans for s in p.stops if s.duration_s >= 2.0]
    checked = 0
    for plan, stop in stops:
        for t in np.linspace(stop.t_start + 0.5, stop.t_end - 0.5, 5):
            index = round(t * src.cfg.fps)
            if index >= src.frame_count:
                continue
            assert plan.person_id in people_inside(truths[index], polygons[stop.zone_id])
            checked += 1
    assert checked > 50


def test_people_stop_in_zones_and_only_pass_the_entrance(default_run: Any) -> None:
    src, truths = default_run
    polygons = zone_polygons()
    longest = {zone: stays(src, truths, poly) for zone, poly in polygons.items()}
    for zone in ("shelf-left", "shelf-back", "checkout-1"):
        assert max(longest[zone].values()) >= 10.0, zone
    assert len(longest["entrance"]) > 0 and max(longest["entrance"].values()) < 3.0


def test_default_run_triggers_capacity_and_dwell_alerts(default_run: Any) -> None:
    src, truths = default_run
    zones = {z["id"]: z for z in zone_file()["zones"]}
    polygons = zone_polygons()
    peak = max(len(people_inside(p, polygons["checkout-1"])) for p in truths)
    assert peak > zones["checkout-1"]["capacity"]
    for zone_id in ("shelf-back", "checkout-1"):
        longest = stays(src, truths, polygons[zone_id])
        assert max(longest.values()) > zones[zone_id]["dwell_alert_s"] + 2.0, zone_id


def test_feet_inside_counts_by_foot_point() -> None:
    person = PersonTruth(1, (10, 10, 20, 40), (20.0, 50.0), True, (0.0, 0.0), False, 0.0)
    other = PersonTruth(2, (100, 10, 20, 40), (110.0, 50.0), True, (0.0, 0.0), False, 0.0)
    square = [[0, 40], [60, 40], [60, 80], [0, 80]]
    assert people_inside([person, other], square) == {1}
    edge = [[20, 50], [60, 50], [60, 80], [20, 80]]  # the foot lies on a corner
    assert people_inside([person, other], np.array(edge)) == {1}
    src = SyntheticSource("s", SyntheticSourceConfig())
    whole_frame = [[0, 0], [960, 0], [960, 540], [0, 540]]
    inside = src.feet_inside(500, whole_frame)
    assert inside == {p.person_id for p in src.truth(500) if 0 <= p.foot[1] <= 540}
    assert len(inside) >= 3


def test_a_cold_start_scene_has_people_and_standers_in_view_from_the_first_frame() -> None:
    cfg = SyntheticSourceConfig(duration_s=60, start_s=30, standers=2, people=8)
    src = SyntheticSource("s", cfg)
    first = src.truth(0)
    standers = [p for p in first if p.person_id >= cfg.people]
    assert len(standers) == 2 and all(not p.moving and p.visible for p in standers)
    assert len(first) > 2  # visitors already in the shop too
    # They stand through the first part of the run, then the first of them leaves.
    later = {p.person_id for p in src.truth(int(0.8 * src.frame_count))}
    assert cfg.people not in later and cfg.people + 1 in later
    frame = next(iter(src.frames()))
    assert frame.t == 0.0  # the camera's clock starts at the first frame


def test_the_lights_dim_at_the_given_time() -> None:
    cfg = SyntheticSourceConfig(duration_s=4, people=0, dim_at_s=2.0, dim_to=0.6)
    frames = list(SyntheticSource("s", cfg).frames())
    before, after = frames[19].image.mean(), frames[20].image.mean()
    assert after == pytest.approx(0.6 * before, rel=0.03)
