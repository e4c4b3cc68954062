"""The evaluation metrics on tiny hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.analytics import ZoneRule
from edge_app.core.domain import ZoneState
from edge_app.core.errors import ConfigError
from edge_app.core.events import Event, EventStamper, ZoneEvent, ZoneExit
from edge_app.tools.evaluation.evaluate import load_mot
from edge_app.tools.evaluation.truth import (
    TruthComparison,
    TruthPoint,
    Visit,
    match_visits,
    overall,
    temporal_iou,
)

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float64)


def rule(zone: str = "z", enter: float = 0.0, exit_: float = 0.0, dx: float = 0.0) -> ZoneRule:
    """A 10x10 square zone, shifted right by ``dx``."""
    return ZoneRule(zone, SQUARE + np.array([dx, 0.0]), enter_after_s=enter, exit_after_s=exit_)


def state(t: float, count: int, occupied: bool, zone: str = "z") -> ZoneState:
    return ZoneState("cam", zone, t, count, 0.0, occupied, None)


def inside(pid: int) -> TruthPoint:
    return TruthPoint(pid, 5.0, 5.0)


def outside(pid: int) -> TruthPoint:
    return TruthPoint(pid, 50.0, 5.0)


def exit_event(t_enter: float, t_last: float, track: int = 1, zone: str = "z") -> Event:
    stamper = EventStamper("dev")
    payload = ZoneExit(track, t_last - t_enter, t_enter, "left")
    return stamper.stamp(ZoneEvent("cam", zone, t_last, payload), datetime.now(timezone.utc))


# --- visits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (5, 15), 5 / 15),
        ((0, 10), (10, 20), 0.0),  # touching intervals share no time
        ((0, 10), (11, 20), 0.0),
        ((0, 10), (2, 4), 0.2),
        ((3, 3), (3, 3), 1.0),  # two instants at the same time
    ],
)
def test_temporal_iou(a: tuple[float, float], b: tuple[float, float], iou: float) -> None:
    assert temporal_iou(Visit(1, *a), Visit(2, *b)) == pytest.approx(iou)
    assert temporal_iou(Visit(2, *b), Visit(1, *a)) == pytest.approx(iou)


def test_match_visits_is_one_to_one_best_first_and_thresholded() -> None:
    true = [Visit(1, 0, 10), Visit(2, 1, 11), Visit(3, 50, 60)]
    # m0 overlaps both true 0 and 1 (best with 1); m1 only true 0, a little less well.
    measured = [Visit(7, 1, 11), Visit(8, 0, 9), Visit(9, 58, 70)]
    assert match_visits(true, measured, 0.5) == [(0, 1), (1, 0)]
    # The third pair overlaps 2/20 = 0.1: matched only with a low threshold.
    assert match_visits(true, measured, 0.1) == [(0, 1), (1, 0), (2, 2)]
    assert match_visits([], measured, 0.5) == []


# --- the comparison, frame by frame ---------------------------------------------------------


def test_count_error_bias_and_occupied_seconds() -> None:
    comp = TruthComparison([rule()])
    # t:      0  1  2  3   (one frame a second)
    # true:   0  2  1  1
    # meas:   0  1  1  3
    truth = [[], [inside(1), inside(2), outside(3)], [inside(1)], [inside(1)]]
    measured = [(0, False), (1, True), (1, True), (3, True)]
    for t, (people, (count, occ)) in enumerate(zip(truth, measured, strict=True)):
        comp.add_frame(float(t), people, [state(t, count, occ)])
    (z,) = comp.finish()
    assert z.frames == 4
    assert z.count_mae == pytest.approx((0 + 1 + 0 + 2) / 4)
    assert z.count_bias == pytest.approx((0 - 1 + 0 + 2) / 4)
    assert z.occupied_accuracy == 1.0
    # Occupied from t=1 to the last frame at t=3, for both.
    assert z.true_occupied_s == pytest.approx(2.0)
    assert z.measured_occupied_s == pytest.approx(2.0)


def test_truth_occupancy_uses_the_zones_debounce() -> None:
    # enter_after_s=1: truth turns occupied only once the person has been inside 1 s.
    comp = TruthComparison([rule(enter=1.0, exit_=0.0)])
    for t in range(4):
        comp.add_frame(t * 0.5, [inside(1)], [state(t * 0.5, 1, occupied=True)])
    (z,) = comp.finish()
    # Frames at t=0 and 0.5 disagree (measured says occupied too early), 1.0 and 1.5 agree.
    assert z.occupied_accuracy == pytest.approx(0.5)
    assert z.true_occupied_s == pytest.approx(0.5)  # from 1.0 to the last frame at 1.5
    assert z.measured_occupied_s == pytest.approx(1.5)
    assert z.occupied_error_s == pytest.approx(1.0)


def test_true_visits_bridge_short_absences_and_drop_short_stays() -> None:
    # exit_after_s=2: an absence of 1 s keeps the visit; enter_after_s=1: a 0.5 s stay
    # is not a visit.
    comp = TruthComparison([rule(enter=1.0, exit_=2.0)])
    timeline: dict[float, list[TruthPoint]] = {}
    for k in range(41):
        t = k * 0.5
        people = []
        if 0 <= t <= 4 or 5.5 <= t <= 8:  # person 1: 0..8 with a gap 4..5.5
            people.append(inside(1))
        if 12 <= t <= 12.5:  # person 2: a 0.5 s stay, too short
            people.append(inside(2))
        timeline[t] = people
    for t, people in timeline.items():
        comp.add_frame(t, people, [state(t, len(people), bool(people))])
    comp.add_events([exit_event(0.0, 8.0), exit_event(12.0, 14.0, track=5)])
    (z,) = comp.finish()
    assert z.true_visits == 1
    assert z.true_mean_dwell_s == pytest.approx(8.0)
    assert z.measured_visits == 2
    assert z.matched_visits == 1
    assert z.visit_precision == pytest.approx(0.5)
    assert z.visit_recall == pytest.approx(1.0)
    assert z.dwell_mae_s == pytest.approx(0.0)


def test_dwell_error_over_matched_visits_and_open_visits_close_at_finish() -> None:
    comp = TruthComparison([rule()])
    for k in range(11):  # person 1 inside from t=0 to t=10, still there at the end
        comp.add_frame(float(k), [inside(1)], [state(k, 1, True)])
    comp.add_events([exit_event(1.0, 10.0)])  # measured 9 s, true 10 s
    (z,) = comp.finish()
    assert (z.true_visits, z.measured_visits, z.matched_visits) == (1, 1, 1)
    assert z.dwell_mae_s == pytest.approx(1.0)
    assert z.dwell_bias_s == pytest.approx(-1.0)


def test_overall_pools_zones() -> None:
    comp = TruthComparison([rule("a"), rule("b", dx=100.0)])
    # Zone a: true 1, measured 1; zone b (far right, empty): true 0, measured 2.
    comp.add_frame(0.0, [inside(1)], [state(0, 1, True, "a"), state(0, 2, True, "b")])
    comp.add_frame(1.0, [inside(1)], [state(1, 1, True, "a"), state(1, 2, True, "b")])
    comp.add_events([exit_event(0.0, 1.0, zone="a"), exit_event(0.0, 1.0, zone="b")])
    results = comp.finish()
    total = overall(results)
    assert [r.count_mae for r in results] == [0.0, 2.0]
    assert total.count_mae == pytest.approx(1.0)
    assert total.occupied_accuracy == pytest.approx(0.5)
    assert (total.true_visits, total.measured_visits, total.matched_visits) == (1, 2, 1)
    assert total.visit_precision == pytest.approx(0.5)
    assert total.visit_recall == pytest.approx(1.0)


def test_comparison_rejects_a_bad_iou() -> None:
    with pytest.raises(ValueError, match="visit_iou"):
        TruthComparison([rule()], visit_iou=0.0)


# --- MOT ground truth ----------------------------------------------------------------------


def test_load_mot_gives_foot_points_per_zero_based_frame(tmp_path: Path) -> None:
    gt = tmp_path / "gt.txt"
    gt.write_text(
        "1,1,10,20,30,40,1,-1,-1,-1\n"
        "1,2,100,0,10,10,1,-1,-1,-1\n"
        "3,1,12.5,20,30,40,1,-1,-1,-1\n"
        "3,9,0,0,5,5,0,-1,-1,-1\n"  # consider flag 0: ignored
        "\n"
    )
    truth = load_mot(gt)
    assert sorted(truth) == [0, 2]
    assert truth[0] == [
        TruthPoint(1, 25.0, 60.0, (10.0, 20.0, 30.0, 40.0)),
        TruthPoint(2, 105.0, 10.0, (100.0, 0.0, 10.0, 10.0)),
    ]
    assert truth[2] == [TruthPoint(1, 27.5, 60.0, (12.5, 20.0, 30.0, 40.0))]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1,1,10,20,30\n", "line 1"),
        ("1,1,10,20,30,40\nx,1,1,1,1,1\n", "line 2"),
        ("0,1,10,20,30,40\n", "frame must be >= 1"),
        ("", "no ground-truth boxes"),
    ],
)
def test_load_mot_names_the_bad_line(tmp_path: Path, text: str, match: str) -> None:
    gt = tmp_path / "gt.txt"
    gt.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_mot(gt)


def test_load_mot_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_mot(tmp_path / "nope.txt")
