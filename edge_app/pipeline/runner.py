"""The one per-frame loop: decode | prepare | infer | analyse, for any number of cameras.

Every driver runs its frames through ``StreamRunner``: the daemon, ``replay``, ``eval``,
``snapshot``, the zone editor's live preview and ``bench``. The stages overlap in their
own threads, with bounded hand-overs between them:

- **decode**: each camera's frames arrive in its ``FrameFeed``, filled by a
  ``SourceReader`` (files, the synthetic camera, the editor's camera) or by the daemon's
  capture thread (``runtime.capture``, which also reconnects live cameras);
- **segment**, one of two shapes, chosen by the segmenter:

  - a model (``onnxruntime``, ``tensorrt``): one **infer** stage takes batches
    round-robin across cameras (up to the segmenter's ``batch_size``), and for a
    ``TwoStageSegmenter`` whose model leaves a core free a **prepare** stage turns the
    next batch into model input while the model runs on this one;
  - a ``PerCameraSegmenter`` (``background``: a state per camera, no gain from batches,
    OpenCV work that releases the GIL): one **segment** thread per camera with the
    camera's own instance (``for_camera``), so N cameras use up to N cores;

- **analyse**: each camera's ``CameraAnalytics`` on its frames in order, then
  ``on_result`` (the daemon's sinks, replay's files, a preview's picture). One thread for
  every camera: the analytics are plain Python (they hold the GIL), a small share of a
  frame's cost, and ``on_result`` and ``call`` keep one thread to run on.

Frames are dropped only where they enter, and counted there: a live camera's feed keeps
its newest frame when the stages fall behind (``FrameFeed.dropped``); a file's feed waits.
Past the feed every hand-over is bounded and waits for room, so a frame that was taken is
analysed and events are never dropped: the analysis is the last stage, and what it emits
goes to ``on_result`` on the same thread. Each camera's frames reach the analysis in their
order (one producer per camera, or batches in feed order). Work that must run where the
analytics live (a zone reload, closing an offline camera's visits) is queued with
``call``. The first exception of any stage stops the runner; it is in ``error`` and
``finished`` is set.

Example::

    runner = StreamRunner(segmenter, {"door": RunnerCamera(feed, analytics)}, on_result)
    runner.start()
    ...
    runner.stop(drain=True); runner.join(5.0)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

import numpy as np

from edge_app.core.domain import Frame, PersonMask
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.feed import FrameFeed, SourceReader, collect_batch
from edge_app.pipeline.stages import END, IDLE_WAIT_S, Stage, hand_over, take
from edge_app.segmentation import PerCameraSegmenter, Segmenter, TwoStageSegmenter
from edge_app.sources.base import Source

log = logging.getLogger(__name__)

ResultHandler = Callable[[CameraResult], None]
"""Called with every analysed frame, on the analysis thread, in each camera's frame order."""
BatchObserver = Callable[[int, float], None]
"""``(frames, seconds)``: one segmenter call of ``frames`` frames took ``seconds`` (called on
the segmenting thread: with a ``PerCameraSegmenter``, from several threads at once)."""

_WARMUP_SIZE = (640, 360)  # (w, h) of the blank frames that warm the model up


@dataclass(frozen=True, slots=True)
class RunnerCamera:
    """One camera as the runner sees it: where its frames arrive, and its analytics."""

    feed: FrameFeed
    analytics: CameraAnalytics


def warm_up(segmenter: Segmenter) -> float:
    """One call at the full batch size on blank frames; the seconds it took.

    It builds the runtime's buffers and kernels before frames arrive (before the daemon
    reports READY), so the first real frames are not late. The frames' camera is ``warmup``.
    """
    wall = datetime.now(timezone.utc)
    blank = np.zeros((_WARMUP_SIZE[1], _WARMUP_SIZE[0], 3), np.uint8)
    start = time.perf_counter()
    segmenter.segment([Frame("warmup", i, 0.0, wall, blank) for i in range(segmenter.batch_size)])
    return time.perf_counter() - start


