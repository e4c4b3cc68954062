"""One camera's capture thread: rate limit, hand-over to its feed, reconnect on failure.

A live camera never ends for the daemon: when its stream ends, fails or stalls, the camera
goes offline (``on_status``), waits an exponential backoff with jitter and opens a fresh
source. A read that blocks forever (some GStreamer pipelines never time out) is caught by
``check_stall``, which the supervisor calls: the stuck thread is abandoned (it exits when
its read returns) and a new one takes over, so one dead camera never holds up the others
or the stop. A file or other finite source just ends its feed.

Example::

    source = make_source()  # opened (and checked) at start-up
    feed = FrameFeed(live=source.live)
    capture = CameraCapture("door", source, make_source, feed,
                            backoff=Backoff(1.0, 60.0), stall_timeout_s=15.0,
                            on_status=lambda cam, online, reason: ...)
    capture.start()
    ...
    capture.check_stall(time.monotonic())   # every supervisor tick
    capture.stop(); capture.join(2.0)
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable

from edge_app.core.backoff import Backoff
from edge_app.core.errors import EdgeAppError
from edge_app.pipeline.feed import FrameFeed
from edge_app.sources.base import Source

log = logging.getLogger(__name__)

SourceFactory = Callable[[], Source]
StatusCallback = Callable[[str, bool, str], None]
"""``(camera_id, online, reason)``: called once per change of a live camera's state."""

MAX_ABANDONED = 2
"""Stuck capture threads a camera may leave behind before it stops replacing them."""


class Phase(enum.Enum):
    OPENING = "opening"
    STREAMING = "streaming"
    WAITING = "waiting to reconnect"
    ENDED = "ended"


