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

from edge_app.analytics import FrameAnalysis, ZoneAnalyzer
from edge_app.config import AnalyticsConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import Frame, ImageU8, PersonMask, Points
from edge_app.core.errors import EdgeAppError
from edge_app.pipeline.camera import analyzer_params, zone_rules
from edge_app.segmentation import Segmenter
from edge_app.sources import Source
from edge_app.zone_editor.frames import encode_jpeg

log = logging.getLogger(__name__)

_MASK_TINT = np.array([255, 0, 255], dtype=np.float32)  # magenta (BGR): not a floor colour


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


def mask_in_frame(mask: PersonMask) -> ImageU8:
    """The person mask resampled to frame pixels: ``(H, W)`` uint8 0/1."""
    m = mask.mapping
    # frame -> mask affine; with WARP_INVERSE_MAP OpenCV samples the mask at each frame pixel.
    affine = np.array([[m.scale_x, 0.0, m.offset_x], [0.0, m.scale_y, m.offset_y]])
    warped: ImageU8 = np.asarray(
        cv2.warpAffine(
            mask.mask,
            affine,
            m.frame_size,
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        ),
        dtype=np.uint8,
    )
    return warped


def render_overlay(image: ImageU8, mask: PersonMask, feet: Points) -> ImageU8:
    """``image`` with person pixels tinted and a dot on each foot point (BGR uint8)."""
    out: ImageU8 = np.array(image, dtype=np.uint8, copy=True)
    person = mask_in_frame(mask).astype(bool)
    out[person] = (out[person].astype(np.float32) * 0.45 + _MASK_TINT * 0.55).astype(np.uint8)
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
        self._source: Source | None = None
        self._zones: ZoneSet | None = None
        self._zones_version = 0
        self._latest: PreviewFrame | None = None
        self._error: str | None = None
        self._last_poll = time.monotonic()

    def set_zones(self, zones: ZoneSet | None) -> None:
        """Analyse with these zones from the next frame on (``None``: mask only)."""
        with self._lock:
            self._zones = zones
            self._zones_version += 1

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
            source, thread = self._source, self._thread
        if source is not None:
            source.close()  # unblocks a paced or live read
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
        source = self._open_source()
        with self._lock:
            self._source = source
        analyzer: ZoneAnalyzer | None = None
        version = -1
        size: tuple[int, int] | None = None
        seq = 0
        fps = 0.0
        last = time.monotonic()
        try:
            for frame in source.frames():
                if self._stop.is_set() or self._idle():
                    return
                mask = segmenter.segment([frame])[0]
                with self._lock:
                    zones, current = self._zones, self._zones_version
                if current != version or frame.size != size:
                    analyzer = self._analyzer(zones, frame)
                    version, size = current, frame.size
                analysis = analyzer.update(mask, frame.t) if analyzer is not None else None
                now = time.monotonic()
                fps = _smoothed_rate(fps, now - last)
                last = now
                seq += 1
                self._publish(seq, frame, mask, analysis, fps)
        finally:
            with self._lock:
                self._source = None
            source.close()

    def _idle(self) -> bool:
        with self._lock:
            idle = time.monotonic() - self._last_poll > self._idle_stop_s
        if idle:
            log.info("zone editor preview: nobody is watching, stopping it")
        return idle

    def _analyzer(self, zones: ZoneSet | None, frame: Frame) -> ZoneAnalyzer | None:
        if zones is None:
            return None
        rules = zone_rules(zones, frame.size, self._analytics)
        # A fresh analyzer per zone change: the preview shows counts, not long visits.
        return ZoneAnalyzer(self.camera_id, rules, analyzer_params(self._analytics))

    def _publish(
        self,
        seq: int,
        frame: Frame,
        mask: PersonMask,
        analysis: FrameAnalysis | None,
        fps: float,
    ) -> None:
        feet = analysis.feet if analysis is not None else np.zeros((0, 2))
        counts = tuple(
            ZoneCount(s.zone, s.count, s.occupied, s.coverage)
            for s in (analysis.states if analysis is not None else ())
        )
        jpeg = encode_jpeg(render_overlay(frame.image, mask, feet))
        result = PreviewFrame(seq, frame.index, frame.t, jpeg, len(feet), counts, fps)
        with self._lock:
            self._latest = result


def _smoothed_rate(previous: float, period_s: float) -> float:
    """Frames per second, smoothed so the page shows a steady figure."""
    if period_s <= 0:
        return previous
    rate = 1.0 / period_s
    return rate if previous == 0.0 else 0.8 * previous + 0.2 * rate
