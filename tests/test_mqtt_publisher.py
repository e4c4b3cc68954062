"""The sinks against a real mosquitto: delivery from the outbox, states, availability,
Home Assistant discovery, stats, and a broker outage in the middle of a run."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_app.core.events import EventStamper, ZoneEnter, ZoneEvent
from edge_app.sinks import CameraStats, PipelineStats, create_sinks
from edge_app.sinks.event_sink import EventSink
from edge_app.sinks.store import Ack, EventStore, WriteBatch
from tests.daemon_support import wait_until
from tests.mqtt_broker import Broker, Collector, running_broker
from tests.sinks_support import T0, OpenSinks, app_config, closing_sinks, stamped, state

EVENTS = "edge-app/edge-1/events"
AVAILABILITY = "edge-app/edge-1/availability"


@pytest.fixture
def opened() -> Iterator[OpenSinks]:
    with closing_sinks() as sinks:
        yield sinks


def open_sink(
    opened: OpenSinks, tmp_path: Path, broker: Broker, **mqtt: Any
) -> tuple[Any, EventSink]:
    config = app_config(tmp_path, broker, **mqtt)
    stamper, (sink,) = create_sinks(config.store, config.mqtt, config.device_id)
    assert isinstance(sink, EventSink)
    opened.add(sink)
    return stamper, sink


def seqs(collector: Collector) -> list[int]:
    return [json.loads(m.payload)["seq"] for m in collector.on(EVENTS)]


def unpublished(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "var" / "edge.db") as conn:
        return int(
            conn.execute("SELECT count(*) FROM events WHERE published_at IS NULL").fetchone()[0]
        )


def retained(broker: Broker, topic: str) -> list[bytes]:
    """What a brand-new subscriber gets at once on ``topic`` (the retained message).

    The broker queues retained messages to a subscriber as it subscribes; a marker the
    subscriber publishes after its SUBACK arrives behind them, so once the marker is here
    nothing retained is still on its way.
    """
    marker = f"probe/{time.monotonic_ns()}"
    fresh = Collector(
        broker, (topic, marker), client_id=marker.replace("/", "-"), persistent=False
    ).start()
    try:
        fresh.client.publish(marker, b"", qos=1)
        if not fresh.wait_for(lambda m: any(x.topic == marker for x in m), 5):
            raise AssertionError(f"the marker on {marker} never came back")
        return [m.payload for m in fresh.on(topic) if m.retain]
    finally:
        fresh.close()


def test_events_arrive_once_in_order_within_the_window_and_are_marked_published(
    opened: OpenSinks,
    tmp_path: Path,
) -> None:
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()
        stamper, sink = open_sink(opened, tmp_path, broker, inflight_max=8)
        events = stamped(stamper, 300)
        for i in range(0, 300, 10):
            sink.handle(events[i : i + 10], [])
        sink.close(10)
        assert collector.wait_for(lambda m: len(m) >= 300, 5)
        assert seqs(collector) == list(range(1, 301))
        payload = json.loads(collector.on(EVENTS)[0].payload)
        assert payload == events[0].to_dict()  # the same JSON as docs/events.md
        assert unpublished(tmp_path) == 0
        assert sink.publisher is not None and 1 <= sink.publisher.peak_inflight <= 8
        collector.close()


def test_availability_is_retained_online_then_offline_after_a_clean_stop(
    opened: OpenSinks, tmp_path: Path
) -> None:
    with running_broker(tmp_path / "broker") as broker:
        _, sink = open_sink(opened, tmp_path, broker)
        assert wait_until(lambda: retained(broker, AVAILABILITY) == [b"online"], 5)
        sink.close(5)
        assert retained(broker, AVAILABILITY) == [b"offline"]


def test_zone_states_are_retained_and_shown_again_after_the_broker_forgot_them(
    opened: OpenSinks,
    tmp_path: Path,
) -> None:
    topic = "edge-app/edge-1/cam1/till/state"
    with running_broker(tmp_path / "broker") as broker:
        _, sink = open_sink(opened, tmp_path, broker)
        sink.handle([], [state(5.0, count=2, coverage=0.3, occupied=True, since=1.0)])
        assert wait_until(lambda: len(retained(broker, topic)) == 1, 5)
        (first,) = retained(broker, topic)
        assert json.loads(first)["count"] == 2 and json.loads(first)["occupied"] is True
        # The broker crashes and loses everything (no persistence file left).
        broker.kill()
        (broker.folder / "mosquitto.db").unlink(missing_ok=True)
        broker.start()
        # Republished on reconnect, no new frame needed.
        assert wait_until(lambda: len(retained(broker, topic)) == 1, 10)
        (again,) = retained(broker, topic)
        assert json.loads(again)["count"] == 2
        sink.close(5)


def test_discovery_and_stats(opened: OpenSinks, tmp_path: Path) -> None:
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(
            broker, ("homeassistant/#", "edge-app/edge-1/stats"), persistent=False
        ).start()
        stamper, sink = open_sink(opened, tmp_path, broker, ha_discovery=True, stats_interval_s=0.2)
        sink.report_stats(PipelineStats({"cam1": CameraStats(9.5, 2)}, 12.5, 2))
        sink.handle(stamped(stamper, 3), [state(1.0, count=1), state(1.0, zone="door")])
        assert collector.wait_for(
            lambda m: (
                len([x for x in m if x.topic.endswith("/config")]) >= 4
                and any(x.topic.endswith("/stats") for x in m)
            ),
            5,
        )
        configs = {
            m.topic: json.loads(m.payload)
            for m in collector.messages
            if m.topic.endswith("/config")
        }
        assert set(configs) == {
            "homeassistant/sensor/edge-1/cam1_till_count/config",
            "homeassistant/binary_sensor/edge-1/cam1_till_occupied/config",
            "homeassistant/sensor/edge-1/cam1_door_count/config",
            "homeassistant/binary_sensor/edge-1/cam1_door_occupied/config",
        }
        assert all(c["availability_topic"] == AVAILABILITY for c in configs.values())
        stats = json.loads(collector.on("edge-app/edge-1/stats")[-1].payload)
        assert stats["cameras"]["cam1"]["fps"] == 9.5
        assert stats["inference_ms"] == 12.5
        assert {"outbox_backlog", "events_published", "sink_frames_dropped"} <= set(stats)
        sink.close(5)
        collector.close()


def test_a_broker_outage_mid_run_loses_nothing_and_keeps_the_order(
    opened: OpenSinks, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fault: the broker is stopped for a while mid-run, then started again."""
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()  # persistent session, QoS 1
        stamper, sink = open_sink(opened, tmp_path, broker)
        produced = threading.Event()
        events = stamped(stamper, 600)

        def produce() -> None:
            for i in range(0, len(events), 5):  # 5 events per frame, a frame every 10 ms
                sink.handle(events[i : i + 5], [state(i / 100, count=i % 4)])
                time.sleep(0.01)
            produced.set()

        producer = threading.Thread(target=produce)
        producer.start()
        assert collector.wait_for(lambda m: len(m) >= 50, 10)  # delivering: stop the broker
        broker.stop()
        publisher = sink.publisher
        assert publisher is not None
        assert wait_until(lambda: not publisher.connected.is_set(), 5)
        # The outage lasts while events keep coming, into the outbox only.
        at_stop = sink.outbox_backlog() or 0
        assert wait_until(lambda: (sink.outbox_backlog() or 0) >= at_stop + 50, 10)
        backlog = sink.outbox_backlog()
        assert backlog is not None and backlog > 0
        broker.start()
        producer.join(30)
        sink.close(15)
        assert produced.is_set()
        assert collector.wait_for(
            lambda m: {json.loads(x.payload)["seq"] for x in m} >= set(range(1, 601)), 15
        )
        got = seqs(collector)
        first_seen = list(dict.fromkeys(got))
        assert first_seen == sorted(first_seen)  # order per device kept
        assert set(got) == set(range(1, 601))  # none lost
        assert unpublished(tmp_path) == 0
        assert sink.publisher.reconnects >= 1
        with capsys.disabled():
            print(
                f"\n[broker outage] produced 600, committed 600, outbox at restart "
                f"{backlog}, received {len(got)} ({len(set(got))} distinct, "
                f"{len(got) - len(set(got))} duplicates), reconnects "
                f"{sink.publisher.reconnects}"
            )
        collector.close()


