"""The one backoff of every retry loop: reconnects of the publisher and the cameras, and
the store writer's retries of a refused commit."""

from __future__ import annotations

import doctest
import random

import pytest

import edge_app.core.backoff
from edge_app.core.backoff import Backoff


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.0, 0.5),  # the first retry: between half and all of min_s
        (0, 0.5, 0.75),
        (1, 0.0, 1.0),  # then the ceiling doubles
        (3, 0.5, 6.0),
        (5, 0.999999, 32.0 * 1.9999995 / 2),
        (6, 0.999999, 60.0 * 1.9999995 / 2),  # the cap holds with jitter too
        (6, 0.0, 30.0),
        (10_000, 0.5, 45.0),  # no overflow however long it has been down
        (-1, 0.0, 0.5),  # a negative count is the first retry
    ],
)
def test_delay_table(attempt: int, rand: float, expected: float) -> None:
    assert Backoff(1.0, 60.0).delay(attempt, rand) == pytest.approx(expected)


@pytest.mark.parametrize(("min_s", "max_s"), [(0.5, 10.0), (1.0, 60.0), (0.1, 0.5), (2.0, 2.0)])
def test_delays_grow_until_the_cap_and_stay_within_bounds(min_s: float, max_s: float) -> None:
    backoff = Backoff(min_s, max_s)
    rng = random.Random(7)
    delays = [backoff.delay(attempt, rng.random()) for attempt in range(40)]
    assert all(min_s / 2 <= d <= max_s for d in delays)
    capped = next(n for n in range(40) if min_s * 2**n > max_s)  # the first capped ceiling
    growing = delays[:capped]
    assert growing == sorted(growing)  # each retry waits at least as long as the one before
    assert all(d >= max_s / 2 for d in delays[capped:])  # ... then it stays near the cap
    assert len(set(delays[capped:])) > 1  # jittered, not one fixed delay


@pytest.mark.parametrize(("min_s", "max_s"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_nonsense_bounds_are_refused(min_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match=r"need 0 < min_s <= max_s"):
        Backoff(min_s, max_s)


def test_the_docstring_example_runs() -> None:
    result = doctest.testmod(edge_app.core.backoff)
    assert result.attempted > 0 and result.failed == 0
