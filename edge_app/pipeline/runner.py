"""The one per-frame loop: decode | prepare | infer | analyse, for any number of cameras.

Every driver runs its frames through ``StreamRunner``: the daemon, ``replay``, ``eval``,
``snapshot``, the zone editor's live preview and ``bench``. The stages overlap in their
own threads, with bounded hand-overs between them:

- **decode**: each camera's frames arrive in its ``FrameFeed``, filled by a
  ``SourceReader`` (files, the synthetic camera, the editor's camera) or by the daemon's
  capture thread (``runtime.capture``, which also reconnects live cameras);
- **prepare** (only for a ``TwoStageSegmenter`` whose model leaves a core free): batches
  are taken round-robin across cameras and turned into model input while the model runs
  on the previous batch;
- **infer**: the segmenter on each batch (up to its ``batch_size`` frames, across
  cameras), one person mask per frame;
- **analyse**: each camera's ``CameraAnalytics`` on its frames in order, then
  ``on_result`` (the daemon's sinks, replay's files, a preview's picture).

Live feeds drop their oldest frame (counted) when a stage falls behind; file feeds wait.
Events are never dropped: the analysis is the last stage, and what it emits goes to
``on_result`` on the same thread. Work that must run where the analytics live (a zone
reload, closing an offline camera's visits) is queued with ``call``. The first exception
of any stage stops the runner; it is in ``error`` and ``finished`` is set.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

import numpy as np

from edge_app.core.domain import Frame, PersonMask
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.feed import FrameFeed, SourceReader
from edge_app.segmentation import Segmenter, TwoStageSegmenter
from edge_app.sources.base import Source

log = logging.getLogger(__name__)

ResultHandler = Callable[[CameraResult], None]
"""Called with every analysed frame, on the analysis thread, in each camera's frame order."""
BatchObserver = Callable[[int, float], None]
"""``(frames, seconds)``: one segmenter call of ``frames`` frames took ``seconds``."""

IDLE_WAIT_S = 0.25
"""Longest sleep of a stage between checks of its stop request."""
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


def collect_batch(
    feeds: Sequence[tuple[str, FrameFeed]], batch_size: int, start: int = 0
) -> list[tuple[str, Frame]]:
    """Up to ``batch_size`` frames, round-robin over ``feeds`` from index ``start``.

    Each pass takes at most one frame per camera (its oldest), so a camera with a backlog
    cannot fill a batch while another waits.
    """
    batch: list[tuple[str, Frame]] = []
    n = len(feeds)
    progress = True
    while len(batch) < batch_size and progress:
        progress = False
        for k in range(n):
            camera_id, feed = feeds[(start + k) % n]
            frame = feed.take()
            if frame is None:
                continue
            batch.append((camera_id, frame))
            progress = True
            if len(batch) >= batch_size:
                break
    return batch


class _End:
    """Put after the last item of a hand-over."""


_END = _End()


class _Stage:
    """A stage thread's bookkeeping: when its current call started (for the watchdog)."""

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._busy_since: float | None = None

    def busy(self) -> _Busy:
        return _Busy(self)

    def busy_for(self, now: float) -> float:
        with self._lock:
            return 0.0 if self._busy_since is None else max(0.0, now - self._busy_since)

    def _set(self, since: float | None) -> None:
        with self._lock:
            self._busy_since = since


class _Busy:
    def __init__(self, stage: _Stage) -> None:
        self._stage = stage

    def __enter__(self) -> None:
        self._stage._set(self._stage._clock())

    def __exit__(self, *exc: object) -> None:
        self._stage._set(None)


