"""A camera's clock that jumps: the analytics see one clock per camera that never runs
backwards, visits end at a jump (reason ``clock``) and a freed zone is freed on time.

Driven frame by frame through ``CameraAnalytics`` (the pipeline's per-camera analytics)
with hand-made person masks, so every time is exact.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import AnalyticsConfig
from edge_app.config.zones import parse_zones
from edge_app.core.domain import Frame, MaskMapping, PersonMask
from edge_app.core.events import Event, EventStamper, ZoneExit, ZoneOccupancy
from edge_app.pipeline.camera import CLOCK_JUMP_S, CameraAnalytics

W, H = 200, 100
WALL0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)
ZONES = parse_zones(
    {
        "camera": "cam",
        "frame_size": [W, H],
        "zones": [{"id": "all", "polygon": [[0, 0], [W, 0], [W, H], [0, H]]}],
    },
    Path("cam.yaml"),
)
CONFIG = AnalyticsConfig(enter_after_s=0.0, exit_after_s=2.0)


def mask(person: bool) -> PersonMask:
    m = np.zeros((H, W), np.uint8)
    if person:
        m[40:90, 95:105] = 1
    return PersonMask(m, MaskMapping.stretch((W, H), (W, H)))


def frame(index: int, t: float, wall_s: float) -> Frame:
    image = np.zeros((H, W, 3), np.uint8)
    return Frame("cam", index, t, WALL0 + timedelta(seconds=wall_s), image)


def run(
    cam: CameraAnalytics, timeline: list[tuple[float, float, bool]]
) -> tuple[list[float], list[Event]]:
    """``(t, wall_s, person)`` per frame: the analysed frames' times and every event."""
    times, events = [], []
    for i, (t, wall_s, person) in enumerate(timeline):
        result = cam.process(frame(i, t, wall_s), mask(person))
        times.append(result.frame.t)
        events.extend(result.events)
    return times, events


def test_a_clock_that_restarts_at_zero_is_rebased_and_frees_the_zone_on_time() -> None:
    cam = CameraAnalytics("cam", ZONES, CONFIG, EventStamper("d"))
    # 20 s of a person inside, gone for the last second; then the camera reconnects 0.5 s
    # later (wall clock) and its timestamps start again at 0, with nobody in view.
    before = [(0.1 * k, 0.1 * k, k < 190) for k in range(200)]
    after = [(0.1 * k, 20.4 + 0.1 * k, False) for k in range(40)]
    times, events = run(cam, before + after)
    assert all(b > a for a, b in itertools.pairwise(times))  # never backwards
    assert times[200] == pytest.approx(19.9 + 0.5)  # on by the wall-clock gap
    assert cam.discontinuities == 1
    exits = [e for e in events if isinstance(e.payload, ZoneExit)]
    assert [(e.payload.reason, e.t) for e in exits] == [("clock", pytest.approx(18.9))]  # type: ignore[union-attr]
    # One clock in every event: it never goes back (an exit is dated when the visitor
    # was last seen, so only exits may lag).
    stamped_at = [e.t for e in events if not isinstance(e.payload, ZoneExit)]
    assert stamped_at == sorted(stamped_at)
    freed = [e.t for e in events if isinstance(e.payload, ZoneOccupancy) and not e.payload.occupied]
    # Nobody since t = 19.0: freed exit_after_s later on the camera's clock, not 18 s later.
    assert freed == [pytest.approx(21.0)]


def test_a_forward_jump_beyond_the_limit_ends_visits_but_keeps_the_time() -> None:
    cam = CameraAnalytics("cam", ZONES, CONFIG, EventStamper("d"))
    gap = CLOCK_JUMP_S + 30.0
    timeline = [(0.1 * k, 0.1 * k, True) for k in range(30)]
    timeline += [(2.9 + gap + 0.1 * k, 2.9 + gap + 0.1 * k, True) for k in range(1, 30)]
    times, events = run(cam, timeline)
    assert times[30] == pytest.approx(3.0 + gap)  # the gap really passed on this clock
    exits = [e.payload for e in events if isinstance(e.payload, ZoneExit)]
    assert [(x.reason, x.dwell_s) for x in exits] == [("clock", pytest.approx(2.9))]
    enters = [e.t for e in events if e.type == "zone.enter"]
    assert enters == [0.0, pytest.approx(3.0 + gap)]  # the person is a new visit after it


def test_steps_within_the_limit_are_not_discontinuities() -> None:
    cam = CameraAnalytics("cam", ZONES, CONFIG, EventStamper("d"))
    timeline = [(0.0, 0.0, True), (0.1, 0.1, True), (30.0, 30.0, True), (30.1, 30.1, True)]
    times, events = run(cam, timeline)
    assert times == [0.0, 0.1, 30.0, 30.1]
    assert cam.discontinuities == 0
    assert not [e for e in events if isinstance(e.payload, ZoneExit)]


def test_camera_time_follows_the_last_frame_by_the_wall_clock() -> None:
    cam = CameraAnalytics("cam", ZONES, CONFIG, EventStamper("d"))
    assert cam.camera_time(WALL0) == 0.0  # no frame yet
    run(cam, [(50.0, 0.0, False), (0.0, 1.0, False)])  # the second frame jumped back
    assert cam.camera_time(WALL0 + timedelta(seconds=3.5)) == pytest.approx(53.5)
    assert cam.camera_time(WALL0) == pytest.approx(51.0)  # never before the last frame
