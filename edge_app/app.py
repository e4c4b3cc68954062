"""The composition root: wires sources, the segmenter, analytics and sinks together.

``App.start()`` is a readable list of steps and ``App.stop()`` undoes them in reverse.
Threads, not processes: one capture thread per camera, one inference + analytics worker
that batches frames across cameras, and the sinks' own writer/network threads.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from edge_app.config import AppConfig, CameraConfig, load_config
from edge_app.domain import Frame
from edge_app.events import Event
from edge_app.pipeline import CameraAnalytics, CameraResult
from edge_app.segmentation import Segmenter, create_segmenter
from edge_app.sinks.base import CameraStats, PipelineStats, Sink, StatsSink
from edge_app.sources import Source, create_source
from edge_app.zones import ZoneSet

log = logging.getLogger(__name__)

ResultCallback = Callable[[CameraResult], None]
EventsCallback = Callable[[tuple[Event, ...]], None]


class FrameFeed:
    """Frames of one camera waiting for the inference worker.

    A file (or any source that must not lose frames) waits for room: nothing is
    dropped, the file is simply read as fast as it is processed. A live camera keeps only
    the newest ``depth`` frames: older ones are dropped and counted, so a slow model never
    makes a live camera lag behind reality.
    """

    def __init__(self, live: bool, depth: int) -> None:
        self.live = live
        self.depth = max(1, depth)
        self.dropped = 0
        self.ended = False
        self._frames: deque[Frame] = deque()
        self._cond = threading.Condition()

    def put(self, frame: Frame, stop: threading.Event) -> None:
        with self._cond:
            if self.live:
                while len(self._frames) >= self.depth:
                    self._frames.popleft()
                    self.dropped += 1
            else:
                while len(self._frames) >= self.depth and not stop.is_set():
                    self._cond.wait(0.1)
            self._frames.append(frame)
            self._cond.notify_all()

    def take(self) -> Frame | None:
        with self._cond:
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._cond.notify_all()
            return frame

    def end(self) -> None:
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    @property
    def drained(self) -> bool:
        with self._cond:
            return self.ended and not self._frames


@dataclass(slots=True)
class _CameraRuntime:
    config: CameraConfig
    source: Source
    feed: FrameFeed
    analytics: CameraAnalytics
    thread: threading.Thread | None = None
    processed: int = 0
    window_start: float = 0.0
    window_frames: int = 0
    fps: float = 0.0


class App:
    """The daemon. ``run()`` blocks until every file source has ended or ``stop()``."""

    def __init__(
        self,
        config: AppConfig,
        zones: dict[str, ZoneSet],
        on_result: ResultCallback | None = None,
        on_finish: EventsCallback | None = None,
    ) -> None:
        self.config = config
        self.zones = zones
        self.on_result = on_result
        self.on_finish = on_finish
        self.stop_event = threading.Event()
        self.cameras: dict[str, _CameraRuntime] = {}
        self.segmenter: Segmenter | None = None
        self.sinks: list[Sink] = []
        self._infer_ms: deque[float] = deque(maxlen=256)
        self._last_stats = 0.0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._init_sinks()
        self._init_segmenter()
        self._init_cameras()
        self._start_capture()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop capture, finish open visits, flush and close the sinks (in that order)."""
        self.stop_event.set()
        for cam in self.cameras.values():
            cam.source.close()
            if cam.thread is not None:
                cam.thread.join(timeout=5)
        for cam in self.cameras.values():
            self._emit_events(cam, cam.analytics.finish())
        if self.segmenter is not None:
            self.segmenter.close()
            self.segmenter = None
        for sink in reversed(self.sinks):
            sink.close(timeout_s)
        self.sinks = []

    def _init_sinks(self) -> None:
        from edge_app.sinks import create_sinks

        stamper, self.sinks = create_sinks(self.config)
        self._stamper = stamper

    def _init_segmenter(self) -> None:
        self.segmenter = create_segmenter(self.config.segmenter)
        log.info("segmenter %s ready (batch %d)", self.segmenter.name, self.segmenter.batch_size)

    def _init_cameras(self) -> None:
        depth = 2 * (self.segmenter.batch_size if self.segmenter else 1)
        for cam in self.config.cameras:
            source = create_source(cam)
            self.cameras[cam.id] = _CameraRuntime(
                config=cam,
                source=source,
                feed=FrameFeed(source.live, depth),
                analytics=CameraAnalytics(
                    cam.id, self.zones[cam.id], self.config.analytics, self._stamper
                ),
            )

    def _start_capture(self) -> None:
        for cam in self.cameras.values():
            cam.thread = threading.Thread(
                target=self._capture, args=(cam,), name=f"capture-{cam.config.id}", daemon=True
            )
            cam.thread.start()

    # --- capture -----------------------------------------------------------------------

    def _capture(self, cam: _CameraRuntime) -> None:
        min_dt = 1.0 / cam.config.fps if cam.config.fps else 0.0
        last_t: float | None = None
        try:
            for frame in cam.source.frames():
                if self.stop_event.is_set():
                    break
                # Rate limit on the source's own clock: keeps dwell exact on replays.
                if last_t is not None and frame.t - last_t < min_dt - 1e-6:
                    continue
                last_t = frame.t
                cam.feed.put(frame, self.stop_event)
        except Exception:
            log.exception("camera %s: capture failed", cam.config.id)
        finally:
            cam.feed.end()
            log.info("camera %s: source ended", cam.config.id)

    # --- inference + analytics ---------------------------------------------------------

    def run(self) -> None:
        """The inference worker: batch frames across cameras until done or stopped."""
        assert self.segmenter is not None
        batch_size = self.segmenter.batch_size
        while not self.stop_event.is_set():
            batch: list[tuple[_CameraRuntime, Frame]] = []
            # Round-robin over cameras so one busy camera cannot starve the others.
            progress = True
            while len(batch) < batch_size and progress:
                progress = False
                for cam in self.cameras.values():
                    frame = cam.feed.take()
                    if frame is not None:
                        batch.append((cam, frame))
                        progress = True
                        if len(batch) >= batch_size:
                            break
            if not batch:
                if all(c.feed.drained for c in self.cameras.values()):
                    log.info("all sources ended")
                    return
                self.stop_event.wait(0.005)
                continue
            self._process(batch)

    def _process(self, batch: list[tuple[_CameraRuntime, Frame]]) -> None:
        assert self.segmenter is not None
        start = time.perf_counter()
        masks = self.segmenter.segment([f for _, f in batch])
        per_frame_ms = (time.perf_counter() - start) * 1000 / len(batch)
        self._infer_ms.append(per_frame_ms)
        for (cam, frame), mask in zip(batch, masks, strict=True):
            result = cam.analytics.process(frame, mask)
            for sink in self.sinks:
                sink.handle(result.events, result.analysis.states)
            self._count(cam)
            if self.on_result is not None:
                self.on_result(result)
        self._maybe_report_stats()

    def _emit_events(self, cam: _CameraRuntime, events: tuple[Event, ...]) -> None:
        if not events:
            return
        for sink in self.sinks:
            sink.handle(events, ())
        if self.on_finish is not None:
            self.on_finish(events)

    def _count(self, cam: _CameraRuntime) -> None:
        now = time.monotonic()
        cam.processed += 1
        cam.window_frames += 1
        if cam.window_start == 0.0:
            cam.window_start = now
        elif now - cam.window_start >= 5.0:
            cam.fps = cam.window_frames / (now - cam.window_start)
            cam.window_start, cam.window_frames = now, 0

    def stats(self) -> PipelineStats:
        cams = {
            cid: CameraStats(
                fps=round(c.fps, 2), frames_dropped=c.feed.dropped, online=not c.feed.ended
            )
            for cid, c in self.cameras.items()
        }
        mean_ms = sum(self._infer_ms) / len(self._infer_ms) if self._infer_ms else 0.0
        return PipelineStats(
            cams, round(mean_ms, 2), sum(c.feed.dropped for c in self.cameras.values())
        )

    def _maybe_report_stats(self) -> None:
        now = time.monotonic()
        if now - self._last_stats < 1.0:
            return
        self._last_stats = now
        stats = self.stats()
        for sink in self.sinks:
            if isinstance(sink, StatsSink):
                sink.report_stats(stats)


