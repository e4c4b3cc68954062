"""Pure parts of the sinks: occupancy samples, state publishing rules, topics and payloads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from edge_app.sinks.aggregate import OccupancyAggregator, OccupancySample
from edge_app.sinks.base import CameraStats, PipelineStats
from edge_app.sinks.states import StateBoard
from edge_app.sinks.topics import (
    Topics,
    discovery_messages,
    state_payload,
    stats_payload,
    topic_segment,
)
from tests.sinks_support import state

WALL = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


def feed(
    agg: OccupancyAggregator, frames: list[tuple[float, int, bool]], zone: str = "till"
) -> list[OccupancySample]:
    """Add (t, count, occupied) frames; the samples closed along the way."""
    done: list[OccupancySample] = []
    for t, count, occupied in frames:
        done += agg.add(state(t, count, 0.1 * count, occupied, zone=zone), wall=1000.0 + t)
    return done


def test_a_sample_per_interval_with_time_weighted_means() -> None:
    agg = OccupancyAggregator(interval_s=10)
    # 0-4 s: 2 people (occupied); 4-10 s: nobody. Frames at uneven rates.
    frames = [(0.0, 2, True), (1.0, 2, True), (4.0, 0, False), (6.0, 0, False), (9.0, 0, False)]
    assert feed(agg, frames) == []
    (sample,) = feed(agg, [(10.0, 1, True)])  # first frame of the next interval closes it
    assert sample.frames == 5
    assert sample.duration_s == pytest.approx(10.0)
    assert sample.occupied_s == pytest.approx(4.0)
    assert sample.mean_count == pytest.approx(0.8)  # 2 people for 4 s of 10
    assert sample.max_count == 2
    assert sample.mean_coverage == pytest.approx(0.08)
    assert (sample.t_start, sample.wall_start, sample.wall_end) == (0.0, 1000.0, 1009.0)
    (rest,) = agg.flush()
    assert (rest.frames, rest.t_start, rest.duration_s, rest.mean_count) == (1, 10.0, 0.0, 1.0)


def test_a_frame_rate_drop_does_not_change_the_means() -> None:
    fast, slow = OccupancyAggregator(60), OccupancyAggregator(60)
    feed(fast, [(t / 10, 1 if t < 300 else 0, t < 300) for t in range(600)])
    feed(slow, [(float(t), 1 if t < 30 else 0, t < 30) for t in range(60)])
    (a,), (b,) = fast.flush(), slow.flush()
    assert a.frames == 10 * b.frames
    assert a.mean_count == pytest.approx(b.mean_count, abs=0.01)
    assert a.occupied_s == pytest.approx(b.occupied_s, abs=0.2)


def test_a_stalled_camera_gap_is_not_credited() -> None:
    agg = OccupancyAggregator(interval_s=60, max_gap_s=5)
    feed(agg, [(0.0, 1, True), (1.0, 1, True), (30.0, 1, True), (31.0, 1, True)])
    (sample,) = agg.flush()
    assert sample.duration_s == pytest.approx(2.0)  # 0-1 and 30-31; the 29 s gap is not
    assert sample.occupied_s == pytest.approx(2.0)


def test_a_clock_going_backwards_closes_the_interval() -> None:
    agg = OccupancyAggregator(interval_s=60)
    feed(agg, [(50.0, 1, True), (51.0, 1, True)])
    (looped,) = feed(agg, [(0.5, 0, False)])  # a looping file starts again
    assert looped.frames == 2
    assert looped.duration_s == pytest.approx(1.0)


def test_zones_and_cameras_are_aggregated_apart_and_last_t_is_per_camera() -> None:
    agg = OccupancyAggregator(interval_s=60)
    feed(agg, [(0.0, 1, True), (1.0, 1, True)], zone="a")
    feed(agg, [(0.0, 3, True), (2.0, 3, True)], zone="b")
    agg.add(state(7.0, camera="cam2"), wall=1.0)
    samples = {(s.camera, s.zone): s for s in agg.flush()}
    assert set(samples) == {("cam1", "a"), ("cam1", "b"), ("cam2", "till")}
    assert samples[("cam1", "b")].max_count == 3
    assert agg.last_t() == {"cam1": 2.0, "cam2": 7.0}


@pytest.mark.parametrize(
    ("interval", "gap"), [(0.0, 5.0), (-1.0, 5.0), (60.0, 0.0)], ids=["zero", "neg", "gap"]
)
def test_aggregator_rejects_bad_arguments(interval: float, gap: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        OccupancyAggregator(interval, gap)


# --- which states are published --------------------------------------------------------


def test_count_and_occupied_changes_are_due_at_once_coverage_only_throttled() -> None:
    board = StateBoard(min_interval_s=1.0, refresh_s=30.0)
    board.offer([state(0.0, 1, 0.20, True, 0.0)], WALL)
    assert [d.state.count for d in board.due(now=100.0)] == [1]
    board.offer([state(0.1, 1, 0.20, True, 0.0)], WALL)
    assert board.due(now=100.1) == []  # nothing changed
    board.offer([state(0.2, 1, 0.35, True, 0.0)], WALL)
    assert board.due(now=100.2) == []  # coverage only: not yet
    assert [d.state.coverage for d in board.due(now=101.1)] == [0.35]  # ... but later
    board.offer([state(0.3, 2, 0.35, True, 0.0)], WALL)
    assert [d.state.count for d in board.due(now=101.2)] == [2]  # count: at once
    board.offer([state(0.4, 2, 0.35, True, 0.0)], WALL)
    assert [d.state.t for d in board.due(now=131.3)] == [0.4]  # refreshed after 30 s


def test_reset_makes_every_known_zone_due_again() -> None:
    board = StateBoard(min_interval_s=1.0, refresh_s=30.0)
    board.offer([state(0.0, zone="a"), state(0.0, zone="b")], WALL)
    assert len(board.due(now=1.0)) == 2
    assert board.due(now=1.1) == []
    board.reset()
    assert sorted(d.zone for d in board.due(now=1.2)) == ["a", "b"]


# --- topics and payloads ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "segment"),
    [("till", "till"), ("till 1/2", "till_1_2"), ("a+b#c", "a_b_c"), ("", "_"), ("é", "_")],
)
def test_topic_segments_cannot_change_the_topic_structure(name: str, segment: str) -> None:
    assert topic_segment(name) == segment


def test_topics_under_the_base() -> None:
    topics = Topics.create("shops/{device_id}/edge", "edge-7")
    assert topics.availability == "shops/edge-7/edge/availability"
    assert topics.events == "shops/edge-7/edge/events"
    assert topics.stats == "shops/edge-7/edge/stats"
    assert topics.state("cam1", "till/2") == "shops/edge-7/edge/cam1/till_2/state"


def test_state_payload_says_warming_up_only_while_it_is() -> None:
    from dataclasses import replace

    warming = state_payload(replace(state(5.0, 1, 0.1, True, 4.0), warming_up=True), WALL)
    assert warming["warming_up"] is True
    assert "warming_up" not in state_payload(state(5.0, 1, 0.1, True, 4.0), WALL)


def test_state_payload_turns_source_times_into_utc() -> None:
    payload = state_payload(state(100.0, 2, 0.12345, True, 40.0, dwell={1: 12.5, 2: 3.0}), WALL)
    assert payload == {
        "camera": "cam1",
        "zone": "till",
        "count": 2,
        "coverage": 0.123,
        "occupied": True,
        "occupied_since": "2026-11-23T11:59:00.000Z",  # 60 s before the frame
        "occupied_s": 60.0,
        "longest_dwell_s": 12.5,
        "ts": "2026-11-23T12:00:00.000Z",
        "t": 100.0,
    }
    empty = state_payload(state(5.0), WALL + timedelta(seconds=1))
    assert (empty["occupied_since"], empty["occupied_s"], empty["longest_dwell_s"]) == (
        None,
        0.0,
        0.0,
    )


def test_stats_payload_merges_pipeline_and_sink_figures() -> None:
    pipeline = PipelineStats(
        {"cam1": CameraStats(9.876, 3, True, reconnects=2)}, 41.237, 5, events={"zone.enter": 4}
    )
    payload = stats_payload("edge-1", pipeline, {"outbox_backlog": 7}, WALL)
    assert payload["cameras"] == {
        "cam1": {"fps": 9.88, "frames_dropped": 3, "online": True, "reconnects": 2}
    }
    assert (payload["inference_ms"], payload["frames_dropped"]) == (41.24, 5)
    assert payload["events"] == {"zone.enter": 4}
    assert payload["outbox_backlog"] == 7
    assert stats_payload("edge-1", None, {}, WALL)["inference_ms"] is None


def test_home_assistant_discovery_for_one_zone() -> None:
    topics = Topics.create("edge-app/{device_id}", "edge-1")
    (count_topic, count), (occ_topic, occupied) = discovery_messages(
        topics, "homeassistant", "cam1", "till 2"
    )
    assert count_topic == "homeassistant/sensor/edge-1/cam1_till_2_count/config"
    assert occ_topic == "homeassistant/binary_sensor/edge-1/cam1_till_2_occupied/config"
    for config in (count, occupied):
        assert config["state_topic"] == "edge-app/edge-1/cam1/till_2/state"
        assert config["availability_topic"] == "edge-app/edge-1/availability"
        assert config["device"]["identifiers"] == ["edge-app_edge-1"]
        json.dumps(config)  # serialisable as is
    assert count["value_template"] == "{{ value_json.count }}"
    assert occupied["device_class"] == "occupancy"
    assert count["unique_id"] != occupied["unique_id"]


def test_occupied_since_stays_the_same_for_one_occupancy() -> None:
    board = StateBoard(min_interval_s=0.0, refresh_s=0.0)  # every frame due
    shown = []
    # Frames 0.1 s apart on the camera's clock; they reach the sink a few ms late, varying.
    for k, late_ms in enumerate((3, 17, 1, 40, 9)):
        t = 100.0 + 0.1 * k
        wall = WALL + timedelta(seconds=0.1 * k, milliseconds=late_ms)
        board.offer([state(t, 1, 0.2, True, 95.0)], wall)
        (due,) = board.due(now=float(k))
        shown.append(state_payload(due.state, due.wall, due.since_wall)["occupied_since"])
    assert shown == ["2026-11-23T11:59:55.003Z"] * 5  # 5 s before the first frame
    board.offer([state(101.0, 0, 0.0, False, None)], WALL + timedelta(seconds=1))
    board.offer([state(102.0, 1, 0.2, True, 101.5)], WALL + timedelta(seconds=2))
    (due,) = board.due(now=10.0)  # a new occupancy: its own start
    assert state_payload(due.state, due.wall, due.since_wall)["occupied_since"] == (
        "2026-11-23T12:00:01.500Z"
    )
