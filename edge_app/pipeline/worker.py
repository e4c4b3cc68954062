"""The one inference worker: batches frames across cameras through the segmenter.

Each round takes the oldest waiting frame of each camera in turn (round-robin), until the
batch holds the segmenter's ``batch_size`` frames or no camera has one; the camera the
round starts with rotates from batch to batch, so with more cameras than batch slots none
of them is starved. Each mask then goes to its own camera's ``handle`` in batch order.

The worker records when its current batch started (``busy_for``), which the supervisor
turns into watchdog pings: a segmenter call that never returns stops them. Work that must
run on this thread between batches (zone reloads, closing a camera's visits) is queued
with ``call``.

Example::

    worker = InferenceWorker(segmenter, {"a": feed_a, "b": feed_b}, handle, wakeup)
    worker.start()
    ...
    worker.stop(drain=True); worker.join(5.0)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone

import numpy as np

from edge_app.core.domain import Frame, PersonMask
from edge_app.pipeline.feed import FrameFeed
from edge_app.segmentation import Segmenter

log = logging.getLogger(__name__)

FrameHandler = Callable[[str, Frame, PersonMask], None]
"""``(camera_id, frame, mask)``: analyse one segmented frame (runs on the worker thread)."""
BatchObserver = Callable[[int, float], None]
"""``(frames, seconds)``: one segmenter call of ``frames`` frames took ``seconds``."""

_IDLE_WAIT_S = 0.25  # longest sleep between checks for commands and the stop request
_WARMUP_SIZE = (640, 360)  # (w, h) of the blank frames that warm the model up


def warm_up(segmenter: Segmenter) -> float:
    """One call at the full batch size on blank frames; the seconds it took.

    It builds the runtime's buffers and kernels before the service reports READY, so the
    first real frames are not late. The frames' camera id is ``warmup``.
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
    if n == 0:
        return batch
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


class InferenceWorker:
    """Runs the segmenter on batches from every camera's feed, in its own thread."""

    def __init__(
        self,
        segmenter: Segmenter,
        feeds: Mapping[str, FrameFeed],
        handle: FrameHandler,
        wakeup: threading.Event,
        on_batch: BatchObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.segmenter = segmenter
        self.batch_size = max(1, segmenter.batch_size)
        self.feeds = list(feeds.items())
        self.handle = handle
        self.wakeup = wakeup
        self.on_batch = on_batch
        self.error: BaseException | None = None
        self.finished = threading.Event()  # the thread has ended, for whatever reason
        self.batches = 0
        self.frames = 0
        self._clock = clock
        self._stop = threading.Event()
        self._drain = threading.Event()
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._busy_since: float | None = None
        self._lock = threading.Lock()
        self._start = 0
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the worker thread before its next batch."""
        self._calls.put(fn)
        self.wakeup.set()

    def stop(self, drain: bool) -> None:
        """End the thread: after the frames already waiting (``drain``) or at once."""
        if drain:
            self._drain.set()
        else:
            self._stop.set()
        self.wakeup.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread; False when it is still busy (a hung segmenter)."""
        if not self._thread.is_alive() and not self._thread.ident:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def busy_for(self, now: float) -> float:
        """Seconds the current segmenter call has been running (0 when idle)."""
        with self._lock:
            return 0.0 if self._busy_since is None else max(0.0, now - self._busy_since)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._run_calls()
                self.wakeup.clear()  # before collecting: a put after this wakes us again
                batch = collect_batch(self.feeds, self.batch_size, self._start)
                if batch:
                    self._start = (self._start + 1) % max(1, len(self.feeds))
                    self._process(batch)
                    continue
                if self._drain.is_set() or all(feed.drained for _, feed in self.feeds):
                    break
                self.wakeup.wait(_IDLE_WAIT_S)
            self._run_calls()
        except BaseException as exc:  # handed to the supervisor, which stops the daemon
            self.error = exc
            log.exception("inference worker failed")
        finally:
            self.finished.set()

    def _run_calls(self) -> None:
        while True:
            try:
                fn = self._calls.get_nowait()
            except queue.Empty:
                return
            fn()

    def _process(self, batch: list[tuple[str, Frame]]) -> None:
        start = self._clock()
        with self._lock:
            self._busy_since = start
        try:
            masks = self.segmenter.segment([frame for _, frame in batch])
        finally:
            with self._lock:
                self._busy_since = None
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
        for (camera_id, frame), mask in zip(batch, masks, strict=True):
            self.handle(camera_id, frame, mask)
