"""One camera's parts in the running daemon, and its health figures."""

from __future__ import annotations

from edge_app.config import CameraConfig
from edge_app.pipeline.camera import CameraAnalytics
from edge_app.runtime.capture import CameraCapture
from edge_app.runtime.health import CameraFigures, FpsMeter
from edge_app.sources.base import Source


class CameraParts:
    """One camera's parts: capture thread, feed, analytics and frame counter."""

    def __init__(
        self, config: CameraConfig, capture: CameraCapture, analytics: CameraAnalytics, now: float
    ) -> None:
        self.config = config
        self.capture = capture
        self.feed = capture.feed
        self.analytics = analytics
        self.fps = FpsMeter(now)

    @property
    def source(self) -> Source:
        return self.capture.source

    def figures(self, now: float) -> CameraFigures:
        return CameraFigures(
            camera_id=self.config.id,
            live=self.capture.live,
            online=self.capture.online if self.capture.live else None,
            fps=round(self.fps.update(now), 2),
            frames_processed=self.fps.total,
            frames_dropped=self.feed.dropped,
            frames_skipped=self.capture.skipped + getattr(self.source, "skipped", 0),
            reconnects=self.capture.reconnects,
        )
