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

from edge_app.core.domain import Point

MAX_COAST_S = 0.5
"""Longest constant-velocity extrapolation: people stop at shelves and in queues."""


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

    assigned: tuple[int, ...]
    ended: tuple[Track, ...]


class Tracker:
    """Associates foot points frame to frame.

    ``max_speed_px_s``: fastest plausible movement in pixels per second (gate radius grows
    with the time since a track was last placed); ``min_gate_px``: gate radius for
    back-to-back frames, covering mask jitter (0 would require exact positions);
    ``max_gap_s``: how long a track without evidence is kept (0 drops it at once);
    ``max_merge_s``: how long after its last own detection a track may still be carried
    inside a merged blob (0 never carries); ``velocity_smoothing``: the share of a track's
    previous velocity kept when a detection updates it, so a jittery mask does not fling
    the prediction around (0 takes the last step alone as the velocity).

    Matching compares every track with every detection in plain Python, 0.1-0.25 us per
    pair on a 2-core x86-64: about 25 us per frame for the eight people of a busy shop
    camera, less than NumPy's fixed cost per call would add at that size; a crowd of a
    hundred people takes about a millisecond per frame.

    >>> tracker = Tracker(max_speed_px_s=50.0, min_gate_px=3.0, max_gap_s=1.0)
    >>> tracker.update([(10.0, 40.0), (60.0, 40.0)], t=0.0).assigned
    (1, 2)
    >>> tracker.update([(62.0, 40.0), (11.0, 40.0)], t=0.1).assigned
    (2, 1)
    >>> [track.id for track in tracker.update([], t=1.5).ended]
    [1, 2]
    """

    def __init__(
        self,
        max_speed_px_s: float,
        min_gate_px: float,
        max_gap_s: float,
        max_merge_s: float = 0.0,
        velocity_smoothing: float = 0.5,
    ) -> None:
        if max_speed_px_s <= 0:
            raise ValueError(f"max_speed_px_s must be > 0, got {max_speed_px_s}")
        if min_gate_px < 0:
            raise ValueError(f"min_gate_px must be >= 0, got {min_gate_px}")
        if max_gap_s < 0:
            raise ValueError(f"max_gap_s must be >= 0, got {max_gap_s}")
        if max_merge_s < 0:
            raise ValueError(f"max_merge_s must be >= 0, got {max_merge_s}")
        if not 0 <= velocity_smoothing < 1:
            raise ValueError(f"velocity_smoothing must be in [0, 1), got {velocity_smoothing}")
        self.max_speed_px_s = max_speed_px_s
        self.min_gate_px = min_gate_px
        self.max_gap_s = max_gap_s
        self.max_merge_s = max_merge_s
        self.velocity_smoothing = velocity_smoothing
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, points: Sequence[Point], t: float) -> TrackUpdate:
        """Associate detections at ``points`` (``(x, y)`` pixels, any number, none
        included) seen at time ``t`` (seconds): greedy, nearest pairs first, each within
        the gate of its track. Unmatched detections start new tracks; tracks without
        evidence for longer than ``max_gap_s`` end."""
        assigned = [0] * len(points)
        tracks = list(self.tracks.values())
        used: set[int] = set()
        matches = min(len(tracks), len(points))
        for _, a, b in self._pairs(tracks, points, t):
            if a in used or assigned[b]:
                continue
            used.add(a)
            self._move(tracks[a], points[b], t)
            assigned[b] = tracks[a].id
            if len(used) == matches:
                break  # every track or every detection has its match
        for b, (x, y) in enumerate(points):
            if not assigned[b]:
                track = Track(self._next_id, x, y, 0.0, 0.0, t, t, t)
                self._next_id += 1
                self.tracks[track.id] = track
                assigned[b] = track.id
        ended = tuple(tr for tr in self.tracks.values() if t - tr.alive_t > self.max_gap_s)
        for tr in ended:
            del self.tracks[tr.id]
        return TrackUpdate(tuple(assigned), ended)

    def _pairs(
        self, tracks: list[Track], points: Sequence[Point], t: float
    ) -> list[tuple[float, int, int]]:
        """``(squared distance, track index, detection index)`` of every detection within
        a track's gate, nearest first (ties in track, then detection order)."""
        found: list[tuple[float, int, int]] = []
        for a, tr in enumerate(tracks):
            x, y = tr.predict(t)
            # How far it may have gone since it was last placed.
            gate = self.min_gate_px + self.max_speed_px_s * (t - tr.pos_t)
            gate2 = gate * gate
            for b, (px, py) in enumerate(points):
                dx, dy = x - px, y - py
                d2 = dx * dx + dy * dy
                if d2 <= gate2:
                    found.append((d2, a, b))
        found.sort()
        return found

    def carriable(self, t: float, exclude: Sequence[int], min_seen_s: float) -> list[Track]:
        """Tracks not in ``exclude`` that may be carried at ``t``: seen on their own for at
        least ``min_seen_s`` (and twice) and last seen no longer than ``max_merge_s`` ago."""
        skip = set(exclude)
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

    def _move(self, tr: Track, point: Point, t: float) -> None:
        x, y = point
        dt = t - tr.pos_t
        if dt > 0:
            keep = self.velocity_smoothing
            tr.vx = keep * tr.vx + (1 - keep) * (x - tr.x) / dt
            tr.vy = keep * tr.vy + (1 - keep) * (y - tr.y) / dt
        tr.x, tr.y, tr.last_t, tr.pos_t = x, y, t, t
        tr.hits += 1
