"""Per-camera zone analytics: a person mask and a time in, zone states and events out.

Per frame: the mask is brought to the analysis grid, split into blobs, each blob into the
people it holds (``PersonSize``), their foot points tracked (``Tracker``) and looked up in
the rasterised zones (``ZoneMap``). Occupancy and each person's visit are debounced in
source-clock seconds (``Debounce``), so a brief occlusion never ends an occupancy and a
frame-rate drop never stretches a dwell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.analytics.blobs import People, PersonSize, find_blobs
from edge_app.analytics.debounce import Debounce
from edge_app.analytics.tracker import Track, Tracker
from edge_app.analytics.zonemap import ZoneMap
from edge_app.domain import ImageU8, MaskMapping, PersonMask, Points, ZoneState
from edge_app.events import (
    CapacityExceeded,
    DwellExceeded,
    ZoneEnter,
    ZoneEvent,
    ZoneExit,
    ZoneOccupancy,
)


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """A zone as the analytics needs it: polygon in frame pixels and resolved settings."""

    id: str
    polygon: Points
    enter_after_s: float
    exit_after_s: float
    capacity: int | None = None
    dwell_alert_s: float | None = None

    def __post_init__(self) -> None:
        if self.polygon.ndim != 2 or self.polygon.shape[1] != 2 or self.polygon.shape[0] < 3:
            raise ValueError(
                f"ZoneRule {self.id!r}: polygon must be (N>=3, 2), got {self.polygon.shape}"
            )


@dataclass(frozen=True, slots=True)
class AnalyzerParams:
    """Tuning of the analytics; see ``AnalyticsConfig`` for the meaning of each field.

    Distances are relative to the frame (so they hold at any resolution), times seconds.
    """

    analysis_max_side: int = 160
    min_blob_area_frac: float = 0.0004
    track_max_gap_s: float = 1.5
    track_max_speed: float = 1.5
    track_min_gate: float = 0.06
    person_size_learning: bool = True
    occupancy_event_interval_s: float = 1.0
    coverage_event_step: float = 0.05


@dataclass(frozen=True, slots=True)
class FrameAnalysis:
    """What one frame produced. ``feet`` are people's foot points in frame pixels, with the
    track id of each in ``track_ids`` (for overlays)."""

    states: tuple[ZoneState, ...]
    events: tuple[ZoneEvent, ...]
    feet: Points
    track_ids: npt.NDArray[np.int64]
    blob_count: int


@dataclass(slots=True)
class _Visit:
    presence: Debounce
    alerted: bool = False


@dataclass(slots=True)
class _ZoneRuntime:
    occupied: Debounce
    over_capacity: Debounce
    last_count: int = 0
    last_coverage: float = 0.0
    last_occupied: bool = False
    last_event_t: float = float("-inf")
    visits: dict[int, _Visit] = field(default_factory=dict)


class ZoneAnalyzer:
    """The analytics of one camera.

    >>> import numpy as np
    >>> from edge_app.domain import MaskMapping, PersonMask
    >>> square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], dtype=float)
    >>> rule = ZoneRule("door", square, enter_after_s=0.0, exit_after_s=0.0)
    >>> za = ZoneAnalyzer("cam", [rule])
    >>> m = np.zeros((100, 100), np.uint8); m[40:90, 45:55] = 1
    >>> result = za.update(PersonMask(m, MaskMapping.stretch((100, 100), (100, 100))), 0.0)
    >>> result.states[0].count, result.states[0].occupied
    (1, True)
    """

    def __init__(
        self, camera_id: str, rules: Sequence[ZoneRule], params: AnalyzerParams | None = None
    ) -> None:
        if not rules:
            raise ValueError(f"camera {camera_id!r}: ZoneAnalyzer needs at least one zone")
        self.camera_id = camera_id
        self.params = params or AnalyzerParams()
        self.size_model = PersonSize()
        self._tracker: Tracker | None = None
        self._grid_mapping: MaskMapping | None = None
        self._zonemap: ZoneMap | None = None
        self._source_mapping: MaskMapping | None = None
        self._set_rules(rules)

    def _set_rules(self, rules: Sequence[ZoneRule]) -> None:
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"camera {self.camera_id!r}: zone ids must be unique, got {ids}")
        self.rules = tuple(rules)
        self._zones = [
            _ZoneRuntime(
                occupied=Debounce(r.enter_after_s, r.exit_after_s),
                over_capacity=Debounce(r.enter_after_s, r.exit_after_s),
            )
            for r in self.rules
        ]
        self._track_zones: dict[int, set[int]] = {}
        self._zonemap = None
        self._source_mapping = None

    def replace_rules(self, rules: Sequence[ZoneRule], t: float) -> list[ZoneEvent]:
        """Swap in new zones (a reload). Open visits end as ``ended``; tracks are kept."""
        events = self._close_visits(t, reason="ended")
        self._set_rules(rules)
        return events

    # --- per frame ------------------------------------------------------------------

    def update(self, person: PersonMask, t: float) -> FrameAnalysis:
        """Analyse one mask taken at source-clock time ``t`` (seconds)."""
        grid = self._to_grid(person)
        assert self._zonemap is not None and self._tracker is not None  # set by _to_grid
        mapping = self._grid_mapping
        assert mapping is not None
        frame_area_px = (
            mapping.frame_size[0] * mapping.scale_x * mapping.frame_size[1] * mapping.scale_y
        )
        blobs = find_blobs(grid, self.params.min_blob_area_frac * frame_area_px)
        if self.params.person_size_learning:
            self.size_model.learn(blobs, grid.shape[0])
            people = self.size_model.split(blobs)
        else:
            people = People(blobs.foot_x, blobs.foot_y, np.arange(len(blobs), dtype=np.intp))

        update = self._tracker.update(people.foot_x, people.foot_y, t)
        # The foot is the bottom edge of the box; look up the pixel just above it.
        px = np.floor(people.foot_x).astype(np.intp)
        py = np.floor(people.foot_y - 0.5).astype(np.intp)
        inside = self._zonemap.zones_at(px, py)
        counts = inside.sum(axis=0)
        coverage = self._zonemap.coverage(grid)

        events: list[ZoneEvent] = []
        for tr in update.ended:
            events.extend(self._end_track(tr.id, "lost"))
        self._update_visits(update.assigned, inside, t, events)
        states = tuple(
            self._update_zone(k, int(counts[k]), float(coverage[k]), t, events)
            for k in range(len(self.rules))
        )
        feet = mapping.mask_to_frame(np.column_stack((people.foot_x, people.foot_y)))
        return FrameAnalysis(states, tuple(events), feet, update.assigned, len(blobs))

    def finish(self, t: float) -> list[ZoneEvent]:
        """The stream ended at ``t``: close every open visit (``reason='ended'``)."""
        events = self._close_visits(t, reason="ended")
        if self._tracker is not None:
            self._tracker.end_all()
        return events

    # --- internals ------------------------------------------------------------------

    def _to_grid(self, person: PersonMask) -> ImageU8:
        mask = person.mask
        if person.mapping != self._source_mapping:
            self._configure(person.mapping)
        assert self._grid_mapping is not None
        w, h = self._grid_mapping.mask_size
        if (w, h) != person.mapping.mask_size:
            # INTER_AREA on a 0/1 mask rounds each cell's person share at 0.5.
            resized: ImageU8 = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
            return resized
        return mask

    def _configure(self, mapping: MaskMapping) -> None:
        mw, mh = mapping.mask_size
        scale = min(1.0, self.params.analysis_max_side / max(mw, mh))
        size = (max(1, round(mw * scale)), max(1, round(mh * scale)))
        grid = mapping.resized(size)
        polygons = [grid.frame_to_mask(r.polygon) for r in self.rules]
        self._zonemap = ZoneMap.build(polygons, size)
        frame_h = mapping.frame_size[1] * grid.scale_y
        if self._tracker is None or self._grid_mapping != grid:
            self._tracker = Tracker(
                max_speed_px_s=self.params.track_max_speed * frame_h,
                min_gate_px=self.params.track_min_gate * frame_h,
                max_gap_s=self.params.track_max_gap_s,
            )
        self._grid_mapping = grid
        self._source_mapping = mapping

    def _update_visits(
        self,
        track_ids: npt.NDArray[np.int64],
        inside: npt.NDArray[np.bool_],
        t: float,
        events: list[ZoneEvent],
    ) -> None:
        # Only (track, zone) pairs that are inside now or have a visit open need work.
        for i, tid in enumerate(track_ids.tolist()):
            zones_now = np.flatnonzero(inside[i]).tolist()
            open_zones = self._track_zones.get(tid, ())
            for k in sorted(set(zones_now).union(open_zones)):
                zone = self._zones[k]
                raw = k in zones_now
                visit = zone.visits.get(tid)
                if visit is None:
                    rule = self.rules[k]
                    visit = _Visit(Debounce(rule.enter_after_s, rule.exit_after_s))
                    zone.visits[tid] = visit
                    self._track_zones.setdefault(tid, set()).add(k)
                change = visit.presence.update(raw, t)
                if change is True:
                    events.append(ZoneEvent(self.camera_id, self.rules[k].id, t, ZoneEnter(tid)))
                elif change is False or (not visit.presence.on and not visit.presence.pending):
                    if change is False:
                        events.append(self._exit_event(k, tid, visit, "left"))
                    self._drop_visit(k, tid)

    def _drop_visit(self, k: int, tid: int) -> _Visit | None:
        visit = self._zones[k].visits.pop(tid, None)
        zones = self._track_zones.get(tid)
        if zones is not None:
            zones.discard(k)
            if not zones:
                del self._track_zones[tid]
        return visit

    def _exit_event(self, k: int, tid: int, visit: _Visit, reason: str) -> ZoneEvent:
        since = visit.presence.since
        last = visit.presence.last_on_t
        assert since is not None and last is not None
        payload = ZoneExit(tid, max(0.0, last - since), since, reason)  # type: ignore[arg-type]
        return ZoneEvent(self.camera_id, self.rules[k].id, last, payload)

    def _end_track(self, tid: int, reason: str) -> list[ZoneEvent]:
        events = []
        for k in sorted(self._track_zones.get(tid, ())):
            visit = self._drop_visit(k, tid)
            if visit is not None and visit.presence.on:
                events.append(self._exit_event(k, tid, visit, reason))
        return events

    def _close_visits(self, t: float, reason: str) -> list[ZoneEvent]:
        events = []
        for tid in sorted(self._track_zones):
            events.extend(self._end_track(tid, reason))
        return events

    def _update_zone(
        self, k: int, count: int, coverage: float, t: float, events: list[ZoneEvent]
    ) -> ZoneState:
        rule = self.rules[k]
        zone = self._zones[k]
        zone_id = rule.id
        occupied_change = zone.occupied.update(count > 0, t)
        if rule.capacity is not None and zone.over_capacity.update(count > rule.capacity, t):
            events.append(
                ZoneEvent(self.camera_id, zone_id, t, CapacityExceeded(count, rule.capacity))
            )
        dwell: dict[int, float] = {}
        for tid, visit in zone.visits.items():
            if not visit.presence.on or visit.presence.since is None:
                continue
            dwell_s = t - visit.presence.since
            dwell[tid] = dwell_s
            limit = rule.dwell_alert_s
            if limit is not None and not visit.alerted and dwell_s >= limit:
                visit.alerted = True
                events.append(
                    ZoneEvent(self.camera_id, zone_id, t, DwellExceeded(tid, dwell_s, limit))
                )
        occupied = zone.occupied.on
        changed = (
            count != zone.last_count
            or abs(coverage - zone.last_coverage) >= self.params.coverage_event_step
        )
        due = t - zone.last_event_t >= self.params.occupancy_event_interval_s
        if occupied_change is not None or (changed and due):
            events.append(
                ZoneEvent(
                    self.camera_id, zone_id, t, ZoneOccupancy(count, round(coverage, 4), occupied)
                )
            )
            zone.last_count, zone.last_coverage = count, coverage
            zone.last_occupied, zone.last_event_t = occupied, t
        return ZoneState(
            camera=self.camera_id,
            zone=zone_id,
            t=t,
            count=count,
            coverage=coverage,
            occupied=occupied,
            occupied_since=zone.occupied.since if occupied else None,
            dwell_s=dwell,
        )

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Current tracks (for overlays and diagnostics)."""
        return tuple(self._tracker.tracks.values()) if self._tracker else ()
