"""Comparing measured zone counts, occupancy and visits with ground truth.

Truth is people's foot points per frame (from the synthetic camera, or the boxes of a MOT
file: the bottom centre of each box). Truth goes through the same definitions the daemon
applies to its own measurements, so the two are comparable:

- a zone's true count is the number of foot points inside its polygon;
- the zone is truly *occupied* when that count, debounced with the zone's
  ``enter_after_s`` / ``exit_after_s``, says so (as the daemon's ``ZoneState.occupied``);
- a true *visit* is one person's stay in one zone, debounced the same way: it starts when
  the foot point first enters, survives absences shorter than ``exit_after_s``, ends when
  the person was last inside, and counts only if it lasted ``enter_after_s``;
- measured visits are the ``zone.exit`` events (``entered_t`` .. the event's ``t``).

Visits are matched one to one per zone by temporal overlap (intersection over union of
the two time intervals, at least ``visit_iou``), greedily from the best overlap down.
Used by the demo's closing table and by ``edge-app eval`` (``edge_app.tools.evaluation.evaluate``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from shapely import contains_xy
from shapely.geometry import Polygon

from edge_app.analytics import ZoneRule
from edge_app.analytics.debounce import Debounce
from edge_app.core.domain import ZoneState
from edge_app.core.events import Event, ZoneExit


@dataclass(frozen=True, slots=True)
class TruthPoint:
    """One true person in one frame: id and foot point in frame pixels, and the person's
    box ``(left, top, width, height)`` when known."""

    person_id: int
    x: float
    y: float
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class Visit:
    """One stay of a person (true) or a track (measured) in a zone, source-clock seconds."""

    who: int
    start_t: float
    end_t: float

    @property
    def dwell_s(self) -> float:
        return self.end_t - self.start_t


def temporal_iou(a: Visit, b: Visit) -> float:
    """Intersection over union of two visits' time intervals (0..1).

    Two zero-length visits at the same instant overlap fully.
    """
    inter = min(a.end_t, b.end_t) - max(a.start_t, b.start_t)
    if inter < 0:
        return 0.0
    union = max(a.end_t, b.end_t) - min(a.start_t, b.start_t)
    return 1.0 if union <= 0 else inter / union


def match_visits(
    true: Sequence[Visit], measured: Sequence[Visit], min_iou: float
) -> list[tuple[int, int]]:
    """One-to-one ``(true index, measured index)`` pairs with IoU >= ``min_iou``.

    Greedy from the highest IoU down (ties by index), the usual evaluation matching.
    """
    pairs = [
        (temporal_iou(tv, mv), i, j) for i, tv in enumerate(true) for j, mv in enumerate(measured)
    ]
    pairs = [p for p in pairs if p[0] >= min_iou and p[0] > 0]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_true: set[int] = set()
    used_measured: set[int] = set()
    matched = []
    for _, i, j in pairs:
        if i in used_true or j in used_measured:
            continue
        used_true.add(i)
        used_measured.add(j)
        matched.append((i, j))
    return sorted(matched)


@dataclass(frozen=True, slots=True)
class ZoneComparison:
    """Truth vs measurement for one zone (or ``overall``) over a whole run.

    ``count_mae``: mean over frames of ``|measured - true|`` people; ``count_bias`` the mean
    signed error (negative = undercounting). ``occupied_accuracy``: share of frames whose
    debounced occupied state agrees. Seconds are source-clock seconds; ``dwell_mae_s`` and
    ``dwell_bias_s`` are over matched visits only (0 when none matched).
    """

    zone: str
    frames: int
    count_mae: float
    count_bias: float
    occupied_accuracy: float
    true_occupied_s: float
    measured_occupied_s: float
    true_visits: int
    measured_visits: int
    matched_visits: int
    dwell_mae_s: float
    dwell_bias_s: float
    true_mean_dwell_s: float
    measured_mean_dwell_s: float

    @property
    def occupied_error_s(self) -> float:
        """Measured minus true occupied seconds."""
        return self.measured_occupied_s - self.true_occupied_s

    @property
    def visit_precision(self) -> float:
        """Matched / measured visits (1 when nothing was measured)."""
        return self.matched_visits / self.measured_visits if self.measured_visits else 1.0

    @property
    def visit_recall(self) -> float:
        """Matched / true visits (1 when there was nothing to find)."""
        return self.matched_visits / self.true_visits if self.true_visits else 1.0

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "zone": self.zone,
            "frames": self.frames,
            "count_mae": round(self.count_mae, 4),
            "count_bias": round(self.count_bias, 4),
            "occupied_accuracy": round(self.occupied_accuracy, 4),
            "true_occupied_s": round(self.true_occupied_s, 3),
            "measured_occupied_s": round(self.measured_occupied_s, 3),
            "occupied_error_s": round(self.occupied_error_s, 3),
            "true_visits": self.true_visits,
            "measured_visits": self.measured_visits,
            "matched_visits": self.matched_visits,
            "visit_precision": round(self.visit_precision, 4),
            "visit_recall": round(self.visit_recall, 4),
            "dwell_mae_s": round(self.dwell_mae_s, 3),
            "dwell_bias_s": round(self.dwell_bias_s, 3),
            "true_mean_dwell_s": round(self.true_mean_dwell_s, 3),
            "measured_mean_dwell_s": round(self.measured_mean_dwell_s, 3),
        }


@dataclass(slots=True)
class _ZoneTally:
    occupied: Debounce
    frames: int = 0
    abs_error_sum: float = 0.0
    signed_error_sum: float = 0.0
    agree_frames: int = 0
    true_occupied_s: float = 0.0
    measured_occupied_s: float = 0.0
    last_true_occupied: bool = False
    last_measured_occupied: bool = False
    presence: dict[int, Debounce] = field(default_factory=dict)
    true_visits: list[Visit] = field(default_factory=list)
    measured_visits: list[Visit] = field(default_factory=list)


class TruthComparison:
    """Accumulates truth vs measurement frame by frame; ``finish()`` gives the results.

    Feed every frame, in order, with ``add_frame`` and every event with ``add_events``
    (including those emitted when the stream ends).
    """

    def __init__(self, rules: Sequence[ZoneRule], visit_iou: float = 0.5) -> None:
        if not 0 < visit_iou <= 1:
            raise ValueError(f"visit_iou must be in (0, 1], got {visit_iou}")
        self.rules = {r.id: r for r in rules}
        self.visit_iou = visit_iou
        self._polygons = {r.id: Polygon(r.polygon) for r in rules}
        self._tally = {
            r.id: _ZoneTally(occupied=Debounce(r.enter_after_s, r.exit_after_s)) for r in rules
        }
        self._last_t: float | None = None

    def add_frame(self, t: float, truth: Sequence[TruthPoint], states: Iterable[ZoneState]) -> None:
        """One frame at source-clock ``t``: true foot points and the measured zone states."""
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
            measured_count = state.count if state else 0
            measured_occupied = bool(state and state.occupied)
            # Occupied time runs from a frame to the next, so it is frame-rate independent.
            tally.true_occupied_s += dt if tally.last_true_occupied else 0.0
            tally.measured_occupied_s += dt if tally.last_measured_occupied else 0.0
            tally.occupied.update(bool(ids), t)
            tally.frames += 1
            tally.abs_error_sum += abs(measured_count - len(ids))
            tally.signed_error_sum += measured_count - len(ids)
            tally.agree_frames += int(tally.occupied.on == measured_occupied)
            tally.last_true_occupied = tally.occupied.on
            tally.last_measured_occupied = measured_occupied
            self._update_presence(zone_id, ids, t)

    def _update_presence(self, zone_id: str, ids: set[int], t: float) -> None:
        tally = self._tally[zone_id]
        rule = self.rules[zone_id]
        for pid in ids:
            if pid not in tally.presence:
                tally.presence[pid] = Debounce(rule.enter_after_s, rule.exit_after_s)
        for pid, presence in list(tally.presence.items()):
            change = presence.update(pid in ids, t)
            if change is False:
                tally.true_visits.append(_visit_of(pid, presence))
            if not presence.on and not presence.pending:
                del tally.presence[pid]

    def add_events(self, events: Iterable[Event], since_t: float | None = None) -> None:
        """Measured visits: every ``zone.exit`` of a compared zone. With ``since_t`` (the
        first compared frame), visits that ended before it are left out and the others
        count from it at the earliest."""
        for ev in events:
            if isinstance(ev.payload, ZoneExit) and ev.zone in self._tally:
                start = ev.payload.entered_t
                if since_t is not None:
                    if ev.t < since_t:
                        continue
                    start = max(start, since_t)
                visit = Visit(ev.payload.track_id, start, ev.t)
                self._tally[ev.zone].measured_visits.append(visit)

    def finish(self) -> list[ZoneComparison]:
        """Close open true visits and return the per-zone comparison, in rule order."""
        out = []
        for zone_id, tally in self._tally.items():
            for pid, presence in tally.presence.items():
                if presence.on:
                    tally.true_visits.append(_visit_of(pid, presence))
            tally.presence.clear()
            out.append(self._compare(zone_id, tally))
        return out

    def _compare(self, zone_id: str, tally: _ZoneTally) -> ZoneComparison:
        true, measured = tally.true_visits, tally.measured_visits
        pairs = match_visits(true, measured, self.visit_iou)
        errors = [measured[j].dwell_s - true[i].dwell_s for i, j in pairs]
        frames = max(tally.frames, 1)
        return ZoneComparison(
            zone=zone_id,
            frames=tally.frames,
            count_mae=tally.abs_error_sum / frames,
            count_bias=tally.signed_error_sum / frames,
            occupied_accuracy=tally.agree_frames / frames,
            true_occupied_s=tally.true_occupied_s,
            measured_occupied_s=tally.measured_occupied_s,
            true_visits=len(true),
            measured_visits=len(measured),
            matched_visits=len(pairs),
            dwell_mae_s=_mean([abs(e) for e in errors]),
            dwell_bias_s=_mean(errors),
            true_mean_dwell_s=_mean([v.dwell_s for v in true]),
            measured_mean_dwell_s=_mean([v.dwell_s for v in measured]),
        )


def _visit_of(pid: int, presence: Debounce) -> Visit:
    # An on debounce always has both times; the fallbacks only satisfy the type checker.
    start = presence.since if presence.since is not None else 0.0
    end = presence.last_on_t if presence.last_on_t is not None else start
    return Visit(pid, start, end)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def mean_count_mae(results: Sequence[ZoneComparison]) -> float:
    """Mean over zones of the per-frame count MAE (the headline counting figure)."""
    return _mean([r.count_mae for r in results])


def overall(results: Sequence[ZoneComparison]) -> ZoneComparison:
    """All zones together: count and occupancy figures are means over zones (each zone
    weighs the same), seconds and visits are sums, dwell errors pool the matched visits."""
    matched = sum(r.matched_visits for r in results)
    true_n = sum(r.true_visits for r in results)
    measured_n = sum(r.measured_visits for r in results)

    def pooled(attr: str, weight: str) -> float:
        total = sum(getattr(r, weight) for r in results)
        return sum(getattr(r, attr) * getattr(r, weight) for r in results) / total if total else 0.0

    return ZoneComparison(
        zone="overall",
        frames=max((r.frames for r in results), default=0),
        count_mae=mean_count_mae(results),
        count_bias=_mean([r.count_bias for r in results]),
        occupied_accuracy=_mean([r.occupied_accuracy for r in results]),
        true_occupied_s=sum(r.true_occupied_s for r in results),
        measured_occupied_s=sum(r.measured_occupied_s for r in results),
        true_visits=true_n,
        measured_visits=measured_n,
        matched_visits=matched,
        dwell_mae_s=pooled("dwell_mae_s", "matched_visits"),
        dwell_bias_s=pooled("dwell_bias_s", "matched_visits"),
        true_mean_dwell_s=pooled("true_mean_dwell_s", "true_visits"),
        measured_mean_dwell_s=pooled("measured_mean_dwell_s", "measured_visits"),
    )
