"""The MQTT side of the soak (``tools/bench/soak.py``): a private mosquitto that can be
stopped and started again on its port, and subscribers that keep what they get."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Broker:
    """A private mosquitto on a free loopback port, stopped and started on the same port."""

    def __init__(self, folder: Path) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {folder}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "log_dest none",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


class Subscriber:
    """Keeps every message of ``topics`` (QoS 1, a persistent session across broker
    restarts)."""

    def __init__(self, port: int, topics: tuple[str, ...], client_id: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def retained(self) -> set[str]:
        """The topics that came with a retained, non-empty message."""
        with self._lock:
            return {t for t, p, retain in self.messages if retain and p}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_topics(port: int, base: str) -> set[str]:
    """The topics under the device and Home Assistant's prefix that hold a retained
    message (a marker published after subscribing comes back behind them)."""
    marker = f"soak-probe/{time.monotonic_ns()}"
    topics = (f"{base}/#", "homeassistant/#", marker)
    sub = Subscriber(port, topics, f"probe-{time.monotonic_ns()}")
    try:
        time.sleep(0.3)
        sub.client.publish(marker, b"x", qos=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not sub.payloads(marker):
            time.sleep(0.05)
        return sub.retained() - {marker}
    finally:
        sub.close()
