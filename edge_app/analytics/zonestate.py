"""Per-zone state machines: debounced occupancy, capacity alerts, visits and dwell.

Fed once per frame with who is inside which zone; emits ``ZoneEvent`` values. Only the
(track, zone) pairs that are inside now or have a visit open are touched, so the work per
frame follows the people, not the number of zones. Times are source-clock seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_app.analytics.debounce import Debounce
from edge_app.core.domain import Points, ZoneState
from edge_app.core.events import (
    CapacityExceeded,
    DwellExceeded,
    ExitReason,
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


class _Visit:
    __slots__ = ("alerted", "presence")

    def __init__(self, presence: Debounce) -> None:
        self.presence = presence
        self.alerted = False


class _Zone:
    __slots__ = (
        "count",
        "coverage",
        "last_count",
        "last_coverage",
        "last_event_t",
        "occupied",
        "over_capacity",
        "rule",
        "t",
        "visits",
    )

    def __init__(self, rule: ZoneRule) -> None:
        self.rule = rule
        self.occupied = Debounce(rule.enter_after_s, rule.exit_after_s)
        self.over_capacity = Debounce(rule.enter_after_s, rule.exit_after_s)
        # What the last zone.occupancy said, and what the last frame showed.
        self.last_count = 0
        self.last_coverage = 0.0
        self.last_event_t = float("-inf")
        self.count = 0
        self.coverage = 0.0
        self.t: float | None = None
        self.visits: dict[int, _Visit] = {}

    def occupancy_event(self, camera: str) -> ZoneEvent:
        """A ``zone.occupancy`` with the last frame's values, which it now reports."""
        if self.t is None:
            raise RuntimeError(f"zone {self.rule.id!r}: no frame seen yet")
        payload = ZoneOccupancy(self.count, round(self.coverage, 4), self.occupied.on)
        self.last_count, self.last_coverage, self.last_event_t = self.count, self.coverage, self.t
        return ZoneEvent(camera, self.rule.id, self.t, payload)


