"""``edge-app bench --only fleet``: central ingest of a simulated fleet, on loopback.

A bounded load generator plays ``devices`` devices (1,000 by default), each with
``events_per_device`` events in the mix a store camera produces (occupancy changes, zone
enters and exits over 4 zones, now and then an alert), stamped as the daemon stamps them.
Everything runs on this machine, in a private PostgreSQL and a private mosquitto on
127.0.0.1, started and removed here.

For 1 and 2 collectors (real ``edge-app collect`` processes on one shared subscription):
the collectors subscribe, are paused (SIGSTOP), every event is published (QoS 1) so the
broker holds the backlog, then they are resumed and timed until the last event is
committed: ingest events/s, without the publishers' speed in it. The baseline is a plain
psycopg loop writing the same rows into the same ``events`` table (``COPY``, one
transaction per batch of the same size) in the same run; the ratio is collector/plain.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from edge_app.core.events import (
    CapacityExceeded,
    DwellExceeded,
    Event,
    EventStamper,
    Payload,
    ZoneEnter,
    ZoneEvent,
    ZoneExit,
    ZoneOccupancy,
)
from edge_app.sinks.rows import event_json
from edge_app.tools.bench.postgres import PostgresServer, private_postgres

ZONES = ("entrance", "checkout-1", "shelf-left", "shelf-back")
REALISTIC_EVENTS_PER_S = 0.5
"""A busy store camera: about one occupancy change or visit event every two seconds."""
_BATCH = 1000


def fleet_events(devices: int, per_device: int) -> list[Event]:
    """``per_device`` events of each device, interleaved in time as a fleet sends them."""
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    out: list[tuple[float, int, Event]] = []
    for d in range(devices):
        stamper = EventStamper(f"store-{d:04d}")
        open_tracks: dict[str, list[int]] = {z: [] for z in ZONES}
        track = 0
        for i in range(per_device):
            t = i / REALISTIC_EVENTS_PER_S + d * 0.001
            zone = ZONES[(i + d) % len(ZONES)]
            payload: Payload
            if i % 3 == 0:
                payload = ZoneOccupancy(len(open_tracks[zone]), 0.05 * i % 1, True)
            elif open_tracks[zone] and i % 3 == 2:
                payload = ZoneExit(open_tracks[zone].pop(0), 12.5, t - 12.5)
            elif i % 17 == 0:
                payload = DwellExceeded(track, 301.0, 300.0)
            elif i % 29 == 0:
                payload = CapacityExceeded(5, 4)
            else:
                track += 1
                open_tracks[zone].append(track)
                payload = ZoneEnter(track)
            event = stamper.stamp(ZoneEvent("cam1", zone, t, payload), t0 + timedelta(seconds=t))
            out.append((t, d, event))
    out.sort(key=lambda item: (item[0], item[1]))
    return [e for _, _, e in out]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _mosquitto(folder: Path) -> Iterator[int]:
    port = _free_port()
    conf = folder / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "max_queued_messages 0",
        "max_inflight_messages 0",
    ]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _count(server: PostgresServer, database: str) -> int:
    import psycopg

    try:
        with psycopg.connect(server.dsn(database)) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return -1


def _publish(port: int, events: list[Event], connections: int) -> float:
    """Publish every event at QoS 1 over ``connections`` clients; seconds until all acked."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    clients = []
    for i in range(connections):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-devices-{i}")
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    start = time.perf_counter()
    infos = []
    for n, event in enumerate(events):
        client = clients[hash(event.device) % connections]
        infos.append(client.publish(f"edge-app/{event.device}/events", event_json(event), qos=1))
        if n % 2000 == 1999:
            infos[-1].wait_for_publish(60)
    for info in infos:
        info.wait_for_publish(60)
    seconds = time.perf_counter() - start
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return seconds


