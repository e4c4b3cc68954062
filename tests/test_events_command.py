"""``edge-app events``: a store's newest events without the sqlite3 command."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge_app.cli import main
from edge_app.core.errors import ConfigError
from edge_app.core.events import EventStamper, ZoneEnter, ZoneEvent, ZoneExit
from edge_app.sinks.store import EventStore, WriteBatch
from edge_app.tools.events import stored_events


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "edge-app.db"
    stamper = EventStamper("edge-1")
    wall = datetime(2026, 12, 1, tzinfo=timezone.utc)
    events = [
        stamper.stamp(ZoneEvent("cam", "door", 1.0, ZoneEnter(track_id=1)), wall),
        stamper.stamp(ZoneEvent("cam", "door", 3.0, ZoneExit(1, 2.0, 1.0, "left")), wall),
        stamper.stamp(ZoneEvent("cam", "door", 4.0, ZoneEnter(track_id=2)), wall),
    ]
    db = EventStore.open(path)
    try:
        db.write(WriteBatch(events=events))
    finally:
        db.close()
    return path


def test_the_newest_events_oldest_first(store: Path) -> None:
    lines = stored_events(store, limit=2)
    assert [json.loads(x)["seq"] for x in lines] == [2, 3]
    (exit_,) = stored_events(store, event_type="zone.exit")
    assert json.loads(exit_)["dwell_s"] == 2.0


def test_the_command_prints_json_lines(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--store", str(store), "--limit", "3"]) == 0
    assert [json.loads(x)["type"] for x in capsys.readouterr().out.splitlines()] == [
        "zone.enter",
        "zone.exit",
        "zone.enter",
    ]


def test_what_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such store"):
        stored_events(tmp_path / "none.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(ConfigError, match="cannot read events: no such table: events"):
        stored_events(other)
