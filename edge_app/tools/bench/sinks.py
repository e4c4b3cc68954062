"""Benchmark of the sinks against plain loops doing the same work directly.

    python -m edge_app.tools.bench.sinks [--events 20000] [--repeat 3]

1. SQLite write rate: events submitted frame by frame to ``StoreWriter`` until committed,
   against a plain ``sqlite3`` loop inserting the same rows with ``executemany`` in
   batches of 1,000 (same pragmas: WAL, synchronous FULL).
2. Outbox drain rate after an outage: a store holding N unpublished events is drained by
   ``OutboxPublisher`` (QoS 1, marked published on PUBACK), against a plain paho loop
   that reads the same rows with ``sqlite3``, publishes them with the same in-flight
   window and marks them published on PUBACK.

A private mosquitto is started on a free 127.0.0.1 port (never a shared broker). Each
figure is the best of ``--repeat`` runs; the ratio is ours / plain, in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_app.config import MqttConfig
from edge_app.core.events import Event, EventStamper, ZoneEvent, ZoneOccupancy
from edge_app.sinks.publisher import OutboxPublisher
from edge_app.sinks.store import EventStore
from edge_app.sinks.writer import StoreWriter

EVENTS_PER_FRAME = 10
PLAIN_BATCH = 1000
WINDOW = 100
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_events(n: int, device: str = "bench") -> list[Event]:
    """``n`` occupancy events (no visits: the plain loop does not write any either)."""
    stamper = EventStamper(device)
    return [
        stamper.stamp(
            ZoneEvent("cam1", f"zone{i % 8}", i * 0.1, ZoneOccupancy(i % 5, 0.125, i % 2 == 0)),
            T0 + timedelta(seconds=i * 0.1),
        )
        for i in range(n)
    ]


# --- SQLite -----------------------------------------------------------------------------


def ours_write(path: Path, events: list[Event]) -> float:
    """Seconds to commit ``events`` through the writer thread, frame by frame."""
    store = EventStore.open(path)
    writer = StoreWriter(store, "bench", 60.0, max_queued_frames=len(events))
    writer.start()
    start = time.perf_counter()
    for i in range(0, len(events), EVENTS_PER_FRAME):
        writer.submit(events[i : i + EVENTS_PER_FRAME], ())
    writer.flush(600)
    elapsed = time.perf_counter() - start
    writer.stop(60)
    store.close()
    return elapsed


def plain_write(path: Path, events: list[Event]) -> float:
    """Seconds for a plain sqlite3 loop writing the same rows in batches."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, device TEXT, seq INTEGER, type TEXT, "
        "camera TEXT, zone TEXT, wall REAL, payload TEXT, published_at REAL, "
        "UNIQUE (device, seq))"
    )
    conn.execute("CREATE INDEX ix_outbox ON events (device, seq) WHERE published_at IS NULL")
    start = time.perf_counter()
    for i in range(0, len(events), PLAIN_BATCH):
        rows = [
            (
                e.id,
                e.device,
                e.seq,
                e.type,
                e.camera,
                e.zone,
                e.wall.timestamp(),
                json.dumps(e.to_dict(), separators=(",", ":")),
                None,
            )
            for e in events[i : i + PLAIN_BATCH]
        ]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


# --- MQTT drain -------------------------------------------------------------------------


@contextmanager
def private_mosquitto(folder: Path) -> Iterator[int]:
    """A mosquitto on a free loopback port for the duration of the block; yields the port."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = folder / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "log_dest none"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([binary, "-c", str(conf)])
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


def fill_outbox(path: Path, events: list[Event]) -> None:
    store = EventStore.open(path)
    writer = StoreWriter(store, "bench", 60.0, max_queued_frames=len(events))
    writer.start()
    for i in range(0, len(events), PLAIN_BATCH):
        writer.submit(events[i : i + PLAIN_BATCH], ())
    writer.stop(600)
    store.close()


def wait_drained(store: EventStore, device: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while store.backlog(device) and time.monotonic() < deadline:
        time.sleep(0.05)
    return store.backlog(device) == 0


def ours_drain(path: Path, port: int, device: str) -> float:
    """Seconds for the publisher to get every stored event acknowledged and marked."""
    store = EventStore.open(path)
    writer = StoreWriter(store, "bench", 60.0, max_queued_frames=16)
    config = MqttConfig(port=port, inflight_max=WINDOW, client_id="bench-ours")
    publisher = OutboxPublisher(config, device, store, writer)
    writer.on_events = publisher.wake
    writer.start()
    start = time.perf_counter()
    publisher.start()
    drained = wait_drained(store, device, 600)
    elapsed = time.perf_counter() - start
    publisher.stop(10)
    writer.stop(60)
    store.close()
    if not drained:
        raise RuntimeError("the outbox did not drain")
    return elapsed


def plain_drain(path: Path, port: int, device: str) -> float:
    """Seconds for a plain paho + sqlite3 loop doing the same drain."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    acked_mids: list[int] = []  # filled by paho's thread
    lock = threading.Lock()
    inflight: dict[int, str] = {}  # main thread only
    connected = threading.Event()
    room = threading.Semaphore(WINDOW)

    def on_publish(_c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        with lock:
            acked_mids.append(mid)
        room.release()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-plain")
    client.max_inflight_messages_set(WINDOW)
    client.on_publish = on_publish
    client.on_connect = lambda *_: connected.set()
    start = time.perf_counter()
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(10)
    rows = conn.execute(
        "SELECT id, payload FROM events WHERE device = ? AND published_at IS NULL ORDER BY seq",
        (device,),
    ).fetchall()
    marked = 0

    def mark(force: bool) -> int:
        with lock:
            if not acked_mids or (len(acked_mids) < PLAIN_BATCH and not force):
                return 0
            mids, acked_mids[:] = list(acked_mids), []
        now = time.time()
        conn.execute("BEGIN")
        conn.executemany(
            "UPDATE events SET published_at = ? WHERE id = ?",
            [(now, inflight.pop(mid)) for mid in mids],
        )
        conn.execute("COMMIT")
        return len(mids)

    for event_id, payload in rows:
        room.acquire()
        info = client.publish(f"bench/{device}/events", payload, qos=1)
        inflight[info.mid] = event_id
        marked += mark(False)
    while marked < len(rows):
        marked += mark(True)
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    conn.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    n = args.events
    events = make_events(n)
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with private_mosquitto(folder) as port:
            for r in range(args.repeat):
                paths = {k: folder / f"{k}{r}.db" for k in ("w", "p", "d", "e")}
                fill_outbox(paths["d"], events)
                fill_outbox(paths["e"], events)
                runs: dict[str, Callable[[], float]] = {
                    "sqlite_ours": partial(ours_write, paths["w"], events),
                    "sqlite_plain": partial(plain_write, paths["p"], events),
                    "drain_ours": partial(ours_drain, paths["d"], port, "bench"),
                    "drain_plain": partial(plain_drain, paths["e"], port, "bench"),
                }
                for name, run in runs.items():
                    best[name] = max(best.get(name, 0.0), n / run())
    print(f"events: {n}, best of {args.repeat}")
    print("| benchmark | ours (events/s) | plain loop (events/s) | ratio |")
    print("|---|---|---|---|")
    for label, key in (("SQLite write, batched", "sqlite"), ("outbox drain, QoS 1", "drain")):
        ours, plain = best[f"{key}_ours"], best[f"{key}_plain"]
        print(f"| {label} | {ours:,.0f} | {plain:,.0f} | {ours / plain:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
