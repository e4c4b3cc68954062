"""``edge-app run`` as systemd runs it: READY, watchdog, SIGTERM drain, SIGHUP zone reload.

Each test starts the daemon as a subprocess (``python -m edge_app run``) on a video file
played in real time, with the tiny ONNX person model, and plays systemd's part through a
notify socket of its own. Every wait is bounded; the daemon is killed if a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_support import (
    LEFT_HALF,
    WHOLE_FRAME,
    Daemon,
    NotifySocket,
    make_video,
    wait_until,
    write_config,
    write_zones,
)
from tests.mqtt_broker import Collector, Message, running_broker

RIGHT_HALF = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]


def events(db: Path) -> list[tuple[int, str, str | None, dict[str, object], float | None]]:
    """``(seq, type, zone, payload, published_at)`` of every stored event, by seq."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            rows = conn.execute(
                "select seq, type, zone, payload, published_at from events order by seq"
            ).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []
    return [(s, t, z, json.loads(p), pub) for s, t, z, p, pub in rows]


def busy_stats(message: Message) -> bool:
    """A stats message of a pipeline that has analysed frames and emitted an enter."""
    if not message.topic.endswith("/stats"):
        return False
    stats = json.loads(message.payload)
    fps = stats["cameras"].get("cam1", {}).get("fps", 0)
    return bool(fps > 0 and stats["events"].get("zone.enter", 0) >= 1)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def looping_video(tmp_path: Path) -> Path:
    return make_video(tmp_path / "floor.avi", frames=94)  # two walks across, 9.4 s


def camera(video: Path, zones: Path) -> dict[str, object]:
    return {
        "id": "cam1",
        "source": {"type": "file", "path": str(video), "realtime": True, "loop": True},
        "zones": str(zones),
    }


def test_sigterm_drains_flushes_sqlite_and_publishes_offline(
    tmp_path: Path, notify: NotifySocket, looping_video: Path
) -> None:
    zones = write_zones(tmp_path / "zones.yaml", "cam1", {"floor": WHOLE_FRAME})
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, ("edge-app/test-edge/#",), persistent=False).start()
        config = write_config(tmp_path, [camera(looping_video, zones)], mqtt_port=broker.port)
        env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}
        daemon = Daemon(config, env)
        try:
            assert notify.wait_for("READY", "1", 30), daemon.log
            assert notify.wait_for("WATCHDOG", "1", 10), daemon.log
            assert collector.wait_for(
                lambda ms: any(
                    m.topic.endswith("/events") and json.loads(m.payload)["type"] == "zone.enter"
                    for m in ms
                ),
                20,
            ), daemon.log
            stats_seen = collector.wait_for(lambda ms: any(busy_stats(m) for m in ms), 10)
            code = daemon.stop(timeout_s=30)
        finally:
            daemon.kill()
            collector.close()
        availability = collector.on("edge-app/test-edge/availability")
        stats = [json.loads(m.payload) for m in collector.messages if busy_stats(m)]
    assert code == 0, daemon.log
    assert stats_seen
    last = stats[0]
    # The pipeline's figures, as systemd's STATUS and the Prometheus endpoint get them:
    assert set(last["cameras"]["cam1"]) >= {"fps", "frames_dropped", "online", "reconnects"}
    assert last["events"].get("zone.enter", 0) >= 1
    assert last["inference_p95_ms"] is not None and last["inference_ms"] > 0
    assert "outbox_backlog" in last
    messages = notify.snapshot()
    ready = next(i for i, m in enumerate(messages) if m.get("READY") == "1")
    assert messages[ready]["MAINPID"] == str(daemon.proc.pid)
    assert "1/1 cameras up" in messages[ready]["STATUS"]
    assert all("WATCHDOG" not in m for m in messages[:ready])  # no pings before READY
    assert any(m.get("STOPPING") == "1" for m in messages[ready:])
    stored = events(tmp_path / "var" / "edge-app.db")
    # The person inside at the stop: the visit was closed and stored before exit.
    assert stored[-1][1] == "zone.exit" and stored[-1][3]["reason"] == "ended"
    assert all(published is not None for *_, published in stored)  # the outbox drained
    assert availability and availability[-1].payload == b"offline"
    assert "signal SIGTERM: stopping" in daemon.log
    assert "Traceback" not in daemon.log


def test_sighup_swaps_zones_and_a_bad_zone_file_keeps_the_old_ones(
    tmp_path: Path, looping_video: Path
) -> None:
    zones = write_zones(tmp_path / "zones.yaml", "cam1", {"left": LEFT_HALF})
    config = write_config(tmp_path, [camera(looping_video, zones)])
    pid_file = tmp_path / "run" / "edge-app.pid"
    db = tmp_path / "var" / "edge-app.db"
    daemon = Daemon(config, None, "--pid-file", str(pid_file))
    try:
        assert daemon.wait_log("ready:", 30), daemon.log
        pid = int(pid_file.read_text())
        assert pid == daemon.proc.pid
        assert pid_file.stat().st_mode & 0o777 == 0o600
        assert wait_until(lambda: any(e[2] == "left" for e in events(db)), 20), daemon.log

        write_zones(zones, "cam1", {"right": RIGHT_HALF})
        os.kill(pid, signal.SIGHUP)
        assert daemon.wait_log("zones reloaded: camera cam1: right", 10), daemon.log
        assert wait_until(lambda: any(e[2] == "right" for e in events(db)), 20), daemon.log

        zones.write_text("camera: cam1\nzones:\n  - id: broken\n    polygon: [[0, 0], [1, 1]]\n")
        os.kill(pid, signal.SIGHUP)
        assert daemon.wait_log("zone reload failed, keeping the current zones", 10), daemon.log
        why = next(line for line in daemon.lines if "zone reload failed" in line)
        assert str(zones) in why and "polygon" in why
        last_seq = max(e[0] for e in events(db))
        # Still analysing with the old (good) zones: new events of zone "right" arrive.
        assert wait_until(
            lambda: any(e[0] > last_seq and e[2] == "right" for e in events(db)), 20
        ), daemon.log
        assert daemon.proc.poll() is None  # SIGHUP never ends the daemon
        code = daemon.stop(timeout_s=30)
    finally:
        daemon.kill()
    assert code == 0, daemon.log
    assert not pid_file.exists()  # removed at exit
    zones_seen = {e[2] for e in events(db) if e[2] is not None}
    assert zones_seen == {"left", "right"}