class StreamRunner:
    """Runs the segmenter and each camera's analytics on the frames of every feed.

    ``segmenter`` is used by the runner's threads only while it runs; it is not closed
    here (its owner closes it after ``join``). ``on_batch`` observes each segmenter call.
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
        # One event for every feed: a put to any of them wakes the stage collecting batches.
        self.wakeup = threading.Event()
        for cam in self.cameras.values():
            cam.feed.wakeup = self.wakeup
        self.error: BaseException | None = None
        self.finished = threading.Event()  # every stage has ended, for whatever reason
        self.batches = 0
        self.frames = 0
        self._feeds = [(cid, cam.feed) for cid, cam in self.cameras.items()]
        self._start = 0
        self._clock = clock
        self._stop = threading.Event()  # abandon everything now
        self._drain = threading.Event()  # finish the frames already waiting, take no more
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        # Masks waiting for analysis: a few batches, so inference runs ahead of analysis.
        self._masks: queue.Queue[Any] = queue.Queue(maxsize=2 * self.batch_size + 2)
        self._infer = _Stage("infer", clock)
        self._analyse = _Stage("analyse", clock)
        stages: list[tuple[str, Callable[[], None]]]
        if isinstance(segmenter, TwoStageSegmenter) and segmenter.prepare_apart:
            # The next batch is prepared while the model runs on this one.
            prepared: queue.Queue[Any] = queue.Queue(maxsize=2)
            stages = [
                ("prepare", partial(self._run_prepare, segmenter, prepared)),
                ("inference", partial(self._run_infer_prepared, segmenter, prepared)),
            ]
        else:
            stages = [("inference", self._run_infer)]
        stages.append(("analysis", self._run_analyse))
        self._running = len(stages)
        self._running_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._guard, args=(fn,), name=name, daemon=True)
            for name, fn in stages
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
        self.wakeup.set()

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
        return max(self._infer.busy_for(now), self._analyse.busy_for(now))

    @property
    def alive(self) -> bool:
        """Every stage is running (a dead stage while the others wait is a failure)."""
        return all(thread.is_alive() for thread in self._threads)

    def raise_error(self) -> None:
        """Re-raise the exception that stopped a stage, if any."""
        if self.error is not None:
            raise self.error

    # --- the stages --------------------------------------------------------------------

    def _guard(self, run: Callable[[], None]) -> None:
        try:
            run()
        except BaseException as exc:  # handed to the owner (daemon supervisor, replay...)
            log.exception("%s stage failed", threading.current_thread().name)
            self._fail(exc)
            self._stop.set()
            self.wakeup.set()
        finally:
            with self._running_lock:
                self._running -= 1
                if self._running == 0:
                    self.finished.set()

    def _fail(self, exc: BaseException) -> None:
        with self._running_lock:
            if self.error is None:
                self.error = exc

    def _batches(self) -> Iterator[list[tuple[str, Frame]]]:
        """Batches from the feeds until every feed has ended or a stop."""
        while not self._stop.is_set():
            self.wakeup.clear()  # before collecting: a put after this wakes us again
            batch = collect_batch(self._feeds, self.batch_size, self._start)
            if batch:
                self._start = (self._start + 1) % max(1, len(self._feeds))
                yield batch
                continue
            failed = next((feed.error for _, feed in self._feeds if feed.error), None)
            if failed is not None:
                # A source that failed ends the run once the frames before it are analysed.
                self._fail(failed)
                return
            if self._drain.is_set() or all(feed.drained for _, feed in self._feeds):
                return
            self.wakeup.wait(IDLE_WAIT_S)

    def _hand_over(self, into: queue.Queue[Any], item: Any) -> bool:
        """Put ``item`` when there is room; False when the runner stops meanwhile."""
        while not self._stop.is_set():
            try:
                into.put(item, timeout=IDLE_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def _take(self, source: queue.Queue[Any], on_idle: Callable[[], None] | None = None) -> Any:
        """The next item of a hand-over (``_END`` when the runner stops meanwhile);
        ``on_idle`` runs whenever nothing came for a while."""
        while not self._stop.is_set():
            try:
                return source.get(timeout=IDLE_WAIT_S)
            except queue.Empty:
                if on_idle is not None:
                    on_idle()
        return _END

    def _run_prepare(self, segmenter: TwoStageSegmenter, into: queue.Queue[Any]) -> None:
        try:
            for batch in self._batches():
                prepared = segmenter.prepare([frame for _, frame in batch])
                if not self._hand_over(into, (batch, prepared)):
                    return
        finally:
            self._hand_over(into, _END)

    def _run_infer(self) -> None:
        try:
            for batch in self._batches():
                frames = [frame for _, frame in batch]
                if not self._infer_batch(batch, partial(self.segmenter.segment, frames)):
                    return
        finally:
            self._hand_over(self._masks, _END)

    def _run_infer_prepared(self, segmenter: TwoStageSegmenter, prepared: queue.Queue[Any]) -> None:
        try:
            while (item := self._take(prepared)) is not _END:
                batch, model_input = item
                if not self._infer_batch(batch, partial(segmenter.infer, model_input)):
                    return
        finally:
            self._hand_over(self._masks, _END)

    def _infer_batch(
        self, batch: list[tuple[str, Frame]], run: Callable[[], list[PersonMask]]
    ) -> bool:
        start = self._clock()
        with self._infer.busy():
            masks = run()
        elapsed = self._clock() - start
        if len(masks) != len(batch):
            raise RuntimeError(
                f"segmenter {self.segmenter.name} returned {len(masks)} masks for "
                f"{len(batch)} frames"
            )
        self.batches += 1
        self.frames += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch), elapsed)
        return all(
            self._hand_over(self._masks, (camera_id, frame, mask))
            for (camera_id, frame), mask in zip(batch, masks, strict=True)
        )

    def _run_analyse(self) -> None:
        while True:
            self._run_calls()
            item = self._take(self._masks, on_idle=self._run_calls)
            if item is _END:
                break
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