class CameraCapture:
    """Reads one camera in its own thread. ``initial`` is the already opened first source
    (checked at start-up); ``make_source`` builds fresh ones for reconnects.

    ``min_interval_s`` is the processing period (``1 / fps``): frames closer than that on
    the source's own clock are skipped. ``stall_timeout_s`` is how long a live camera may
    deliver nothing while opening or streaming before ``check_stall`` declares it stalled.
    """

    def __init__(
        self,
        camera_id: str,
        initial: Source,
        make_source: SourceFactory,
        feed: FrameFeed,
        *,
        backoff: Backoff,
        stall_timeout_s: float,
        on_status: StatusCallback,
        min_interval_s: float = 0.0,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.camera_id = camera_id
        self.live = initial.live
        self.feed = feed
        self.backoff = backoff
        self.stall_timeout_s = stall_timeout_s
        self.min_interval_s = min_interval_s
        self.settled = threading.Event()  # the first attempt got a frame or failed
        self.reconnects = 0
        self.failures = 0  # unexpected errors in the capture (each one reconnects or stops)
        self.skipped = 0  # frames skipped by the processing-rate limit
        self.online: bool | None = None  # None until the first frame or failure
        self._make_source = make_source
        self._on_status = on_status
        self._rand = rand
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._source: Source = initial
        self._pending: Source | None = initial
        self._generation = 0
        self._attempt = 0
        self._phase = Phase.OPENING
        self._progress_at = clock()
        self._thread: threading.Thread | None = None
        self._abandoned: list[threading.Thread] = []

    # --- control (supervisor thread) ---------------------------------------------------

    @property
    def source(self) -> Source:
        """The source currently read (replaced on each reconnect)."""
        with self._lock:
            return self._source

    @property
    def phase(self) -> Phase:
        with self._lock:
            return self._phase

    def start(self) -> None:
        self._start_thread(wait_first=False)

    def stop(self) -> None:
        """Stop reading: the thread ends after its current frame (or read timeout)."""
        self._stop.set()
        with self._lock:
            source = self._source
        source.close()

    def join(self, timeout_s: float) -> bool:
        """Wait for the capture thread; False when it is still stuck in a read."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def check_stall(self, now: float) -> bool:
        """Declare a live camera stalled when it delivered nothing for ``stall_timeout_s``
        while opening or streaming: it goes offline and a new thread takes over. True when
        it did so."""
        with self._lock:
            if (
                not self.live
                or self._stop.is_set()
                or self._phase not in (Phase.OPENING, Phase.STREAMING)
                or now - self._progress_at < self.stall_timeout_s
            ):
                return False
            silent_s = now - self._progress_at
            self._abandoned = [t for t in self._abandoned if t.is_alive()]
            if self._thread is not None:
                self._abandoned.append(self._thread)
            stuck = len(self._abandoned)
            self._generation += 1
            self._pending = None
            self._phase = Phase.WAITING
            self._progress_at = now
        self._set_offline(f"no frame for {silent_s:.0f} s")
        if stuck > MAX_ABANDONED:
            log.error(
                "camera %s: %d capture threads are stuck in reads that never return; "
                "not opening another one (check the camera and its pipeline, then restart)",
                self.camera_id,
                stuck - 1,
            )
            return True
        log.warning(
            "camera %s: stalled (no frame for %.0f s); opening a new connection",
            self.camera_id,
            silent_s,
        )
        self._start_thread(wait_first=True)
        return True

    # --- the capture thread ------------------------------------------------------------

    def _start_thread(self, wait_first: bool) -> None:
        with self._lock:
            generation = self._generation
        thread = threading.Thread(
            target=self._run,
            args=(generation, wait_first),
            name=f"capture-{self.camera_id}",
            daemon=True,  # a read that never returns must not block the process exit
        )
        self._thread = thread
        thread.start()

    def _current(self, generation: int) -> bool:
        with self._lock:
            return generation == self._generation and not self._stop.is_set()

    def _enter(self, generation: int, phase: Phase) -> None:
        with self._lock:
            if generation == self._generation:
                self._phase = phase
                self._progress_at = self._clock()

    def _run(self, generation: int, wait_first: bool) -> None:
        try:
            self._capture(generation, wait_first)
        except Exception as exc:  # a bug: never a capture thread that ends quietly
            self.failures += 1
            log.exception("camera %s: capture thread failed", self.camera_id)
            if not self.live:
                self.feed.end(exc)  # the runner raises it: the daemon stops, non-zero
                self._enter(generation, Phase.ENDED)
                self.settled.set()
            elif self._current(generation):
                self._start_thread(wait_first=True)  # a new thread, after the backoff

    def _capture(self, generation: int, wait_first: bool) -> None:
        if wait_first and not self._wait_backoff(generation):
            return
        while self._current(generation):
            self._enter(generation, Phase.OPENING)
            reason, error = self._connect(generation)
            if not self._current(generation):
                return
            if not self.live:
                # A file that could not be read to its end stops the daemon (non-zero).
                self.feed.end(error)
                self._enter(generation, Phase.ENDED)
                self.settled.set()
                log.info("camera %s: source ended", self.camera_id)
                return
            self._set_offline(reason)
            self.settled.set()
            if not self._wait_backoff(generation):
                return

    def _wait_backoff(self, generation: int) -> bool:
        delay = self.backoff.delay(self._attempt, self._rand())
        self._attempt += 1
        self.reconnects += 1
        log.info(
            "camera %s: reconnecting in %.1f s (attempt %d)", self.camera_id, delay, self._attempt
        )
        self._enter(generation, Phase.WAITING)
        return not self._stop.wait(delay) and self._current(generation)

    def _connect(self, generation: int) -> tuple[str, Exception | None]:
        """Read one connection until it ends; the reason it ended, and the error that ended
        it (None when the stream simply ended or was stopped)."""
        with self._lock:
            source, self._pending = self._pending, None
        try:
            if source is None:
                source = self._make_source()
                with self._lock:
                    self._source = source
                if self._stop.is_set():  # stop() closed the previous source, not this one
                    source.close()
            return self._stream(source, generation), None
        except EdgeAppError as exc:  # SourceError, or a secret that cannot be read
            if not self.live:
                log.error("camera %s: %s", self.camera_id, exc)
            return str(exc), exc
        except Exception as exc:  # a bug or an unexpected backend error: log it, go on
            self.failures += 1
            log.exception("camera %s: capture failed", self.camera_id)
            return f"capture failed: {type(exc).__name__}: {exc}", exc
        finally:
            if source is not None:
                source.close()

    def _stream(self, source: Source, generation: int) -> str:
        last_t: float | None = None
        connected_at: float | None = None
        for frame in source.frames():
            if not self._current(generation):
                return "stopped"
            now = self._clock()
            self._enter(generation, Phase.STREAMING)
            if connected_at is None:
                connected_at = now
                self._set_online()
                self.settled.set()
            elif self._attempt and now - connected_at >= self.stall_timeout_s:
                self._attempt = 0  # a connection that held this long was a good one
            # The processing-rate limit runs on the source's own clock: replays stay exact.
            # A clock that stepped back starts it again (the analytics re-base the time).
            if last_t is not None and 0.0 <= frame.t - last_t < self.min_interval_s - 1e-6:
                self.skipped += 1
                continue
            last_t = frame.t
            if not self.feed.put(frame, self._stop):
                return "stopped"
        return "the stream ended"

    # --- state changes -----------------------------------------------------------------

    def _set_online(self) -> None:
        if not self.live:
            return
        with self._lock:
            if self.online is True:
                return
            self.online = True
        log.info("camera %s: online", self.camera_id)
        self._on_status(self.camera_id, True, "")

    def _set_offline(self, reason: str) -> None:
        with self._lock:
            if self.online is False or self._stop.is_set():
                return
            self.online = False
        log.warning("camera %s: offline: %s", self.camera_id, reason)
        self._on_status(self.camera_id, False, reason)
