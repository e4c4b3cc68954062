"""Helpers for the fleet tests: collector and device processes, their configs, the data.

Collectors and devices run as real ``edge-app collect`` / ``edge-app run`` processes (so a
collector can be SIGKILLed), each with its log in the test's folder; every process started
here is ended by ``stop_all`` (SIGKILL to what is still running), however the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.mqtt_broker import Broker

REPO = Path(__file__).resolve().parent.parent
STORE_ZONES = REPO / "zones" / "store-floor.yaml"


def collector_config(
    folder: Path, broker: Broker, db_url: str, collector_id: str, **ingest: Any
) -> Path:
    data = {
        "collector_id": collector_id,
        "database": {"url": db_url, "connect_timeout_s": 2},
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "keepalive_s": 5,
            # Back within 0.3 s of a broker restart, before the devices' first retry:
            # mosquitto 2.0 drops what reaches a shared subscription before its members
            # have reconnected (docs/fleet.md).
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.3,
        },
        "ingest": {"retry_min_s": 0.1, "retry_max_s": 0.5, "sample_interval_s": 10, **ingest},
        "daemon": {"status_interval_s": 1},
    }
    path = folder / f"{collector_id}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def device_config(
    folder: Path, broker: Broker, device: str, seed: int, duration_s: float, people: int
) -> Path:
    data = {
        "device_id": device,
        "cameras": [
            {
                "id": "store-floor",
                "source": {
                    "type": "synthetic",
                    "duration_s": duration_s,
                    "fps": 5,
                    "width": 480,
                    "height": 270,
                    "people": people,
                    "seed": seed,
                    "realtime": True,
                },
                "zones": str(STORE_ZONES),
            }
        ],
        "store": {"path": str(folder / f"{device}.db"), "sample_interval_s": 10},
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "reconnect_min_s": 2.0,
            "reconnect_max_s": 4.0,
            "connect_timeout_s": 2.0,
            "keepalive_s": 5,
        },
    }
    path = folder / f"{device}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class Processes:
    """``edge-app`` processes of one test, each logging to ``folder/NAME.log``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        with (self.folder / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edge_app", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
            )
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def terminate(self, name: str, timeout_s: float = 30.0) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout_s)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def offline_device_config(
    folder: Path, device: str, seed: int, duration_s: float, people: int, fps: float = 2.0
) -> Path:
    """A device on a synthetic camera run as fast as it goes, MQTT off (its store only)."""
    data = {
        "device_id": device,
        "cameras": [
            {
                "id": "store-floor",
                "source": {"type": "synthetic", "duration_s": duration_s, "fps": fps,
                           "width": 480, "height": 270, "people": people, "seed": seed},
                "zones": str(STORE_ZONES),
            }
        ],
        "store": {"path": str(folder / f"{device}.db"), "sample_interval_s": 60},
        "mqtt": {"enabled": False},
    }  # fmt: skip
    path = folder / f"{device}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run_offline_devices(
    folder: Path, devices: dict[str, int], duration_s: float, people: int, fps: float = 2.0
) -> dict[str, Path]:
    """Run ``edge-app run`` for each device (name -> seed) to the end of its synthetic
    video, one after the other; their SQLite stores."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stores = {}
    for device, seed in devices.items():
        config = offline_device_config(folder, device, seed, duration_s, people, fps)
        subprocess.run(
            [sys.executable, "-m", "edge_app", "run", "--config", str(config)],
            check=True,
            capture_output=True,
            env=env,
            timeout=600,
        )
        stores[device] = folder / f"{device}.db"
    return stores


def ingest_stores(ingest: Any, stores: dict[str, Path], batch: int = 500) -> int:
    """Write every event of the device stores through ``ingest`` (an ``IngestDatabase``), as
    the collector would; how many."""
    from edge_app.core.events import Event
    from edge_app.fleet.messages import IncomingEvent

    total = 0
    for path in stores.values():
        rows = sqlite_rows(path, "SELECT payload FROM events ORDER BY seq")
        items = [IncomingEvent(Event.from_dict(json.loads(r[0])), r[0]) for r in rows]
        for i in range(0, len(items), batch):
            total += ingest.write(items[i : i + batch]).inserted
    return total
