"""A camera's analytics: its configured zones resolved at its frame size, the pure
``ZoneAnalyzer``, the camera's clock and event stamping; used by every driver through the
stream runner.

The camera's clock: ``Frame.t`` is the source's own clock, and sources can jump (a
camera that restarts its timestamps at 0 on reconnect, a recording with a pause). The
analytics need one clock per camera that never runs backwards, so each frame's ``t`` is
re-based here, before the analyzer sees it:

- a step back in time is a discontinuity: ``t`` continues from the previous frame by the
  wall-clock time between the two frames (at least one frame period), and stays shifted
  by that offset from then on;
- a step forward of more than ``CLOCK_JUMP_S`` is a discontinuity too, but ``t`` is kept
  (the gap really passed on this clock);
- at a discontinuity open visits end (``zone.exit`` reason ``clock``) and tracks start
  anew; the zones' occupied states carry on, so a zone empty after a jump is freed
  ``exit_after_s`` after it, as always.

Every event of the camera carries ``t`` on that one clock: frames' events, and the
daemon's ``camera.online``/``camera.offline`` through ``camera_time``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from edge_app.analytics import AnalyzerParams, FrameAnalysis, ZoneAnalyzer, ZoneRule
from edge_app.config import AnalyticsConfig
from edge_app.config.zones import ZoneSet, frame_size_problem
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.errors import ConfigError
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


CLOCK_JUMP_S = 60.0
"""A step of a camera's ``t`` forward by more than this is a discontinuity (seconds)."""
_DEFAULT_PERIOD_S = 0.1  # frame period assumed before two frames gave a real one


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
    (see ``edge_app.runtime.learned_state``); it is restored into the new analyzer.
    Without zones (``None``: the zone editor before the first zone is drawn) frames pass
    through with an empty analysis.

    Zones drawn in pixels of a picture with another aspect ratio than the camera's frames
    are refused: ``process`` raises ``ConfigError`` (naming the zone file and both sizes) at
    the first such frame, instead of stretching them onto other places. ``stretched_to`` is
    the size of frames the camera itself stretched to the model's input (hardware scaling
    on a Jetson): those keep the picture's content in place, so zones are scaled onto them
    whatever their aspect ratio.
    """

    def __init__(
        self,
        camera_id: str,
        zones: ZoneSet | None,
        cfg: AnalyticsConfig,
        stamper: EventStamper,
        size_state: dict[str, Any] | None = None,
        stretched_to: tuple[int, int] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.zones = zones
        self.cfg = cfg
        self.stamper = stamper
        self.stretched_to = stretched_to
        self._size_state = size_state
        self.analyzer: ZoneAnalyzer | None = None
        self.discontinuities = 0  # clock jumps seen (see the module docstring)
        self._frame_size: tuple[int, int] | None = None
        self._last: Frame | None = None  # the last frame analysed, re-based
        self._last_source_t: float | None = None
        self._offset = 0.0
        self._period = _DEFAULT_PERIOD_S

    def _rebase(self, frame: Frame) -> tuple[Frame, bool]:
        """The frame on the camera's monotonic clock, and whether its clock jumped."""
        last, last_source_t = self._last, self._last_source_t
        self._last_source_t = frame.t
        jumped = False
        if last is not None and last_source_t is not None:
            step = frame.t - last_source_t
            if step < 0:
                elapsed = (frame.wall - last.wall).total_seconds()
                self._offset = last.t + max(elapsed, self._period) - frame.t
                jumped = True
            elif step > CLOCK_JUMP_S:
                jumped = True
            elif step > 0:
                self._period = step
        if jumped:
            self.discontinuities += 1
            log.warning(
                "camera %s: its clock jumped from %.3f s to %.3f s; open visits end "
                "(reason clock), time goes on from %.3f s",
                self.camera_id,
                last_source_t,
                frame.t,
                frame.t + self._offset,
            )
        if self._offset:
            frame = replace(frame, t=frame.t + self._offset)
        return frame, jumped

    def camera_time(self, wall: datetime) -> float:
        """The camera's clock at ``wall`` (UTC), extrapolated from its last frame and never
        before it; 0 before the first frame. For events outside frames (online, offline)."""
        last = self._last
        if last is None:
            return 0.0
        return last.t + max(0.0, (wall - last.wall).total_seconds())

    def process(self, frame: Frame, mask: PersonMask) -> CameraResult:
        """Analyse one segmented frame; its events are stamped with the frame's wall time.

        The result's frame is on the camera's monotonic clock (see the module docstring).
        """
        previous = self._last
        frame, jumped = self._rebase(frame)
        if self.zones is None:
            self._last = frame
            return CameraResult(frame, mask, NO_ANALYSIS, ())
        broken: tuple[Event, ...] = ()
        if jumped and self.analyzer is not None and previous is not None:
            broken = self._stamp(self.analyzer.break_timeline(), previous)
        ended: list[ZoneEvent] = []
        if self.analyzer is None or frame.size != self._frame_size:
            self._check_fits(self.zones, frame.size)
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
        return CameraResult(frame, mask, analysis, broken + events)

    def _check_fits(self, zones: ZoneSet, frame_size: tuple[int, int]) -> None:
        """``ConfigError`` when ``zones`` were drawn for another aspect ratio."""
        if frame_size == self.stretched_to:
            return
        problem = frame_size_problem(zones, frame_size, self.camera_id)
        if problem is not None:
            raise problem

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
        """Use new zones from now on; visits open in the old zones end.

        New zones drawn for another aspect ratio than the frames seen are refused: the
        current zones stay, and the error is logged."""
        if zones is None:
            ended = self.finish()
            self.zones, self.analyzer = None, None
            return ended
        if self._frame_size is not None:
            try:
                self._check_fits(zones, self._frame_size)
            except ConfigError as exc:
                log.error(
                    "camera %s: zone reload refused, current zones kept: %s", self.camera_id, exc
                )
                return ()
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
