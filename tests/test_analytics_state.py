"""The analytics through their public pieces: tables of tiny inputs with the expected
outputs, and the state machines driven frame by frame on a fake timeline."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.analytics import AnalyzerParams, ZoneAnalyzer, ZoneRule
from edge_app.analytics.blobs import Blob, find_blobs
from edge_app.analytics.debounce import Debounce
from edge_app.analytics.personsize import PersonSize
from edge_app.analytics.tracker import Tracker
from edge_app.analytics.zonemap import ZoneMap
from edge_app.analytics.zonepolygons import ZonePolygons
from edge_app.analytics.zonestate import ZoneStates
from edge_app.core.domain import MaskMapping, PersonMask
from edge_app.core.events import ZoneEnter, ZoneExit, ZoneOccupancy

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


# --- zone membership of points: the exact polygons --------------------------------------

# Zone 0 is the square 0..10, zone 1 (overlapping it) 5..15; zone 2 a slanted triangle;
# zone 3 an L (concave) beside them.
POLYGONS = [
    square(0, 0, 10, 10),
    square(5, 5, 15, 15),
    np.array([[20.0, 0.0], [30.0, 0.0], [20.0, 10.0]]),
    np.array([[0, 20], [10, 20], [10, 22], [2, 22], [2, 30], [0, 30]], dtype=np.float64),
]


@pytest.mark.parametrize(
    ("point", "zones"),
    [
        ((2.5, 2.5), (0,)),
        ((7.5, 7.5), (0, 1)),  # in both
        ((12.5, 12.5), (1,)),
        ((17.5, 2.5), ()),
        ((4.99, 4.99), (0,)),  # a hair before zone 1's corner
        ((9.999, 5.0), (0, 1)),  # a hair inside zone 0's right edge
        ((10.001, 5.0), (1,)),  # a hair beyond it
        ((21.0, 8.5), (2,)),  # inside the slanted edge x + y = 30
        ((21.0, 9.5), ()),  # a hair beyond it (a raster cell would hold both)
        ((5.0, 21.0), (3,)),  # the L's foot
        ((5.0, 25.0), ()),  # in its notch
        ((1.0, 29.0), (3,)),
        ((-0.001, 2.0), ()),  # no nearest cell: outside is outside
        ((25.0, 25.0), ()),
    ],
)
def test_zone_polygons_lookup_is_exact(point: tuple[float, float], zones: tuple[int, ...]) -> None:
    counts, zones_of = ZonePolygons(POLYGONS).lookup([point])
    assert zones_of == [zones]
    assert counts == [int(k in zones) for k in range(4)]


def test_zone_polygons_put_a_point_on_a_shared_edge_in_one_zone() -> None:
    # Two zones that tile the floor: a foot exactly on their border counts once.
    left, right = square(0, 0, 10, 10), square(10, 0, 20, 10)
    for point in [(10.0, 5.0), (10.0, 0.0), (10.0, 9.999)]:
        counts, _ = ZonePolygons([left, right]).lookup([point])
        assert sum(counts) == 1, point


def test_zone_polygons_count_every_point_and_take_no_points() -> None:
    zones = ZonePolygons(POLYGONS)
    counts, zones_of = zones.lookup([(7.5, 7.5), (2.5, 2.5), (12.5, 12.5), (17.5, 2.5)])
    assert counts == [2, 2, 0, 0]
    assert zones_of == [(0, 1), (0,), (1,), ()]
    assert zones.lookup([]) == ([0, 0, 0, 0], [])


def test_zone_polygons_agree_with_shapely_on_random_points() -> None:
    from shapely import contains_xy
    from shapely.geometry import Polygon

    rng = np.random.default_rng(5)
    points = rng.uniform(-2, 32, (2000, 2))
    inside = ZonePolygons(POLYGONS).inside(points)
    for k, polygon in enumerate(POLYGONS):
        assert np.array_equal(
            inside[:, k], contains_xy(Polygon(polygon), points[:, 0], points[:, 1])
        )


def test_zone_polygons_reject_degenerate_polygons() -> None:
    with pytest.raises(ValueError, match="3 points"):
        ZonePolygons([np.array([[0.0, 0.0], [1.0, 1.0]])])


def test_zonemap_keeps_a_sliver_zone() -> None:
    zm = ZoneMap.build([np.array([[3.1, 3.1], [3.3, 3.1], [3.2, 3.3]])], (8, 8))
    assert zm.areas.tolist() == [1.0]


# --- blobs and people per blob --------------------------------------------------------------


def mask_of(*boxes: tuple[int, int, int, int], size: tuple[int, int] = (12, 10)) -> np.ndarray:
    """A ``size = (w, h)`` 0/1 mask with each ``(x0, y0, x1, y1)`` box (exclusive) set."""
    m = np.zeros((size[1], size[0]), np.uint8)
    for x0, y0, x1, y1 in boxes:
        m[y0:y1, x0:x1] = 1
    return m


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        # (x, y, w, h, area) of each blob
        (mask_of((2, 1, 4, 5)), [(2, 1, 2, 4, 8)]),
        (mask_of((0, 0, 12, 10)), [(0, 0, 12, 10, 120)]),  # the whole frame
        (mask_of((1, 1, 2, 2), (2, 2, 3, 3)), [(1, 1, 2, 2, 2)]),  # 8-connected: one blob
        (mask_of((1, 1, 4, 4), (6, 6, 10, 9)), [(6, 6, 4, 3, 12), (1, 1, 3, 3, 9)]),
        (mask_of((1, 1, 2, 2), (5, 2, 8, 5)), [(5, 2, 3, 3, 9)]),  # a 1 px speck is dropped
        (mask_of((1, 1, 6, 6)) - mask_of((2, 2, 5, 5)), [(1, 1, 5, 5, 25)]),  # with its hole
        (mask_of(), []),
    ],
)
def test_find_blobs(mask: np.ndarray, expected: list[tuple[float, ...]]) -> None:
    blobs = find_blobs(mask, min_area_px=2)
    assert [(b.x, b.y, b.w, b.h, b.area) for b in blobs] == expected
    for b in blobs:
        assert b.outline is not None and b.outline.shape[1] == 2


def test_find_blobs_drops_small_and_gives_foot_points() -> None:
    mask = np.zeros((50, 50), np.uint8)
    mask[10:40, 5:15] = 1  # 300 px person
    mask[0:2, 40:42] = 1  # 4 px noise
    (b,) = find_blobs(mask, min_area_px=10)
    assert (b.foot, b.area) == ((10.0, 40.0), 300.0)


def blobs_of(rows: list[tuple[float, float, float, float, float]]) -> list[Blob]:
    return [Blob(*row) for row in rows]


def trained(min_samples: int = 10) -> PersonSize:
    """A model that has seen single people: 10x30 with feet at y=50, 20x60 at y=150."""
    ps = PersonSize(min_samples=min_samples)
    ps.learn(blobs_of([(0, 20, 10, 30, 300), (50, 90, 20, 60, 1200)] * 10), frame_height=200)
    return ps


def test_person_size_learns_perspective_and_splits_merged_blobs() -> None:
    ps = PersonSize(min_samples=10)
    before = ps.people_per_blob(blobs_of([(0, 90, 60, 60, 3600)]))
    assert before == [1]  # not ready: every blob is one person
    ps = trained()
    assert ps.ready
    assert [ps.expected_area(50.0), ps.expected_area(150.0)] == pytest.approx([300, 1200])
    # Three near people side by side; two far people side by side; one near person.
    test = blobs_of([(0, 90, 60, 60, 3600), (100, 20, 20, 30, 600), (150, 90, 20, 60, 1250)])
    assert ps.people_per_blob(test) == [3, 2, 1]
    people = ps.split(test)
    assert [p.foot for p in people[:3]] == [(10.0, 150.0), (30.0, 150.0), (50.0, 150.0)]
    assert [p.blob for p in people] == [0, 0, 0, 1, 1, 2]


@pytest.mark.parametrize(
    ("people", "feet"),
    [
        # Near people (20x60, feet at row 150) as (x0, y0, x1, y1) boxes of a 200x200 mask.
        ([(40, 90, 60, 150)], [(50.0, 150.0)]),
        ([(40, 90, 60, 150), (60, 90, 80, 150)], [(50.0, 150.0), (70.0, 150.0)]),
        (
            [(40, 90, 60, 150), (60, 90, 80, 150), (80, 90, 100, 150)],
            [(50.0, 150.0), (70.0, 150.0), (90.0, 150.0)],
        ),
        # The second a step further back: each foot where that person's columns end.
        ([(40, 90, 60, 150), (60, 95, 80, 145)], [(49.0, 150.0), (68.82, 145.0)]),
        # One person with a bag hanging to row 170: the feet, not the bag.
        ([(40, 90, 60, 150), (49, 150, 51, 170)], [(50.0, 150.0)]),
    ],
)
def test_person_size_splits_blobs_into_feet_from_their_outline(
    people: list[tuple[int, int, int, int]], feet: list[tuple[float, float]]
) -> None:
    ps = trained()
    (blob,) = find_blobs(mask_of(*people, size=(200, 200)), min_area_px=10)
    found = ps.split([blob])
    assert [p.foot for p in found] == [pytest.approx(f, abs=0.01) for f in feet]
    assert {p.blob for p in found} == {0}


def test_a_blob_narrower_than_the_people_it_holds_still_gets_a_foot_each() -> None:
    # A 3-column sliver with the area of seven near people (a real mask can be this odd):
    # every person gets a foot inside the blob's columns, none is lost.
    ps = trained()
    mask = mask_of((40, 0, 43, 150), size=(200, 200))
    (blob,) = find_blobs(mask, min_area_px=10)
    (sliver,) = blobs_of([(blob.x, blob.y, blob.w, blob.h, 7 * 1200.0)])
    people = ps.split([sliver._replace(outline=blob.outline)])
    assert len(people) == 7
    assert all(40.0 <= p.foot[0] <= 43.0 and p.foot[1] == 150.0 for p in people)


def test_person_size_analyse_learns_joins_and_splits() -> None:
    ps = trained()
    # Torso and legs of one near person (joined), and two far people side by side.
    blobs = blobs_of([(50, 90, 20, 30, 500), (52, 125, 16, 25, 350), (100, 20, 20, 30, 600)])
    joined, people, ratios = ps.analyse(blobs, frame_height=200, frame_width=200)
    assert [(b.x, b.y, b.w, b.h, b.area) for b in joined] == [
        (50, 90, 20, 60, 850),
        (100, 20, 20, 30, 600),
    ]
    assert ratios == pytest.approx([850 / 1200, 2.0])
    assert [(p.foot, p.blob) for p in people] == [
        ((60.0, 150.0), 0),
        ((105.0, 50.0), 1),
        ((115.0, 50.0), 1),
    ]


def test_person_size_state_round_trip() -> None:
    ps = PersonSize(min_samples=2)
    ps.learn(blobs_of([(0, 20, 10, 30, 300), (50, 90, 20, 60, 1200)]), 200)
    other = PersonSize(min_samples=2)
    other.restore(ps.state())
    assert other.expected_area(100.0) == ps.expected_area(100.0)


# --- tracker ------------------------------------------------------------------------------

Frames = list[tuple[float, list[tuple[float, float]]]]


@pytest.mark.parametrize(
    ("frames", "ids"),
    [
        # Two people far apart swap places in the list: each keeps its id.
        ([(0.0, [(0, 0), (100, 0)]), (0.1, [(99, 0), (1, 0)])], [[1, 2], [2, 1]]),
        # The nearest detection gets the track; the other is a new person.
        ([(0.0, [(10, 0)]), (0.1, [(12, 0), (9, 0)])], [[1], [2, 1]]),
        # Greedy, nearest pair first: B takes the detection between them, A's is too far.
        ([(0.0, [(0, 0), (10, 0)]), (0.1, [(6, 0), (16, 0)])], [[1, 2], [2, 3]]),
        # Outside the gate (3 px + 50 px/s for 0.1 s): a new person.
        ([(0.0, [(0, 0)]), (0.1, [(9, 0)])], [[1], [2]]),
        # Frames without anyone are normal input; the gate grows with the time unseen.
        ([(0.0, [(10, 0)]), (0.1, []), (0.2, []), (0.3, [(20, 0)])], [[1], [], [], [1]]),
        # Unseen longer than max_gap_s (1 s): the track ended, the person comes back new.
        ([(0.0, [(10, 0)]), (1.5, []), (2.0, [(10, 0)])], [[1], [], [2]]),
        # Walking right at 50 px/s: the predicted place decides, not the last one.
        (
            [
                (0.0, [(0, 0)]),
                (0.1, [(5, 0)]),
                (0.2, [(10, 0)]),
                (0.3, [(15, 0)]),
                (0.4, [(17, 0), (21, 0)]),
            ],
            [[1], [1], [1], [1], [2, 1]],
        ),
    ],
)
def test_tracker_pairing(frames: Frames, ids: list[list[int]]) -> None:
    tracker = Tracker(max_speed_px_s=50, min_gate_px=3, max_gap_s=1.0)
    assert [list(tracker.update(points, t).assigned) for t, points in frames] == ids


def test_tracker_keeps_identity_through_a_short_gap_and_drops_after() -> None:
    tr = Tracker(max_speed_px_s=50, min_gate_px=3, max_gap_s=1.0)
    ids = [tr.update([(10.0 + i, 10.0)], i * 0.1).assigned[0] for i in range(5)]
    assert len(set(ids)) == 1
    # Unseen for 0.5 s, then back near the predicted position: same id.
    assert tr.update([], 0.6).ended == ()
    assert tr.update([(20.0, 10.0)], 0.9).assigned == (ids[0],)
    # Unseen for longer than max_gap_s: the track ends.
    assert [track.id for track in tr.update([], 2.0).ended] == [ids[0]]
    assert tr.tracks == {}


@pytest.mark.parametrize(("smoothing", "assigned"), [(0.0, (2, 1)), (0.5, (1, 2))])
def test_tracker_velocity_smoothing(smoothing: float, assigned: tuple[int, ...]) -> None:
    # Still, then a 5 px step: without smoothing the velocity is that step's (50 px/s, so
    # predicted at x=10), with 0.5 half of it (x=7.5).
    tracker = Tracker(max_speed_px_s=50, min_gate_px=3, max_gap_s=1.0, velocity_smoothing=smoothing)
    for t, x in ((0.0, 0.0), (0.1, 0.0), (0.2, 5.0)):
        tracker.update([(x, 0.0)], t)
    assert tracker.update([(7.0, 0.0), (10.5, 0.0)], 0.3).assigned == assigned


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_speed_px_s": 0}, "max_speed_px_s must be > 0, got 0"),
        ({"min_gate_px": -1}, "min_gate_px must be >= 0, got -1"),
        ({"max_gap_s": -1}, "max_gap_s must be >= 0, got -1"),
        ({"max_merge_s": -1}, "max_merge_s must be >= 0, got -1"),
        ({"velocity_smoothing": 1.0}, r"velocity_smoothing must be in \[0, 1\), got 1.0"),
    ],
)
def test_tracker_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"max_speed_px_s": 50, "min_gate_px": 3, "max_gap_s": 1.0}
    with pytest.raises(ValueError, match=message):
        Tracker(**{**args, **kwargs})


# --- zone states ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zones_per_frame", "expected"),
    [
        # The zones one track stands in, frame by frame (1 s apart), and the events:
        # (frame, type, zone).
        ([(1, 0)], [(0, "enter", "z0"), (0, "enter", "z1")]),  # in zone order
        (
            [(0,), (0, 1), (1,)],
            [(0, "enter", "z0"), (1, "enter", "z1"), (2, "exit", "z0")],
        ),
        ([(0,), (), (0,)], [(0, "enter", "z0"), (1, "exit", "z0"), (2, "enter", "z0")]),
        ([(), (2,), (2,)], [(1, "enter", "z2")]),
    ],
)
def test_zone_states_visits_of_one_track_in_overlapping_zones(
    zones_per_frame: list[tuple[int, ...]], expected: list[tuple[int, str, str]]
) -> None:
    rules = [ZoneRule(f"z{k}", square(0, 0, 1, 1), 0.0, 0.0) for k in range(3)]
    states = ZoneStates("cam", rules, occupancy_event_interval_s=1.0, coverage_event_step=0.05)
    events = []
    for frame, zones in enumerate(zones_per_frame):
        for e in states.update_visits([7], [zones], float(frame)):
            kind = "enter" if isinstance(e.payload, ZoneEnter) else "exit"
            events.append((frame, kind, e.zone))
    assert events == expected


def test_zone_states_end_a_lost_track_and_close_all_at_the_end() -> None:
    rules = [ZoneRule(f"z{k}", square(0, 0, 1, 1), 0.0, 5.0) for k in range(2)]
    states = ZoneStates("cam", rules, occupancy_event_interval_s=1.0, coverage_event_step=0.05)
    states.update_visits([1, 2], [(0, 1), (1,)], 0.0)
    states.update_visits([1, 2], [(0, 1), (1,)], 2.0)
    lost = states.end_track(1, "lost")
    assert [(e.zone, e.t, e.payload) for e in lost] == [
        ("z0", 2.0, ZoneExit(1, 2.0, 0.0, "lost")),
        ("z1", 2.0, ZoneExit(1, 2.0, 0.0, "lost")),
    ]
    assert [(e.zone, e.payload) for e in states.close_all("ended")] == [
        ("z1", ZoneExit(2, 2.0, 0.0, "ended"))
    ]
    assert states.close_all("ended") == []


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


def test_a_provisional_mask_marks_states_and_events_warming_up() -> None:
    za = make_analyzer(enter_after_s=0.0)
    mask = person_at([(100, 90)])
    warming = za.update(PersonMask(mask.mask, MAPPING, warming_up=True), 0.0)
    assert warming.events and all(e.warming_up for e in warming.events)
    assert all(s.warming_up for s in warming.states)
    assert all(e.warming_up for e in za.finish())  # visits closed after it say so too
    trusted = za.update(mask, 1.0)
    assert not any(s.warming_up for s in trusted.states)
    assert not any(e.warming_up for e in trusted.events)


@pytest.mark.parametrize(("foot_x", "inside"), [(140, True), (142, False)])
def test_feet_are_tested_against_the_exact_polygon_in_frame_pixels(
    foot_x: int, inside: bool
) -> None:
    # A slanted zone edge crosses the feet's row (y = 92) at x = 140.2, on a coarse 50 px
    # analysis grid where one cell is 4 frame pixels: the cell [140, 144) lies mostly
    # outside the zone, but a foot at x = 140 is inside it, and one at 142 is not.
    slanted = ZoneRule("slant", np.array([[0, 0], [131, 0], [149, 180], [0, 180.0]]), 0.0, 0.0)
    params = AnalyzerParams(analysis_max_side=50, person_size_learning=False)
    za = ZoneAnalyzer("cam", [slanted], params)
    m = np.zeros((H, W), np.uint8)
    m[70:90, foot_x - 4 : foot_x + 4] = 1
    result = za.update(PersonMask(m, MAPPING), 0.0)
    assert result.feet.tolist() == [[foot_x, 92.0]]
    assert result.states[0].count == int(inside)


def test_the_last_occupancy_held_back_by_the_rate_limit_is_reported_at_the_end() -> None:
    za = make_analyzer(enter_after_s=0.0, exit_after_s=0.0)
    first = za.update(person_at([(100, 90)]), 0.0)
    assert [e.payload for e in first.events if e.type == "zone.occupancy"] == [
        ZoneOccupancy(1, pytest.approx(first.states[0].coverage, abs=1e-4), True)
    ]
    # A second person 0.3 s later: within the 1 s interval, so no event yet.
    later = za.update(person_at([(100, 90), (130, 90)]), 0.3)
    assert later.states[0].count == 2
    assert not [e for e in later.events if e.type == "zone.occupancy"]
    ended = [e for e in za.finish() if e.type == "zone.occupancy"]
    assert [(e.t, e.payload.count, e.payload.occupied) for e in ended] == [(0.3, 2, True)]  # type: ignore[union-attr]
    assert [e for e in za.finish() if e.type == "zone.occupancy"] == []  # reported once
