"""State machines of the analytics, driven frame by frame on a fake timeline."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.analytics import AnalyzerParams, ZoneAnalyzer, ZoneRule
from edge_app.analytics import tracker as tracker_module
from edge_app.analytics.blobs import Blobs, find_blobs
from edge_app.analytics.debounce import Debounce
from edge_app.analytics.personsize import PersonSize
from edge_app.analytics.tracker import Tracker
from edge_app.analytics.zonemap import ZoneMap
from edge_app.core.domain import MaskMapping, PersonMask
from edge_app.core.events import ZoneExit

# --- debounce -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on_after", "off_after", "inputs", "expected"),
    [
        # (t, raw) sequence -> change returned at each step
        (0.0, 0.0, [(0, True), (1, False)], [True, False]),
        (1.0, 0.0, [(0, True), (0.5, True), (1.0, True)], [None, None, True]),
        # A blip shorter than on_after never turns it on.
        (1.0, 0.0, [(0, True), (0.5, False), (1.0, True), (1.5, True)], [None, None, None, None]),
        # A brief occlusion (off for 1 s < 2 s) does not end it.
        (
            0.0,
            2.0,
            [(0, True), (1, False), (2, True), (3, False), (4.9, False), (5.0, False)],
            [True, None, None, None, None, False],
        ),
    ],
)
def test_debounce_sequences(
    on_after: float, off_after: float, inputs: list[tuple[float, bool]], expected: list[bool | None]
) -> None:
    d = Debounce(on_after, off_after)
    assert [d.update(raw, t) for t, raw in inputs] == expected


def test_debounce_since_is_arrival_and_last_on_is_departure() -> None:
    d = Debounce(1.0, 2.0)
    for t in (10.0, 10.5, 11.0, 11.5):
        d.update(True, t)
    assert d.on and d.since == 10.0
    for t in (12.0, 13.0, 14.0):
        d.update(False, t)
    assert not d.on and d.last_on_t == 11.5


def test_debounce_rejects_negative_times() -> None:
    with pytest.raises(ValueError, match="on_after_s=-1"):
        Debounce(-1, 0)


# --- zone map ---------------------------------------------------------------------------


def square(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def test_zonemap_overlapping_zones_get_layers_and_exact_coverage() -> None:
    zm = ZoneMap.build(
        [square(0, 0, 10, 10), square(5, 5, 15, 15), square(20, 0, 30, 10)], (40, 20)
    )
    assert zm.layers.shape[0] == 2  # the overlapping pair needs two layers
    assert zm.areas.tolist() == [100, 100, 100]
    mask = np.zeros((20, 40), np.uint8)
    mask[5:10, 5:10] = 1  # the overlap, 25 px
    mask[0:10, 20:25] = 1  # half of zone 2
    assert zm.person_pixels(mask).tolist() == [25, 25, 50]
    np.testing.assert_allclose(zm.coverage(mask), [0.25, 0.25, 0.5])
    inside = zm.zones_at(np.array([7, 25, 39]), np.array([7, 5, 19]))
    assert inside.tolist() == [[True, True, False], [False, False, True], [False] * 3]


def test_zonemap_counts_equal_a_pixel_by_pixel_count_for_any_polygons() -> None:
    # Overlapping, slanted and concave zones (three layers): person pixels and the zones of
    # each point equal a direct count over the zones' label images.
    polygons = [
        np.array([[2, 3], [50, 8], [30, 40]], dtype=np.float64),
        square(10, 10, 40, 30),
        np.array([[0, 0], [60, 0], [60, 45], [45, 45], [45, 10], [15, 10], [0, 45]], float),
        square(20.5, 5.5, 22.2, 44.8),
    ]
    zm = ZoneMap.build(polygons, (60, 45))
    assert zm.layers.shape[0] >= 3
    rng = np.random.default_rng(3)
    for scale in (1, 255):
        mask = (rng.random((45, 60)) < 0.4).astype(np.uint8) * scale
        direct = [
            int(np.count_nonzero(mask[zm.layers[layer] == k + 1]))
            for k in range(4)
            for layer in range(zm.layers.shape[0])
            if k in zm.layer_zones[layer]
        ]
        assert zm.person_pixels(mask).tolist() == direct
        assert zm.person_pixels(mask > 0).tolist() == direct
    ys, xs = np.mgrid[0:45, 0:60]
    counts, zones_of = zm.lookup(xs.ravel() + 0.5, ys.ravel() + 0.5)
    inside = zm.zones_at(xs.ravel(), ys.ravel())
    assert [tuple(np.flatnonzero(row).tolist()) for row in inside] == [
        tuple(sorted(z)) for z in zones_of
    ]
    assert counts == inside.sum(axis=0).tolist()


def test_zonemap_keeps_a_sliver_zone() -> None:
    zm = ZoneMap.build([np.array([[3.1, 3.1], [3.3, 3.1], [3.2, 3.3]])], (8, 8))
    assert zm.areas.tolist() == [1.0]


# --- blobs and people per blob --------------------------------------------------------------


def test_find_blobs_drops_small_and_gives_foot_points() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[10:40, 5:15] = 1  # 300 px person
    mask[0:2, 40:42] = 1  # 4 px noise
    b = find_blobs(mask, min_area_px=10)
    assert len(b) == 1
    assert (b.foot_x[0], b.foot_y[0], b.area[0]) == (10.0, 40.0, 300.0)


def blobs_of(rows: list[tuple[float, float, float, float, float]]) -> Blobs:
    a = np.array(rows, dtype=np.float64)
    return Blobs(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


def test_person_size_learns_perspective_and_splits_merged_blobs() -> None:
    ps = PersonSize(min_samples=10)
    # Single people: far ones (feet at y=50) 10x30, near ones (feet at y=150) 20x60.
    singles = blobs_of([(0, 20, 10, 30, 300), (50, 90, 20, 60, 1200)] * 10)
    before = ps.people_per_blob(blobs_of([(0, 90, 60, 60, 3600)]))
    assert before.tolist() == [1]  # not ready: every blob is one person
    ps.learn(singles, frame_height=200)
    assert ps.ready
    np.testing.assert_allclose(ps.expected_area(np.array([50.0, 150.0])), [300, 1200], rtol=0.01)
    # Three near people side by side; two far people side by side; one near person.
    test = blobs_of([(0, 90, 60, 60, 3600), (100, 20, 20, 30, 600), (150, 90, 20, 60, 1250)])
    assert ps.people_per_blob(test).tolist() == [3, 2, 1]
    people = ps.split(test)
    assert people.foot_x[:3].tolist() == [10.0, 30.0, 50.0]
    assert people.blob.tolist() == [0, 0, 0, 1, 1, 2]


def test_person_size_state_round_trip() -> None:
    ps = PersonSize(min_samples=2)
    ps.learn(blobs_of([(0, 20, 10, 30, 300), (50, 90, 20, 60, 1200)]), 200)
    other = PersonSize(min_samples=2)
    other.restore(ps.state())
    np.testing.assert_allclose(
        other.expected_area(np.array([100.0])), ps.expected_area(np.array([100.0]))
    )


# --- tracker ------------------------------------------------------------------------------


def test_tracker_keeps_identity_through_a_short_gap_and_drops_after() -> None:
    tr = Tracker(max_speed_px_s=50, min_gate_px=3, max_gap_s=1.0)
    ids = [tr.update(np.array([10.0 + i]), np.array([10.0]), i * 0.1).assigned[0] for i in range(5)]
    assert len(set(ids)) == 1
    # Unseen for 0.5 s, then back near the predicted position: same id.
    assert tr.update(np.array([]), np.array([]), 0.6).ended == ()
    assert tr.update(np.array([20.0]), np.array([10.0]), 0.9).assigned[0] == ids[0]
    # Unseen for longer than max_gap_s: the track ends.
    assert tr.update(np.array([]), np.array([]), 2.0).ended[0].id == ids[0]


def test_tracker_two_people_crossing_far_apart_keep_ids() -> None:
    tr = Tracker(max_speed_px_s=30, min_gate_px=2, max_gap_s=1.0)
    first = tr.update(np.array([0.0, 100.0]), np.array([0.0, 0.0]), 0.0).assigned
    second = tr.update(np.array([99.0, 1.0]), np.array([0.0, 0.0]), 0.1).assigned
    assert second.tolist() == first[::-1].tolist()


def test_tracker_matching_in_python_equals_the_distance_matrix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Few pairs are matched in plain Python, many with NumPy: the same ids either way,
    # ties (equal distances on a pixel grid) included.
    rng = np.random.default_rng(5)
    frames = []
    for i in range(300):
        n = int(rng.integers(0, 12))
        frames.append((rng.integers(0, 40, n).astype(float), rng.integers(0, 30, n) + 0.5, i / 8))

    def run() -> list[tuple[list[int], list[int]]]:
        tr = Tracker(max_speed_px_s=40, min_gate_px=2, max_gap_s=0.5)
        out = []
        for xs, ys, t in frames:
            update = tr.update(xs, ys, t)
            out.append((update.assigned.tolist(), [e.id for e in update.ended]))
        return out

    small = run()
    monkeypatch.setattr(tracker_module, "SMALL_MATCH", 0)
    assert run() == small


def test_tracker_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_speed_px_s"):
        Tracker(0, 1, 1)


# --- analyzer, frame by frame --------------------------------------------------------------

W, H = 200, 100
MAPPING = MaskMapping.stretch((W, H), (W, H))


def person_at(masks: list[tuple[int, int]]) -> PersonMask:
    """A mask with a 6x20 person whose feet stand at each (x, y)."""
    m = np.zeros((H, W), np.uint8)
    for x, y in masks:
        m[y - 20 : y, x - 3 : x + 3] = 1
    return PersonMask(m, MAPPING)


def make_analyzer(**rule: object) -> ZoneAnalyzer:
    settings: dict[str, object] = {"enter_after_s": 1.0, "exit_after_s": 2.0}
    settings.update(rule)
    r = ZoneRule("shelf", square(50, 0, 150, 100), **settings)  # type: ignore[arg-type]
    params = AnalyzerParams(
        analysis_max_side=W,
        min_blob_area_frac=0.001,
        person_size_learning=False,
        track_max_gap_s=3.0,
    )
    return ZoneAnalyzer("cam", [r], params)


def run(za: ZoneAnalyzer, timeline: list[tuple[float, list[tuple[int, int]]]]) -> list[object]:
    events = []
    for t, people in timeline:
        events.extend(za.update(person_at(people), t).events)
    return events


def test_visit_enter_dwell_exit_with_debounce_in_seconds() -> None:
    za = make_analyzer(dwell_alert_s=5.0)
    # Walk in at t=1 (x=100), stay until t=10, walk out at t=10.5 (x=20).
    timeline = [
        (t / 2, [(20, 90)] if t < 2 else [(100, 90)] if t <= 20 else [(20, 90)])
        for t in range(0, 30)
    ]
    events = run(za, timeline)
    kinds = [(e.type, round(e.t, 1)) for e in events]  # type: ignore[attr-defined]
    assert ("zone.enter", 2.0) in kinds  # arrived 1.0, confirmed after enter_after_s
    assert ("zone.dwell_exceeded", 6.0) in kinds  # 5 s after arrival
    exits = [e for e in events if isinstance(e.payload, ZoneExit)]  # type: ignore[attr-defined]
    assert len(exits) == 1
    assert exits[0].payload.dwell_s == pytest.approx(9.0)  # 1.0 .. 10.0
    assert exits[0].payload.reason == "left"
    assert exits[0].t == pytest.approx(10.0)  # last seen inside, not when debounce gave up


def test_brief_occlusion_does_not_end_occupancy_or_visit() -> None:
    za = make_analyzer()
    timeline = [(t * 0.5, [(100, 90)] if not 8 <= t <= 10 else []) for t in range(20)]
    events = run(za, timeline)
    types = [e.type for e in events]  # type: ignore[attr-defined]
    assert types.count("zone.enter") == 1
    assert "zone.exit" not in types
    occupancy = [e.payload.occupied for e in events if e.type == "zone.occupancy"]  # type: ignore[attr-defined]
    assert occupancy[0] is False  # a person seen, not yet occupied (enter_after_s)
    assert False not in occupancy[occupancy.index(True) :]


def test_dwell_is_seconds_not_frames() -> None:
    fast, slow = make_analyzer(), make_analyzer()
    stay = [(100, 90)]
    fast_events = run(
        fast, [(t * 0.1, stay) for t in range(101)] + [(10.1 + t, []) for t in range(5)]
    )
    slow_events = run(
        slow, [(t * 1.0, stay) for t in range(11)] + [(11.0 + t, []) for t in range(5)]
    )
    dwell = [
        [e.payload.dwell_s for e in ev if e.type == "zone.exit"]  # type: ignore[attr-defined]
        for ev in (fast_events, slow_events)
    ]
    assert dwell[0] == pytest.approx([10.0]) and dwell[1] == pytest.approx([10.0])


def test_capacity_alert_fires_once_while_over() -> None:
    za = make_analyzer(capacity=1, enter_after_s=0.0)
    timeline = [(t * 0.5, [(80, 90), (120, 90)]) for t in range(6)]
    events = run(za, timeline)
    caps = [e for e in events if e.type == "zone.capacity_exceeded"]  # type: ignore[attr-defined]
    assert len(caps) == 1 and caps[0].payload.count == 2  # type: ignore[attr-defined]


def test_states_report_count_coverage_and_dwell() -> None:
    za = make_analyzer(enter_after_s=0.0)
    za.update(person_at([(100, 90)]), 0.0)
    st = za.update(person_at([(100, 90), (140, 60)]), 2.0).states[0]
    assert st.count == 2
    assert st.coverage == pytest.approx(2 * 6 * 20 / (100 * 100))
    assert st.occupied and st.occupied_since == 0.0
    assert max(st.dwell_s.values()) == pytest.approx(2.0)


def test_finish_closes_open_visits() -> None:
    za = make_analyzer(enter_after_s=0.0)
    run(za, [(0.0, [(100, 90)]), (4.0, [(100, 90)])])
    exits = za.finish()
    assert len(exits) == 1 and exits[0].payload.reason == "ended"  # type: ignore[union-attr]
    assert exits[0].payload.dwell_s == pytest.approx(4.0)  # type: ignore[union-attr]


def test_occupancy_events_are_rate_limited_but_flips_are_immediate() -> None:
    za = make_analyzer(enter_after_s=0.0, exit_after_s=0.0)
    # The count flickers 1,2,1,2 every 0.1 s for one second.
    timeline = [(t * 0.1, [(100, 90)] + ([(130, 90)] if t % 2 else [])) for t in range(10)]
    events = [e for e in run(za, timeline) if e.type == "zone.occupancy"]  # type: ignore[attr-defined]
    assert len(events) == 1  # the flip to occupied; the flicker waits for the interval
    later = za.update(person_at([(100, 90), (130, 90)]), 1.05).events
    assert [e.type for e in later] == ["zone.occupancy"]


def test_mask_is_analysed_at_the_analysis_resolution() -> None:
    rule = ZoneRule("shelf", square(50, 0, 150, 100), 0.0, 0.0)
    za = ZoneAnalyzer(
        "cam", [rule], AnalyzerParams(analysis_max_side=50, person_size_learning=False)
    )
    result = za.update(person_at([(100, 90)]), 0.0)
    assert result.states[0].count == 1
    # Feet come back in frame pixels even though the grid was 50x25.
    assert result.feet[0, 0] == pytest.approx(100, abs=4)
    assert result.feet[0, 1] == pytest.approx(90, abs=4)
