"""Video files as a frame source, timed by the video's own clock.

``FileSource`` decodes a file with OpenCV in order. ``Frame.t`` comes from the container's
timestamps (``CAP_PROP_POS_MSEC``) so a replay is exact and independent of how fast the
machine decodes; when the container has no usable timestamps (missing, zero, repeated or
going backwards) the frame period ``1 / fps`` is used instead, so ``t`` always strictly
increases. ``probe`` and ``read_frame`` serve snapshots and the zone editor.

Example::

    src = FileSource("door", Path("door.mp4"))
    for frame in src.frames():
        print(frame.index, frame.t, frame.size)
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from edge_app.core.domain import Frame, ImageU8
from edge_app.core.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0
"""Frame rate assumed when a container reports none (the most common CCTV rate)."""

_FIX_PATH = "check cameras[].source.path in the config"


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a video container says about itself.

    ``width``/``height`` in pixels; ``fps`` the nominal frame rate, ``None`` when the
    container gives none; ``frame_count`` as the container reports it (for some formats an
    estimate from duration x fps), ``None`` when unknown.
    """

    width: int
    height: int
    fps: float | None
    frame_count: int | None


def _check_path(path: Path) -> None:
    """Raise ``SourceError`` when ``path`` is not an existing, readable regular file."""
    if not path.exists():
        raise SourceError(f"video file {path} not found ({_FIX_PATH})")
    if not path.is_file():
        raise SourceError(f"video file {path} is not a regular file ({_FIX_PATH})")
    if not os.access(path, os.R_OK):
        raise SourceError(f"video file {path} is not readable (check its permissions)")


def _open(path: Path, threads: int | None = None) -> cv2.VideoCapture:
    """An opened capture of ``path``; raises ``SourceError`` when it is not a video.

    ``threads`` is the decoder's thread count (``None``: the backend's choice, usually one
    per core); it does not change a single decoded pixel."""
    _check_path(path)
    if threads is None:
        cap = cv2.VideoCapture(str(path))
    else:
        cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, threads])
    if not cap.isOpened():
        cap.release()
        raise SourceError(
            f"video file {path} cannot be opened as a video (is it a video OpenCV can "
            f"decode, and complete? try converting it to H.264 MP4)"
        )
    return cap


def _info(cap: cv2.VideoCapture, path: Path) -> VideoInfo:
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise SourceError(
            f"video file {path} has no picture size (is it a video? try converting it to H.264 MP4)"
        )
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return VideoInfo(
        width=width,
        height=height,
        fps=fps if math.isfinite(fps) and 0.0 < fps <= 1000.0 else None,
        frame_count=count if count > 0 else None,
    )


def probe(path: Path) -> VideoInfo:
    """Size, frame rate and frame count of a video file, without decoding it.

    Raises ``SourceError`` when the file is missing, unreadable or not a video.
    """
    cap = _open(path)
    try:
        return _info(cap, path)
    finally:
        cap.release()


def read_frame(path: Path, index: int) -> ImageU8:
    """Frame ``index`` (0-based) of a video file as an ``(H, W, 3)`` BGR uint8 image.

    Seeks when the container allows it. Raises ``SourceError`` when the file cannot be
    opened or has no frame ``index``.
    """
    if index < 0:
        raise SourceError(f"frame index must be >= 0, got {index} (for video file {path})")
    cap = _open(path)
    try:
        info = _info(cap, path)
        if info.frame_count is not None and index >= info.frame_count:
            raise SourceError(
                f"video file {path} has {info.frame_count} frames, there is no frame {index} "
                f"(give an index from 0 to {info.frame_count - 1})"
            )
        if index > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        ok, image = cap.read()
        if not ok or image is None:
            raise SourceError(f"video file {path}: frame {index} cannot be decoded")
        return as_bgr(np.asarray(image, dtype=np.uint8))
    finally:
        cap.release()


def as_bgr(image: ImageU8) -> ImageU8:
    """Grey or BGRA decodes as BGR, so every ``Frame`` has the same layout."""
    if image.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    if image.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))
    return image


