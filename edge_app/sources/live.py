"""Live cameras through OpenCV: RTSP, USB/V4L2, Jetson CSI and raw GStreamer pipelines.

A ``LiveSource`` is one connection: ``frames()`` opens the capture, yields frames timed by
the monotonic clock at capture, and raises ``SourceError`` when the stream ends, fails or
stays silent for ``timeout_s`` (FFmpeg and GStreamer honour OpenCV's open/read timeouts).
Reconnecting is the capture thread's job (``edge_app.runtime.capture``), so every backend
gets the same backoff and ``camera.offline``/``camera.online`` events.

Which OpenCV backend reads a camera is decided by ``capture_target``: RTSP goes through
``sources.gstreamer.plan_rtsp`` (NVDEC on a Jetson, software GStreamer, or FFmpeg), CSI
through ``plan_csi``, raw pipelines need an OpenCV built with GStreamer (JetPack's is,
PyPI's wheels are not: that is detected and reported at start-up). Credentials come from
secrets and only ever appear in the capture target, never in ``display`` (what is logged).

Example::

    source = create_live_source(camera_config, timeout_s=10.0)
    for frame in source.frames():     # raises SourceError when the stream stops
        ...
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from edge_app.config import (
    CameraConfig,
    CsiSourceConfig,
    GStreamerSourceConfig,
    RtspSourceConfig,
    UsbSourceConfig,
)
from edge_app.core.domain import Frame
from edge_app.core.errors import SourceError
from edge_app.sources.file import as_bgr
from edge_app.sources.gstreamer import Size, opencv_has_gstreamer, plan_csi, plan_rtsp

log = logging.getLogger(__name__)

Backend = Literal["ffmpeg", "gstreamer", "v4l2", "any"]

_API: dict[Backend, int] = {
    "ffmpeg": cv2.CAP_FFMPEG,
    "gstreamer": cv2.CAP_GSTREAMER,
    "v4l2": cv2.CAP_V4L2,
    "any": cv2.CAP_ANY,
}
# Only these backends take OpenCV's open/read timeouts; others fail to open when given them.
_TIMEOUT_BACKENDS: frozenset[Backend] = frozenset({"ffmpeg", "gstreamer"})
# OpenCV's FFmpeg backend reads its options from this variable at each open (it uses RTSP
# over TCP when the variable is unset), so opens that set it are serialised.
_FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ffmpeg_env_lock = threading.Lock()

NO_GSTREAMER = (
    "OpenCV here was built without GStreamer (PyPI's opencv-python wheels never have it; "
    "JetPack's python3-opencv does: make the venv with --system-site-packages and remove "
    "opencv-python-headless from it), so a gstreamer source cannot be used"
)


class VideoCaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` a live source uses."""

    def isOpened(self) -> bool: ...  # OpenCV's name

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, Any]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CaptureTarget:
    """What to open and how: ``target`` for ``cv2.VideoCapture`` (may hold credentials),
    ``display`` to log instead, ``backend``, properties to set after opening
    (``(cv2.CAP_PROP_*, value)``), the RTSP transport for FFmpeg, and whether decoding runs
    on the Jetson's hardware."""

    target: str | int
    display: str
    backend: Backend
    props: tuple[tuple[int, float], ...] = ()
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    hardware: bool = False


OpenCapture = Callable[[CaptureTarget, float], VideoCaptureLike]
"""``(target, timeout_s) -> capture``; tests pass a fake camera here."""


def open_capture(target: CaptureTarget, timeout_s: float) -> VideoCaptureLike:
    """Open ``target`` with OpenCV, with open/read timeouts where the backend has them."""
    api = _API[target.backend]
    params: list[int] = []
    if target.backend in _TIMEOUT_BACKENDS:
        ms = max(1, int(timeout_s * 1000))
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    if target.backend == "ffmpeg" and target.rtsp_transport != "tcp":
        with _ffmpeg_env_lock:
            previous = os.environ.get(_FFMPEG_OPTIONS)
            os.environ[_FFMPEG_OPTIONS] = f"rtsp_transport;{target.rtsp_transport}"
            try:
                cap = cv2.VideoCapture(target.target, api, params)
            finally:
                if previous is None:
                    os.environ.pop(_FFMPEG_OPTIONS, None)
                else:
                    os.environ[_FFMPEG_OPTIONS] = previous
    else:
        cap = cv2.VideoCapture(target.target, api, params)
    if cap.isOpened():
        for prop, value in target.props:
            cap.set(prop, value)
    return cap


