"""The README's main job: ``edge-app demo`` end to end, as a new user runs it."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge_app.config.zones import load_zones
from tests.cli_support import run_cli
from tests.conftest import REPO
from tests.mqtt_broker import Collector, running_broker

EVENTS = "edge-app/demo/events"


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    """The demo in its own process: it runs the daemon and installs its signal handlers."""
    return subprocess.run(
        [sys.executable, "-m", "edge_app", "demo", "--no-live", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )


def test_the_demo_counts_the_synthetic_shop_and_publishes_every_event(tmp_path: Path) -> None:
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()
        result = demo(
            "--duration", "30", "--state-dir", str(tmp_path / "var"),
            "--mqtt", f"127.0.0.1:{broker.port}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        with sqlite3.connect(_store_of(result)) as conn:
            rows = conn.execute("SELECT id, type, published_at FROM events").fetchall()
        assert rows, "30 s of the shop produce events"
        assert all(published is not None for _, _, published in rows)  # drained before exit
        assert collector.wait_for(lambda m: len(m) >= len(rows), 10)
        got = {json.loads(m.payload)["id"] for m in collector.on(EVENTS)}
        assert got == {i for i, _, _ in rows}
        collector.close()
    assert {"zone.enter", "zone.exit"} <= {t for _, t, _ in rows}
    out = result.stdout
    zone_ids = [z.id for z in load_zones(REPO / "zones" / "store-floor.yaml").zones]
    assert all(re.search(rf"^[│|] {re.escape(z)}\s", out, re.M) for z in zone_ids), out
    error = re.search(r"mean count error ([0-9.]+) people/frame", out)
    assert error is not None, out
    assert float(error.group(1)) < 0.5  # measured 0.23 on this scene; a broken pipeline is > 1
    assert " ERROR " not in result.stderr and "Traceback" not in result.stderr


def _store_of(result: subprocess.CompletedProcess[str]) -> Path:
    match = re.search(r"events stored in (\S+);", result.stdout.replace("\n", ""))
    assert match is not None, result.stdout
    return Path(match.group(1))


def _rows(store: Path) -> list[tuple[str, float | None]]:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT id, published_at FROM events").fetchall()


def test_each_run_has_its_own_store_so_old_events_are_never_published(tmp_path: Path) -> None:
    state = str(tmp_path / "var")
    offline = demo("--duration", "8", "--state-dir", state, "--mqtt", "off")
    assert offline.returncode == 0, offline.stderr
    left = _rows(_store_of(offline))
    assert left and all(published is None for _, published in left)  # waiting in its outbox
    with running_broker(tmp_path / "broker") as broker:
        collector = Collector(broker, (EVENTS,)).start()
        online = demo("--duration", "8", "--state-dir", state, "--mqtt", f"127.0.0.1:{broker.port}")
        assert online.returncode == 0, online.stderr
        fresh = _rows(_store_of(online))
        assert collector.wait_for(lambda m: len(m) >= len(fresh), 10)
        got = {json.loads(m.payload)["id"] for m in collector.on(EVENTS)}
        collector.close()
    assert _store_of(online) != _store_of(offline)
    assert got == {i for i, _ in fresh}  # nothing of the earlier run
    assert "0 event(s) waiting in the outbox" in online.stderr


def test_continuing_a_store_is_an_explicit_choice(tmp_path: Path) -> None:
    store = tmp_path / "kept.db"
    first = demo("--duration", "5", "--store", str(store), "--mqtt", "off")
    assert first.returncode == 0, first.stderr
    waiting = len(_rows(store))
    second = demo("--duration", "5", "--store", str(store), "--mqtt", "off")
    assert second.returncode == 0, second.stderr
    assert f"{waiting} event(s) waiting in the outbox" in second.stderr
    assert "(continued)" in second.stdout


def test_the_demo_points_at_edge_apps_own_events_command(tmp_path: Path) -> None:
    result = demo("--duration", "3", "--state-dir", str(tmp_path), "--mqtt", "off")
    assert result.returncode == 0, result.stderr
    text = result.stdout.replace("\n", "")
    assert "sqlite3" not in text
    store = _store_of(result)
    assert f"events --store {store} --limit 5" in text
    shown = subprocess.run(
        [sys.executable, "-m", "edge_app", "events", "--store", str(store), "--limit", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = shown.stdout.splitlines()
    assert len(lines) == min(5, len(_rows(store)))
    assert all(json.loads(line)["device"] == "demo" for line in lines)


@pytest.mark.parametrize("address", ["nohost:port", "127.0.0.1:0", ":1883"])
def test_a_bad_broker_address_is_one_clear_error(
    tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before anything starts: no daemon, no signal handlers, so in this process.
    result = run_cli(
        capsys, "demo", "--no-live", "--duration", "1", "--state-dir", str(tmp_path),
        "--mqtt", address,
    )  # fmt: skip
    assert result.returncode != 0
    assert "is not HOST:PORT" in result.stderr and "Traceback" not in result.stderr
