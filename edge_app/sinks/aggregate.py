"""Per-frame zone states folded into one occupancy sample per zone per interval.

Pure: states and wall times in, samples out. Buckets follow the source clock
(``ZoneState.t``), so a replayed file gives the same samples however fast it runs; each
state's values hold until the next state of that zone (sample-and-hold), so a frame-rate
drop does not change the means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edge_app.core.domain import ZoneState


@dataclass(frozen=True, slots=True)
class OccupancySample:
    """One zone over one interval.

    ``wall_start``/``wall_end`` are UTC epoch seconds of the first and last frame in it;
    ``t_start`` is the source-clock time of the first frame; ``duration_s`` the source
    seconds covered; ``mean_count`` and ``mean_coverage`` (0..1) are time-weighted;
    ``occupied_s`` is the seconds the debounced state was occupied.
    """

    camera: str
    zone: str
    wall_start: float
    wall_end: float
    t_start: float
    duration_s: float
    frames: int
    mean_count: float
    max_count: int
    occupied_s: float
    mean_coverage: float

    def as_row(self) -> dict[str, Any]:
        """The ``occupancy_samples`` row of this sample."""
        return {
            "camera": self.camera,
            "zone": self.zone,
            "wall_start": self.wall_start,
            "wall_end": self.wall_end,
            "t_start": self.t_start,
            "duration_s": self.duration_s,
            "frames": self.frames,
            "mean_count": self.mean_count,
            "max_count": self.max_count,
            "occupied_s": self.occupied_s,
            "mean_coverage": self.mean_coverage,
        }


class _Bucket:
    """Running sums of one zone's current interval (mutable, private to the aggregator)."""

    __slots__ = (
        "camera",
        "count_s",
        "coverage_s",
        "duration_s",
        "frames",
        "index",
        "max_count",
        "occupied_s",
        "sum_count",
        "sum_coverage",
        "t_start",
        "wall_end",
        "wall_start",
        "zone",
    )

    def __init__(self, state: ZoneState, index: int, wall: float) -> None:
        self.camera = state.camera
        self.zone = state.zone
        self.index = index
        self.t_start = state.t
        self.wall_start = wall
        self.wall_end = wall
        self.frames = 0
        self.max_count = 0
        self.sum_count = 0.0
        self.sum_coverage = 0.0
        self.duration_s = 0.0
        self.count_s = 0.0
        self.coverage_s = 0.0
        self.occupied_s = 0.0

    def add_frame(self, state: ZoneState, wall: float) -> None:
        self.frames += 1
        self.max_count = max(self.max_count, state.count)
        self.sum_count += state.count
        self.sum_coverage += state.coverage
        self.wall_end = wall

    def hold(self, state: ZoneState, dt: float) -> None:
        """Credit ``dt`` seconds of ``state``'s values (it held until the next frame)."""
        self.duration_s += dt
        self.count_s += state.count * dt
        self.coverage_s += state.coverage * dt
        if state.occupied:
            self.occupied_s += dt

    def sample(self) -> OccupancySample:
        if self.duration_s > 0:
            mean_count = self.count_s / self.duration_s
            mean_coverage = self.coverage_s / self.duration_s
        else:  # a single frame: no duration to weight by
            mean_count = self.sum_count / self.frames
            mean_coverage = self.sum_coverage / self.frames
        return OccupancySample(
            camera=self.camera,
            zone=self.zone,
            wall_start=self.wall_start,
            wall_end=self.wall_end,
            t_start=self.t_start,
            duration_s=self.duration_s,
            frames=self.frames,
            mean_count=mean_count,
            max_count=self.max_count,
            occupied_s=self.occupied_s,
            mean_coverage=mean_coverage,
        )


class OccupancyAggregator:
    """Folds ``ZoneState`` values into ``OccupancySample`` values, one per interval.

    ``interval_s`` is the bucket length in source seconds (buckets start at multiples of
    it); a gap longer than ``max_gap_s`` between two frames of a zone (a stalled camera)
    is not credited to either. A source clock that goes backwards (a looping file) closes
    the current bucket.

    >>> agg = OccupancyAggregator(interval_s=60)
    >>> agg.add(ZoneState("cam", "door", 0.0, 1, 0.1, True, 0.0), wall=1000.0)
    []
    >>> [s.frames for s in agg.add(ZoneState("cam", "door", 61.0, 0, 0.0, False, None), 1061.0)]
    [1]
    """

    def __init__(self, interval_s: float, max_gap_s: float = 5.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if max_gap_s <= 0:
            raise ValueError(f"max_gap_s must be > 0, got {max_gap_s}")
        self.interval_s = interval_s
        self.max_gap_s = max_gap_s
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._previous: dict[tuple[str, str], ZoneState] = {}
        self._last_t: dict[str, float] = {}

    def add(self, state: ZoneState, wall: float) -> list[OccupancySample]:
        """Add one frame's state of one zone (``wall`` in epoch seconds); return the
        samples of the intervals this closed (usually none, at most one)."""
        key = (state.camera, state.zone)
        index = math.floor(state.t / self.interval_s)
        done: list[OccupancySample] = []
        bucket = self._buckets.get(key)
        previous = self._previous.get(key)
        if bucket is not None and previous is not None:
            dt = state.t - previous.t
            if 0 < dt <= self.max_gap_s:
                bucket.hold(previous, dt)
            if dt < 0 or index != bucket.index:
                done.append(bucket.sample())
                bucket = None
        if bucket is None:
            bucket = _Bucket(state, index, wall)
            self._buckets[key] = bucket
        bucket.add_frame(state, wall)
        self._previous[key] = state
        self._last_t[state.camera] = state.t
        return done

    def flush(self) -> list[OccupancySample]:
        """The samples of every open interval (at a clean stop); the aggregator is reset."""
        done = [bucket.sample() for bucket in self._buckets.values()]
        self._buckets.clear()
        self._previous.clear()
        return done

    def last_t(self) -> dict[str, float]:
        """Each camera's latest source time seen, e.g. to close visits at a clean stop."""
        return dict(self._last_t)
