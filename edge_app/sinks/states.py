"""Which zone states are due for publishing: on change, throttled, and refreshed.

Thread-safe: the pipeline's thread ``offer``s every frame's states (only the newest per
zone is kept, so memory is bounded by the number of zones), the MQTT thread asks ``due``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge_app.core.domain import ZoneState
from edge_app.sinks.topics import state_change

Key = tuple[str, str]
Change = tuple[int, bool, float]


@dataclass(frozen=True, slots=True)
class DueState:
    """A zone state to publish now; ``wall`` is when its frame reached the sink;
    ``since_wall`` the UTC time the zone's current occupancy began (None when free)."""

    camera: str
    zone: str
    state: ZoneState
    wall: datetime
    since_wall: datetime | None = None


class StateBoard:
    """The newest state of each zone and what was last published for it.

    A state is due when its count or occupied flag changed (at once), when only its
    coverage changed (at most every ``min_interval_s`` seconds), or when nothing changed
    for ``refresh_s`` seconds (so dwell and timestamp stay fresh). ``reset`` (on every
    new MQTT session) makes every known zone due again.

    The UTC time an occupancy began is worked out once, from its first state, and kept
    for the whole occupancy: the wall time each frame reaches the sink jitters, and
    ``occupied_since`` must not change with it.

    >>> board = StateBoard(min_interval_s=1.0, refresh_s=30.0)
    >>> board.offer([ZoneState("cam", "door", 0.0, 1, 0.2, True, 0.0)], datetime.now())
    >>> [d.zone for d in board.due(now=100.0)]
    ['door']
    >>> board.due(now=100.5)
    []
    """

    def __init__(self, min_interval_s: float, refresh_s: float) -> None:
        self.min_interval_s = min_interval_s
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._latest: dict[Key, tuple[ZoneState, datetime]] = {}
        self._since: dict[Key, tuple[float, datetime]] = {}  # occupied_since: t, then UTC
        self._zones: frozenset[Key] | None = None  # None: every zone is welcome
        self._dirty: set[Key] = set()
        self._shown: dict[Key, tuple[Change, float]] = {}

    def offer(self, states: Sequence[ZoneState], wall: datetime) -> None:
        """Keep these as the newest states of their zones (any thread, never blocks long)."""
        if not states:
            return
        with self._lock:
            for state in states:
                key = (state.camera, state.zone)
                if self._zones is not None and key not in self._zones:
                    continue  # a zone removed by a reload, from a frame still in flight
                self._latest[key] = (state, wall)
                self._dirty.add(key)
                since = state.occupied_since if state.occupied else None
                if since is None:
                    self._since.pop(key, None)
                elif key not in self._since or self._since[key][0] != since:
                    began = wall - timedelta(seconds=max(0.0, state.t - since))
                    self._since[key] = (since, began)

    def keep_only(self, zones: frozenset[Key]) -> None:
        """Forget every zone but ``zones`` (a reload removed them) and take no states of
        others from now on, so a removed zone is never published again."""
        with self._lock:
            self._zones = zones
            for table in (self._latest, self._shown, self._since):
                for key in [k for k in table if k not in zones]:
                    del table[key]
            self._dirty &= zones

    def reset(self) -> None:
        """Forget what was published: every known zone is due again."""
        with self._lock:
            self._shown.clear()
            self._dirty.update(self._latest)

    def due(self, now: float) -> list[DueState]:
        """The states to publish at monotonic time ``now``; they count as published."""
        result: list[DueState] = []
        with self._lock:
            if not self._dirty:
                return result
            dirty, self._dirty = self._dirty, set()
            for key in dirty:
                state, wall = self._latest[key]
                change = state_change(state)
                shown = self._shown.get(key)
                if shown is not None:
                    shown_change, shown_at = shown
                    if change == shown_change and now - shown_at < self.refresh_s:
                        continue
                    coverage_only = change[:2] == shown_change[:2]
                    if coverage_only and now - shown_at < self.min_interval_s:
                        self._dirty.add(key)  # publish it a little later
                        continue
                self._shown[key] = (change, now)
                began = self._since.get(key)
                since_wall = None if began is None else began[1]
                result.append(DueState(key[0], key[1], state, wall, since_wall))
        return result