def test_a_visit_a_crash_left_open_is_closed_at_the_next_start_with_a_published_exit(
    opened: OpenSinks, tmp_path: Path
) -> None:
    config = app_config(tmp_path)
    stamper = EventStamper(config.device_id)
    enter = stamper.stamp(ZoneEvent("cam1", "till", 10.0, ZoneEnter(7)), T0)
    # The crash: the enter is stored (and was published), the visit is open, no stop.
    store = EventStore.open(config.store.path)
    store.write(WriteBatch([enter, *stamped(stamper, 1)], acks=[Ack(enter.id, 1.0)]))
    store.close()
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()
        _, sink = open_sink(opened, tmp_path, broker)
        assert collector.wait_for(
            lambda m: any(json.loads(x.payload)["type"] == "zone.exit" for x in m), 10
        )
        sink.close(5)
        _, again = open_sink(opened, tmp_path, broker)  # a second start: nothing more
        again.close(5)
        exits = [
            json.loads(m.payload)
            for m in collector.on(EVENTS)
            if json.loads(m.payload)["type"] == "zone.exit"
        ]
        collector.close()
    assert len({e["id"] for e in exits}) == 1  # emitted once (an id may arrive twice)
    (first, *_) = exits
    assert (first["track_id"], first["zone"], first["reason"], first["seq"]) == (
        7,
        "till",
        "restart",
        3,
    )
    assert first["entered_t"] == 10.0


