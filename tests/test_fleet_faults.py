"""A fleet under faults, for real: 3 daemons on synthetic cameras -> mosquitto -> 2
collectors -> PostgreSQL. One collector is SIGKILLed (and restarted, as systemd would),
PostgreSQL is restarted and the broker stopped for a while, all while the devices run.
Afterwards every event of every device's SQLite is exactly once in PostgreSQL, no seq gap
was reported, and the visits derived centrally are the devices' own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from edge_app.tools.bench.postgres import PostgresServer
from tests.daemon_support import wait_until
from tests.fleet_support import Processes, collector_config, device_config, sqlite_rows
from tests.mqtt_broker import Broker, running_broker
from tests.pg_server import fleet_url, postgres  # noqa: F401 (fixtures)

DEVICES = ("store-1", "store-2", "store-3")
# Times travel rounded to milliseconds in the event JSON: compared to 1 ms.
VISIT_COLUMNS = (
    "camera, zone, track_id, closed_by, entered_t, exited_t, dwell_s, entered_wall, exited_wall"
)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_broker(tmp_path / "mosquitto") as b:
        yield b


def central(postgres: PostgresServer, url: str, sql: str) -> list[tuple[Any, ...]]:  # noqa: F811
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.dsn(database), connect_timeout=2) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def central_count(postgres: PostgresServer, url: str) -> int:  # noqa: F811
    try:
        return int(central(postgres, url, "SELECT count(*) FROM events")[0][0])
    except psycopg.Error:
        return -1  # restarting, or not migrated yet


def visits_equal(central_rows: list[tuple[Any, ...]], device_rows: list[tuple[Any, ...]]) -> bool:
    if len(central_rows) != len(device_rows):
        return False
    for a, b in zip(sorted(central_rows), sorted(device_rows), strict=True):
        if a[:4] != b[:4] or a[4:] != pytest.approx(b[4:], abs=0.0011):
            return False
    return True


def test_every_event_arrives_exactly_once_through_collector_database_and_broker_faults(
    tmp_path: Path,
    processes: Processes,
    broker: Broker,
    postgres: PostgresServer,  # noqa: F811
    fleet_url: str,  # noqa: F811
) -> None:
    configs = {
        name: collector_config(tmp_path, broker, fleet_url, name, batch_max=50)
        for name in ("collector-a", "collector-b")
    }
    for name, path in configs.items():
        processes.start(name, "collect", "--config", str(path))
    assert wait_until(lambda: central_count(postgres, fleet_url) >= 0, 30, 0.1), processes.log(
        "collector-a"
    )
    for i, device in enumerate(DEVICES):
        path = device_config(tmp_path, broker, device, seed=11 + i, duration_s=60, people=24)
        processes.start(device, "run", "--config", str(path))
    started = time.monotonic()
    stores = {d: tmp_path / f"{d}.db" for d in DEVICES}

    def stored_on_devices() -> int:
        return sum(sqlite_rows(p, "SELECT count(*) FROM events")[0][0] for p in stores.values())

    assert wait_until(lambda: central_count(postgres, fleet_url) >= 20, 30, 0.1)

    processes.kill("collector-a")  # a crash: its unacknowledged messages wait for it
    time.sleep(1.5)
    processes.start("collector-a", "collect", "--config", str(configs["collector-a"]))
    time.sleep(2.0)

    postgres.stop("fast")  # the database goes away mid-run, and comes back
    time.sleep(2.0)
    postgres.start()
    time.sleep(2.0)

    broker.stop()  # so does the broker, for a while
    time.sleep(3.0)
    broker.start()

    time.sleep(max(0.0, started + 18.0 - time.monotonic()))  # more events after the faults
    for device in DEVICES:  # a clean stop: the daemon drains its outbox
        assert processes.terminate(device) == 0, processes.log(device)
    total = stored_on_devices()
    assert total > 150
    unpublished = sum(
        sqlite_rows(p, "SELECT count(*) FROM events WHERE published_at IS NULL")[0][0]
        for p in stores.values()
    )
    assert unpublished == 0
    arrived = wait_until(lambda: central_count(postgres, fleet_url) >= total, 60, 0.2)
    assert arrived, (central_count(postgres, fleet_url), total, processes.log("collector-b"))
    for name in configs:
        assert processes.terminate(name) == 0, processes.log(name)

    # Exactly once: the same ids, no more, no fewer; seqs without a hole.
    for device, path in stores.items():
        on_device = sorted(sqlite_rows(path, "SELECT id, seq, payload FROM events"))
        in_central = sorted(
            central(
                postgres,
                fleet_url,
                f"SELECT id, seq, payload FROM events WHERE device = '{device}'",
            )
        )
        assert in_central == on_device, device
        hwm = central(
            postgres,
            fleet_url,
            f"SELECT contiguous_seq, max_seq, missing FROM fleet_devices WHERE device = '{device}'",
        )
        assert hwm == [(len(on_device), len(on_device), 0)]
        visits = central(
            postgres, fleet_url, f"SELECT {VISIT_COLUMNS} FROM visits WHERE device = '{device}'"
        )
        own = sqlite_rows(path, f"SELECT {VISIT_COLUMNS} FROM visits")
        assert len(own) > 5
        assert visits_equal(visits, own), (device, sorted(visits), sorted(own))
    assert central(postgres, fleet_url, "SELECT count(*) FROM fleet_alerts") == [(0,)]
    assert central(postgres, fleet_url, "SELECT count(DISTINCT device) FROM zone_states")[0][0] == 3
    # The faults really happened and were ridden out.
    assert "database" in processes.log("collector-b")
    assert "lost the connection" in processes.log("collector-b")
