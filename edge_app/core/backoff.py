"""Retry delays: exponential backoff with jitter, one policy for every retry loop.

The MQTT publisher's reconnects, the cameras' reconnects and the store writer's retries of
a refused commit all wait ``Backoff.delay(attempt, rand)`` seconds between attempts.
"""

from __future__ import annotations

from dataclasses import dataclass

_MAX_DOUBLINGS = 60
"""The exponent stops growing here: the ceiling reaches ``max_s`` long before ``2**60``."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays that start at ``min_s`` seconds, double per failed attempt up to ``max_s``,
    each drawn from the upper half of that ceiling ("equal jitter"), so a fleet of daemons
    after a broker restart, or the cameras behind one failed switch, do not retry in
    lockstep. Every delay lies in ``[min_s / 2, max_s]``.

    The policy is immutable and may be shared: each user counts its own failed attempts
    (``attempt`` 0 is the first retry) and starts again at 0 after a success. ``rand`` is
    uniform in ``[0, 1)``: pass ``random.random()``, or a seeded ``random.Random``'s in tests.

    >>> import random
    >>> backoff = Backoff(1.0, 8.0)
    >>> rng = random.Random(0)
    >>> [round(backoff.delay(attempt, rng.random()), 2) for attempt in range(6)]
    [0.92, 1.76, 2.84, 5.04, 6.05, 5.62]
    >>> backoff.delay(0, 0.0), backoff.delay(3, 0.0), backoff.delay(100, 0.5)
    (0.5, 4.0, 6.0)
    """

    min_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError(f"need 0 < min_s <= max_s, got {self.min_s} and {self.max_s}")

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait before retry ``attempt + 1``: between half and all of the ceiling
        ``min(max_s, min_s * 2**attempt)``; ``rand`` uniform in ``[0, 1)`` picks where."""
        ceiling = min(self.max_s, self.min_s * 2.0 ** min(max(attempt, 0), _MAX_DOUBLINGS))
        return ceiling / 2 + ceiling / 2 * rand
