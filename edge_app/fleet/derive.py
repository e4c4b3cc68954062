"""Visits and occupancy samples derived from a device's events, in ``seq`` order. Pure.

The central database gets only events, so what a device's store derives from its frames
the collector derives from the events, in the device's own schema:

- **Visits**, by the store's rules (``EventStore.write``): ``zone.enter`` opens a visit;
  ``zone.exit`` closes the open visit of that track, or, when its enter was never seen,
  adds a closed visit that began ``dwell_s`` before. ``plan_visits`` folds a run of events
  into rows to insert and exits to match against visits already open in the database.
- **Occupancy samples** by sample-and-hold over ``zone.occupancy`` events: each value holds
  from its event until the zone's next one (a device sends one whenever the count, the
  coverage or the occupied state changes), credited to buckets of ``interval_s`` seconds of
  the camera's clock, as the device's ``OccupancyAggregator`` does with frames. ``Hold``
  is a zone's running state, stored between batches; ``frames`` counts events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from edge_app.core.events import Event, ZoneEnter, ZoneExit, ZoneOccupancy

MAX_HOLD_S = 86_400.0
"""A value is held at most this long: a longer silence (a device switched off for days)
closes the zone's interval instead of crediting it."""

VisitKey = tuple[str, str, str, int]  # device, camera, zone, track_id


@dataclass(slots=True)
class VisitRow:
    """A ``visits`` row to insert (``exited_wall`` None: still open)."""

    device: str
    camera: str
    zone: str
    track_id: int
    entered_wall: float
    entered_t: float
    exited_wall: float | None = None
    exited_t: float | None = None
    dwell_s: float | None = None
    closed_by: str | None = None

    def close(self, wall: float, t: float, dwell_s: float) -> None:
        self.exited_wall, self.exited_t, self.dwell_s, self.closed_by = wall, t, dwell_s, "exit"

    def as_row(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "camera": self.camera,
            "zone": self.zone,
            "track_id": self.track_id,
            "entered_wall": self.entered_wall,
            "entered_t": self.entered_t,
            "exited_wall": self.exited_wall,
            "exited_t": self.exited_t,
            "dwell_s": self.dwell_s,
            "closed_by": self.closed_by,
        }


@dataclass(frozen=True, slots=True)
class PendingExit:
    """An exit whose enter came in an earlier run: close the open visit of ``key`` in the
    database, or insert ``fallback`` (closed) when there is none."""

    key: VisitKey
    wall: float
    t: float
    dwell_s: float
    fallback: VisitRow


@dataclass(slots=True)
class VisitPlan:
    """``pending`` first (they match only visits opened before this run), then ``rows``."""

    pending: list[PendingExit] = field(default_factory=list)
    rows: list[VisitRow] = field(default_factory=list)


def plan_visits(events: Iterable[Event]) -> VisitPlan:
    """Fold events (one device or several, each device's in ``seq`` order) into visit rows.

    >>> from datetime import datetime, timezone
    >>> wall = datetime(2026, 11, 23, tzinfo=timezone.utc)
    >>> ev = lambda seq, t, p: Event(str(seq), seq, "edge-1", wall, "cam", "till", t, p)
    >>> plan = plan_visits([ev(1, 10.0, ZoneEnter(7)), ev(2, 25.0, ZoneExit(7, 15.0, 10.0))])
    >>> [(r.track_id, r.entered_t, r.exited_t, r.dwell_s) for r in plan.rows], plan.pending
    ([(7, 10.0, 25.0, 15.0)], [])
    """
    plan = VisitPlan()
    open_here: dict[VisitKey, list[VisitRow]] = {}
    closed_in_db: set[VisitKey] = set()
    for ev in events:
        if ev.zone is None:
            continue
        wall = ev.wall.timestamp()
        if isinstance(ev.payload, ZoneEnter):
            key = (ev.device, ev.camera, ev.zone, ev.payload.track_id)
            row = VisitRow(ev.device, ev.camera, ev.zone, ev.payload.track_id, wall, ev.t)
            plan.rows.append(row)
            open_here.setdefault(key, []).append(row)
        elif isinstance(ev.payload, ZoneExit):
            exit_ = ev.payload
            key = (ev.device, ev.camera, ev.zone, exit_.track_id)
            fallback = VisitRow(
                ev.device,
                ev.camera,
                ev.zone,
                exit_.track_id,
                wall - exit_.dwell_s,
                exit_.entered_t,
                wall,
                ev.t,
                exit_.dwell_s,
                "exit",
            )
            opened = open_here.pop(key, None)
            if opened:
                # Like the store's UPDATE: every open visit of the track is closed.
                for row in opened:
                    row.close(wall, ev.t, exit_.dwell_s)
            elif key in closed_in_db:
                plan.rows.append(fallback)  # the database's open visit is already closed
            else:
                closed_in_db.add(key)
                plan.pending.append(PendingExit(key, wall, ev.t, exit_.dwell_s, fallback))
    return plan


