"""The SQLite event store: schema by migrations, outbox, visits, retention, errors."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData

from edge_app.core.errors import StoreError
from edge_app.core.events import EventStamper, ZoneEnter, ZoneEvent, ZoneExit
from edge_app.sinks import create_sinks, schema
from edge_app.sinks.aggregate import OccupancySample
from edge_app.sinks.migrate import head_revision
from edge_app.sinks.retention import apply_retention
from edge_app.sinks.store import Ack, EventStore, WriteBatch
from tests.sinks_support import T0, app_config, stamped


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = EventStore.open(tmp_path / "var" / "edge.db")
    yield s
    s.close()


def rows(store: EventStore, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql)]


def test_a_new_store_is_private_in_wal_mode_and_at_the_head_revision(store: EventStore) -> None:
    store.write(WriteBatch(stamped(EventStamper("edge-1"), 3)))
    for suffix in ("", "-wal", "-shm"):
        mode = os.stat(f"{store.path}{suffix}").st_mode & 0o777
        assert mode == 0o600, f"{suffix or 'db'} is {mode:o}"
    assert rows(store, "PRAGMA journal_mode") == [("wal",)]
    assert rows(store, "PRAGMA auto_vacuum") == [(2,)]  # incremental: size retention shrinks
    assert rows(store, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert store.integrity_check() == "ok"


def test_an_existing_readable_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    EventStore.open(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_migrated_schema_is_the_one_the_code_queries(store: EventStore) -> None:
    both = MetaData()
    for table in [*schema.metadata.tables.values(), *schema.device_metadata.tables.values()]:
        table.to_metadata(both)
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), both)
    assert diffs == []


def test_reopening_keeps_the_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    first = EventStore.open(path)
    first.write(WriteBatch(stamped(EventStamper("edge-1"), 5)))
    first.close()
    again = EventStore.open(path)
    assert again.max_seq("edge-1") == 5
    assert rows(again, "SELECT count(*) FROM alembic_version") == [(1,)]
    again.close()


def test_the_outbox_is_unacknowledged_events_in_sequence_order(store: EventStore) -> None:
    events = stamped(EventStamper("edge-1"), 6)
    store.write(WriteBatch(events[3:]))  # committed out of order on purpose
    store.write(WriteBatch(events[:3]))
    assert [r.seq for r in store.outbox("edge-1", 0, 100)] == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in store.outbox("edge-1", 2, 2)] == [3, 4]
    assert json.loads(store.outbox("edge-1", 0, 1)[0].payload) == events[0].to_dict()
    store.write(WriteBatch(acks=[Ack(events[0].id, 1.0), Ack(events[2].id, 2.0)]))
    assert [r.seq for r in store.outbox("edge-1", 0, 100)] == [2, 4, 5, 6]
    assert store.backlog("edge-1") == 4
    assert (store.max_seq("edge-1"), store.max_seq("other")) == (6, 0)
    assert store.outbox("other", 0, 100) == []


def test_a_sequence_number_cannot_be_stored_twice(store: EventStore) -> None:
    (first,) = stamped(EventStamper("edge-1"), 1)
    (clash,) = stamped(EventStamper("edge-1"), 1)  # a stamper that did not resume
    store.write(WriteBatch([first]))
    with pytest.raises(StoreError, match="UNIQUE"):
        store.write(WriteBatch([clash]))
    assert store.backlog("edge-1") == 1  # the failed batch left nothing behind


def visit(camera: str, zone: str, track: int, t: float, dwell: float | None = None) -> ZoneEvent:
    payload = ZoneEnter(track) if dwell is None else ZoneExit(track, dwell, t - dwell)
    return ZoneEvent(camera, zone, t, payload)


def test_visits_open_on_enter_and_close_on_exit(store: EventStore) -> None:
    stamper = EventStamper("edge-1")
    events = [
        stamper.stamp(e, T0 + timedelta(seconds=e.t))
        for e in (
            visit("cam1", "till", 1, 10.0),
            visit("cam1", "door", 1, 11.0),
            visit("cam1", "till", 1, 25.0, dwell=15.0),
            visit("cam1", "till", 9, 30.0, dwell=4.0),  # its enter was never stored
        )
    ]
    store.write(WriteBatch(events[:2]))
    store.write(WriteBatch(events[2:]))
    got = rows(
        store,
        "SELECT zone, track_id, entered_t, exited_t, dwell_s, closed_by, "
        "exited_wall - entered_wall FROM visits ORDER BY id",
    )
    assert got == [
        ("till", 1, 10.0, 25.0, 15.0, "exit", 15.0),
        ("door", 1, 11.0, None, None, None, None),
        ("till", 9, 26.0, 30.0, 4.0, "exit", 4.0),
    ]
    (closed,) = store.close_open_visits("edge-1", {"cam1": 41.0})
    assert rows(store, "SELECT dwell_s, closed_by FROM visits WHERE zone = 'door'") == [
        (30.0, "shutdown")
    ]
    # Its exit is stored (in the outbox) with the next seq, like any event.
    assert (closed.seq, closed.zone, closed.t, closed.payload) == (
        5,
        "door",
        41.0,
        ZoneExit(1, 30.0, 11.0, "ended"),
    )
    assert [r.seq for r in store.outbox("edge-1", 4, 10)] == [5]


def test_recover_closes_visits_a_crash_left_open_at_the_last_activity(store: EventStore) -> None:
    stamper = EventStamper("edge-1")
    enter = stamper.stamp(visit("cam1", "till", 3, 100.0), T0)
    later = stamped(stamper, 1)[0]  # another event of cam1, 0 s after T0
    sample = OccupancySample(
        "cam1", "till", T0.timestamp(), T0.timestamp() + 42.0, 100.0, 42.0, 10, 1.0, 1, 42.0, 0.1
    )
    store.write(WriteBatch([enter, later], [sample]))
    (exit_event,) = store.recover("edge-1")
    assert rows(store, "SELECT dwell_s, exited_t, closed_by FROM visits") == [
        (42.0, 142.0, "restart")
    ]
    assert (exit_event.seq, exit_event.camera, exit_event.zone, exit_event.t) == (
        3,
        "cam1",
        "till",
        142.0,
    )
    assert exit_event.payload == ZoneExit(3, 42.0, 100.0, "restart")
    assert exit_event.wall.timestamp() == T0.timestamp() + 42.0
    stored = rows(store, "SELECT payload FROM events WHERE seq = 3")
    assert json.loads(stored[0][0]) == exit_event.to_dict()
    assert store.recover("edge-1") == []  # once


def test_dashboard_queries_are_served_by_indexes(store: EventStore) -> None:
    queries = [
        "SELECT * FROM events WHERE camera = 'c' AND zone = 'z' AND wall > 0",
        "SELECT * FROM events WHERE type = 'zone.enter' AND wall BETWEEN 0 AND 1",
        "SELECT * FROM events WHERE device = 'd' AND published_at IS NULL AND seq > 5 ORDER BY seq",
        "SELECT * FROM occupancy_samples WHERE camera = 'c' AND zone = 'z' AND wall_start > 0",
        "SELECT * FROM visits WHERE camera = 'c' AND zone = 'z' AND entered_wall > 0",
        "SELECT * FROM visits WHERE camera = 'c' AND zone = 'z' AND track_id = 1 "
        "AND exited_wall IS NULL",
        "DELETE FROM occupancy_samples WHERE wall_end < 5",
    ]
    for query in queries[:-1]:
        plan = " ".join(str(r[-1]) for r in rows(store, "EXPLAIN QUERY PLAN " + query))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (query, plan)
        assert "TEMP B-TREE" not in plan, (query, plan)


def disk_bytes(store: EventStore) -> int:
    """The file and its WAL, as the filesystem counts them."""
    wal = Path(f"{store.path}-wal")
    return store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def insert_old(store: EventStore, n: int, published: bool, age_days: float) -> None:
    stamper = EventStamper("edge-1", store.max_seq("edge-1") + 1)
    events = stamped(stamper, n)
    when = T0 - timedelta(days=age_days)
    events = [
        type(e)(e.id, e.seq, e.device, when, e.camera, e.zone, e.t, e.payload) for e in events
    ]
    acks = [Ack(e.id, 1.0) for e in events] if published else []
    store.write(WriteBatch(events, acks=acks))


def test_age_retention_keeps_the_outbox_unless_mqtt_is_off(store: EventStore) -> None:
    insert_old(store, 10, published=True, age_days=40)
    insert_old(store, 4, published=False, age_days=40)
    insert_old(store, 3, published=True, age_days=1)
    now = T0.timestamp()
    report = apply_retention(store, now, max_age_s=30 * 86400, max_bytes=10**9)
    assert (report.events, report.unpublished_events) == (10, 0)
    assert store.backlog("edge-1") == 4
    assert rows(store, "SELECT count(*) FROM events") == [(7,)]
    apply_retention(store, now, 30 * 86400, 10**9, keep_unpublished=False)
    assert rows(store, "SELECT count(*) FROM events") == [(3,)]


def test_size_retention_deletes_the_oldest_published_first_and_shrinks_the_file(
    store: EventStore,
) -> None:
    insert_old(store, 3000, published=True, age_days=3)
    insert_old(store, 200, published=False, age_days=2)
    insert_old(store, 3000, published=True, age_days=1)
    before = store.used_bytes()
    size_before = disk_bytes(store)
    report = apply_retention(store, T0.timestamp(), 30 * 86400, max_bytes=before // 2)
    assert report.used_bytes <= before // 2
    assert report.unpublished_events == 0
    assert store.backlog("edge-1") == 200  # the outbox survived
    oldest_left = rows(store, "SELECT min(seq) FROM events WHERE published_at IS NOT NULL")
    assert oldest_left[0][0] > 3000  # the oldest published went first
    assert disk_bytes(store) < size_before  # free pages went back to the disk
    assert store.integrity_check() == "ok"


def test_size_retention_drops_unpublished_only_when_nothing_else_is_left(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    insert_old(store, 2000, published=False, age_days=1)
    limit = store.used_bytes() // 2
    report = apply_retention(store, T0.timestamp(), 30 * 86400, max_bytes=limit)
    assert report.unpublished_events > 0
    assert store.used_bytes() <= limit
    assert "only unpublished events left" in caplog.text
    assert [r.seq for r in store.outbox("edge-1", 0, 1)] == [report.unpublished_events + 1]


def test_a_file_that_is_not_sqlite_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    path.write_bytes(b"this is not a database, but a text file of some length\n" * 100)
    with pytest.raises(StoreError, match=r"not a database.*set store.path"):
        EventStore.open(path)


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edge.db"
    EventStore.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match=r"'9999' is newer than this edge-app"):
        EventStore.open(path)


def test_a_folder_in_place_of_the_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "edge.db").mkdir()
    with pytest.raises(StoreError, match=r"cannot open the event store .*edge.db"):
        EventStore.open(tmp_path / "edge.db")


def test_create_sinks_resumes_the_sequence_and_closes_what_a_crash_left_open(
    tmp_path: Path,
) -> None:
    config = app_config(tmp_path)  # MQTT off
    stamper = EventStamper(config.device_id)
    # What a crash leaves: the events stored, the visit of track 1 open, no stop.
    store = EventStore.open(config.store.path)
    store.write(
        WriteBatch([stamper.stamp(visit("cam1", "till", 1, 1.0), T0), *stamped(stamper, 4)])
    )
    store.close()

    stamper, (sink,) = create_sinks(config.store, config.mqtt, config.device_id)
    try:
        # The exit of the visit left open took seq 6.
        assert stamper.stamp(visit("cam1", "till", 2, 9.0), T0).seq == 7
        with sqlite3.connect(config.store.path) as conn:
            closed = conn.execute("SELECT track_id, closed_by FROM visits ORDER BY id")
            assert closed.fetchall() == [(1, "restart"), (1000, "exit")]
            (payload,) = conn.execute("SELECT payload FROM events WHERE seq = 6").fetchone()
        assert json.loads(payload)["type"] == "zone.exit"
        assert json.loads(payload)["reason"] == "restart"
        assert sink.outbox_backlog() is None  # type: ignore[attr-defined]
    finally:
        sink.close(5)


def test_sequence_numbers_continue_after_retention_deleted_every_event(tmp_path: Path) -> None:
    config = app_config(tmp_path)  # MQTT off: age retention may delete everything
    stamper, (sink,) = create_sinks(config.store, config.mqtt, config.device_id)
    sink.handle(stamped(stamper, 6), ())  # seqs 1..6, a month old by their wall time
    sink.close(5)
    store = EventStore.open(config.store.path)
    month_later = T0.timestamp() + 31 * 86400
    assert apply_retention(store, month_later, 30 * 86400, 10**9, keep_unpublished=False).events
    assert rows(store, "SELECT count(*) FROM events") == [(0,)]
    store.close()

    stamper, (sink,) = create_sinks(config.store, config.mqtt, config.device_id)
    try:
        assert [e.seq for e in stamped(stamper, 3)] == [7, 8, 9]  # never 1 again
    finally:
        sink.close(5)


def test_a_store_from_before_the_high_water_mark_starts_it_at_its_highest_seq(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edge.db"
    store = EventStore.open(path)
    store.write(WriteBatch(stamped(EventStamper("edge-1"), 5)))
    store.close()
    with sqlite3.connect(path) as conn:  # as the previous schema left it
        conn.execute("DROP TABLE device_seqs")
        conn.execute("DROP TABLE retained_topics")
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
    store = EventStore.open(path)
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM events")
        assert store.max_seq("edge-1") == 5
    finally:
        store.close()
