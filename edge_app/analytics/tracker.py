"""A small foot-point tracker: gives each person a track id across frames.

Greedy nearest-neighbour association with a speed gate and constant-velocity prediction.
A track that is not seen keeps its identity for ``max_gap_s`` seconds, so a person hidden
behind a shelf comes back as the same person. A person merged into a neighbour's blob can
be *carried* (``carry``): the analyzer saw a blob big enough to hold them where the track
predicts them, so the track stays alive and counted at that place for up to
``max_merge_s``. Positions are analysis-grid pixels; times are source-clock seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_COAST_S = 0.5
"""Longest constant-velocity extrapolation: people stop at shelves and in queues."""

SMALL_MATCH = 400
"""Up to this many (track, detection) pairs, matching runs in plain Python (cheaper than
the NumPy distance matrix at that size; both give the same pairs in the same order)."""


@dataclass(slots=True)
class Track:
    """One tracked person. Mutable: owned and updated by ``Tracker`` only.

    ``last_t`` is when a detection was last matched; ``pos_t`` when the position was last
    set (a detection or a carry); ``carried_t`` when it was last carried in a merged blob.
    """

    id: int
    x: float
    y: float
    vx: float
    vy: float
    first_t: float
    last_t: float
    pos_t: float
    hits: int = 1
    carried_t: float = float("-inf")

    def predict(self, t: float) -> tuple[float, float]:
        dt = min(t - self.pos_t, MAX_COAST_S)
        return self.x + self.vx * dt, self.y + self.vy * dt

    @property
    def alive_t(self) -> float:
        """The last time there was evidence of this person (seen or carried)."""
        return max(self.last_t, self.carried_t)


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """Result of one ``Tracker.update``.

    ``assigned[i]`` is the track id given to detection ``i``; ``ended`` are the tracks
    dropped in this update (no evidence for longer than ``max_gap_s``).
    """

    assigned: npt.NDArray[np.int64]
    ended: tuple[Track, ...]


class Tracker:
    """Associates foot points frame to frame.

    ``max_speed_px_s``: fastest plausible movement in pixels per second (gate radius grows
    with the time since a track was last placed); ``min_gate_px``: gate radius for
    back-to-back frames, covering mask jitter (0 would require exact positions);
    ``max_gap_s``: how long a track without evidence is kept (0 drops it at once);
    ``max_merge_s``: how long after its last own detection a track may still be carried
    inside a merged blob (0 never carries).
    """

    def __init__(
        self,
        max_speed_px_s: float,
        min_gate_px: float,
        max_gap_s: float,
        max_merge_s: float = 0.0,
    ) -> None:
        if max_speed_px_s <= 0:
            raise ValueError(f"max_speed_px_s must be > 0, got {max_speed_px_s}")
        if min_gate_px < 0:
            raise ValueError(f"min_gate_px must be >= 0, got {min_gate_px}")
        if max_gap_s < 0:
            raise ValueError(f"max_gap_s must be >= 0, got {max_gap_s}")
        if max_merge_s < 0:
            raise ValueError(f"max_merge_s must be >= 0, got {max_merge_s}")
        self.max_speed_px_s = max_speed_px_s
        self.min_gate_px = min_gate_px
        self.max_gap_s = max_gap_s
        self.max_merge_s = max_merge_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, xs: FloatArray, ys: FloatArray, t: float) -> TrackUpdate:
        """Associate detections at ``(xs[i], ys[i])`` seen at time ``t``."""
        assigned, ended = self.update_points(xs.tolist(), ys.tolist(), t, xs, ys)
        return TrackUpdate(np.array(assigned, dtype=np.int64), ended)

    def update_points(
        self,
        px: list[float],
        py: list[float],
        t: float,
        xs: FloatArray | None = None,
        ys: FloatArray | None = None,
    ) -> tuple[list[int], tuple[Track, ...]]:
        """``update`` of detections given as plain floats: the track id of each detection
        and the tracks that ended. ``xs, ys`` are the same points as arrays, if at hand."""
        assigned = [0] * len(px)
        if self.tracks and px:
            tracks = list(self.tracks.values())
            if len(tracks) * len(px) <= SMALL_MATCH:
                pairs = self._pairs_small(tracks, px, py, t)
            else:
                if xs is None or ys is None:
                    xs, ys = np.array(px, dtype=np.float64), np.array(py, dtype=np.float64)
                pairs = self._pairs(tracks, xs, ys, t)
            # Greedy, nearest pairs first; done once every track or every detection has
            # its match (the pairs left would all be skipped).
            used: set[int] = set()
            left = min(len(tracks), len(px))
            for a, b in pairs:
                if a in used or assigned[b]:
                    continue
                used.add(a)
                tr = tracks[a]
                self._move(tr, px[b], py[b], t)
                assigned[b] = tr.id
                left -= 1
                if not left:
                    break
        for b, tid in enumerate(assigned):
            if tid == 0:
                tr = Track(self._next_id, px[b], py[b], 0.0, 0.0, t, t, t)
                self._next_id += 1
                self.tracks[tr.id] = tr
                assigned[b] = tr.id
        gap = self.max_gap_s
        # t - tr.alive_t > gap, with the max() of alive_t inlined.
        ended = tuple(
            tr
            for tr in self.tracks.values()
            if t - (tr.carried_t if tr.carried_t > tr.last_t else tr.last_t) > gap
        )
        for tr in ended:
            del self.tracks[tr.id]
        return assigned, ended

    def _pairs(
        self, tracks: list[Track], xs: FloatArray, ys: FloatArray, t: float
    ) -> list[tuple[int, int]]:
        """(track, detection) index pairs within the track's gate, nearest first (ties in
        track, then detection order)."""
        # (x, y, gate) per track: predicted place, and how far it may have gone since.
        pred = np.array(
            [
                (*tr.predict(t), self.min_gate_px + self.max_speed_px_s * (t - tr.pos_t))
                for tr in tracks
            ]
        )
        dx = pred[:, 0:1] - xs
        dy = pred[:, 1:2] - ys
        d2 = dx * dx + dy * dy
        ti, di = np.nonzero(d2 <= pred[:, 2:3] * pred[:, 2:3])
        order = np.argsort(d2[ti, di], kind="stable")
        return list(zip(ti[order].tolist(), di[order].tolist(), strict=True))

    def _pairs_small(
        self, tracks: list[Track], px: list[float], py: list[float], t: float
    ) -> list[tuple[int, int]]:
        """``_pairs`` in plain Python, cheaper for a few tracks and detections; the same
        arithmetic, so the same pairs in the same order."""
        points = list(zip(px, py, strict=True))
        found: list[tuple[float, int, int]] = []
        min_gate, speed = self.min_gate_px, self.max_speed_px_s
        for a, tr in enumerate(tracks):
            since = t - tr.pos_t
            dt = since if since < MAX_COAST_S else MAX_COAST_S  # Track.predict, inlined
            x = tr.x + tr.vx * dt
            y = tr.y + tr.vy * dt
            gate = min_gate + speed * since
            gate2 = gate * gate
            for b, (qx, qy) in enumerate(points):
                dx = x - qx
                dy = y - qy
                d2 = dx * dx + dy * dy
                if d2 <= gate2:
                    found.append((d2, a, b))
        found.sort()  # by distance, then (track, detection): a stable sort by distance
        return [(a, b) for _, a, b in found]

    def carriable(
        self, t: float, exclude: npt.NDArray[np.int64] | Sequence[int], min_seen_s: float
    ) -> list[Track]:
        """Tracks not in ``exclude`` that may be carried at ``t``: seen on their own for at
        least ``min_seen_s`` (and twice) and last seen no longer than ``max_merge_s`` ago."""
        skip = set(exclude.tolist() if isinstance(exclude, np.ndarray) else exclude)
        return [
            tr
            for tr in self.tracks.values()
            if tr.id not in skip
            and tr.hits >= 2
            and tr.last_t - tr.first_t >= min_seen_s
            and t - tr.last_t <= self.max_merge_s
        ]

    def carry(self, track_id: int, x: float, y: float, t: float) -> None:
        """Keep a merged person's track alive at ``(x, y)``, time ``t``."""
        tr = self.tracks[track_id]
        tr.x, tr.y, tr.pos_t, tr.carried_t = x, y, t, t

    def end_all(self) -> tuple[Track, ...]:
        """Drop every track (the stream ended); returns them."""
        ended = tuple(self.tracks.values())
        self.tracks.clear()
        return ended

    @staticmethod
    def _move(tr: Track, x: float, y: float, t: float) -> None:
        dt = t - tr.pos_t
        if dt > 0:
            # Smoothed velocity: a jittery mask must not fling the prediction around.
            alpha = 0.5
            tr.vx = (1 - alpha) * tr.vx + alpha * (x - tr.x) / dt
            tr.vy = (1 - alpha) * tr.vy + alpha * (y - tr.y) / dt
        tr.x, tr.y, tr.last_t, tr.pos_t = x, y, t, t
        tr.hits += 1
