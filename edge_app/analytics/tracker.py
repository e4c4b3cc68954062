"""A small foot-point tracker: gives each person a track id across frames.

Greedy nearest-neighbour association with a speed gate and constant-velocity prediction.
A track that is not seen keeps its identity for ``max_gap_s`` seconds, so a person hidden
behind a shelf, or merged into a neighbour's blob for a moment, comes back as the same
person. Positions are analysis-grid pixels; times are source-clock seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(slots=True)
class Track:
    """One tracked person. Mutable: owned and updated by ``Tracker`` only."""

    id: int
    x: float
    y: float
    vx: float
    vy: float
    first_t: float
    last_t: float
    hits: int = 1

    def predict(self, t: float, max_coast_s: float) -> tuple[float, float]:
        # Coasting at constant velocity, but not for long: people stop at shelves.
        dt = min(t - self.last_t, max_coast_s)
        return self.x + self.vx * dt, self.y + self.vy * dt


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """Result of one ``Tracker.update``.

    ``assigned[i]`` is the track id given to detection ``i``; ``ended`` are the tracks
    dropped in this update (unseen for longer than ``max_gap_s``).
    """

    assigned: npt.NDArray[np.int64]
    ended: tuple[Track, ...]


class Tracker:
    """Associates foot points frame to frame.

    ``max_speed_px_s``: fastest plausible movement in pixels per second (gate radius grows
    with the time since a track was last seen); ``min_gate_px``: gate radius for
    back-to-back frames, covering mask jitter (0 would require exact positions);
    ``max_gap_s``: how long an unseen track is kept (0 drops it at once).
    """

    def __init__(self, max_speed_px_s: float, min_gate_px: float, max_gap_s: float) -> None:
        if max_speed_px_s <= 0:
            raise ValueError(f"max_speed_px_s must be > 0, got {max_speed_px_s}")
        if min_gate_px < 0:
            raise ValueError(f"min_gate_px must be >= 0, got {min_gate_px}")
        if max_gap_s < 0:
            raise ValueError(f"max_gap_s must be >= 0, got {max_gap_s}")
        self.max_speed_px_s = max_speed_px_s
        self.min_gate_px = min_gate_px
        self.max_gap_s = max_gap_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, xs: FloatArray, ys: FloatArray, t: float) -> TrackUpdate:
        """Associate detections at ``(xs[i], ys[i])`` seen at time ``t``."""
        n = xs.shape[0]
        assigned = np.zeros(n, dtype=np.int64)
        tracks = list(self.tracks.values())
        if tracks and n:
            pred = np.array([tr.predict(t, 0.5) for tr in tracks], dtype=np.float64)
            gaps = np.array([t - tr.last_t for tr in tracks], dtype=np.float64)
            gate = self.min_gate_px + self.max_speed_px_s * gaps
            d = np.hypot(pred[:, 0:1] - xs[None, :], pred[:, 1:2] - ys[None, :])
            ok = d <= gate[:, None]
            if ok.any():
                ti, di = np.nonzero(ok)
                order = np.argsort(d[ti, di], kind="stable")
                used_t: set[int] = set()
                for k in order:
                    a, b = int(ti[k]), int(di[k])
                    if a in used_t or assigned[b]:
                        continue
                    used_t.add(a)
                    tr = tracks[a]
                    self._move(tr, float(xs[b]), float(ys[b]), t)
                    assigned[b] = tr.id
        for b in np.flatnonzero(assigned == 0).tolist():
            tr = Track(self._next_id, float(xs[b]), float(ys[b]), 0.0, 0.0, t, t)
            self._next_id += 1
            self.tracks[tr.id] = tr
            assigned[b] = tr.id
        ended = tuple(tr for tr in self.tracks.values() if t - tr.last_t > self.max_gap_s)
        for tr in ended:
            del self.tracks[tr.id]
        return TrackUpdate(assigned, ended)

    def end_all(self) -> tuple[Track, ...]:
        """Drop every track (the stream ended); returns them."""
        ended = tuple(self.tracks.values())
        self.tracks.clear()
        return ended

    @staticmethod
    def _move(tr: Track, x: float, y: float, t: float) -> None:
        dt = t - tr.last_t
        if dt > 0:
            # Smoothed velocity: a jittery mask must not fling the prediction around.
            alpha = 0.5
            tr.vx = (1 - alpha) * tr.vx + alpha * (x - tr.x) / dt
            tr.vy = (1 - alpha) * tr.vy + alpha * (y - tr.y) / dt
        tr.x, tr.y, tr.last_t = x, y, t
        tr.hits += 1
