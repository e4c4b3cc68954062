"""Helpers for the fleet tests: collector and device processes, their configs, the data.

Collectors and devices run as real ``edge-app collect`` / ``edge-app run`` processes (so a
collector can be SIGKILLed), each with its log in the test's folder; every process started
here is ended by ``stop_all`` (SIGKILL to what is still running), however the test ends.
"""

from __future__ import annotations

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