class ZoneStates:
    """The state machines of every zone of one camera.

    ``occupancy_event_interval_s``: at most one ``zone.occupancy`` event per zone this
    often, except when the occupied state flips (always at once); ``coverage_event_step``:
    the coverage change (0..1) that makes an occupancy event due.
    """

    def __init__(
        self,
        camera_id: str,
        rules: Sequence[ZoneRule],
        occupancy_event_interval_s: float,
        coverage_event_step: float,
    ) -> None:
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"camera {camera_id!r}: zone ids must be unique, got {ids}")
        self.camera_id = camera_id
        self.rules = tuple(rules)
        self.interval_s = occupancy_event_interval_s
        self.coverage_step = coverage_event_step
        self._zones = [_Zone(r) for r in self.rules]
        self._track_zones: dict[int, set[int]] = {}

    # --- visits -------------------------------------------------------------------------

    def update_visits(
        self, track_ids: Sequence[int], zones_of: Sequence[Sequence[int]], t: float
    ) -> list[ZoneEvent]:
        """``zones_of[i]`` are the zones track ``track_ids[i]`` stands in at ``t``."""
        events: list[ZoneEvent] = []
        for tid, zones_now in zip(track_ids, zones_of, strict=True):
            open_zones = self._track_zones.get(tid, ())
            if not zones_now and not open_zones:
                continue
            # The zones it stands in and those it has a visit open in, in zone order (so the
            # events of one frame come in a fixed order).
            for k in sorted({*zones_now, *open_zones}):
                zone = self._zones[k]
                raw = k in zones_now
                visit = zone.visits.get(tid)
                if visit is None:
                    rule = zone.rule
                    visit = _Visit(Debounce(rule.enter_after_s, rule.exit_after_s))
                    zone.visits[tid] = visit
                    self._track_zones.setdefault(tid, set()).add(k)
                change = visit.presence.update(raw, t)
                if change is True:
                    events.append(ZoneEvent(self.camera_id, zone.rule.id, t, ZoneEnter(tid)))
                elif change is False or (not visit.presence.on and not visit.presence.pending):
                    if change is False:
                        events.append(self._exit_event(k, tid, visit, "left"))
                    self._drop_visit(k, tid)
        return events

    def end_track(self, tid: int, reason: ExitReason) -> list[ZoneEvent]:
        """The track is gone (``lost`` or the stream ``ended``): close its open visits."""
        events = []
        for k in sorted(self._track_zones.get(tid, ())):
            visit = self._drop_visit(k, tid)
            if visit is not None and visit.presence.on:
                events.append(self._exit_event(k, tid, visit, reason))
        return events

    def close_all(self, reason: ExitReason) -> list[ZoneEvent]:
        events = []
        for tid in sorted(self._track_zones):
            events.extend(self.end_track(tid, reason))
        return events

    def flush_occupancy(self) -> list[ZoneEvent]:
        """The ``zone.occupancy`` events the rate limit still holds back: for each zone whose
        last frame's count or coverage differs from what its last event said (at a stop,
        so the event stream ends on the count the zone's state shows)."""
        return [
            zone.occupancy_event(self.camera_id)
            for zone in self._zones
            if zone.t is not None
            and (
                zone.count != zone.last_count
                or abs(zone.coverage - zone.last_coverage) >= self.coverage_step
            )
        ]

    def _drop_visit(self, k: int, tid: int) -> _Visit | None:
        visit = self._zones[k].visits.pop(tid, None)
        zones = self._track_zones.get(tid)
        if zones is not None:
            zones.discard(k)
            if not zones:
                del self._track_zones[tid]
        return visit

    def _exit_event(self, k: int, tid: int, visit: _Visit, reason: ExitReason) -> ZoneEvent:
        since = visit.presence.since
        last = visit.presence.last_on_t
        if since is None or last is None:  # an open visit always has both
            raise RuntimeError(f"visit of track {tid} closed before it opened")
        payload = ZoneExit(tid, max(0.0, last - since), since, reason)
        return ZoneEvent(self.camera_id, self.rules[k].id, last, payload)

    # --- zones --------------------------------------------------------------------------

    def update_zones(
        self, counts: Sequence[int], coverage: Sequence[float], t: float, events: list[ZoneEvent]
    ) -> tuple[ZoneState, ...]:
        """Occupancy, capacity and dwell of every zone after this frame; appends events."""
        camera = self.camera_id
        step, interval = self.coverage_step, self.interval_s
        states = []
        for zone, count, cov in zip(self._zones, counts, coverage, strict=True):
            rule = zone.rule
            occ = zone.occupied
            # An empty zone that is off and not pending stays so: no debounce to update.
            occupied_change = occ.update(count > 0, t) if count or occ.on or occ.pending else None
            if rule.capacity is not None and zone.over_capacity.update(count > rule.capacity, t):
                events.append(ZoneEvent(camera, rule.id, t, CapacityExceeded(count, rule.capacity)))
            dwell = self._dwell(zone, t, events) if zone.visits else {}
            occupied = occ.on
            zone.count, zone.coverage, zone.t = count, cov, t
            if occupied_change is not None or (
                (count != zone.last_count or abs(cov - zone.last_coverage) >= step)
                and t - zone.last_event_t >= interval
            ):
                events.append(zone.occupancy_event(camera))
            since = occ.since if occupied else None
            states.append(ZoneState(camera, rule.id, t, count, cov, occupied, since, dwell))
        return tuple(states)

    def _dwell(self, zone: _Zone, t: float, events: list[ZoneEvent]) -> dict[int, float]:
        """Current dwell of each confirmed visitor; raises the dwell alert once per visit."""
        dwell: dict[int, float] = {}
        limit = zone.rule.dwell_alert_s
        for tid, visit in zone.visits.items():
            since = visit.presence.since
            if not visit.presence.on or since is None:
                continue
            dwell_s = dwell[tid] = t - since
            if limit is not None and not visit.alerted and dwell_s >= limit:
                visit.alerted = True
                payload = DwellExceeded(tid, dwell_s, limit)
                events.append(ZoneEvent(self.camera_id, zone.rule.id, t, payload))
        return dwell
