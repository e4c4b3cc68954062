"""The plumbing of the stream runner's stage threads (``edge_app.pipeline.runner``).

Stages hand items to each other through bounded queues: ``hand_over`` waits for room and
``take`` for an item, both in slices of ``IDLE_WAIT_S`` so that a stop request is seen at
once; ``END`` follows a producer's last item. Each stage's ``Stage`` records when its
current call started, for the watchdog (``StreamRunner.busy_for``).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

IDLE_WAIT_S = 0.25
"""Longest sleep of a stage between checks of its stop request."""


class _End:
    """Put after the last item of a hand-over."""


END = _End()


class Stage:
    """A stage thread's bookkeeping: when its current call started (for the watchdog)."""

    def __init__(self, name: str, clock: Callable[[], float]) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._busy_since: float | None = None

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._busy_since = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._busy_since = None

    def busy_for(self, now: float) -> float:
        with self._lock:
            return 0.0 if self._busy_since is None else max(0.0, now - self._busy_since)


def hand_over(into: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` when there is room; False when ``stop`` is set meanwhile."""
    while not stop.is_set():
        try:
            into.put(item, timeout=IDLE_WAIT_S)
            return True
        except queue.Full:
            continue
    return False


def take(
    source: queue.Queue[Any], stop: threading.Event, on_idle: Callable[[], None] | None = None
) -> Any:
    """The next item of a hand-over (``END`` when ``stop`` is set meanwhile); ``on_idle``
    runs whenever nothing came for a while."""
    while not stop.is_set():
        try:
            return source.get(timeout=IDLE_WAIT_S)
        except queue.Empty:
            if on_idle is not None:
                on_idle()
    return END
