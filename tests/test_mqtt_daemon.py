"""The real daemon (``python -m edge_app run``) against a private mosquitto: a broker
outage mid-run, a SIGKILL mid-run and a restart, a broker unreachable at start.

The camera is a small video file of a bright "person" walking across four zone strips,
paced at its own frame rate so that a run lasts a few seconds and produces a steady
stream of enter/exit/occupancy events.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.daemon_support import Daemon, make_video, wait_until, write_config, write_zones
from tests.mqtt_broker import Broker, Collector, running_broker

pytest.importorskip("onnxruntime")

DEVICE = "test-edge"
EVENTS = f"edge-app/{DEVICE}/events"
AVAILABILITY = f"edge-app/{DEVICE}/availability"
STRIPS = {
    f"s{i}": [[i / 4, 0.0], [(i + 1) / 4, 0.0], [(i + 1) / 4, 1.0], [i / 4, 1.0]] for i in range(4)
}


def daemon_config(folder: Path, frames: int, port: int, realtime: bool = True, **mqtt: Any) -> Path:
    """A config running one paced video camera, publishing to 127.0.0.1:``port``."""
    folder.mkdir(parents=True, exist_ok=True)
    video = make_video(folder / "walk.avi", frames, fps=20)
    zones = write_zones(folder / "zones.yaml", "cam1", STRIPS)
    source = {"type": "file", "path": str(video), "realtime": realtime}
    path = write_config(
        folder, [{"id": "cam1", "source": source, "zones": str(zones)}], mqtt_port=port
    )
    data = yaml.safe_load(path.read_text())
    data["analytics"] = {"enter_after_s": 0.1, "exit_after_s": 0.1}
    data["mqtt"].update(reconnect_min_s=0.1, reconnect_max_s=0.5, keepalive_s=5, **mqtt)
    path.write_text(yaml.safe_dump(data))
    return path


def stored(db: Path) -> list[tuple[int, str, float | None]]:
    """(seq, id, published_at) of every stored event, in sequence order."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT seq, id, published_at FROM events ORDER BY seq").fetchall()


def received(collector: Collector) -> list[tuple[int, str]]:
    return [(d["seq"], d["id"]) for d in (json.loads(m.payload) for m in collector.on(EVENTS))]


def report(name: str, produced: int, got: list[tuple[int, str]], capsys: Any) -> None:
    ids = [i for _, i in got]
    with capsys.disabled():
        print(
            f"\n[{name}] events committed {produced}, received {len(ids)} "
            f"({len(set(ids))} distinct, {len(ids) - len(set(ids))} duplicates)"
        )


def test_daemon_survives_a_broker_outage_mid_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()
        config = daemon_config(tmp_path / "run", frames=140, port=broker.port)
        db = tmp_path / "run" / "var" / "edge-app.db"
        daemon = Daemon(config)
        try:
            assert collector.wait_for(lambda m: len(m) >= 5, 20), daemon.log
            broker.stop()
            assert daemon.wait_log("lost", 10), daemon.log
            at_loss = len(stored(db))
            # The outage lasts until the daemon has failed to reconnect and committed more
            # events, which wait in the outbox.
            assert wait_until(
                lambda: "retrying in" in daemon.log and len(stored(db)) >= at_loss + 5, 20
            ), daemon.log
            broker.start()
            assert daemon.proc.wait(60) == 0, daemon.log
        finally:
            daemon.kill()
        rows = stored(db)
        assert rows and all(published is not None for _, _, published in rows)
        assert collector.wait_for(
            lambda m: {i for _, i in received(collector)} >= {i for _, i, _ in rows}, 10
        )
        got = received(collector)
        first_seen = [s for s, _ in dict.fromkeys(got)]
        assert first_seen == sorted(first_seen)  # order per device kept
        assert {i for _, i in got} == {i for _, i, _ in rows}  # every committed event
        report("daemon, broker outage", len(rows), got, capsys)
        collector.close()


