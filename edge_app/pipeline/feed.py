"""A camera's frames between its decode thread and the stream runner.

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

import threading
from collections import deque

from edge_app.core.domain import Frame

_WAIT_S = 0.1  # how often a blocked file reader re-checks its stop event


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