@dataclass(frozen=True, slots=True)
class Hold:
    """A zone's last occupancy value (since ``t``/``wall``) and its current interval's sums.

    ``bucket`` is the interval index (``floor(t / interval_s)``); the sums are seconds times
    the held values, as in ``OccupancyAggregator``.
    """

    device: str
    camera: str
    zone: str
    t: float
    wall: float
    count: int
    coverage: float
    occupied: bool
    bucket: int
    t_start: float
    wall_start: float
    wall_end: float
    frames: int
    max_count: int
    duration_s: float
    count_s: float
    coverage_s: float
    occupied_s: float

    @property
    def key(self) -> tuple[str, str, str]:
        return self.device, self.camera, self.zone

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def sample_row(self) -> dict[str, Any]:
        """The ``occupancy_samples`` row of the current interval."""
        if self.duration_s > 0:
            mean_count = self.count_s / self.duration_s
            mean_coverage = self.coverage_s / self.duration_s
        else:
            mean_count, mean_coverage = float(self.count), self.coverage
        return {
            "device": self.device,
            "camera": self.camera,
            "zone": self.zone,
            "wall_start": self.wall_start,
            "wall_end": self.wall_end,
            "t_start": self.t_start,
            "duration_s": self.duration_s,
            "frames": self.frames,
            "mean_count": mean_count,
            "max_count": self.max_count,
            "occupied_s": self.occupied_s,
            "mean_coverage": mean_coverage,
        }


def _start(ev: Event, value: ZoneOccupancy, interval_s: float) -> Hold:
    wall = ev.wall.timestamp()
    return Hold(
        ev.device, ev.camera, ev.zone or "", ev.t, wall, value.count, value.coverage,
        value.occupied, math.floor(ev.t / interval_s), ev.t, wall, wall, 1, value.count,
        0.0, 0.0, 0.0, 0.0,
    )  # fmt: skip


def _credit(hold: Hold, dt: float) -> Hold:
    return replace(
        hold,
        duration_s=hold.duration_s + dt,
        count_s=hold.count_s + hold.count * dt,
        coverage_s=hold.coverage_s + hold.coverage * dt,
        occupied_s=hold.occupied_s + (dt if hold.occupied else 0.0),
    )


def fold_occupancy(
    hold: Hold | None, ev: Event, value: ZoneOccupancy, interval_s: float
) -> tuple[Hold, list[dict[str, Any]]]:
    """Add one ``zone.occupancy`` event to its zone's hold; the new hold and the sample rows
    of the intervals it closed (each interval the held value spanned gets one)."""
    if hold is None:
        return _start(ev, value, interval_s), []
    dt = ev.t - hold.t
    if dt < 0 or dt > MAX_HOLD_S:  # the camera's clock restarted, or a long silence
        return _start(ev, value, interval_s), [hold.sample_row()]
    samples: list[dict[str, Any]] = []
    bucket = math.floor(ev.t / interval_s)
    while hold.bucket < bucket:
        boundary = (hold.bucket + 1) * interval_s
        hold = _credit(hold, boundary - hold.t)
        boundary_wall = hold.wall + (boundary - hold.t)
        samples.append(replace(hold, wall_end=boundary_wall).sample_row())
        hold = replace(
            hold, t=boundary, wall=boundary_wall, bucket=hold.bucket + 1, t_start=boundary,
            wall_start=boundary_wall, wall_end=boundary_wall, frames=0, max_count=hold.count,
            duration_s=0.0, count_s=0.0, coverage_s=0.0, occupied_s=0.0,
        )  # fmt: skip
    hold = _credit(hold, ev.t - hold.t)
    wall = ev.wall.timestamp()
    hold = replace(
        hold,
        t=ev.t,
        wall=wall,
        count=value.count,
        coverage=value.coverage,
        occupied=value.occupied,
        wall_end=wall,
        frames=hold.frames + 1,
        max_count=max(hold.max_count, value.count),
    )
    return hold, samples


def fold_samples(
    holds: dict[tuple[str, str, str], Hold], events: Sequence[Event], interval_s: float
) -> list[dict[str, Any]]:
    """Fold every ``zone.occupancy`` event into ``holds`` (updated in place); the closed
    intervals' sample rows."""
    samples: list[dict[str, Any]] = []
    for ev in events:
        if ev.zone is None or not isinstance(ev.payload, ZoneOccupancy):
            continue
        key = (ev.device, ev.camera, ev.zone)
        hold, closed = fold_occupancy(holds.get(key), ev, ev.payload, interval_s)
        holds[key] = hold
        samples += closed
    return samples