def _collectors_run(
    folder: Path,
    server: PostgresServer,
    events: list[Event],
    collectors: int,
    timeout_s: float,
) -> dict[str, float]:
    database = f"bench_{collectors}"
    url = server.create_database(database)
    run_dir = folder / database
    run_dir.mkdir()
    with _mosquitto(run_dir) as port:
        procs = []
        for i in range(collectors):
            config = run_dir / f"collector-{i}.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "collector_id": f"bench-{i}",
                        "database": {"url": url},
                        "mqtt": {"port": port, "receive_maximum": 5000},
                        "ingest": {"batch_max": _BATCH, "batch_wait_s": 0.05},
                    }
                )
            )
            log = (run_dir / f"collector-{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "edge_app", "collect", "--config", str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            deadline = time.monotonic() + 60
            while _count(server, database) < 0 or not all(
                "ready: MQTT up" in (run_dir / f"collector-{i}.log").read_text()
                or "MQTT: connected" in (run_dir / f"collector-{i}.log").read_text()
                for i in range(collectors)
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"collectors did not start: see {run_dir}")
                time.sleep(0.1)
            time.sleep(0.5)  # their SUBACKs
            for proc in procs:
                proc.send_signal(signal.SIGSTOP)
            publish_s = _publish(port, events, connections=8)
            start = time.perf_counter()
            for proc in procs:
                proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + timeout_s
            while _count(server, database) < len(events):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ingest did not finish in {timeout_s} s: see {run_dir}")
                time.sleep(0.02)
            ingest_s = time.perf_counter() - start
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
    return {
        "publish_events_per_s": len(events) / publish_s,
        "ingest_s": ingest_s,
        "events_per_s": len(events) / ingest_s,
    }


def _plain_copy(server: PostgresServer, events: list[Event]) -> dict[str, float]:
    """The same rows into the same table with a bare psycopg COPY per batch."""
    import psycopg
    from sqlalchemy import create_engine

    from edge_app.sinks import schema

    url = server.create_database("bench_plain")
    engine = create_engine(url)
    schema.metadata.create_all(engine)
    engine.dispose()
    rows = [
        (e.id, e.device, e.seq, e.type, e.camera, e.zone, e.wall.timestamp(), event_json(e), 0.0)
        for e in events
    ]
    columns = "id, device, seq, type, camera, zone, wall, payload, published_at"
    with psycopg.connect(server.dsn("bench_plain")) as conn:
        start = time.perf_counter()
        for i in range(0, len(rows), _BATCH):
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY events ({columns}) FROM STDIN") as copy,
            ):
                for row in rows[i : i + _BATCH]:
                    copy.write_row(row)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "events_per_s": len(rows) / seconds}


def fleet_ingest(
    devices: int = 1000, events_per_device: int = 20, timeout_s: float = 300.0
) -> dict[str, Any]:
    """The fleet part of ``edge-app bench`` (see the module docstring)."""
    events = fleet_events(devices, events_per_device)
    results: dict[str, Any] = {
        "devices": devices,
        "events": len(events),
        "realistic_fleet_events_per_s": devices * REALISTIC_EVENTS_PER_S,
    }
    with (
        tempfile.TemporaryDirectory(prefix="edge-app-bench-fleet-") as tmp,
        private_postgres() as server,
    ):
        folder = Path(tmp)
        results["plain_copy"] = _plain_copy(server, events)
        for n in (1, 2):
            run = _collectors_run(folder, server, events, n, timeout_s)
            run["vs_plain_copy"] = run["events_per_s"] / results["plain_copy"]["events_per_s"]
            run["vs_realistic_fleet"] = (
                run["events_per_s"] / results["realistic_fleet_events_per_s"]
            )
            results[f"{n}_collector{'s' if n > 1 else ''}"] = run
    return results


def print_fleet(results: dict[str, Any]) -> None:
    plain = results["plain_copy"]["events_per_s"]
    print(
        f"fleet: {results['devices']} devices, {results['events']} events; plain psycopg COPY "
        f"{plain:,.0f} events/s"
    )
    for key in ("1_collector", "2_collectors"):
        r = results[key]
        print(
            f"fleet ({key.replace('_', ' ')}): ingest {r['events_per_s']:,.0f} events/s "
            f"({r['vs_plain_copy']:.2f} x plain COPY; {r['vs_realistic_fleet']:.1f} x a "
            f"{results['devices']}-store fleet at {REALISTIC_EVENTS_PER_S} events/s each); "
            f"publishers {r['publish_events_per_s']:,.0f} events/s"
        )