class LiveSource:
    """One connection to a live camera (``live = True``; see the module docstring).

    ``min_interval_s`` skips frames closer than that to the last one kept, before they are
    converted to BGR (``grab`` without ``retrieve``): a 30 fps camera processed at 5 fps
    costs a decode, not a colour conversion and a copy, per skipped frame.
    """

    def __init__(
        self,
        camera_id: str,
        target: CaptureTarget,
        *,
        timeout_s: float = 10.0,
        min_interval_s: float = 0.0,
        opener: OpenCapture = open_capture,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.camera_id = camera_id
        self.live = True
        self.target = target
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.skipped = 0
        self._opener = opener
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held around open and each read
        self._cap: VideoCaptureLike | None = None

    def __repr__(self) -> str:
        return f"LiveSource({self.camera_id!r}, {self.target.display!r})"

    def close(self) -> None:
        """Stop ``frames()``; never blocks (a read in progress releases the capture itself)."""
        self._stop.set()
        if self._lock.acquire(blocking=False):
            try:
                self._release()
            finally:
                self._lock.release()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _fail(self, problem: str) -> SourceError:
        return SourceError(f"camera {self.camera_id} ({self.target.display}): {problem}")

    def frames(self) -> Iterator[Frame]:
        """Frames until the stream ends (``SourceError``) or ``close()``."""
        with self._lock:
            if self._stop.is_set():
                return
            cap = self._opener(self.target, self.timeout_s)
            self._cap = cap
            if not cap.isOpened():
                self._release()
                raise self._fail(
                    "cannot be opened (check the address, the credentials and "
                    "that the camera is reachable)"
                )
        log.info("camera %s: opened %s", self.camera_id, self.target.display)
        index = 0
        last_t: float | None = None
        try:
            while not self._stop.is_set():
                with self._lock:
                    if self._cap is None:
                        return
                    if not cap.grab():
                        raise self._fail(
                            f"no frame within {self.timeout_s:g} s (the stream "
                            "ended, stalled or the camera went away)"
                        )
                    t = self._clock()
                    if last_t is not None and t - last_t < self.min_interval_s - 1e-6:
                        self.skipped += 1
                        continue
                    ok, image = cap.retrieve()
                if not ok or image is None:
                    raise self._fail("a frame could not be decoded")
                last_t = t
                frame = Frame(
                    self.camera_id,
                    index,
                    t,
                    datetime.now(timezone.utc),
                    as_bgr(np.asarray(image, dtype=np.uint8)),
                )
                index += 1
                yield frame
        finally:
            with self._lock:
                self._release()


# --- from the config -------------------------------------------------------------------

_SECRET_PROPERTY = re.compile(r"\b(user-pw|user-id|password|passwd|passphrase)=(\"[^\"]*\"|\S+)")
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/@\s\"]+@", re.IGNORECASE)


def mask_pipeline(text: str) -> str:
    """A raw pipeline or URL fit for logs: credential properties and URL userinfo hidden."""
    return _URL_USERINFO.sub(r"\1***@", _SECRET_PROPERTY.sub(r"\1=***", text))


def _usb_target(cfg: UsbSourceConfig) -> CaptureTarget:
    device = cfg.device
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    props: list[tuple[int, float]] = [(cv2.CAP_PROP_BUFFERSIZE, 1.0)]  # latency over smoothness
    if cfg.width is not None:
        props.append((cv2.CAP_PROP_FRAME_WIDTH, float(cfg.width)))
    if cfg.height is not None:
        props.append((cv2.CAP_PROP_FRAME_HEIGHT, float(cfg.height)))
    if cfg.fps is not None:
        props.append((cv2.CAP_PROP_FPS, float(cfg.fps)))
    v4l2 = isinstance(device, int) or device.startswith("/dev/")
    display = f"/dev/video{device}" if isinstance(device, int) else device
    return CaptureTarget(device, display, "v4l2" if v4l2 else "any", tuple(props))


def capture_target(camera: CameraConfig, scale_to: Size | None = None) -> CaptureTarget:
    """How to open a live camera; resolves its secrets. Raises ``SourceError`` when this
    machine cannot read it (no GStreamer in OpenCV) and ``ConfigError`` for a secret that
    cannot be read. ``scale_to`` is the frame size RTSP and CSI cameras deliver when
    GStreamer decodes them (on the VIC with ``decode: jetson`` and on CSI cameras)."""
    src = camera.source
    if isinstance(src, RtspSourceConfig):
        username = src.username.resolve() if src.username is not None else None
        password = src.password.resolve() if src.password is not None else None
        plan = plan_rtsp(src, scale_to, username, password)
        return CaptureTarget(
            plan.target,
            plan.display,
            plan.backend,
            rtsp_transport=src.transport,
            hardware=plan.hardware,
        )
    if isinstance(src, UsbSourceConfig):
        return _usb_target(src)
    if isinstance(src, CsiSourceConfig):
        plan = plan_csi(src, scale_to)
        return CaptureTarget(plan.target, plan.display, plan.backend, hardware=True)
    if isinstance(src, GStreamerSourceConfig):
        if not opencv_has_gstreamer():
            raise SourceError(f"camera {camera.id}: {NO_GSTREAMER}")
        if "appsink" not in src.pipeline:
            raise SourceError(
                f"camera {camera.id}: the pipeline must end in appsink (e.g. '... ! "
                "videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1')"
            )
        return CaptureTarget(src.pipeline, mask_pipeline(src.pipeline), "gstreamer")
    raise SourceError(f"camera {camera.id}: source type {src.type!r} is not a live camera")


def create_live_source(
    camera: CameraConfig,
    timeout_s: float = 10.0,
    opener: OpenCapture = open_capture,
    scale_to: Size | None = None,
) -> LiveSource:
    """A ``LiveSource`` for a camera of type rtsp, usb, csi or gstreamer (``scale_to``: see
    ``capture_target``)."""
    min_interval = 1.0 / camera.fps if camera.fps else 0.0
    target = capture_target(camera, scale_to)
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise SourceError(f"camera {camera.id}: the read timeout must be > 0 s")
    return LiveSource(
        camera.id, target, timeout_s=timeout_s, min_interval_s=min_interval, opener=opener
    )