class FrameClock:
    """Turns container timestamps into a strictly increasing ``t`` across loops.

    ``t = pts + offset``. The offset is 0 during the first pass; when the file restarts
    (``restart``), it is chosen so the new pass starts one frame period after the last ``t``.
    A missing, non-finite, repeated or backwards timestamp is replaced by the last ``t``
    plus one frame period, so durations never stall or run backwards.
    """

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.last_t: float | None = None
        self._offset = 0.0
        self._restarted = False

    def restart(self) -> None:
        self._restarted = True

    def next(self, pts_s: float | None) -> float:
        last = self.last_t
        if self._restarted and pts_s is not None and last is not None:
            self._offset = last + self.period_s - pts_s
        self._restarted = False
        t = pts_s + self._offset if pts_s is not None else math.nan
        if last is None:
            if not math.isfinite(t) or t < 0.0:
                t = 0.0
        elif not math.isfinite(t) or t <= last:
            t = last + self.period_s
        self.last_t = t
        return t


class FileSource:
    """Frames of a video file, in decode order, timed by the file's own timestamps.

    ``loop`` starts again at the end with ``t`` still increasing; ``realtime`` paces the
    frames at the video's rate (for demos) instead of as fast as they decode.
    ``decode_threads`` limits the decoder's own threads (``None``: one per core, the
    backend's default); a pipeline that decodes in its own thread beside a model uses 1,
    so decoding keeps to one core and leaves the others to inference. The file is
    checked at construction, so a bad path fails at start-up with ``SourceError``.
    """

    def __init__(
        self,
        camera_id: str,
        path: Path,
        loop: bool = False,
        realtime: bool = False,
        decode_threads: int | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.decode_threads = decode_threads
        self.live = False
        self.info = probe(self.path)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._cap: cv2.VideoCapture | None = None

    def close(self) -> None:
        """Stop ``frames()`` and release the capture; safe to call more than once."""
        self._stop.set()
        # The lock is held only around a decode, so this waits for at most one frame.
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def frames(self) -> Iterator[Frame]:
        """Yield every frame; ends at the end of the file (never, with ``loop``)."""
        period_s = 1.0 / (self.info.fps or DEFAULT_FPS)
        clock = FrameClock(period_s)
        index = 0
        with self._lock:
            if self._stop.is_set():
                return
            self._cap = _open(self.path, self.decode_threads)
        wall0 = datetime.now(timezone.utc)
        mono0 = time.monotonic()
        t0: float | None = None
        passes = 0
        in_pass = 0
        try:
            while not self._stop.is_set():
                image, pts_s = self._read()
                if image is None:
                    if in_pass == 0 or not self.loop:
                        self._warn_if_short(in_pass, passes)
                        return
                    passes += 1
                    in_pass = 0
                    self._rewind()
                    clock.restart()
                    continue
                t = clock.next(pts_s)
                if t0 is None:
                    t0 = t
                if self.realtime:
                    # Sleep against a monotonic clock so slow decodes do not add up as drift.
                    delay = (t - t0) - (time.monotonic() - mono0)
                    if delay > 0 and self._stop.wait(delay):
                        return
                frame = Frame(self.camera_id, index, t, wall0 + timedelta(seconds=t), image)
                index += 1
                in_pass += 1
                yield frame
        finally:
            with self._lock:
                if self._cap is not None:
                    self._cap.release()
                    self._cap = None

    def _read(self) -> tuple[ImageU8 | None, float | None]:
        """The next decoded image and its timestamp in seconds (None when there is none)."""
        with self._lock:
            cap = self._cap
            if cap is None:
                return None, None
            try:
                ok, image = cap.read()
            except cv2.error as exc:
                log.warning("video file %s: decoding failed: %s", self.path, exc)
                return None, None
            if not ok or image is None:
                return None, None
            pos_ms = float(cap.get(cv2.CAP_PROP_POS_MSEC))
        pts_s = pos_ms / 1000.0 if math.isfinite(pos_ms) and pos_ms >= 0.0 else None
        return as_bgr(np.asarray(image, dtype=np.uint8)), pts_s

    def _rewind(self) -> None:
        with self._lock:
            if self._cap is not None and not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0.0):
                # Some containers cannot seek: reopening is the portable way back to frame 0.
                self._cap.release()
                self._cap = _open(self.path, self.decode_threads)

    def _warn_if_short(self, decoded: int, passes: int) -> None:
        """A file that stops before its announced length was cut short or is corrupt."""
        expected = self.info.frame_count
        if decoded == 0 and passes == 0:
            log.warning("video file %s: no frame could be decoded", self.path)
        elif passes == 0 and expected is not None and decoded < expected:
            log.warning(
                "video file %s: decoding stopped after %d of the %d frames the container "
                "announces (the file may be truncated or corrupt); the frames so far were kept",
                self.path,
                decoded,
                expected,
            )
