"""One camera's parts in the running daemon and its health figures; what the daemon does
with all its cameras: open them, wait for their first frames, stop their capture, and
collect what they learned."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from typing import Any

from edge_app.config import AppConfig, CameraConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.backoff import Backoff
from edge_app.core.events import CameraStatus, Event, EventStamper, ZoneEvent
from edge_app.pipeline.camera import CameraAnalytics
from edge_app.pipeline.feed import FILE_FEED_DEPTH, FrameFeed
from edge_app.runtime.capture import CameraCapture, StatusCallback
from edge_app.runtime.health import CameraFigures, FpsMeter
from edge_app.runtime.learned_state import LearnedState, LearnedStateStore
from edge_app.segmentation import LearningSegmenter, Segmenter
from edge_app.sources.base import Source

STALL_GRACE = 1.5
"""A live camera is declared stalled after ``stall_timeout_s`` times this: the backend's own
read timeout (``stall_timeout_s``) gets to fire first, with a clear reason."""
OPEN_GRACE = 1.5
"""READY waits for the cameras' first frames up to ``stall_timeout_s`` times this: opening a
stream may take a little longer than its read timeout (connect, then the first frame)."""
CAPTURE_JOIN_S = 2.0  # at a stop, for every capture thread together


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

    def status_event(
        self, online: bool, reason: str, wall: datetime, stamper: EventStamper
    ) -> Event:
        """The camera's ``camera.status`` event, on its own clock as its zone events (on the
        runner's analysis thread, or after the runner ended)."""
        t = self.analytics.camera_time(wall)
        event = ZoneEvent(self.config.id, None, t, CameraStatus(online, reason))
        return stamper.stamp(event, wall)

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


def open_cameras(
    config: AppConfig,
    zones: Mapping[str, ZoneSet],
    make_source: Callable[[CameraConfig], Source],
    stamper: Callable[[], EventStamper],
    on_status: StatusCallback,
    stretched_to: tuple[int, int] | None,
) -> Iterator[tuple[CameraParts, LearnedState]]:
    """Each configured camera in turn, opened: its source (``make_source``, again at each
    reconnect), feed, capture thread (not started) and analytics, which resume the person
    size it learned before; with all it learned before (its scene too, for the segmenter).

    ``stamper()`` is the sinks' event stamper; ``on_status`` hears a live camera go offline
    or come back; ``stretched_to`` is the model input that frames are stretched to, if any.
    """
    daemon = config.daemon
    backoff = Backoff(daemon.reconnect_min_s, daemon.reconnect_max_s)
    now = time.monotonic()
    learned = LearnedStateStore.beside(config.store.path)
    for cam in config.cameras:
        saved = learned.load(cam.id)
        source = make_source(cam)
        feed = FrameFeed(source.live, 1 if source.live else FILE_FEED_DEPTH)
        capture = CameraCapture(
            cam.id,
            source,
            lambda cam=cam: make_source(cam),  # type: ignore[misc]
            feed,
            backoff=backoff,
            stall_timeout_s=daemon.stall_timeout_s * STALL_GRACE,
            on_status=on_status,
            min_interval_s=1.0 / cam.fps if cam.fps else 0.0,
        )
        analytics = CameraAnalytics(
            cam.id,
            zones[cam.id],
            config.analytics,
            stamper(),
            saved.get("person_size"),
            stretched_to=stretched_to,
        )
        yield CameraParts(cam, capture, analytics, now), saved


def wait_for_first_frames(
    cameras: Collection[CameraParts], stall_timeout_s: float, stop: threading.Event
) -> None:
    """READY waits for each camera's first frame or first failure, not longer than its open
    timeout: an unreachable camera must not keep the whole service from starting."""
    deadline = time.monotonic() + stall_timeout_s * OPEN_GRACE
    for cam in cameras:
        while not cam.capture.settled.wait(0.1):
            if stop.is_set() or time.monotonic() > deadline:
                return


def stop_capture(cameras: Collection[CameraParts]) -> Iterator[str]:
    """Stop every capture thread and wait for them, all together up to ``CAPTURE_JOIN_S``;
    yields, as it finds them, the ids of the cameras whose capture is stuck in a read."""
    for cam in cameras:
        cam.capture.stop()
    deadline = time.monotonic() + CAPTURE_JOIN_S
    for cam in cameras:
        if not cam.capture.join(max(0.0, deadline - time.monotonic())):
            yield cam.config.id


def learned_states(
    cameras: Mapping[str, CameraParts], segmenter: Segmenter | None
) -> Iterator[tuple[str, dict[str, dict[str, Any] | None]]]:
    """What each camera learned in this run, to save (``runtime.learned_state``): its person
    size and, from a learning segmenter, its scene. Only cameras that analysed frames
    learned anything: the others are left out, so what an earlier run learned stays."""
    learning = segmenter if isinstance(segmenter, LearningSegmenter) else None
    for cid, cam in cameras.items():
        person_size = cam.analytics.size_state()
        if person_size is None:
            continue
        yield (
            cid,
            {
                "person_size": person_size,
                "background": learning.state(cid) if learning is not None else None,
            },
        )
