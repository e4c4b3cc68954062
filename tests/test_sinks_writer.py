"""The store's writer thread: batching, bounded queue, acks, stop, a disk that fills up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from edge_app.core.backoff import Backoff
from edge_app.core.events import EventStamper
from edge_app.sinks.store import Ack, EventStore
from edge_app.sinks.writer import StoreWriter
from tests.daemon_support import wait_until
from tests.sinks_support import stamped, state


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = EventStore.open(tmp_path / "edge.db")
    yield s
    s.close()


def count(store: EventStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def test_frames_become_committed_events_and_samples(store: EventStore) -> None:
    woken = threading.Event()
    writer = StoreWriter(
        store, "edge-1", sample_interval_s=10, max_queued_frames=100, on_events=woken.set
    )
    writer.start()
    events = stamped(EventStamper("edge-1"), 30)
    for i in range(30):  # 30 frames, 1 s apart: 3 samples of the zone, one event each
        assert writer.submit(events[i : i + 1], [state(float(i), count=i % 3)])
    assert writer.flush(10)
    assert woken.is_set()
    assert count(store, "events") == 30
    assert count(store, "occupancy_samples") == 2  # [0, 10) and [10, 20) are complete
    assert writer.stop(10)
    assert count(store, "occupancy_samples") == 3  # the open one, written at the stop


def test_a_full_queue_drops_zone_states_but_keeps_every_event(store: EventStore) -> None:
    writer = StoreWriter(store, "edge-1", sample_interval_s=60, max_queued_frames=5)
    events = stamped(EventStamper("edge-1"), 8)
    # Not started: the writer is behind. The states of frames 6-8 go, their events stay.
    accepted = [writer.submit([e], [state(float(i), count=1)]) for i, e in enumerate(events)]
    assert accepted == [True] * 8
    counters = writer.counters()
    assert (counters.queued_frames, counters.queued_events) == (5, 8)
    assert (counters.states_dropped, counters.events_lost) == (3, 0)
    writer.start()
    assert writer.flush(10)
    assert count(store, "events") == 8
    assert writer.stop(10)
    assert writer.counters().events_lost == 0
    assert not writer.submit(events[:1], [])  # after the stop: refused, counted
    assert writer.counters().events_lost == 1


def test_a_full_event_queue_holds_the_pipeline_back_until_there_is_room(
    store: EventStore,
) -> None:
    writer = StoreWriter(store, "edge-1", 60, max_queued_frames=100, max_queued_events=10)
    stamper = EventStamper("edge-1")
    assert writer.submit(stamped(stamper, 10), [])
    second = stamped(stamper, 5)
    done = threading.Event()
    threading.Thread(target=lambda: done.set() if writer.submit(second, []) else None).start()
    assert wait_until(lambda: writer.counters().waiting_s > 0, 10)  # it waits: no drop
    assert not done.is_set()
    writer.start()  # the disk takes them: room again
    assert done.wait(10)
    assert writer.flush(10)
    assert count(store, "events") == 15
    assert writer.stop(10)
    assert writer.counters().events_lost == 0


def test_at_a_stop_nothing_waits_and_every_event_not_stored_is_counted(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = StoreWriter(store, "edge-1", 60, max_queued_frames=100, max_queued_events=10)
    stamper = EventStamper("edge-1")
    writer.submit(stamped(stamper, 10), [])
    done = threading.Event()
    threading.Thread(
        target=lambda: done.set() if writer.submit(stamped(stamper, 5), []) else None
    ).start()
    assert wait_until(lambda: writer.counters().waiting_s > 0, 10)
    writer.stop_waiting()  # the stop begins: the pipeline must be able to finish
    assert done.wait(10)
    assert writer.stop(0.1)  # the writer never ran (a disk that never answered)
    assert writer.counters().events_lost == 15
    assert "15 events of this run were not stored" in caplog.text


def test_acks_are_committed_before_their_callback(store: EventStore) -> None:
    writer = StoreWriter(store, "edge-1", sample_interval_s=60, max_queued_frames=100)
    writer.start()
    events = stamped(EventStamper("edge-1"), 4)
    writer.submit(events, [])
    confirmed: list[list[str]] = []

    def done(ids: object) -> None:
        confirmed.append(list(ids))  # type: ignore[call-overload]
        assert store.backlog("edge-1") == 2  # already committed when we hear of it

    writer.ack([Ack(events[0].id, 1.0), Ack(events[1].id, 1.0)], done)
    assert writer.flush(10)
    assert confirmed == [[events[0].id, events[1].id]]
    assert writer.stop(10)


def test_a_disk_that_fills_up_is_retried_and_nothing_queued_is_lost(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = StoreWriter(store, "edge-1", sample_interval_s=60, max_queued_frames=1000)
    writer.start()
    stamper = EventStamper("edge-1")
    writer.submit(stamped(stamper, 10), [])
    assert writer.flush(10)

    limit = fill_up(store)
    big = stamped(stamper, 3000)
    for i in range(0, 3000, 100):
        assert writer.submit(big[i : i + 100], [])
    assert not writer.flush(1.5)  # it cannot commit...
    assert writer.counters().write_errors >= 1
    assert "database or disk is full" in caplog.text and "retrying in" in caplog.text

    limit["pages"] = 1_000_000  # ... until space is freed
    store.engine.dispose()
    assert writer.flush(30)
    assert count(store, "events") == 3010
    assert writer.stop(10)


def test_a_stop_on_a_full_disk_counts_what_it_could_not_store(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer = StoreWriter(store, "edge-1", 60, max_queued_frames=100)
    writer.start()
    stamper = EventStamper("edge-1")
    writer.submit(stamped(stamper, 10), [])
    assert writer.flush(10)
    fill_up(store)
    writer.submit(stamped(stamper, 30), [state(1.0, count=1)])
    assert wait_until(lambda: writer.counters().write_errors >= 1, 10)
    assert writer.counters().events_lost == 0  # still retrying: nothing given up yet
    assert writer.stop(10)
    assert writer.counters().events_lost == 30
    assert "30 events of this run were not stored" in caplog.text


def test_a_stop_cuts_a_retry_wait_short(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    # Retries ten minutes apart: a stop that waited for the next try would time out.
    writer = StoreWriter(store, "edge-1", 60, max_queued_frames=100, retry=Backoff(1200.0, 1200.0))
    writer.start()
    stamper = EventStamper("edge-1")
    writer.submit(stamped(stamper, 10), [])
    assert writer.flush(10)
    fill_up(store)
    writer.submit(stamped(stamper, 3000), [])
    assert wait_until(lambda: writer.counters().write_errors >= 1, 10)  # waiting to retry
    assert writer.stop(10)
    assert count(store, "events") == 10
    assert "3000 events were not stored" in caplog.text


def fill_up(store: EventStore) -> dict[str, int]:
    """Cap the database at its current size: SQLite's page limit gives the very error a
    full disk gives (SQLITE_FULL). Raise ``["pages"]`` and dispose the engine to undo it."""
    limit = {"pages": count_pages(store)}

    def cap(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={limit['pages']}")  # type: ignore[attr-defined]

    event.listen(store.engine, "connect", cap)
    store.engine.dispose()
    return limit


def count_pages(store: EventStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
