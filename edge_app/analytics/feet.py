"""Where the people in a blob stand: foot points from the blob's outline.

``PersonSize`` (``edge_app.analytics.personsize``) estimates how many people a blob holds;
when the blob's outer contour is known, these place each one's feet by it rather than by
the blob's box: the columns are cut into runs of equal area, one per person, and a foot
stands on the row that most of its run's columns reach (a narrow protrusion below a person
is no foot). Plain Python on a few hundred points; everything is in analysis-grid pixels.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from edge_app.analytics.blobs import Outline
from edge_app.core.domain import Point

FOOT_QUANTILE = 0.8
"""A person's foot row in a shared blob: the row that this share of its columns reach
down to. The feet are the lowest thing across a good part of a person's width; a narrow
protrusion (a bag, a pigeon) is not."""


def feet_from_outline(points: Outline, x0: int, width: int, n: int) -> list[Point]:
    """``n`` foot points for one blob from its outer contour ``(K, 2)`` points.

    Each column's extent (top to bottom) comes from the contour; the blob's columns are
    cut into ``n`` runs of equal area (at least one column each); each person stands at
    the area centre of a run, on the row ``FOOT_QUANTILE`` of its columns reach.
    """
    # Plain Python: a contour has a few hundred points and a blob a few dozen columns, where
    # NumPy calls (ufunc.at above all) cost more than the work.
    bottom = [-1] * width
    top = [1 << 30] * width
    for x, y in zip((points[:, 0] - x0).tolist(), points[:, 1].tolist(), strict=True):
        if y > bottom[x]:
            bottom[x] = y
        if y < top[x]:
            top[x] = y
    # Heights are whole numbers, so every sum below is exact whatever the order of adding.
    height = [float(b - t + 1) if b >= 0 else 0.0 for b, t in zip(bottom, top, strict=True)]
    starts = [0]
    if n > 1:
        cum = list(accumulate(height))
        total = cum[-1]
        # Run k ends at or after the column where k n-ths of the area are reached, and at
        # least one column after run k - 1.
        ends = []
        reached = 0
        for k in range(1, n):
            cut = bisect_right(cum, total * k / n)
            reached = max(reached, cut - k)
            ends.append(reached + k)
        if ends[-1] >= width:
            ends = [round(k * width / n) for k in range(1, n)]  # too narrow: equal widths
        starts.extend(ends)
    bounds = [*starts, width]
    feet = []
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        if lo < hi:
            w = sum(height[lo:hi])
            m = sum([height[c] * c for c in range(lo, hi)])
        else:  # an empty run (a blob narrower than n columns) takes its nearest column's
            c = min(lo, width - 1)
            w, m = height[c], height[c] * c
        centre = m / w if w else 0.5 * (lo + hi - 1)
        reach = sorted([v for v in bottom[lo:hi] if v >= 0])
        foot = _quantile(reach, FOOT_QUANTILE) + 1.0 if reach else max(bottom) + 1.0
        feet.append((x0 + centre + 0.5, foot))
    return feet


def foot_row(points: Outline, x0: int, width: int) -> float:
    """The foot row of one person from its outline: the row ``FOOT_QUANTILE`` of its
    columns reach (the rule of ``feet_from_outline``, for one person)."""
    bottom = [-1] * width
    for x, y in zip((points[:, 0] - x0).tolist(), points[:, 1].tolist(), strict=True):
        if y > bottom[x]:
            bottom[x] = y
    reach = sorted([v for v in bottom if v >= 0])
    return _quantile(reach, FOOT_QUANTILE) + 1.0


def _quantile(ordered: list[int], q: float) -> float:
    """Linearly interpolated quantile ``q`` of an ascending, non-empty list."""
    pos = q * (len(ordered) - 1)
    i = int(pos)
    if i + 1 >= len(ordered):
        return float(ordered[-1])
    return ordered[i] + (pos - i) * (ordered[i + 1] - ordered[i])
