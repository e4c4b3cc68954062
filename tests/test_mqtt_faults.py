"""Brokers that refuse us: wrong credentials, a TLS certificate from another CA, nothing
listening at start. Each gives a clear log line, retries with backoff, keeps the events
and never crashes; the right settings then deliver everything."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge_app.core.errors import ConfigError
from edge_app.sinks import create_sinks
from edge_app.sinks.event_sink import EventSink
from tests.mqtt_broker import (
    Broker,
    Collector,
    make_password_file,
    make_tls_files,
    running_broker,
)
from tests.sinks_support import OpenSinks, app_config, closing_sinks, stamped

EVENTS = "edge-app/edge-1/events"
PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def opened() -> Iterator[OpenSinks]:
    with closing_sinks() as sinks:
        yield sinks


def run_sink(opened: OpenSinks, tmp_path: Path, broker: Broker, n: int, **mqtt: Any) -> EventSink:
    config = app_config(tmp_path, broker, **mqtt)
    stamper, (sink,) = create_sinks(config.store, config.mqtt, config.device_id)
    assert isinstance(sink, EventSink)
    opened.add(sink)
    sink.handle(stamped(stamper, n), [])
    return sink


def warnings_of(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("edge_app.sinks") and text in r.getMessage()
    ]


def wait_for_lines(caplog: pytest.LogCaptureFixture, text: str, n: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(warnings_of(caplog, text)) >= n:
            return True
        time.sleep(0.02)
    return False


def unpublished(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "var" / "edge.db") as conn:
        query = "SELECT count(*) FROM events WHERE published_at IS NULL"
        return int(conn.execute(query).fetchone()[0])


def test_refused_credentials_are_reported_retried_and_the_events_kept(
    opened: OpenSinks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_app")
    passwd = make_password_file(tmp_path / "auth", "edge", PASSWORD)
    with running_broker(tmp_path / "broker", password_file=passwd) as broker:
        sink = run_sink(opened, tmp_path, broker, 20, username="edge", password="wrong-password")
        assert wait_for_lines(caplog, "refused the connection", 3, 10)  # it keeps trying
        line = warnings_of(caplog, "refused the connection")[0]
        assert "Not authorized" in line or "Bad user name or password" in line
        assert "check mqtt.username and mqtt.password" in line
        assert sink.publisher is not None and sink.publisher._thread.is_alive()
        sink.close(1.0)
        # The 20, and the exit of the visit they left open, closed at the stop.
        assert unpublished(tmp_path) == 21
        assert "21 events are not yet acknowledged" in caplog.text
        assert "wrong-password" not in caplog.text


def test_a_password_from_the_credentials_directory_is_used_and_never_logged(
    opened: OpenSinks,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    passwd = make_password_file(tmp_path / "auth", "edge", PASSWORD)
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "mqtt-password").write_text(PASSWORD + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with running_broker(tmp_path / "broker", password_file=passwd) as broker:
        collector = Collector(broker, (EVENTS,), persistent=False)
        collector.client.username_pw_set("edge", PASSWORD)
        collector.start()
        sink = run_sink(
            opened, tmp_path, broker, 20, username="edge", password={"credential": "mqtt-password"}
        )
        sink.close(10)
        assert collector.wait_for(lambda m: len(m) >= 20, 5)
        collector.close()
    assert unpublished(tmp_path) == 0
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(sink.publisher.__dict__)


def test_an_unreadable_password_file_is_a_start_up_error(tmp_path: Path) -> None:
    config = app_config(
        tmp_path,
        Broker(tmp_path / "b"),
        username="edge",
        password={"file": str(tmp_path / "missing")},
    )
    with pytest.raises(ConfigError, match=r"missing.*cannot read secret"):
        create_sinks(config.store, config.mqtt, config.device_id)


def test_a_broker_certificate_from_another_ca_is_refused_then_the_right_ca_works(
    opened: OpenSinks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_app")
    tls = make_tls_files(tmp_path / "tls")
    with running_broker(tmp_path / "broker", tls=tls) as broker:
        sink = run_sink(opened, tmp_path / "wrong", broker, 10, tls={"ca_file": str(tls.other_ca)})
        assert wait_for_lines(caplog, "not accepted", 2, 10)
        line = warnings_of(caplog, "not accepted")[0]
        assert "certificate verify failed" in line and "check mqtt.tls.ca_file" in line
        sink.close(0.5)
        assert unpublished(tmp_path / "wrong") == 10

        # The right CA, hostname verification on (the certificate names 127.0.0.1).
        collector = Collector(broker, (EVENTS,), persistent=False)
        collector.client.tls_set(ca_certs=str(tls.ca))
        collector.start()
        sink = run_sink(opened, tmp_path / "right", broker, 10, tls={"ca_file": str(tls.ca)})
        sink.close(10)
        assert collector.wait_for(lambda m: len(m) >= 10, 5)
        collector.close()
        assert unpublished(tmp_path / "right") == 0


def test_hostname_verification_is_on_by_default(
    opened: OpenSinks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_app")
    tls = make_tls_files(tmp_path / "tls", names="DNS:broker.invalid")  # not 127.0.0.1
    with running_broker(tmp_path / "broker", tls=tls) as broker:
        sink = run_sink(opened, tmp_path / "verify", broker, 5, tls={"ca_file": str(tls.ca)})
        assert wait_for_lines(caplog, "not accepted", 1, 10)
        line = warnings_of(caplog, "not accepted")[0]
        assert "mismatch" in line and "verify_hostname" in line
        sink.close(0.5)
        assert unpublished(tmp_path / "verify") == 6  # and the exit of the visit left open

        off = {"ca_file": str(tls.ca), "verify_hostname": False}  # the CA is still checked
        sink = run_sink(opened, tmp_path / "off", broker, 5, tls=off)
        sink.close(10)
        assert unpublished(tmp_path / "off") == 0


def test_a_broker_requiring_client_certificates_accepts_ours(
    opened: OpenSinks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_app")
    tls = make_tls_files(tmp_path / "tls")
    with running_broker(tmp_path / "broker", tls=tls, require_certificate=True) as broker:
        sink = run_sink(opened, tmp_path / "without", broker, 5, tls={"ca_file": str(tls.ca)})
        assert wait_for_lines(caplog, "closed the connection before accepting it", 2, 10)
        assert "set mqtt.tls.cert_file" in warnings_of(caplog, "before accepting it")[0]
        sink.close(0.5)
        assert unpublished(tmp_path / "without") == 6  # and the exit of the visit left open

        mutual = {"ca_file": str(tls.ca), "cert_file": str(tls.client_cert),
                  "key_file": str(tls.client_key)}  # fmt: skip
        sink = run_sink(opened, tmp_path / "with", broker, 5, tls=mutual)
        sink.close(10)
        assert unpublished(tmp_path / "with") == 0


def test_nothing_listening_at_start_backs_off_with_jitter_then_delivers(
    opened: OpenSinks, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge_app")
    broker = Broker(tmp_path / "broker")  # a free port, not started yet
    try:
        sink = run_sink(opened, tmp_path, broker, 30, reconnect_min_s=0.05, reconnect_max_s=0.4)
        assert wait_for_lines(caplog, "connection refused", 7, 10)
        lines = warnings_of(caplog, "connection refused")
        assert f"MQTT broker 127.0.0.1:{broker.port} unreachable" in lines[0]
        assert any("30 events kept in the outbox" in x for x in lines)
        delays = [
            float(re.search(r"retrying in ([0-9.]+) s", x).group(1))  # type: ignore[union-attr]
            for x in lines
        ]
        ceilings = [min(0.4, 0.05 * 2**i) for i in range(len(delays))]
        for delay, ceiling in zip(delays, ceilings, strict=True):
            assert ceiling / 2 - 0.005 <= delay <= ceiling + 0.005  # jittered below the cap
        assert len({round(d, 2) for d in delays[4:]}) > 1  # at the ceiling, still jittered

        collector = Collector(broker, (EVENTS,), persistent=False)
        broker.start()
        collector.start()
        sink.close(10)
        assert collector.wait_for(lambda m: len(m) >= 30, 5)
        got = [json.loads(m.payload)["seq"] for m in collector.messages]
        assert got == list(range(1, 31))
        collector.close()
    finally:
        broker.kill()


def test_a_publisher_that_fails_unexpectedly_is_restarted_counted_and_delivers(
    opened: OpenSinks,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault: paho raises ValueError on publish (as it does for a topic it refuses) for a
    while: the outbox thread must not die quietly with every event left behind."""
    real_publish = mqtt.Client.publish
    faults = {"left": 3}

    def failing_publish(self: mqtt.Client, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic == EVENTS and faults["left"] > 0:
            faults["left"] -= 1
            raise ValueError("Publish topic cannot contain wildcards.")
        return real_publish(self, topic, *args, **kwargs)

    monkeypatch.setattr(mqtt.Client, "publish", failing_publish)
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()
        sink = run_sink(opened, tmp_path, broker, 30, stats_interval_s=0.2)
        assert collector.wait_for(lambda m: len({x.payload for x in m}) >= 30, 20)
        assert sink.publisher is not None and sink.publisher.restarts == 3
        assert sink.health().restarts == {"mqtt-outbox": 3}
        sink.close(5)
        collector.close()
    assert unpublished(tmp_path) == 0
    assert "MQTT publisher failed: ValueError: Publish topic cannot contain wildcards." in (
        caplog.text
    )
