"""How many people a blob holds: an online perspective model of one person's size.

For an upright person on a flat floor, the image height of the person (and the square
root of their area) is linear in the image row of their feet. ``PersonSize`` fits both
lines, per camera, from blobs that look like one whole isolated person, and then:

- joins stacked fragments of one person (a torso and shoes split by a mask gap);
- splits a bigger blob into the people it holds, by its area in units of one person's
  expected area at that row, with a foot point each, spread along the blob's bottom.

Blobs are few per frame, so the per-blob work is plain Python on floats: at this size
it is several times cheaper than NumPy calls. Everything is in analysis-grid pixels.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_app.analytics.blobs import Blobs, FloatArray, People

STATE_VERSION = 2


class _LineFit:
    """Exponentially weighted least squares of ``v = a * y + b`` (``decay`` per sample).

    Re-solved by ``solve()`` after a batch of ``add``; evaluating is then ``a * y + b``.
    """

    __slots__ = ("a", "b", "floor", "sv", "sw", "sy", "syv", "syy")

    def __init__(self) -> None:
        self.sw = self.sy = self.sv = self.syy = self.syv = 0.0
        self.a = self.b = self.floor = 0.0

    def add(self, y: float, v: float, decay: float) -> None:
        self.sw = self.sw * decay + 1.0
        self.sy = self.sy * decay + y
        self.sv = self.sv * decay + v
        self.syy = self.syy * decay + y * y
        self.syv = self.syv * decay + y * v

    def solve(self) -> None:
        mean_v = self.sv / max(self.sw, 1e-9)
        denom = self.sw * self.syy - self.sy * self.sy
        if denom <= 1e-9 * max(self.sw, 1.0) ** 2:
            # All samples on (nearly) one row: no slope to learn yet.
            self.a, self.b = 0.0, mean_v
        else:
            self.a = (self.sw * self.syv - self.sy * self.sv) / denom
            self.b = (self.sv - self.a * self.sy) / self.sw
        # Never let extrapolation far from the sampled rows collapse the size.
        self.floor = 0.25 * mean_v

    def at(self, y: float) -> float:
        v = self.a * y + self.b
        return self.floor if self.floor > v else v  # max(v, floor), without the call

    def state(self) -> list[float]:
        return [self.sw, self.sy, self.sv, self.syy, self.syv]

    def restore(self, values: list[float]) -> None:
        self.sw, self.sy, self.sv, self.syy, self.syv = (float(v) for v in values)
        self.solve()


class PersonSize:
    """Online perspective model: the expected size of one person whose feet are at row y.

    Learns from blobs that look like one whole person: height/width within
    ``single_aspect``, not cut by the frame edge and, once the model is ready, within
    ``single_ratio`` of the expected area (so two people in single file do not inflate
    it). Until ``min_samples`` such blobs are seen, every blob counts as one person.

    ``memory``: number of samples that dominate the fit (older ones fade), so the model
    follows a camera that was moved without forgetting after one odd frame.
    ``split_at``: the fraction of a person's area beyond a whole number of people at which
    a blob counts one person more (0.5 rounds; higher is more cautious about splitting).
    ``join_height``: stacked blobs are joined when together they are at most this many
    expected person heights tall.
    """

    def __init__(
        self,
        single_aspect: tuple[float, float] = (1.6, 4.5),
        min_samples: int = 30,
        memory: float = 2000.0,
        max_people_per_blob: int = 12,
        single_ratio: tuple[float, float] = (0.6, 1.5),
        split_at: float = 0.65,
        join_height: float = 1.15,
    ) -> None:
        if not 0 < single_aspect[0] < single_aspect[1]:
            raise ValueError(
                f"single_aspect must be (low, high) with 0 < low < high, got {single_aspect}"
            )
        if not 0 < single_ratio[0] < 1 < single_ratio[1]:
            raise ValueError(f"single_ratio must be (low < 1 < high), got {single_ratio}")
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2, got {min_samples}")
        if memory <= 1:
            raise ValueError(f"memory must be > 1 sample, got {memory}")
        if not 0 < split_at < 1:
            raise ValueError(f"split_at must be in (0, 1), got {split_at}")
        if max_people_per_blob < 1:
            raise ValueError(f"max_people_per_blob must be >= 1, got {max_people_per_blob}")
        self.single_aspect = single_aspect
        self.single_ratio = single_ratio
        self.min_samples = min_samples
        self.decay = 1.0 - 1.0 / memory
        self.max_people_per_blob = max_people_per_blob
        self.split_at = split_at
        self.join_height = join_height
        self._side = _LineFit()
        self._height = _LineFit()
        self.samples = 0

    @property
    def ready(self) -> bool:
        return self.samples >= self.min_samples

    # --- the model --------------------------------------------------------------------

    def _area_at(self, foot_y: float) -> float:
        side = self._side.at(foot_y)
        return max(side * side, 1.0)

    def expected_area(self, foot_y: FloatArray) -> FloatArray:
        """Expected pixel area of one person with feet at rows ``foot_y``."""
        return np.array([self._area_at(y) for y in np.asarray(foot_y).tolist()], np.float64)

    def expected_height(self, foot_y: FloatArray) -> FloatArray:
        """Expected pixel height of one person with feet at rows ``foot_y``."""
        return np.array([self._height.at(y) for y in np.asarray(foot_y).tolist()], np.float64)

    def learn(self, blobs: Blobs, frame_height: int, frame_width: int | None = None) -> None:
        """Add the blobs that look like one whole, isolated person to the fit."""
        self._learn(blobs.rows(), frame_height, frame_width)

    def _learn(self, rows: list[list[float]], frame_h: int, frame_w: int | None) -> None:
        lo, hi = self.single_aspect
        r_lo, r_hi = self.single_ratio
        ready = self.ready
        # self._area_at(bottom) inlined below: the fit is only re-solved after the loop.
        a, b, floor = self._side.a, self._side.b, self._side.floor
        added = 0
        for x, y, w, h, area in rows:
            bottom = y + h
            # Blobs cut by the frame edge are not whole people.
            wide = w if w > 1.0 else 1.0  # max(w, 1.0), without the call
            if y <= 0 or bottom >= frame_h or not lo * wide <= h <= hi * wide:
                continue
            if frame_w is not None and (x <= 0 or x + w >= frame_w):
                continue
            if ready:
                side = a * bottom + b
                side = floor if floor > side else side
                expected = side * side
                if not r_lo <= area / (1.0 if expected < 1.0 else expected) <= r_hi:
                    continue
            self._side.add(bottom, math.sqrt(area), self.decay)
            self._height.add(bottom, h, self.decay)
            added += 1
        if added:
            self.samples += added
            self._side.solve()
            self._height.solve()

    # --- blobs to people --------------------------------------------------------------

    def ratio(self, blobs: Blobs) -> FloatArray:
        """Each blob's area in units of one person's expected area there."""
        return np.array(self._ratios(blobs.rows()), dtype=np.float64)

    def people_per_blob(self, blobs: Blobs) -> npt.NDArray[np.intp]:
        """How many people each blob holds (>= 1)."""
        return np.array(self._counts(blobs.rows()), dtype=np.intp)

    def _ratios(self, rows: list[list[float]]) -> list[float]:
        a, b, floor = self._side.a, self._side.b, self._side.floor
        out = []
        for r in rows:
            side = a * (r[1] + r[3]) + b
            side = side if side > floor else floor
            area = side * side
            out.append(r[4] / (area if area > 1.0 else 1.0))
        return out

    def _counts(self, rows: list[list[float]], ratios: list[float] | None = None) -> list[int]:
        if not self.ready:
            return [1] * len(rows)
        extra = 1.0 - self.split_at
        top = self.max_people_per_blob
        counts = []
        for r in self._ratios(rows) if ratios is None else ratios:
            n = int(r + extra)
            counts.append(1 if n < 1 else top if n > top else n)
        return counts

    def join_fragments(self, blobs: Blobs) -> Blobs:
        """Join blobs stacked above one another into one when together they are no taller
        than ``join_height`` people there (a torso and legs split by a mask gap)."""
        if not self.ready or len(blobs) < 2:
            return blobs
        return self._joined(blobs, blobs.rows())[0]

    def _joined(self, blobs: Blobs, rows: list[list[float]]) -> tuple[Blobs, list[list[float]]]:
        new_rows, outlines = self._joined_rows(rows, blobs.outlines)
        if new_rows is rows:
            return blobs, rows
        return Blobs._of_rows(new_rows, tuple(outlines)), new_rows

    def _joined_rows(
        self, rows: list[list[float]], outlines: Sequence[npt.NDArray[np.int32]]
    ) -> tuple[list[list[float]], Sequence[npt.NDArray[np.int32]]]:
        """``_joined`` on rows and outlines; the same ``rows`` object when nothing joins."""
        groups = self._join(rows)
        if groups is None:
            return rows, outlines
        new_rows = []
        for members in groups:
            if len(members) == 1:  # most blobs join nothing: the same box, as computed below
                x, y, w, h, area = rows[members[0]]
                new_rows.append([x, y, (x + w) - x, (y + h) - y, area])
                continue
            x0 = min(rows[k][0] for k in members)
            y0 = min(rows[k][1] for k in members)
            x1 = max(rows[k][0] + rows[k][2] for k in members)
            y1 = max(rows[k][1] + rows[k][3] for k in members)
            new_rows.append([x0, y0, x1 - x0, y1 - y0, sum(rows[k][4] for k in members)])
        new_outlines: list[npt.NDArray[np.int32]] = []
        if outlines:
            new_outlines = [
                outlines[members[0]]
                if len(members) == 1
                else np.concatenate([outlines[k] for k in members])
                for members in groups
            ]
        return new_rows, new_outlines

    def _join(self, rows: list[list[float]]) -> list[list[int]] | None:
        """Groups of blob indices to join (the lowest first), or None when none join."""
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in rows]
        owner = list(range(len(boxes)))
        changed = False
        # Lowest feet first: each lower blob absorbs the fragments sitting above it.
        by_bottom = sorted(range(len(boxes)), key=lambda k: -boxes[k][3])
        start = 0  # the first blob in by_bottom whose feet are not lower than blob i's
        for i in by_bottom:
            bi = boxes[i]
            while boxes[by_bottom[start]][3] > bi[3]:
                start += 1
            if owner[i] != i:
                continue
            limit = 0.0
            for j in by_bottom[start:]:
                bj = boxes[j]
                # Cheapest tests first: most pairs do not even overlap side by side.
                if j == i or owner[j] != j:
                    continue
                left = bi[0] if bi[0] > bj[0] else bj[0]
                right = bi[2] if bi[2] < bj[2] else bj[2]
                wi, wj = bi[2] - bi[0], bj[2] - bj[0]
                if right - left < 0.5 * (wi if wi < wj else wj):
                    continue
                top = bi[1] if bi[1] < bj[1] else bj[1]
                if not limit:
                    limit = self.join_height * self._height.at(bi[3])
                if bi[3] - top > limit:
                    continue
                bi[0], bi[1], bi[2] = min(bi[0], bj[0]), top, max(bi[2], bj[2])
                owner[j] = i
                changed = True
        if not changed:
            return None
        groups: dict[int, list[int]] = {}
        for k in by_bottom:
            root = owner[k]
            while owner[root] != root:
                root = owner[root]
            groups.setdefault(root, []).append(k)
        return [groups[k] for k in sorted(groups)]

    def split(self, blobs: Blobs) -> People:
        """One foot point per estimated person: spread along the bottom of each blob, or,
        when the blob's outline is known, where each person's share of it stands."""
        rows = blobs.rows()
        return self._split(rows, self._ratios(rows) if self.ready else None, blobs.outlines)

    def _split(
        self,
        rows: list[list[float]],
        ratios: list[float] | None,
        outlines: Sequence[npt.NDArray[np.int32]] = (),
    ) -> People:
        xs, ys, owner = self._split_lists(rows, ratios, outlines)
        return People(
            np.array(xs, dtype=np.float64),
            np.array(ys, dtype=np.float64),
            np.array(owner, dtype=np.intp),
        )

    def _split_lists(
        self,
        rows: list[list[float]],
        ratios: list[float] | None,
        outlines: Sequence[npt.NDArray[np.int32]] = (),
    ) -> tuple[list[float], list[float], list[int]]:
        """``_split`` as plain lists: foot x, foot y and the blob of each person."""
        xs: list[float] = []
        ys: list[float] = []
        owner: list[int] = []
        counts = self._counts(rows, ratios)
        ready, join = self.ready, self.join_height
        # self._height.at(y + h), inlined below.
        ha, hb, hfloor = self._height.a, self._height.b, self._height.floor
        for b, (row, n) in enumerate(zip(rows, counts, strict=True)):
            x, y, w, h = row[0], row[1], row[2], row[3]
            tall = False
            if outlines and n == 1 and ready:
                expected = ha * (y + h) + hb
                tall = h > join * (hfloor if hfloor > expected else expected)
            if outlines and (n > 1 or tall):
                # Several people, or something hanging below one (a bag, a pigeon at the
                # feet): each person's foot from the outline, not the box.
                if n == 1:
                    xs.append(x + 0.5 * w)
                    ys.append(_foot_row(outlines[b], int(x), int(w)))
                else:
                    feet = _feet_from_outline(outlines[b], int(x), int(w), n)
                    xs.extend(f[0] for f in feet)
                    ys.extend(f[1] for f in feet)
            elif n == 1:
                xs.append(x + 0.5 * w)
                ys.append(y + h)
            else:
                # The k-th person of an n-person blob stands at (k + 0.5) / n of its width.
                xs.extend(x + w * (k + 0.5) / n for k in range(n))
                ys.extend([y + h] * n)
            owner.extend([b] * n)
        return xs, ys, owner

    def analyse(
        self, blobs: Blobs, frame_height: int, frame_width: int
    ) -> tuple[Blobs, People, list[float]]:
        """Learn from this frame's blobs, join fragments and split into people, in one
        pass; returns the (joined) blobs, the people and each blob's area ratio."""
        rows = blobs.row_list()
        new_rows, outlines, xs, ys, owner, ratios = self.analyse_rows(
            rows, blobs.outlines, frame_height, frame_width
        )
        if new_rows is not rows:
            blobs = Blobs._of_rows(new_rows, tuple(outlines))
        people = People(
            np.array(xs, dtype=np.float64),
            np.array(ys, dtype=np.float64),
            np.array(owner, dtype=np.intp),
        )
        return blobs, people, ratios

    def analyse_rows(
        self,
        rows: list[list[float]],
        outlines: Sequence[npt.NDArray[np.int32]],
        frame_height: int,
        frame_width: int,
    ) -> tuple[
        list[list[float]],
        Sequence[npt.NDArray[np.int32]],
        list[float],
        list[float],
        list[int],
        list[float],
    ]:
        """``analyse`` on ``[x, y, w, h, area]`` rows (read only) and their outlines, as plain
        lists: the (joined) rows and outlines (the same objects when nothing joined), the
        people's foot x, foot y and blob, and each blob's area ratio."""
        self._learn(rows, frame_height, frame_width)
        if self.ready and len(rows) > 1:
            rows, outlines = self._joined_rows(rows, outlines)
        ratios = self._ratios(rows) if self.ready else []
        xs, ys, owner = self._split_lists(rows, ratios or None, outlines)
        return rows, outlines, xs, ys, owner, ratios

    # --- persistence ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The learned model as plain numbers (JSON-ready), to persist across restarts."""
        return {
            "version": STATE_VERSION,
            "side": self._side.state(),
            "height": self._height.state(),
            "samples": self.samples,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``state()`` returned; raises ``ValueError`` on anything else."""
        try:
            version = int(state["version"])
            side = [float(v) for v in state["side"]]
            height = [float(v) for v in state["height"]]
            samples = int(state["samples"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a person-size state: {exc!r}") from exc
        if version != STATE_VERSION:
            raise ValueError(f"person-size state version {version}, expected {STATE_VERSION}")
        if len(side) != 5 or len(height) != 5 or samples < 0:
            raise ValueError("not a person-size state: wrong number of values")
        if not all(math.isfinite(v) for v in side + height):
            raise ValueError("not a person-size state: values must be finite")
        self._side.restore(side)
        self._height.restore(height)
        self.samples = samples


FOOT_QUANTILE = 0.8
"""A person's foot row in a shared blob: the row that this share of its columns reach
down to. The feet are the lowest thing across a good part of a person's width; a narrow
protrusion (a bag, a pigeon) is not."""


def _feet_from_outline(
    points: npt.NDArray[np.int32], x0: int, width: int, n: int
) -> list[tuple[float, float]]:
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
        else:  # an empty run (narrower than n columns) takes its first column's
            w, m = height[lo], height[lo] * lo
        centre = m / w if w else 0.5 * (lo + hi - 1)
        reach = sorted([v for v in bottom[lo:hi] if v >= 0])
        foot = _quantile(reach, FOOT_QUANTILE) + 1.0 if reach else max(bottom) + 1.0
        feet.append((x0 + centre + 0.5, foot))
    return feet


def _foot_row(points: npt.NDArray[np.int32], x0: int, width: int) -> float:
    """The foot row of one person from its outline: the row ``FOOT_QUANTILE`` of its
    columns reach (the same rule as ``_feet_from_outline``, for a single run)."""
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
