"""Live cameras that end, stall or hang: offline, backoff with jitter, reconnect, online.

The camera is ``MjpegCamera``, a real MJPEG-over-HTTP stream on 127.0.0.1 read through
OpenCV's FFmpeg backend, except for a read that never returns, which only a fake capture
can produce on demand.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from edge_app.core.backoff import Backoff
from edge_app.core.domain import Frame
from edge_app.core.errors import SourceError
from edge_app.pipeline.feed import FrameFeed
from edge_app.runtime.capture import CameraCapture, Phase
from edge_app.sources.live import CaptureTarget, LiveSource
from tests.daemon_support import mjpeg_camera, wait_until


class StatusLog:
    """Records ``on_status`` calls in order."""

    def __init__(self) -> None:
        self.changes: list[tuple[bool, str]] = []
        self._lock = threading.Lock()

    def __call__(self, camera_id: str, online: bool, reason: str) -> None:
        with self._lock:
            self.changes.append((online, reason))

    def states(self) -> list[bool]:
        with self._lock:
            return [online for online, _ in self.changes]


def http_source(url: str, timeout_s: float = 1.0) -> LiveSource:
    return LiveSource("cam", CaptureTarget(url, url, "ffmpeg"), timeout_s=timeout_s)


def test_live_source_raises_when_the_stream_ends_mid_way() -> None:
    with mjpeg_camera(frames_per_connection=5) as camera:
        source = http_source(camera.url)
        got = []
        with pytest.raises(SourceError, match="no frame within"):
            for f in source.frames():
                got.append(f)
        source.close()
    assert 3 <= len(got) <= 5  # FFmpeg may hold back the last frame or two of a cut stream
    assert [f.index for f in got] == list(range(len(got)))
    assert all(b.t > a.t for a, b in itertools.pairwise(got))


def test_live_source_times_out_on_a_stalled_stream() -> None:
    with mjpeg_camera() as camera:
        source = http_source(camera.url, timeout_s=0.5)
        frames = source.frames()
        next(frames)
        camera.stall()
        with pytest.raises(SourceError, match=r"no frame within 0\.5 s"):
            for _ in frames:
                pass
        source.close()


def test_unreachable_camera_fails_to_open_with_a_clear_message() -> None:
    with mjpeg_camera() as camera:
        url = camera.url
    source = http_source(url)  # the camera is gone: connection refused
    with pytest.raises(SourceError, match="cannot be opened"):
        next(source.frames())


def capture_for(
    make: Any, feed: FrameFeed, status: StatusLog, stall_timeout_s: float = 5.0
) -> CameraCapture:
    return CameraCapture(
        "cam",
        make(),
        make,
        feed,
        backoff=Backoff(0.05, 0.2),
        stall_timeout_s=stall_timeout_s,
        on_status=status,
        rand=lambda: 0.5,
    )


def test_capture_reconnects_after_the_stream_ends_and_reports_offline_online() -> None:
    status = StatusLog()
    feed = FrameFeed(live=True, depth=1)
    with mjpeg_camera(frames_per_connection=4) as camera:
        capture = capture_for(lambda: http_source(camera.url), feed, status)
        capture.start()
        try:
            assert wait_until(lambda: camera.connections >= 3, 20)
            assert wait_until(lambda: status.states()[:5] == [True, False, True, False, True], 20)
        finally:
            capture.stop()
            assert capture.join(5)
    assert capture.reconnects >= 2
    offline_reasons = [reason for online, reason in status.changes if not online]
    assert all("no frame within" in r for r in offline_reasons)
    assert feed.take() is not None  # the newest frame is waiting for inference


def test_capture_comes_back_after_a_stall() -> None:
    status = StatusLog()
    feed = FrameFeed(live=True, depth=1)
    with mjpeg_camera() as camera:
        capture = capture_for(lambda: http_source(camera.url, timeout_s=0.5), feed, status)
        capture.start()
        try:
            assert wait_until(lambda: status.states() == [True], 10)
            camera.stall()
            assert wait_until(lambda: status.states() == [True, False], 10)
            connections = camera.connections
            camera.resume()
            assert wait_until(lambda: status.states() == [True, False, True], 10)
            assert camera.connections > connections  # a fresh connection, not the stale one
        finally:
            capture.stop()
            assert capture.join(5)


def test_capture_keeps_retrying_a_camera_that_is_down_at_start() -> None:
    status = StatusLog()
    feed = FrameFeed(live=True, depth=1)
    with mjpeg_camera() as camera:
        url = camera.url
    capture = capture_for(lambda: http_source(url), feed, status)
    capture.start()
    try:
        assert wait_until(lambda: capture.reconnects >= 3, 10)
        assert capture.settled.is_set()
        assert status.states() == [False]  # one offline event, not one per attempt
    finally:
        capture.stop()
        assert capture.join(5)


# --- a read that never returns --------------------------------------------------------


class HangingCapture:
    """A ``cv2.VideoCapture`` stand-in whose ``grab`` blocks until released, after
    ``frames`` good frames: the GStreamer pipeline that never times out."""

    def __init__(self, frames: int, release_gate: threading.Event) -> None:
        self.frames = frames
        self.gate = release_gate
        self.released = False

    def isOpened(self) -> bool:  # OpenCV's name
        return True

    def grab(self) -> bool:
        if self.frames <= 0:
            self.gate.wait()
            return False
        self.frames -= 1
        return True

    def retrieve(self) -> tuple[bool, Any]:
        return True, np.zeros((8, 8, 3), np.uint8)

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        self.released = True


def test_a_read_that_never_returns_is_abandoned_and_replaced() -> None:
    gate = threading.Event()
    opened: list[HangingCapture] = []

    def opener(target: CaptureTarget, timeout_s: float) -> HangingCapture:
        # The first connection hangs after 3 frames; the next ones deliver frames.
        cap = HangingCapture(3 if not opened else 10_000, gate)
        opened.append(cap)
        return cap

    def make() -> LiveSource:
        return LiveSource("cam", CaptureTarget("fake", "fake", "any"), opener=opener)

    status = StatusLog()
    feed = FrameFeed(live=True, depth=1)
    capture = capture_for(make, feed, status, stall_timeout_s=0.3)
    capture.start()
    try:
        assert wait_until(lambda: status.states() == [True], 5)
        assert wait_until(lambda: opened[0].frames == 0, 5)  # now stuck in grab()
        assert wait_until(lambda: capture.check_stall(time.monotonic()), 5)
        assert status.states() == [True, False]
        assert "no frame for" in status.changes[1][1]
        assert wait_until(lambda: status.states() == [True, False, True], 5)
        assert len(opened) == 2
        assert capture.phase is Phase.STREAMING
    finally:
        capture.stop()
        gate.set()  # the stuck read returns: the abandoned thread exits and releases
        assert capture.join(5)
    assert wait_until(lambda: opened[0].released, 5)


def test_a_file_source_is_not_reconnected() -> None:
    class Finite:
        camera_id = "file"
        live = False

        def frames(self) -> Iterator[Frame]:
            wall = datetime.now(timezone.utc)
            for i in range(3):
                yield Frame("file", i, i * 0.1, wall, np.zeros((8, 8, 3), np.uint8))

        def close(self) -> None:
            pass

    made: list[Finite] = []

    def make() -> Finite:
        made.append(Finite())
        return made[-1]

    status = StatusLog()
    feed = FrameFeed(live=False, depth=8)
    capture = capture_for(make, feed, status)
    capture.start()
    assert capture.join(5)
    assert len(made) == 1 and capture.reconnects == 0
    assert status.changes == []  # files have no online/offline
    assert [feed.take().index for _ in range(3)] == [0, 1, 2]  # type: ignore[union-attr]
    assert feed.drained