class StreamRunner:
    """Runs the segmenter and each camera's analytics on the frames of every feed.

    ``segmenter`` is used by the runner's threads only while it runs; it is not closed
    here (its owner closes it after ``join``). For a ``PerCameraSegmenter`` the runner
    makes each camera's own instance in that camera's thread and closes it there.
    ``on_batch`` observes each segmenter call.
    """

    def __init__(
        self,
        segmenter: Segmenter,
        cameras: Mapping[str, RunnerCamera],
        on_result: ResultHandler,
        *,
        on_batch: BatchObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.segmenter = segmenter
        self.batch_size = max(1, segmenter.batch_size)
        self.cameras = dict(cameras)
        self.on_result = on_result
        self.on_batch = on_batch
        self.per_camera = isinstance(segmenter, PerCameraSegmenter)
        # A put to a feed wakes the stage that takes from it: one event for every feed of
        # the batching stage, one per camera for per-camera stages.
        self.wakeup = threading.Event()
        for cam in self.cameras.values():
            cam.feed.wakeup = threading.Event() if self.per_camera else self.wakeup
        self.error: BaseException | None = None
        self.finished = threading.Event()  # every stage has ended, for whatever reason
        self.batches = 0
        self.frames = 0
        self._counts_lock = threading.Lock()
        self._feeds = [(cid, cam.feed) for cid, cam in self.cameras.items()]
        self._start = 0
        self._clock = clock
        self._stop = threading.Event()  # abandon everything now
        self._drain = threading.Event()  # finish the frames already waiting, take no more
        self._halt = threading.Event()  # a source failed: take no more, finish what was taken
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        producers: list[tuple[Stage, Callable[[], None]]] = []  # hand masks to the analysis
        helpers: list[tuple[Stage, Callable[[], None]]] = []
        if isinstance(segmenter, PerCameraSegmenter):
            for cid, cam in self.cameras.items():
                stage = Stage(f"segment-{cid}", clock)
                run = partial(self._run_camera, segmenter, cid, cam.feed, stage)
                producers.append((stage, run))
            depth = 2 * len(self.cameras)
        elif isinstance(segmenter, TwoStageSegmenter) and segmenter.prepare_apart:
            # The next batch is prepared while the model runs on this one.
            prepared: queue.Queue[Any] = queue.Queue(maxsize=2)
            infer = Stage("inference", clock)
            helpers.append(
                (Stage("prepare", clock), partial(self._run_prepare, segmenter, prepared))
            )
            producers.append((infer, partial(self._run_infer_prepared, segmenter, prepared, infer)))
            depth = 2 * self.batch_size
        else:
            infer = Stage("inference", clock)
            producers.append((infer, partial(self._run_infer, infer)))
            depth = 2 * self.batch_size
        # Masks waiting for analysis: a few per producer, so segmentation runs ahead of it.
        self._masks: queue.Queue[Any] = queue.Queue(maxsize=depth + 2)
        self._producers = len(producers)
        self._analyse = Stage("analysis", clock)
        # The watchdog looks at the segmenter and analysis calls (a prepare stage waits for
        # the model's).
        self._watched = [stage for stage, _ in producers] + [self._analyse]
        stages = [*helpers, *producers, (self._analyse, self._run_analyse)]
        self._running = len(stages)
        self._running_lock = threading.Lock()
        self._ended: set[str] = set()  # stages that returned (their cameras ended, or a stop)
        self._threads = [
            threading.Thread(
                target=self._guard, args=(stage.name, fn), name=stage.name, daemon=True
            )
            for stage, fn in stages
        ]

    # --- control -----------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the analysis thread (which owns the analytics) before the next
        frame is analysed."""
        self._calls.put(fn)
        self.wakeup.set()

    def stop(self, drain: bool) -> None:
        """End the runner: after the frames already waiting in the feeds (``drain``), or at
        once, leaving them."""
        (self._drain if drain else self._stop).set()
        self._wake_all()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for every stage; False when one is still busy (a hung segmenter)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            if not thread.ident:
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        return True

    def busy_for(self, now: float) -> float:
        """Seconds the longest running segmenter or analysis call has run (0 when idle)."""
        return max(stage.busy_for(now) for stage in self._watched)

    @property
    def alive(self) -> bool:
        """No stage has died: each is running, or has ended with its cameras (a dead stage
        while the others wait is a failure)."""
        with self._running_lock:
            ended = set(self._ended)
        return all(thread.is_alive() or thread.name in ended for thread in self._threads)

    def raise_error(self) -> None:
        """Re-raise the exception that stopped a stage, if any."""
        if self.error is not None:
            raise self.error

    # --- the stages --------------------------------------------------------------------

    def _guard(self, name: str, run: Callable[[], None]) -> None:
        ended = False
        try:
            run()
            ended = True
        except BaseException as exc:  # handed to the owner (daemon supervisor, replay...)
            log.exception("%s stage failed", name)
            self._fail(exc)
            self._stop.set()
            self._wake_all()
        finally:
            with self._running_lock:
                if ended:
                    self._ended.add(name)
                self._running -= 1
                if self._running == 0:
                    self.finished.set()

    def _fail(self, exc: BaseException) -> None:
        with self._running_lock:
            if self.error is None:
                self.error = exc

    def _wake_all(self) -> None:
        self.wakeup.set()
        for _, feed in self._feeds:
            feed.wakeup.set()

    def _source_failed(self, error: BaseException) -> None:
        """A source that failed ends the run once the frames taken before it are analysed."""
        self._fail(error)
        self._halt.set()
        self._wake_all()

    def _batches(self) -> Iterator[list[tuple[str, Frame]]]:
        """Batches from the feeds until every feed has ended or a stop."""
        while not (self._stop.is_set() or self._halt.is_set()):
            self.wakeup.clear()  # before collecting: a put after this wakes us again
            batch = collect_batch(self._feeds, self.batch_size, self._start)
            if batch:
                self._start = (self._start + 1) % max(1, len(self._feeds))
                yield batch
                continue
            failed = next((feed.error for _, feed in self._feeds if feed.error), None)
            if failed is not None:
                self._source_failed(failed)
                return
            if self._drain.is_set() or all(feed.drained for _, feed in self._feeds):
                return
            self.wakeup.wait(IDLE_WAIT_S)

    def _frames(self, feed: FrameFeed) -> Iterator[Frame]:
        """One camera's frames, in order, until its feed has ended or a stop."""
        while not (self._stop.is_set() or self._halt.is_set()):
            feed.wakeup.clear()  # before taking: a put after this wakes us again
            frame = feed.take()
            if frame is not None:
                yield frame
                continue
            if feed.error is not None:
                self._source_failed(feed.error)
                return
            if self._drain.is_set() or feed.drained:
                return
            feed.wakeup.wait(IDLE_WAIT_S)

    def _run_camera(
        self, segmenter: PerCameraSegmenter, camera_id: str, feed: FrameFeed, stage: Stage
    ) -> None:
        own = segmenter.for_camera(camera_id)
        try:
            for frame in self._frames(feed):
                batch = [(camera_id, frame)]
                if not self._infer_batch(batch, partial(own.segment, [frame]), stage):
                    return
        finally:
            own.close()
            hand_over(self._masks, END, self._stop)

    def _run_prepare(self, segmenter: TwoStageSegmenter, into: queue.Queue[Any]) -> None:
        try:
            for batch in self._batches():
                prepared = segmenter.prepare([frame for _, frame in batch])
                if not hand_over(into, (batch, prepared), self._stop):
                    return
        finally:
            hand_over(into, END, self._stop)

    def _run_infer(self, stage: Stage) -> None:
        try:
            for batch in self._batches():
                frames = [frame for _, frame in batch]
                if not self._infer_batch(batch, partial(self.segmenter.segment, frames), stage):
                    return
        finally:
            hand_over(self._masks, END, self._stop)

    def _run_infer_prepared(
        self, segmenter: TwoStageSegmenter, prepared: queue.Queue[Any], stage: Stage
    ) -> None:
        try:
            while (item := take(prepared, self._stop)) is not END:
                batch, model_input = item
                if not self._infer_batch(batch, partial(segmenter.infer, model_input), stage):
                    return
        finally:
            hand_over(self._masks, END, self._stop)

    def _infer_batch(
        self, batch: list[tuple[str, Frame]], run: Callable[[], list[PersonMask]], stage: Stage
    ) -> bool:
        start = self._clock()
        with stage.busy():
            masks = run()
        elapsed = self._clock() - start
        if len(masks) != len(batch):
            raise RuntimeError(
                f"segmenter {self.segmenter.name} returned {len(masks)} masks for "
                f"{len(batch)} frames"
            )
        with self._counts_lock:
            self.batches += 1
            self.frames += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch), elapsed)
        return all(
            hand_over(self._masks, (camera_id, frame, mask), self._stop)
            for (camera_id, frame), mask in zip(batch, masks, strict=True)
        )

    def _run_analyse(self) -> None:
        producers = self._producers
        while producers:
            self._run_calls()
            item = take(self._masks, self._stop, on_idle=self._run_calls)
            if item is END:
                if self._stop.is_set():
                    break
                producers -= 1  # one segmenting stage has ended
                continue
            camera_id, frame, mask = item
            self._run_calls()
            with self._analyse.busy():
                result = self.cameras[camera_id].analytics.process(frame, mask)
                self.on_result(result)
        self._run_calls()

    def _run_calls(self) -> None:
        while True:
            try:
                fn = self._calls.get_nowait()
            except queue.Empty:
                return
            fn()


def run_source(
    source: Source,
    segmenter: Segmenter,
    analytics: CameraAnalytics,
    on_result: ResultHandler,
    stop: threading.Event | None = None,
) -> None:
    """One source through the pipeline until it ends (or ``stop`` is set by ``on_result``
    or another thread); raises what any stage raised. Closes the source, not the
    segmenter."""
    reader = SourceReader(source)
    cameras = {source.camera_id: RunnerCamera(reader.feed, analytics)}
    runner = StreamRunner(segmenter, cameras, on_result)
    done = stop if stop is not None else threading.Event()
    reader.start()
    runner.start()
    try:
        while not runner.finished.wait(IDLE_WAIT_S):
            if done.is_set():
                runner.stop(drain=False)
                break
        runner.join()
    finally:
        runner.stop(drain=False)
        reader.close()
    runner.raise_error()
