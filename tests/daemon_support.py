"""Helpers for the daemon tests: videos, configs, a fake network camera, a notify socket.

``MjpegCamera`` is a camera stand-in on 127.0.0.1: an HTTP server streaming JPEG frames
(``multipart/x-mixed-replace``, as many IP cameras do), read through OpenCV's real FFmpeg
backend. It can end the stream mid-way, stall (connection open, nothing sent) or refuse
connections, so the live source's reconnect path runs against real sockets and codecs.
``NotifySocket`` is the ``$NOTIFY_SOCKET`` end systemd would hold.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from tests.fakes.onnx_models import bright_person_model

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


def person_frame(i: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A black frame with one white 'person' (20 px wide) walking right, ``i`` the index."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    x = (i * 3) % (w - 20)
    img[h // 3 : h - 10, x : x + 20] = 255
    return img


def make_video(
    path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (160, 120)
) -> Path:
    """An MJPG AVI of ``frames`` frames of ``person_frame`` (quick to write and decode)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    try:
        for i in range(frames):
            writer.write(person_frame(i, size))
    finally:
        writer.release()
    return path


def write_zones(path: Path, camera: str, zones: dict[str, list[list[float]]]) -> Path:
    """A zone file with normalised polygons."""
    data = {"camera": camera, "zones": [{"id": z, "polygon": p} for z, p in zones.items()]}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


WHOLE_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
LEFT_HALF = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]


def write_config(
    folder: Path,
    cameras: list[dict[str, Any]],
    *,
    batch_size: int = 1,
    mqtt_port: int | None = None,
    daemon: dict[str, Any] | None = None,
) -> Path:
    """A daemon config in ``folder`` with the tiny ONNX person model (bright = person)."""
    model = bright_person_model(folder / "person.onnx", size=(16, 16))
    config: dict[str, Any] = {
        "device_id": "test-edge",
        "cameras": cameras,
        "segmenter": {
            "type": "onnxruntime",
            "model": str(model),
            "batch_size": batch_size,
            "intra_op_threads": 1,
            "preprocess": {"infer_dims": [3, 16, 16]},
        },
        "store": {"path": str(folder / "var" / "edge-app.db"), "synchronous": "NORMAL"},
        "mqtt": (
            {"enabled": True, "host": HOST, "port": mqtt_port, "stats_interval_s": 0.5}
            if mqtt_port
            else {"enabled": False}
        ),
        "daemon": {"status_interval_s": 0.5, **(daemon or {})},
    }
    path = folder / "edge-app.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# --- a fake network camera -------------------------------------------------------------


class MjpegCamera:
    """An MJPEG-over-HTTP camera on 127.0.0.1 (one client at a time).

    ``frames_per_connection`` ends each stream after that many frames (None: endless);
    ``stall()`` keeps the connection open but stops sending; ``resume()`` sends again;
    ``refuse()``/``accept()`` close and reopen the listening socket.
    """

    def __init__(self, fps: float = 25.0, frames_per_connection: int | None = None) -> None:
        self.period_s = 1.0 / fps
        self.frames_per_connection = frames_per_connection
        self.connections = 0
        self.sent = 0
        self._sending = threading.Event()
        self._sending.set()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self.port = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/video.mjpg"

    def start(self) -> MjpegCamera:
        self._listen()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="mjpeg-camera")
        self._thread.start()
        return self

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        sock.listen(4)
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        self._listener = sock

    def stall(self) -> None:
        self._sending.clear()

    def resume(self) -> None:
        self._sending.set()

    def close(self) -> None:
        self._stop.set()
        self._sending.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            assert self._listener is not None
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            # OSError: the client went away; wait for the next one.
            with conn, contextlib.suppress(OSError):
                self._stream(conn)

    def _stream(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.recv(65536)  # the HTTP request
        conn.sendall(
            b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n"
        )
        n = 0
        while not self._stop.is_set():
            if self.frames_per_connection is not None and n >= self.frames_per_connection:
                return
            if not self._sending.is_set():
                # Stalled: keep the connection open, send nothing, until resumed.
                self._sending.wait(0.05)
                continue
            _, jpg = cv2.imencode(".jpg", person_frame(self.sent))
            data = jpg.tobytes()
            conn.sendall(
                b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                + data
                + b"\r\n"
            )
            n += 1
            self.sent += 1
            time.sleep(self.period_s)


@contextmanager
def mjpeg_camera(**kwargs: Any) -> Iterator[MjpegCamera]:
    camera = MjpegCamera(**kwargs).start()
    try:
        yield camera
    finally:
        camera.close()


# --- systemd's end of sd_notify -------------------------------------------------------


class NotifySocket:
    """A bound ``AF_UNIX`` datagram socket collecting ``sd_notify`` messages."""

    def __init__(self) -> None:
        # A short folder: socket paths are limited to 107 bytes.
        self._dir = tempfile.mkdtemp(prefix="sdn", dir="/tmp")
        self.path = os.path.join(self._dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="notify-socket")
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            fields["_t"] = repr(time.monotonic())
            with self._lock:
                self.messages.append(fields)

    def snapshot(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, key: str, value: str | None = None, timeout_s: float = 20.0) -> bool:
        return wait_until(
            lambda: any(key in m and (value is None or m[key] == value) for m in self.snapshot()),
            timeout_s,
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
        for path in (self.path,):
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(self._dir)


# --- the daemon as a subprocess --------------------------------------------------------


class Daemon:
    """``python -m edge_app run`` in a subprocess, its stderr collected line by line."""

    def __init__(self, config: Path, env: dict[str, str] | None = None, *args: str) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET",)}
        full_env.update(env or {})
        full_env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_app", "run", "--config", str(config), *args],
            cwd=str(config.parent),
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, timeout_s: float = 20.0) -> bool:
        return wait_until(lambda: text in self.log or self.proc.poll() is not None, timeout_s) and (
            text in self.log
        )

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then the exit code (SIGKILL and a failure if it does not exit in time)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise
        finally:
            self._reader.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)


# --- the daemon in this process ---------------------------------------------------------


class InProcessApp:
    """An ``App`` started here with ``run()`` in a thread; ``finish`` stops it (bounded).

    ``error`` is what ``run()`` raised, if anything; ``ended`` is set when ``run()``
    returned by itself (every finite source ended) or raised.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.error: BaseException | None = None
        self.ended = threading.Event()
        app.start()
        self.thread = threading.Thread(target=self._run, daemon=True, name="app-run")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.app.run()
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended.set()

    def finish(self, drain_timeout_s: float = 5.0) -> None:
        """Ask for a stop (if still running), wait for ``run()``, then ``stop()``."""
        self.app.request_stop()
        self.thread.join(30)
        self.app.stop(drain_timeout_s)
