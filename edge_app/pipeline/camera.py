"""Glue between configured zones and the pure analytics, shared by replay, demo and run."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from edge_app.analytics import AnalyzerParams, FrameAnalysis, ZoneAnalyzer, ZoneRule
from edge_app.config import AnalyticsConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.events import Event, EventStamper, ZoneEvent

T = TypeVar("T")

log = logging.getLogger(__name__)


def analyzer_params(cfg: AnalyticsConfig) -> AnalyzerParams:
    return AnalyzerParams(
        analysis_max_side=cfg.analysis_max_side,
        min_blob_area_frac=cfg.min_blob_area_frac,
        track_max_gap_s=cfg.track_max_gap_s,
        track_max_speed=cfg.track_max_speed,
        person_size_learning=cfg.person_size_learning,
        track_max_merge_s=cfg.track_max_merge_s,
        occupancy_event_interval_s=cfg.occupancy_event_interval_s,
    )


def zone_rules(zones: ZoneSet, frame_size: tuple[int, int], cfg: AnalyticsConfig) -> list[ZoneRule]:
    """The zones of a camera in pixels of its actual frames, with defaults filled in."""
    return [
        ZoneRule(
            id=zone.id,
            polygon=polygon,
            enter_after_s=cfg.enter_after_s if zone.enter_after_s is None else zone.enter_after_s,
            exit_after_s=cfg.exit_after_s if zone.exit_after_s is None else zone.exit_after_s,
            capacity=zone.capacity,
            dwell_alert_s=zone.dwell_alert_s,
        )
        for zone, polygon in zip(zones.zones, zones.polygons_px(frame_size), strict=True)
    ]


@dataclass(frozen=True, slots=True)
class CameraResult:
    """One analysed frame of one camera, with its events stamped."""

    frame: Frame
    mask: PersonMask
    analysis: FrameAnalysis
    events: tuple[Event, ...]


class CameraAnalytics:
    """A camera's analyzer, built on its first frame (when the frame size is known).

    ``size_state`` is a person-size model saved by ``size_state()`` on an earlier run
    (see ``edge_app.runtime.perspective_store``); it is restored into the new analyzer.
    """

    def __init__(
        self,
        camera_id: str,
        zones: ZoneSet,
        cfg: AnalyticsConfig,
        stamper: EventStamper,
        size_state: dict[str, Any] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.zones = zones
        self.cfg = cfg
        self.stamper = stamper
        self._size_state = size_state
        self.analyzer: ZoneAnalyzer | None = None
        self._frame_size: tuple[int, int] | None = None
        self._last: Frame | None = None

    def process(self, frame: Frame, mask: PersonMask) -> CameraResult:
        if self.analyzer is None or frame.size != self._frame_size:
            self._frame_size = frame.size
            rules = zone_rules(self.zones, frame.size, self.cfg)
            if self.analyzer is None:
                self.analyzer = ZoneAnalyzer(self.camera_id, rules, analyzer_params(self.cfg))
                self._restore_size(self.analyzer)
            else:
                self.analyzer.replace_rules(rules)
        analysis = self.analyzer.update(mask, frame.t)
        self._last = frame
        return CameraResult(frame, mask, analysis, self._stamp(analysis.events, frame))

    def _restore_size(self, analyzer: ZoneAnalyzer) -> None:
        if self._size_state is None:
            return
        try:
            analyzer.size_model.restore(self._size_state)
        except ValueError as exc:
            log.warning("camera %s: saved person size ignored (%s)", self.camera_id, exc)

    def size_state(self) -> dict[str, Any] | None:
        """The learned person size, to save for the next start (None before any frame)."""
        if self.analyzer is None:
            return self._size_state
        return self.analyzer.size_model.state()

    def reload(self, zones: ZoneSet) -> tuple[Event, ...]:
        """Use new zones from now on; visits open in the old zones end."""
        self.zones = zones
        if self.analyzer is None or self._last is None or self._frame_size is None:
            return ()
        events = self.analyzer.replace_rules(zone_rules(zones, self._frame_size, self.cfg))
        return self._stamp(events, self._last)

    def finish(self) -> tuple[Event, ...]:
        """The stream ended: close open visits, stamped at the last frame's time."""
        if self.analyzer is None or self._last is None:
            return ()
        return self._stamp(self.analyzer.finish(), self._last)

    def _stamp(self, events: Iterable[ZoneEvent], frame: Frame) -> tuple[Event, ...]:
        # Wall time of an event follows its source-clock time, not the processing moment.
        return tuple(
            self.stamper.stamp(e, frame.wall + timedelta(seconds=e.t - frame.t)) for e in events
        )


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _End:
    pass


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetch(Generic[T]):
    """Runs an iterator in a thread, ``depth`` items ahead, so decoding overlaps inference.

    Exceptions from the iterator are re-raised in the consumer. ``close()`` stops the
    thread (it is a daemon thread too, so a forgotten close never blocks exit).
    """

    def __init__(
        self, items: Iterable[T], depth: int = 8, on_close: Callable[[], None] | None = None
    ) -> None:
        self._queue: queue.Queue[T | _End | _Failure] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._on_close = on_close
        self._thread = threading.Thread(
            target=self._run, args=(items,), daemon=True, name="prefetch"
        )
        self._thread.start()

    def _run(self, items: Iterable[T]) -> None:
        item: T | _End | _Failure
        try:
            for item in items:
                if not self._put(item):
                    return
            item = _End()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            item = _Failure(exc)
        self._put(item)

    def _put(self, item: T | _End | _Failure) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._on_close is not None:
            self._on_close()


def segment_stream(
    frames: Iterable[Frame], segment: Callable[[Sequence[Frame]], list[PersonMask]], batch_size: int
) -> Iterator[tuple[Frame, PersonMask]]:
    """Segment frames in batches of up to ``batch_size``, yielding them in order."""
    for batch in batched(frames, batch_size):
        yield from zip(batch, segment(batch), strict=True)


def prepared_batches(
    frames: Iterable[Frame], prepare: Callable[[Sequence[Frame]], T], batch_size: int
) -> Iterator[tuple[list[Frame], T]]:
    """The first stage of a two-stage segmenter: batches of up to ``batch_size`` frames,
    each with its prepared model input (run it where the frames are decoded)."""
    for batch in batched(frames, batch_size):
        yield batch, prepare(batch)


def infer_stream(
    batches: Iterable[tuple[list[Frame], T]], infer: Callable[[T], list[PersonMask]]
) -> Iterator[tuple[Frame, PersonMask]]:
    """The second stage: the model on each prepared batch, yielding frames in order."""
    for batch, prepared in batches:
        yield from zip(batch, infer(prepared), strict=True)
