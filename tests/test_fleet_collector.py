"""The collector in-process against a real mosquitto and PostgreSQL: duplicates and
invalid messages are acknowledged and counted, nothing is delivered twice after a clean
stop, and a restarted collector resumes its session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_app.core.events import EventStamper
from edge_app.fleet.collector import Collector
from edge_app.fleet.config import load_collector_config
from edge_app.sinks.rows import event_json
from tests.daemon_support import wait_until
from tests.fleet_support import collector_config
from tests.mqtt_broker import Broker, running_broker
from tests.pg_server import fleet_url, postgres  # noqa: F401 (fixtures)
from tests.sinks_support import T0, zone_events


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path / "mosquitto") as b:
        yield b


class Running:
    """A collector run in a thread (its main loop) until ``close``."""

    def __init__(self, config_path: Path) -> None:
        self.collector = Collector(load_collector_config(config_path))
        self.collector.start()
        self.thread = threading.Thread(target=self.collector.run)
        self.thread.start()

    def close(self) -> bool:
        self.collector.request_stop()
        self.thread.join(10)
        return self.collector.stop(10)


def publish(broker: Broker, messages: list[tuple[str, str]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stand-in-device")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_duplicates_and_invalid_messages_are_acknowledged_and_counted(
    tmp_path: Path,
    broker: Broker,
    fleet_url: str,  # noqa: F811
) -> None:
    path = collector_config(tmp_path, broker, fleet_url, "collector-1")
    stamper = EventStamper("store-1")
    events = [stamper.stamp(e, T0 + timedelta(seconds=e.t)) for e in zone_events(6)]
    topic = "edge-app/store-1/events"
    run = Running(path)
    try:
        assert wait_until(run.collector.intake.connected.is_set, 10)
        assert wait_until(lambda: run.collector.snapshot().mqtt_connected, 10)
        publish(
            broker,
            [(topic, event_json(e)) for e in events]
            + [(topic, event_json(events[2])), (topic, "not json"),
               ("edge-app/store-1/cam1/till/state",
                '{"camera": "cam1", "zone": "till", "count": 2, "coverage": 0.1, '
                '"occupied": true, "ts": "2026-11-23T12:00:01.000Z", "t": 1.0}')],
        )  # fmt: skip
        done = wait_until(lambda: run.collector.snapshot().messages_received == 9, 20)
        assert done, run.collector.snapshot()
        assert wait_until(lambda: run.collector.snapshot().states == 1, 10)
        snap = run.collector.snapshot()
        assert (snap.events_stored, snap.events_duplicate, snap.messages_invalid) == (6, 1, 1)
    finally:
        assert run.close()

    again = Running(path)  # the same session: nothing unacknowledged is left in it
    try:
        marker = stamper.stamp(next(iter(zone_events(1))), T0)
        publish(broker, [(topic, event_json(marker))])
        assert wait_until(lambda: again.collector.snapshot().events_stored == 1, 20)
        assert again.collector.snapshot().messages_received == 1
    finally:
        assert again.close()
