"""The live preview: the configured segmenter and the zone analytics on recent frames.

While the page asks for it, a thread reads the camera (or loops the video at its own
pace), runs the configured segmenter on each frame and the same ``ZoneAnalyzer`` the daemon
uses with the zones as currently drawn (saved or not). The page shows the latest frame
with the person mask tinted, people's foot points, and per-zone counts, so an installer
sees whether feet land in the zones. It stops when the page stops asking (a closed tab
does not keep a segmenter busy) and when the editor exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_app.config import AnalyticsConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import ImageU8, PersonMask, Points
from edge_app.core.errors import EdgeAppError
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.feed import SourceReader
from edge_app.pipeline.runner import RunnerCamera, StreamRunner
from edge_app.pipeline.stages import IDLE_WAIT_S
from edge_app.segmentation import Segmenter
from edge_app.segmentation.masks import tint_people
from edge_app.sources import Source
from edge_app.zone_editor.frames import encode_jpeg

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ZoneCount:
    """One zone in one preview frame: people inside, debounced state, person share 0..1."""

    zone: str
    count: int
    occupied: bool
    coverage: float


@dataclass(frozen=True, slots=True)
class PreviewFrame:
    """The latest analysed frame: ``seq`` counts them, ``t`` is source-clock seconds."""

    seq: int
    frame_index: int
    t: float
    jpeg: bytes
    people: int
    counts: tuple[ZoneCount, ...]
    fps: float


def render_overlay(image: ImageU8, mask: PersonMask, feet: Points) -> ImageU8:
    """``image`` with person pixels tinted and a dot on each foot point (BGR uint8)."""
    out = tint_people(image, mask)
    radius = max(3, round(max(image.shape[:2]) / 160))
    for x, y in np.asarray(feet, dtype=np.float64).reshape(-1, 2):
        centre = (round(float(x)), round(float(y)))
        cv2.circle(out, centre, radius + 2, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(out, centre, radius, (0, 255, 255), -1, cv2.LINE_AA)
    return out


class LivePreview:
    """Runs the segmenter and analytics on a camera while someone watches.

    ``open_source`` and ``make_segmenter`` are called on the preview's thread when it
    starts; it stops by itself when ``status()`` has not been asked for ``idle_stop_s``.
    The frames go through the same stream runner and camera analytics as the daemon's.
    """

    def __init__(
        self,
        camera_id: str,
        open_source: Callable[[], Source],
        make_segmenter: Callable[[], Segmenter],
        analytics: AnalyticsConfig,
        segmenter_name: str,
        idle_stop_s: float = 15.0,
    ) -> None:
        self.camera_id = camera_id
        self.segmenter_name = segmenter_name
        self._open_source = open_source
        self._make_segmenter = make_segmenter
        self._analytics = analytics
        self._idle_stop_s = idle_stop_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: SourceReader | None = None
        self._runner: StreamRunner | None = None
        self._camera: CameraAnalytics | None = None
        self._zones: ZoneSet | None = None
        self._latest: PreviewFrame | None = None
        self._error: str | None = None
        self._last_poll = time.monotonic()
        self._seq = 0
        self._fps = 0.0
        self._last_frame_at = 0.0

    def set_zones(self, zones: ZoneSet | None) -> None:
        """Analyse with these zones from the next frame on (``None``: mask only)."""
        with self._lock:
            self._zones = zones
            runner, camera = self._runner, self._camera
        if runner is not None and camera is not None:
            runner.call(lambda: self._reload(camera, zones))

    def _reload(self, camera: CameraAnalytics, zones: ZoneSet | None) -> None:
        camera.reload(zones)  # the preview shows counts: visits it closes are not shown

    def start(self) -> None:
        """Start the preview thread (no-op while it runs)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._error = None
            self._last_poll = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="zone-preview", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and release the camera and segmenter."""
        self._stop.set()
        with self._lock:
            reader, thread = self._reader, self._thread
        if reader is not None:
            reader.source.close()  # unblocks a paced or live read
        if thread is not None:
            thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def latest(self) -> PreviewFrame | None:
        with self._lock:
            return self._latest

    def status(self) -> dict[str, Any]:
        """The preview's state for the page (asking for it keeps the preview alive)."""
        with self._lock:
            self._last_poll = time.monotonic()
            latest = self._latest
            error = self._error
        out: dict[str, Any] = {
            "running": self.running,
            "segmenter": self.segmenter_name,
            "error": error,
            "frame": None,
        }
        if latest is not None:
            out["frame"] = {
                "seq": latest.seq,
                "index": latest.frame_index,
                "t": round(latest.t, 3),
                "people": latest.people,
                "fps": round(latest.fps, 2),
                "counts": [
                    {
                        "zone": c.zone,
                        "count": c.count,
                        "occupied": c.occupied,
                        "coverage": round(c.coverage, 3),
                    }
                    for c in latest.counts
                ],
            }
        return out

    def _run(self) -> None:
        try:
            segmenter = self._make_segmenter()
            try:
                self._loop(segmenter)
            finally:
                segmenter.close()
        except EdgeAppError as exc:
            self._fail(str(exc))
        except ImportError as exc:
            self._fail(f"the {self.segmenter_name} segmenter is not available here: {exc}")

    def _fail(self, message: str) -> None:
        log.warning("zone editor preview stopped: %s", message)
        with self._lock:
            self._error = message

    def _loop(self, segmenter: Segmenter) -> None:
        reader = SourceReader(self._open_source())
        with self._lock:
            camera = CameraAnalytics(
                self.camera_id, self._zones, self._analytics, EventStamper("preview")
            )
            runner = StreamRunner(
                segmenter, {self.camera_id: RunnerCamera(reader.feed, camera)}, self._publish
            )
            self._reader, self._runner, self._camera = reader, runner, camera
        self._last_frame_at = time.monotonic()
        reader.start()
        runner.start()
        try:
            while not runner.finished.wait(IDLE_WAIT_S):
                if self._stop.is_set() or self._idle():
                    break
        finally:
            runner.stop(drain=False)
            runner.join()
            reader.close()
            with self._lock:
                self._reader, self._runner, self._camera = None, None, None
        runner.raise_error()

    def _idle(self) -> bool:
        with self._lock:
            idle = time.monotonic() - self._last_poll > self._idle_stop_s
        if idle:
            log.info("zone editor preview: nobody is watching, stopping it")
        return idle

    def _publish(self, result: CameraResult) -> None:
        """One analysed frame (runner thread): the picture and counts the page shows."""
        now = time.monotonic()
        self._fps = _smoothed_rate(self._fps, now - self._last_frame_at)
        self._last_frame_at = now
        self._seq += 1
        analysis, frame = result.analysis, result.frame
        counts = tuple(ZoneCount(s.zone, s.count, s.occupied, s.coverage) for s in analysis.states)
        jpeg = encode_jpeg(render_overlay(frame.image, result.mask, analysis.feet))
        latest = PreviewFrame(
            self._seq, frame.index, frame.t, jpeg, len(analysis.feet), counts, self._fps
        )
        with self._lock:
            self._latest = latest


def _smoothed_rate(previous: float, period_s: float) -> float:
    """Frames per second, smoothed so the page shows a steady figure."""
    if period_s <= 0:
        return previous
    rate = 1.0 / period_s
    return rate if previous == 0.0 else 0.8 * previous + 0.2 * rate
