"""The central ingest on a real PostgreSQL: exactly once, in seq order, derived like a device."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData

from edge_app.core.events import (
    Event,
    EventStamper,
    ZoneEnter,
    ZoneEvent,
    ZoneExit,
    ZoneOccupancy,
)
from edge_app.fleet.config import DatabaseConfig
from edge_app.fleet.database import migrate, open_database
from edge_app.fleet.ingest import IngestDatabase
from edge_app.fleet.messages import IncomingEvent, IncomingState
from edge_app.sinks import schema
from edge_app.sinks.migrate import head_revision
from edge_app.sinks.rows import event_json
from edge_app.sinks.store import EventStore, WriteBatch
from tests.pg_server import fleet_url, postgres  # noqa: F401 (fixtures)
from tests.sinks_support import T0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(fleet_url: str) -> Iterator[Engine]:  # noqa: F811
    engine = open_database(DatabaseConfig(url=fleet_url))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ingest(engine: Engine, clock: Clock) -> IngestDatabase:
    return IngestDatabase(engine, "collector-1", sample_interval_s=60.0, gap_grace_s=30.0,
                          clock=clock)  # fmt: skip


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql)]


def incoming(events: list[Event]) -> list[IncomingEvent]:
    return [IncomingEvent(e, event_json(e)) for e in events]


def stamp(device: str, items: list[ZoneEvent]) -> list[Event]:
    stamper = EventStamper(device)
    return [stamper.stamp(e, T0 + timedelta(seconds=e.t)) for e in items]


def enter(zone: str, track: int, t: float) -> ZoneEvent:
    return ZoneEvent("cam1", zone, t, ZoneEnter(track))


def leave(zone: str, track: int, t: float, dwell: float) -> ZoneEvent:
    return ZoneEvent("cam1", zone, t, ZoneExit(track, dwell, t - dwell))


def occupancy(zone: str, t: float, count: int) -> ZoneEvent:
    return ZoneEvent("cam1", zone, t, ZoneOccupancy(count, count / 10, count > 0))


VISITS = [
    enter("till", 1, 10.0),
    enter("door", 1, 11.0),
    leave("till", 1, 25.0, 15.0),
    leave("till", 9, 30.0, 4.0),  # its enter was never seen
    enter("till", 2, 31.0),
    enter("till", 3, 32.0),
    leave("till", 2, 40.0, 9.0),
    leave("door", 1, 41.0, 30.0),
]


def test_the_migrated_central_schema_is_the_one_the_code_queries(engine: Engine) -> None:
    both = MetaData()
    for table in [*schema.metadata.tables.values(), *schema.fleet_metadata.tables.values()]:
        table.to_metadata(both)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), both) == []
    assert rows(engine, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    views = {r[0] for r in rows(engine, "SELECT table_name FROM information_schema.views "
                                        "WHERE table_schema = 'public'")}  # fmt: skip
    assert views == {"fleet_footfall_hourly", "fleet_occupancy_hourly",
                     "fleet_peak_occupancy_daily", "fleet_dwell_daily"}  # fmt: skip
    assert migrate(engine) == head_revision()  # again: nothing to do


def test_duplicates_are_ignored_and_every_event_is_stored_once(
    ingest: IngestDatabase, engine: Engine
) -> None:
    events = stamp("edge-1", VISITS)
    first = ingest.write(incoming(events[:5]))
    again = ingest.write(incoming(events[3:] + events[3:]))
    assert (first.inserted, first.duplicates) == (5, 0)
    assert (again.inserted, again.duplicates) == (3, 7)
    assert rows(engine, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events") == [
        (8, 8, 1, 8)
    ]
    devices = rows(engine, "SELECT contiguous_seq, max_seq, events, hole_since FROM fleet_devices")
    assert devices == [(8, 8, 8, None)]


def device_visits(tmp_path: Path, events: list[Event]) -> list[tuple[Any, ...]]:
    store = EventStore.open(tmp_path / "device.db")
    try:
        store.write(WriteBatch(events))
        with store.engine.connect() as conn:
            return sorted(
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT camera, zone, track_id, entered_wall, entered_t, exited_wall, "
                    "exited_t, dwell_s, closed_by FROM visits"
                )
            )
    finally:
        store.close()


CENTRAL_VISITS = (
    "SELECT camera, zone, track_id, entered_wall, entered_t, exited_wall, exited_t, dwell_s, "
    "closed_by FROM visits"
)


@pytest.mark.parametrize(
    "order",
    [
        pytest.param([[0, 1, 2, 3, 4, 5, 6, 7]], id="one-batch"),
        pytest.param([[0], [1, 2], [3, 4, 5], [6], [7]], id="in-order-batches"),
        pytest.param([[2, 3, 7], [0], [5, 6], [1, 4]], id="out-of-order-across-collectors"),
    ],
)
def test_visits_are_derived_as_the_device_derives_them(
    ingest: IngestDatabase, engine: Engine, tmp_path: Path, order: list[list[int]]
) -> None:
    events = stamp("edge-1", VISITS)
    for batch in order:
        ingest.write(incoming([events[i] for i in batch]))
    central = sorted(tuple(r) for r in rows(engine, CENTRAL_VISITS))
    assert central == device_visits(tmp_path, events)
    assert rows(engine, "SELECT DISTINCT device FROM visits") == [("edge-1",)]


def test_a_hole_waits_for_its_late_event_then_derives_in_order(
    ingest: IngestDatabase, engine: Engine, clock: Clock
) -> None:
    events = stamp("edge-1", VISITS)
    ingest.write(incoming(events[:2] + events[3:]))  # seq 3 (the till exit) is late
    assert rows(engine, "SELECT contiguous_seq, max_seq FROM fleet_devices") == [(2, 8)]
    assert rows(engine, "SELECT count(*) FROM visits WHERE closed_by = 'exit'") == [(0,)]
    clock.now += 10.0  # within the grace time
    assert ingest.sweep().gaps == []
    done = ingest.write(incoming(events[2:3]))
    assert done.derived == 6 and done.gaps == []
    assert rows(engine, "SELECT contiguous_seq, hole_since FROM fleet_devices") == [(8, None)]
    assert rows(engine, "SELECT count(*) FROM fleet_alerts") == [(0,)]


def test_a_seq_missing_past_the_grace_time_is_reported_once(
    ingest: IngestDatabase, engine: Engine, clock: Clock
) -> None:
    events = stamp("edge-1", VISITS)
    ingest.write(incoming(events[:2] + events[5:]))  # seqs 3..5 never come
    clock.now += 31.0
    swept = ingest.sweep()
    assert [(g.device, g.first_seq, g.last_seq, g.missing) for g in swept.gaps] == [
        ("edge-1", 3, 5, 3)
    ]
    assert swept.derived == 3
    assert ingest.sweep().gaps == []
    alerts = rows(engine, "SELECT device, first_seq, last_seq, type, collector FROM fleet_alerts")
    assert alerts == [("edge-1", 3, 5, "seq_gap", "collector-1")]
    assert rows(engine, "SELECT contiguous_seq, missing FROM fleet_devices") == [(8, 3)]
    late = ingest.write(incoming(events[3:4]))  # it turns up after all: stored, not derived
    assert (late.inserted, late.derived) == (1, 0)


def test_a_reused_seq_is_refused_and_counted(ingest: IngestDatabase, engine: Engine) -> None:
    ingest.write(incoming(stamp("edge-1", VISITS[:2])))
    reused = ingest.write(incoming(stamp("edge-1", VISITS[2:3])))  # a stamper from 1 again
    assert (reused.inserted, reused.duplicates, reused.seq_conflicts) == (0, 0, 1)
    assert rows(engine, "SELECT count(*) FROM events") == [(2,)]


def test_devices_are_kept_apart(ingest: IngestDatabase, engine: Engine) -> None:
    a, b = stamp("store-a", VISITS), stamp("store-b", VISITS[:3])
    ingest.write(incoming([*a, *b]))
    assert rows(engine, "SELECT device, contiguous_seq FROM fleet_devices ORDER BY device") == [
        ("store-a", 8),
        ("store-b", 3),
    ]
    assert rows(engine, "SELECT device, count(*) FROM visits GROUP BY device ORDER BY device") == [
        ("store-a", 5),
        ("store-b", 2),
    ]


def test_occupancy_samples_hold_each_value_until_the_next_change(
    ingest: IngestDatabase, engine: Engine
) -> None:
    events = stamp(
        "edge-1",
        [occupancy("till", 0.0, 2), occupancy("till", 30.0, 0), occupancy("till", 90.0, 1),
         occupancy("till", 150.0, 3)],
    )  # fmt: skip
    ingest.write(incoming(events[:2]))
    ingest.write(incoming(events[2:]))
    got = rows(
        engine,
        "SELECT device, zone, t_start, duration_s, frames, mean_count, max_count, occupied_s, "
        f"wall_start - {T0.timestamp()}, wall_end - {T0.timestamp()} "
        "FROM occupancy_samples ORDER BY t_start",
    )
    assert got == [
        ("edge-1", "till", 0.0, 60.0, 2, 1.0, 2, 30.0, 0.0, 60.0),
        ("edge-1", "till", 60.0, 60.0, 1, 0.5, 1, 30.0, 60.0, 120.0),
    ]
    assert rows(engine, "SELECT t, count, bucket, frames FROM zone_holds") == [(150.0, 3, 2, 1)]


def test_zone_states_keep_the_newest(ingest: IngestDatabase, engine: Engine) -> None:
    def state(count: int, wall: float) -> IncomingState:
        return IncomingState("edge-1", "cam1", "till", count, 0.1, count > 0, 0.0, 0.0, wall, 1.0)

    ingest.write([], [state(1, 100.0), state(3, 102.0), state(2, 101.0)])
    ingest.write([], [state(5, 99.0)])  # older than what is stored
    assert rows(engine, "SELECT count, wall FROM zone_states") == [(3, 102.0)]
