"""Reconnect delays: exponential backoff with jitter."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``min_s``, doubling per failure up to ``max_s``, each drawn uniformly from
    the upper half of that ceiling ("equal jitter"), so that a fleet of daemons does not
    reconnect in lockstep after a broker restart. ``reset`` after a success.

    >>> b = Backoff(1.0, 8.0, random.Random(0))
    >>> [0.5 <= b.next_delay() <= 1.0, 1.0 <= b.next_delay() <= 2.0]
    [True, True]
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {min_s} and {max_s}")
        self.min_s = min_s
        self.max_s = max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay (seconds) before the next attempt, after one more failure."""
        self.failures += 1
        # Cap the exponent: the ceiling reaches max_s long before 2**60.
        ceiling = min(self.max_s, self.min_s * 2 ** min(self.failures - 1, 60))
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
