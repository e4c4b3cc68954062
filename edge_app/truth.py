"""Comparing measured zone counts and visits with ground truth.

Truth is people's foot points per frame (from the synthetic camera, or boxes of a MOT
file: the bottom centre of each box). A true visit is a person's uninterrupted stay in a
zone lasting at least the zone's ``enter_after_s`` (what the daemon is configured to
call a visit). Used by the demo's closing table and by the evaluation harness.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from shapely import contains_xy
from shapely.geometry import Polygon

from edge_app.analytics import ZoneRule
from edge_app.domain import ZoneState
from edge_app.events import Event, ZoneExit


@dataclass(frozen=True, slots=True)
class TruthPoint:
    """One true person in one frame: id and foot point in frame pixels."""

    person_id: int
    x: float
    y: float


@dataclass(slots=True)
class _ZoneTally:
    frames: int = 0
    abs_error_sum: float = 0.0
    true_occupied_s: float = 0.0
    measured_occupied_s: float = 0.0
    true_visits: list[float] = field(default_factory=list)
    measured_visits: list[float] = field(default_factory=list)
    open_true: dict[int, tuple[float, float]] = field(default_factory=dict)  # id -> (first, last)
    last_true_count: int = 0
    last_measured_occupied: bool = False


@dataclass(frozen=True, slots=True)
class ZoneComparison:
    """Per-zone result: count MAE per frame, visits and mean dwell, occupied seconds."""

    zone: str
    frames: int
    count_mae: float
    true_visits: int
    measured_visits: int
    true_mean_dwell_s: float
    measured_mean_dwell_s: float
    true_occupied_s: float
    measured_occupied_s: float


class TruthComparison:
    """Accumulates truth vs measurement frame by frame."""

    def __init__(self, rules: Sequence[ZoneRule]) -> None:
        self.rules = {r.id: r for r in rules}
        self._polygons = {r.id: Polygon(r.polygon) for r in rules}
        self._tally = {r.id: _ZoneTally() for r in rules}
        self._last_t: float | None = None

    def add_frame(self, t: float, truth: Sequence[TruthPoint], states: Iterable[ZoneState]) -> None:
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        xs = np.array([p.x for p in truth], dtype=np.float64)
        ys = np.array([p.y for p in truth], dtype=np.float64)
        measured = {s.zone: s for s in states}
        for zone_id, poly in self._polygons.items():
            tally = self._tally[zone_id]
            inside = contains_xy(poly, xs, ys) if len(truth) else np.zeros(0, dtype=bool)
            ids = {p.person_id for p, hit in zip(truth, inside, strict=True) if hit}
            state = measured.get(zone_id)
            true_count = len(ids)
            tally.frames += 1
            tally.abs_error_sum += abs(true_count - (state.count if state else 0))
            if tally.last_true_count > 0:
                tally.true_occupied_s += dt
            if tally.last_measured_occupied:
                tally.measured_occupied_s += dt
            tally.last_true_count = true_count
            tally.last_measured_occupied = bool(state and state.occupied)
            for pid in ids:
                first, _ = tally.open_true.get(pid, (t, t))
                tally.open_true[pid] = (first, t)
            for pid in [p for p in tally.open_true if p not in ids]:
                self._close_true(zone_id, pid)

    def add_events(self, events: Iterable[Event]) -> None:
        for ev in events:
            if isinstance(ev.payload, ZoneExit) and ev.zone in self._tally:
                self._tally[ev.zone].measured_visits.append(ev.payload.dwell_s)

    def _close_true(self, zone_id: str, pid: int) -> None:
        first, last = self._tally[zone_id].open_true.pop(pid)
        if last - first >= self.rules[zone_id].enter_after_s:
            self._tally[zone_id].true_visits.append(last - first)

    def finish(self) -> list[ZoneComparison]:
        """Close open true visits and return the per-zone comparison."""
        out = []
        for zone_id, tally in self._tally.items():
            for pid in list(tally.open_true):
                self._close_true(zone_id, pid)
            out.append(
                ZoneComparison(
                    zone=zone_id,
                    frames=tally.frames,
                    count_mae=tally.abs_error_sum / tally.frames if tally.frames else 0.0,
                    true_visits=len(tally.true_visits),
                    measured_visits=len(tally.measured_visits),
                    true_mean_dwell_s=float(np.mean(tally.true_visits))
                    if tally.true_visits
                    else 0.0,
                    measured_mean_dwell_s=(
                        float(np.mean(tally.measured_visits)) if tally.measured_visits else 0.0
                    ),
                    true_occupied_s=tally.true_occupied_s,
                    measured_occupied_s=tally.measured_occupied_s,
                )
            )
        return out


def mean_count_mae(results: Sequence[ZoneComparison]) -> float:
    """Mean over zones of the per-frame count MAE."""
    return float(np.mean([r.count_mae for r in results])) if results else 0.0