# --- commands ----------------------------------------------------------------------------


def _install_signal_handlers(app: App) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        app.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def run_app(
    config: AppConfig, on_result: ResultCallback | None = None, drain_timeout_s: float = 10.0
) -> App:
    """Start the daemon, run until done or signalled, stop it cleanly; returns it."""
    from edge_app.cli import load_camera_zones

    app = App(config, load_camera_zones(config), on_result)
    if threading.current_thread() is threading.main_thread():
        _install_signal_handlers(app)
    try:
        app.start()
        app.run()
    finally:
        app.stop(drain_timeout_s)
    return app


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    logging.getLogger().setLevel(config.log_level)
    run_app(config, drain_timeout_s=args.drain_timeout)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from edge_app.demo import run_demo

    return run_demo(duration_s=args.duration, live=not args.no_live, state_dir=args.state_dir)


def add_run_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the configured cameras (the daemon)")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the MQTT outbox to drain at the end",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "demo",
        help="the whole product on a built-in synthetic store camera, "
        "compared with its exact truth",
    )
    p.add_argument("--duration", type=float, default=90.0, help="seconds of store time")
    p.add_argument("--no-live", action="store_true", help="no live table, only the result")
    p.add_argument("--state-dir", type=Path, default=Path("var"), help="where the SQLite file goes")
    p.set_defaults(func=cmd_demo)
