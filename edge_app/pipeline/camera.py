"""A camera's analytics: its configured zones resolved at its frame size, the pure
``ZoneAnalyzer`` and event stamping; used by every driver through the stream runner."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from edge_app.analytics import AnalyzerParams, FrameAnalysis, ZoneAnalyzer, ZoneRule
from edge_app.config import AnalyticsConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.events import Event, EventStamper, ZoneEvent

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


NO_ANALYSIS = FrameAnalysis((), (), np.zeros((0, 2)), np.zeros(0, dtype=np.int64), 0)
"""The analysis of a frame of a camera without zones: nothing counted, nobody placed."""


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
    Without zones (``None``: the zone editor before the first zone is drawn) frames pass
    through with an empty analysis.
    """

    def __init__(
        self,
        camera_id: str,
        zones: ZoneSet | None,
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
        """Analyse one segmented frame; its events are stamped with the frame's wall time."""
        if self.zones is None:
            self._last = frame
            return CameraResult(frame, mask, NO_ANALYSIS, ())
        ended: list[ZoneEvent] = []
        if self.analyzer is None or frame.size != self._frame_size:
            self._frame_size = frame.size
            rules = zone_rules(self.zones, frame.size, self.cfg)
            if self.analyzer is None:
                self.analyzer = ZoneAnalyzer(self.camera_id, rules, analyzer_params(self.cfg))
                self._restore_size(self.analyzer)
            else:  # the camera's resolution changed: the zones are resolved anew
                ended = self.analyzer.replace_rules(rules)
        analysis = self.analyzer.update(mask, frame.t)
        self._last = frame
        events = self._stamp((*ended, *analysis.events), frame)
        return CameraResult(frame, mask, analysis, events)

    def _restore_size(self, analyzer: ZoneAnalyzer) -> None:
        if self._size_state is None:
            return
        try:
            analyzer.size_model.restore(self._size_state)
        except ValueError as exc:
            log.warning("camera %s: saved person size ignored (%s)", self.camera_id, exc)

    def size_state(self) -> dict[str, Any] | None:
        """The person size as learned so far, to save for the next start; None when this
        camera analysed no frame (nothing was learned: the saved state stands)."""
        if self.analyzer is None:
            return None
        return self.analyzer.size_model.state()

    def reload(self, zones: ZoneSet | None) -> tuple[Event, ...]:
        """Use new zones from now on; visits open in the old zones end."""
        if zones is None:
            ended = self.finish()
            self.zones, self.analyzer = None, None
            return ended
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
