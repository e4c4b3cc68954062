"""A private mosquitto for tests: free 127.0.0.1 port, generated config in a tmp folder.

``running_broker(...)`` starts one and always kills the process it started, however the
test ends. The broker can be stopped (SIGTERM, persistence saved), killed (SIGKILL) and
started again on the same port. ``Collector`` is a subscriber that keeps every message and
survives broker restarts (persistent session, QoS 1). Skips when mosquitto is absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS broker: its CA, its certificate (for 127.0.0.1 and localhost)
    and key, an unrelated CA that a client must reject the broker with, and a client
    certificate and key signed by the CA (for ``require_certificate``)."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_tls_files(folder: Path, names: str = "IP:127.0.0.1,DNS:localhost") -> TlsFiles:
    """Generate a CA, a server certificate it signs for ``names`` (subjectAltName), a
    client certificate it signs, and a second CA (EC keys: fast)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to generate test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def path(name: str) -> str:
        return str(folder / name)

    def self_signed(name: str, cn: str) -> None:
        _openssl("req", "-x509", *ec, "-keyout", path(f"{name}.key"),
                 "-out", path(f"{name}.pem"), "-days", "2", "-subj", f"/CN={cn}")  # fmt: skip

    def signed(name: str, cn: str, *extra: str) -> None:
        _openssl("req", *ec, "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"),
                 "-subj", f"/CN={cn}")  # fmt: skip
        _openssl("x509", "-req", "-in", path(f"{name}.csr"), "-CA", path("ca.pem"),
                 "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path(f"{name}.pem"),
                 "-days", "2", *extra)  # fmt: skip

    self_signed("ca", "edge-app test CA")
    self_signed("other", "unrelated CA")
    Path(path("ext.cnf")).write_text(f"subjectAltName={names}\n")
    signed("srv", "broker", "-extfile", path("ext.cnf"))
    signed("cli", "edge-1")
    return TlsFiles(*(Path(path(n)) for n in (
        "ca.pem", "srv.pem", "srv.key", "other.pem", "cli.pem", "cli.key")))  # fmt: skip


def make_password_file(folder: Path, username: str, password: str) -> Path:
    """A mosquitto password file with one user (hashed by mosquitto_passwd)."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is needed for the authentication tests")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "passwd"
    subprocess.run(
        [tool, "-c", "-b", str(path), username, password],
        check=True,
        capture_output=True,
        timeout=30,
    )
    path.chmod(0o600)
    return path


class PortTaken(RuntimeError):
    """The chosen port was taken by another process before mosquitto could bind it."""


class Broker:
    """One private mosquitto process; see the module docstring."""

    def __init__(
        self,
        folder: Path,
        password_file: Path | None = None,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.skip(f"mosquitto is not installed ({MOSQUITTO})")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.password_file = password_file
        self.tls = tls
        self.require_certificate = require_certificate
        self.extra = extra  # more mosquitto.conf lines (e.g. a bridge)
        self.host = HOST
        self.port = free_port()
        self.log_path = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_once = False

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            # The settings docs/mqtt.md recommends: sessions and queued messages survive
            # a broker restart, and no queued message is dropped for a slow subscriber.
            "persistence true",
            f"persistence_location {self.folder}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # keep access to the root-owned tmp folder
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
                f"require_certificate {str(self.require_certificate).lower()}",
            ]
        lines += self.extra
        path = self.folder / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout_s: float = 10.0) -> None:
        """Start (again, on the same port) and wait until it accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("broker already running")
        for _ in range(3):
            try:
                self._start(timeout_s)
                return
            except PortTaken:
                if self.started_once:
                    raise  # a restart must keep its port: clients reconnect to it
                self.port = free_port()  # another process took it since we chose it

    def _start(self, timeout_s: float) -> None:
        conf = self._write_config()
        # mosquitto logs "... running" once its listener is bound; count them, since the
        # log is kept across restarts. (A TCP probe alone could reach another process.)
        runs_before = self.log_text().count(" running")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_text()
            if self.proc.poll() is not None:
                if "Address already in use" in text:
                    raise PortTaken(self.port)
                raise RuntimeError(f"mosquitto exited at start:\n{text}")
            if text.count(" running") > runs_before:
                self.started_once = True
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log_text()}")

    def stop(self) -> None:
        """A clean stop (SIGTERM): mosquitto saves its persistence file."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut of the broker would be."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _end(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def running_broker(
    folder: Path,
    password_file: Path | None = None,
    tls: TlsFiles | None = None,
    require_certificate: bool = False,
    extra: tuple[str, ...] = (),
) -> Iterator[Broker]:
    """A started broker that is killed when the block ends, whatever happens in it."""
    broker = Broker(folder, password_file, tls, require_certificate, extra)
    try:
        broker.start()
        yield broker
    finally:
        broker.kill()


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass
class Collector:
    """A subscriber keeping every message it gets, in arrival order.

    With ``persistent`` (the default) it uses a fixed client id and a persistent session,
    so a broker with persistence queues messages for it across a broker restart.
    """

    broker: Broker
    topics: tuple[str, ...]
    client_id: str = "edge-app-test-collector"
    persistent: bool = True
    messages: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Re-entrant: a wait_for predicate may call on().
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=not self.persistent,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, _codes: object, _p: object
    ) -> None:
        self.subscribed.set()  # SUBACK: messages published from now on reach us

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def start(self) -> Collector:
        self.client.connect(self.broker.host, self.broker.port, keepalive=5)
        self.client.loop_start()
        if not self.subscribed.wait(5):
            raise RuntimeError("collector could not subscribe")
        return self

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(messages)`` holds; ``False`` when ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    """A private broker for one test (import this fixture into a test module to use it)."""
    with running_broker(tmp_path / "mosquitto") as broker:
        yield broker
