"""A camera's frames between its decode thread and the stream runner, and the decode
stage for sources that need no reconnecting (``SourceReader``).

Two policies, chosen by the source:

- a live camera keeps only the newest ``depth`` frames (1: a latest-frame slot). When the
  model is slower than the camera, older frames are dropped and counted, so the analysis
  never lags behind reality;
- a file (or any source that must not lose frames) waits for room instead: nothing is
  dropped, the file is simply read as fast as it is processed.

Every feed of a runner shares one ``wakeup`` event (the runner sets it), set on each put, so
the runner sleeps until some camera has a frame instead of polling.

Example::

    wakeup = threading.Event()
    feed = FrameFeed(live=True, depth=1, wakeup=wakeup)
    feed.put(frame_1, stop); feed.put(frame_2, stop)
    feed.take()     # frame_2; feed.dropped == 1
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from edge_app.core.domain import Frame
from edge_app.sources.base import Source

log = logging.getLogger(__name__)

_WAIT_S = 0.1  # how often a blocked file reader re-checks its stop event
FILE_FEED_DEPTH = 8
"""Frames a file or other finite source may have decoded ahead of inference."""


class FrameFeed:
    """A bounded hand-over of one camera's frames (thread-safe)."""

    def __init__(self, live: bool, depth: int = 1, wakeup: threading.Event | None = None) -> None:
        if depth < 1:
            raise ValueError(f"FrameFeed depth must be >= 1, got {depth}")
        self.live = live
        self.depth = depth
        self.wakeup = wakeup if wakeup is not None else threading.Event()
        self._dropped = 0
        self._ended = False
        self._error: BaseException | None = None
        self._frames: deque[Frame] = deque()
        self._cond = threading.Condition()

    def put(self, frame: Frame, stop: threading.Event) -> bool:
        """Hand over a frame; False when ``stop`` was set while waiting for room (file)."""
        with self._cond:
            if self.live:
                while len(self._frames) >= self.depth:
                    self._frames.popleft()
                    self._dropped += 1
            else:
                while len(self._frames) >= self.depth:
                    if stop.is_set():
                        return False
                    self._cond.wait(_WAIT_S)
            self._frames.append(frame)
        self.wakeup.set()
        return True

    def take(self) -> Frame | None:
        """The oldest waiting frame, or ``None`` when there is none."""
        with self._cond:
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._cond.notify_all()
            return frame

    def end(self, error: BaseException | None = None) -> None:
        """The source has ended: no more frames will come; ``error`` when reading failed
        (the runner raises it once the frames before it are taken)."""
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()
        self.wakeup.set()

    @property
    def dropped(self) -> int:
        """Frames replaced by newer ones before the runner took them (live only)."""
        with self._cond:
            return self._dropped

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended

    @property
    def error(self) -> BaseException | None:
        """Why the source ended early, once every frame before the failure was taken."""
        with self._cond:
            return self._error if not self._frames else None

    @property
    def drained(self) -> bool:
        """Ended and empty: this camera has nothing more to give."""
        with self._cond:
            return self._ended and not self._frames

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)


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


class SourceReader:
    """Reads a source into a feed in its own thread (the decode stage for sources that need
    no reconnecting: files, the synthetic camera, the zone editor's camera).

    A finite source's feed waits for room (nothing dropped); a live one keeps the newest
    frame. The feed ends when the source does; a read error ends it with that error, which
    the runner raises. ``close()`` stops reading and closes the source.
    """

    def __init__(self, source: Source, depth: int = FILE_FEED_DEPTH) -> None:
        self.source = source
        self.feed = FrameFeed(source.live, 1 if source.live else depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"decode-{source.camera_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            for frame in self.source.frames():
                if not self.feed.put(frame, self._stop):
                    return
        except BaseException as exc:  # handed to the runner through the feed
            error = exc
        finally:
            self.feed.end(error)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop reading and close the source (which unblocks a paced or live read)."""
        self._stop.set()
        self.source.close()
        if self._thread.ident:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning(
                    "camera %s: the decoder did not stop within %.0f s; leaving it",
                    self.source.camera_id,
                    timeout_s,
                )