DOOR_TOPICS = (
    "edge-app/edge-1/cam1/door/state",
    "homeassistant/sensor/edge-1/cam1_door_count/config",
    "homeassistant/binary_sensor/edge-1/cam1_door_occupied/config",
)
TILL_TOPICS = (
    "edge-app/edge-1/cam1/till/state",
    "homeassistant/sensor/edge-1/cam1_till_count/config",
    "homeassistant/binary_sensor/edge-1/cam1_till_occupied/config",
)


def on_broker(broker: Broker, topics: tuple[str, ...]) -> dict[str, int]:
    """How many retained messages a new subscriber gets on each topic."""
    return {topic: len(retained(broker, topic)) for topic in topics}


def publish_both_zones(opened: OpenSinks, tmp_path: Path, broker: Broker) -> EventSink:
    _, sink = open_sink(opened, tmp_path, broker, ha_discovery=True)
    sink.set_zones({"cam1": ["till", "door"]})
    sink.handle([], [state(1.0, count=1, occupied=True, since=0.5), state(1.0, zone="door")])
    everything = DOOR_TOPICS + TILL_TOPICS
    assert wait_until(lambda: set(on_broker(broker, everything).values()) == {1}, 10)
    return sink


def test_a_zone_removed_by_a_reload_leaves_no_retained_state_or_discovery_config(
    opened: OpenSinks, tmp_path: Path
) -> None:
    with running_broker(tmp_path / "broker") as broker:
        sink = publish_both_zones(opened, tmp_path, broker)
        sink.set_zones({"cam1": ["till"]})  # the reload
        sink.handle([], [state(2.0, zone="door"), state(2.0, count=2, occupied=True, since=0.5)])
        assert wait_until(lambda: set(on_broker(broker, DOOR_TOPICS).values()) == {0}, 10)
        assert set(on_broker(broker, TILL_TOPICS).values()) == {1}
        sink.close(5)
        assert set(on_broker(broker, DOOR_TOPICS).values()) == {0}  # a late frame too
    with sqlite3.connect(tmp_path / "var" / "edge.db") as conn:
        recorded = {t for (t,) in conn.execute("SELECT topic FROM retained_topics")}
    assert recorded == set(TILL_TOPICS)


def test_a_zone_removed_while_stopped_is_cleared_at_the_next_start(
    opened: OpenSinks, tmp_path: Path
) -> None:
    with running_broker(tmp_path / "broker") as broker:
        publish_both_zones(opened, tmp_path, broker).close(5)
        _, sink = open_sink(opened, tmp_path, broker, ha_discovery=True)
        sink.set_zones({"cam1": ["till"]})  # the new zone file has no door
        assert wait_until(lambda: set(on_broker(broker, DOOR_TOPICS).values()) == {0}, 10)
        assert set(on_broker(broker, TILL_TOPICS).values()) == {1}
        sink.close(5)
