"""Pictures an installer can check at a glance: does each zone sit where people stand?

``draw_overlay`` paints one analysed frame: the person mask tinted, every zone polygon
with its live count (filled while occupied), each person's foot point with its track id.
``OverlayWriter`` turns a replay into a video of such frames (``edge-app replay
--overlay OUT.mp4``); ``snapshot`` writes one frame as a PNG (``edge-app snapshot``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from edge_app.analytics import FrameAnalysis
from edge_app.config import AnalyticsConfig, SegmenterConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import ImageU8, PersonMask, Points
from edge_app.core.errors import ConfigError, SourceError
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.runner import run_source
from edge_app.segmentation import create_segmenter
from edge_app.segmentation.masks import tint_people
from edge_app.sources.file import FileSource

ZONE_COLOURS = (
    (0, 200, 255),
    (255, 160, 0),
    (80, 220, 80),
    (60, 60, 255),
    (255, 80, 200),
    (200, 255, 80),
    (0, 128, 255),
    (255, 255, 0),
)
"""BGR colours given to zones in file order (repeating)."""


def draw_overlay(
    image: ImageU8,
    person: PersonMask,
    analysis: FrameAnalysis,
    polygons: Sequence[Points],
    caption: str = "",
) -> ImageU8:
    """A new BGR image: ``image`` with mask, zones (in ``analysis.states`` order, polygons
    in frame pixels), foot points and track ids drawn on it."""
    out = tint_people(image, person)
    h, w = out.shape[:2]
    thick = max(1, round(max(w, h) / 640))
    font_scale = 0.45 * thick
    fill = out.copy()
    for k, (polygon, state) in enumerate(zip(polygons, analysis.states, strict=True)):
        if state.occupied:
            pts = _int_points(polygon)
            cv2.fillPoly(fill, [pts], ZONE_COLOURS[k % len(ZONE_COLOURS)], cv2.LINE_AA)
    cv2.addWeighted(fill, 0.25, out, 0.75, 0.0, dst=out)
    for k, (polygon, state) in enumerate(zip(polygons, analysis.states, strict=True)):
        colour = ZONE_COLOURS[k % len(ZONE_COLOURS)]
        pts = _int_points(polygon)
        cv2.polylines(out, [pts], True, colour, thick + 1, cv2.LINE_AA)
        label = f"{state.zone}: {state.count}"
        anchor = (int(polygon[:, 0].min()) + 4, int(polygon[:, 1].min()) + int(16 * font_scale) + 6)
        _text(out, label, anchor, colour, font_scale, thick)
    for (x, y), tid in zip(analysis.feet.tolist(), analysis.track_ids.tolist(), strict=True):
        centre = (round(x), round(y))
        cv2.circle(out, centre, 3 * thick + 1, (0, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, centre, 3 * thick + 1, (0, 0, 0), 1, cv2.LINE_AA)
        _text(
            out,
            str(tid),
            (centre[0] + 5 * thick, centre[1] - 3 * thick),
            (0, 255, 255),
            font_scale,
            thick,
        )
    if caption:
        _text(out, caption, (6, int(18 * font_scale) + 6), (255, 255, 255), font_scale, thick)
    return out


def _int_points(polygon: Points) -> np.ndarray:
    return np.round(polygon).astype(np.int32).reshape(-1, 1, 2)


def _text(
    image: ImageU8,
    text: str,
    org: tuple[int, int],
    colour: tuple[int, int, int],
    scale: float,
    thick: int,
) -> None:
    # A dark outline keeps labels readable on bright and dark floors alike.
    cv2.putText(
        image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA
    )
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


class OverlayPainter:
    """Draws each ``CameraResult`` of one camera (zones resolved at its frame size)."""

    def __init__(self, zones: ZoneSet) -> None:
        self.zones = zones
        self._size: tuple[int, int] | None = None
        self._polygons: list[Points] = []

    def __call__(self, result: CameraResult) -> ImageU8:
        frame = result.frame
        if frame.size != self._size:
            self._size = frame.size
            self._polygons = self.zones.polygons_px(frame.size)
        total = sum(st.count for st in result.analysis.states)
        caption = f"{frame.camera_id}  frame {frame.index}  t={frame.t:.2f}s  in zones: {total}"
        return draw_overlay(frame.image, result.mask, result.analysis, self._polygons, caption)


class OverlayWriter:
    """A replay sink writing every analysed frame, drawn, to a video file.

    ``.mp4`` is written as MPEG-4 Part 2 (``mp4v``, playable almost everywhere), ``.avi``
    as Motion-JPEG. The frame rate is taken from the source's timestamps.
    """

    def __init__(self, path: Path, zones: ZoneSet, fps: float | None = None) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".mp4", ".avi"):
            raise ConfigError(str(path), None, "overlay video must be .mp4 or .avi", "rename it")
        self.path = path
        self.fourcc = cv2.VideoWriter.fourcc(*("mp4v" if suffix == ".mp4" else "MJPG"))
        self.fps = fps
        self.painter = OverlayPainter(zones)
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._pending: list[CameraResult] = []

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, result: CameraResult) -> None:
        if self._writer is None:
            # Two frames give the source's frame period when no rate was given.
            self._pending.append(result)
            if self.fps is None and len(self._pending) < 2:
                return
            self._open()
            for pending in self._pending:
                self._write(pending)
            self._pending = []
            return
        self._write(result)

    def _open(self) -> None:
        first = self._pending[0].frame
        if self.fps is None:
            dt = self._pending[1].frame.t - first.t if len(self._pending) > 1 else 0.0
            self.fps = 1.0 / dt if dt > 0 else 10.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), self.fourcc, self.fps, first.size)
        if not writer.isOpened():
            raise SourceError(f"{self.path}: cannot open a video writer (codec not available?)")
        self._writer = writer

    def _write(self, result: CameraResult) -> None:
        assert self._writer is not None
        self._writer.write(self.painter(result))
        self.frames += 1

    def close(self) -> None:
        """Write any frame still waiting (a one-frame video) and finish the file."""
        if self._writer is None and self._pending:
            self._open()
            for pending in self._pending:
                self._write(pending)
            self._pending = []
        if self._writer is not None:
            self._writer.release()
            self._writer = None


# --- edge-app snapshot --------------------------------------------------------------------


def snapshot(
    video: Path,
    zones: ZoneSet,
    out: Path,
    segmenter_cfg: SegmenterConfig,
    analytics_cfg: AnalyticsConfig,
    frame_index: int | None = None,
    at_s: float | None = None,
) -> CameraResult:
    """Run the pipeline from the start of ``video`` up to one frame (by 0-based index or
    the first frame at or after ``at_s`` seconds; the last frame when neither is given)
    and write it, drawn, to ``out`` (PNG). The frames before it warm up the segmenter's
    background model and the tracker, so the picture shows what the daemon would see."""
    if not video.is_file():
        raise ConfigError(str(video), None, "video file not found", "check the path")
    camera = CameraAnalytics(zones.camera, zones, analytics_cfg, EventStamper("snapshot"))
    chosen: list[CameraResult] = []
    reached = threading.Event()

    def keep(result: CameraResult) -> None:
        if reached.is_set():
            return  # frames analysed after the chosen one while the runner stops
        chosen[:] = [result]
        frame = result.frame
        if (frame_index is not None and frame.index >= frame_index) or (
            at_s is not None and frame.t >= at_s
        ):
            reached.set()

    segmenter = create_segmenter(segmenter_cfg)
    try:
        run_source(FileSource(zones.camera, video), segmenter, camera, keep, stop=reached)
    finally:
        segmenter.close()
    if chosen and not reached.is_set() and (frame_index is not None or at_s is not None):
        where = f"frame {frame_index}" if frame_index is not None else f"{at_s:g} s"
        raise ConfigError(
            str(video),
            None,
            f"the video ends (frame {chosen[0].frame.index}) before {where}",
            "pick an earlier frame",
        )
    if not chosen:
        raise SourceError(f"{video}: no frame could be decoded")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), OverlayPainter(zones)(chosen[0])):
        raise ConfigError(
            str(out), None, "cannot write the picture", "use a .png path you can write"
        )
    return chosen[0]