def test_daemon_killed_mid_run_loses_nothing_committed_and_drains_after_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS, AVAILABILITY)).start()
        config = daemon_config(tmp_path / "run", frames=400, port=broker.port)
        db = tmp_path / "run" / "var" / "edge-app.db"
        daemon = Daemon(config)
        try:
            assert collector.wait_for(lambda m: len(received(collector)) >= 10, 20), daemon.log
            daemon.proc.kill()  # SIGKILL: no flush, no "offline", no visit closing
            daemon.proc.wait(10)
        finally:
            daemon.kill()
        committed = stored(db)
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            open_visits = conn.execute(
                "SELECT count(*) FROM visits WHERE exited_wall IS NULL"
            ).fetchone()[0]
        # The broker saw the connection die and published the Last Will.
        assert collector.wait_for(
            lambda m: any(x.payload == b"offline" for x in m if x.topic == AVAILABILITY), 15
        )

        # Restart on a short video: the outbox left by the kill drains first.
        restart = daemon_config(tmp_path / "run", frames=30, port=broker.port, realtime=False)
        again = Daemon(restart)
        try:
            assert again.proc.wait(60) == 0, again.log
        finally:
            again.kill()
        after = stored(db)
        assert {i for _, i, _ in committed} <= {i for _, i, _ in after}  # nothing lost
        assert all(published is not None for _, _, published in after)
        new = [seq for seq, _, _ in after[len(committed) :]]
        assert new and new[0] == committed[-1][0] + 1  # the sequence resumed
        with sqlite3.connect(db) as conn:
            still_open = conn.execute(
                "SELECT count(*) FROM visits WHERE exited_wall IS NULL"
            ).fetchone()[0]
            restarted = conn.execute(
                "SELECT count(*) FROM visits WHERE closed_by = 'restart'"
            ).fetchone()[0]
        assert (still_open, restarted) == (0, open_visits)
        assert collector.wait_for(
            lambda m: {i for _, i in received(collector)} >= {i for _, i, _ in after}, 10
        )
        got = received(collector)
        assert {i for _, i in got} == {i for _, i, _ in after}
        first_seen = [s for s, _ in dict.fromkeys(got)]
        assert first_seen == sorted(first_seen)
        report("daemon, SIGKILL", len(after), got, capsys)
        with capsys.disabled():
            backlog = sum(1 for _, _, published in committed if published is None)
            print(
                f"[daemon, SIGKILL] at the kill: {len(committed)} committed, {backlog} "
                f"not yet acknowledged, {open_visits} visit(s) open; all published after "
                "the restart"
            )
        collector.close()


def test_daemon_with_no_broker_keeps_the_events_and_exits_0_then_publishes_them(
    tmp_path: Path,
) -> None:
    broker = Broker(tmp_path / "broker")  # a free port; nothing listens yet
    try:
        config = daemon_config(tmp_path / "run", frames=60, port=broker.port, realtime=False)
        daemon = Daemon(config, None, "--drain-timeout", "1")
        try:
            assert daemon.proc.wait(60) == 0, daemon.log
        finally:
            daemon.kill()
        assert f"MQTT broker 127.0.0.1:{broker.port} unreachable" in daemon.log
        assert "stay in the outbox" in daemon.log
        rows = stored(tmp_path / "run" / "var" / "edge-app.db")
        assert rows and all(published is None for _, _, published in rows)

        broker.start()
        collector = Collector(broker, (EVENTS,)).start()
        again = Daemon(daemon_config(tmp_path / "run", frames=5, port=broker.port, realtime=False))
        try:
            assert again.proc.wait(60) == 0, again.log
        finally:
            again.kill()
        assert collector.wait_for(
            lambda m: {i for _, i in received(collector)} >= {i for _, i, _ in rows}, 10
        )
        collector.close()
    finally:
        broker.kill()
