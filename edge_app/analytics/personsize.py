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
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from edge_app.analytics.blobs import Blob
from edge_app.analytics.feet import feet_from_outline, foot_row
from edge_app.core.domain import Point

STATE_VERSION = 2


class Person(NamedTuple):
    """One estimated person: the ``foot`` point and the index of the ``blob`` they are in."""

    foot: Point
    blob: int


class _LineFit:
    """Exponentially weighted least squares of ``v = a * y + b`` (``decay`` per sample).

    Re-solved by ``solve()`` after a batch of ``add``; ``at(y)`` evaluates the line.
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
        return max(self.a * y + self.b, self.floor)

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

    >>> ps = PersonSize(min_samples=2)
    >>> ps.learn([Blob(10.0, 20.0, 10.0, 30.0, 300.0), Blob(50.0, 90.0, 20.0, 60.0, 1200.0)], 200)
    >>> round(ps.expected_area(150.0)), round(ps.expected_height(150.0))
    (1200, 60)
    >>> two = Blob(100.0, 90.0, 40.0, 60.0, 2400.0)  # twice that area, feet at row 150
    >>> blobs, people, ratios = ps.analyse([two], frame_height=200, frame_width=200)
    >>> [p.foot for p in people], [round(r, 2) for r in ratios]
    ([(110.0, 150.0), (130.0, 150.0)], [2.0])
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
        self._learned_boxes: list[tuple[float, float, float, float]] = []

    @property
    def ready(self) -> bool:
        return self.samples >= self.min_samples

    # --- the model --------------------------------------------------------------------

    def expected_area(self, foot_y: float) -> float:
        """Expected pixel area (>= 1) of one person with feet at row ``foot_y``."""
        side = self._side.at(foot_y)
        return max(side * side, 1.0)

    def expected_height(self, foot_y: float) -> float:
        """Expected pixel height of one person with feet at row ``foot_y``."""
        return self._height.at(foot_y)

    def learn(
        self, blobs: Sequence[Blob], frame_height: int, frame_width: int | None = None
    ) -> None:
        """Add the blobs that look like one whole, isolated person to the fit.

        A blob that is where one learned from stood in the previous call (its box within
        ``SAME_BOX_PX`` on every side) is not learned again: someone standing still for a
        minute is one sample, not one per frame, so neither they nor the rows they stand
        on outweigh the people who walk past.
        """
        lo, hi = self.single_aspect
        r_lo, r_hi = self.single_ratio
        ready = self.ready
        added = 0
        previous, self._learned_boxes = self._learned_boxes, []
        for x, y, w, h, area, _ in blobs:
            box = (x, y, x + w, y + h)
            if any(_same_box(box, old) for old in previous):
                self._learned_boxes.append(box)
                continue
            bottom = y + h
            # Blobs cut by the frame edge are not whole people.
            if y <= 0 or bottom >= frame_height:
                continue
            if frame_width is not None and (x <= 0 or x + w >= frame_width):
                continue
            wide = max(w, 1.0)
            if not lo * wide <= h <= hi * wide:
                continue
            # The fit is solved after the loop: every blob is held to the same model.
            if ready and not r_lo <= area / self.expected_area(bottom) <= r_hi:
                continue
            self._side.add(bottom, math.sqrt(area), self.decay)
            self._height.add(bottom, h, self.decay)
            self._learned_boxes.append(box)
            added += 1
        if added:
            self.samples += added
            self._side.solve()
            self._height.solve()

    # --- blobs to people --------------------------------------------------------------

    def ratios(self, blobs: Sequence[Blob]) -> list[float]:
        """Each blob's area in units of one person's expected area there."""
        return [area / self.expected_area(y + h) for _, y, _, h, area, _ in blobs]

    def people_per_blob(self, blobs: Sequence[Blob]) -> list[int]:
        """How many people each blob holds (>= 1; 1 each until the model is ready)."""
        return self._counts(self.ratios(blobs)) if self.ready else [1] * len(blobs)

    def _counts(self, ratios: list[float]) -> list[int]:
        extra = 1.0 - self.split_at
        return [min(max(int(r + extra), 1), self.max_people_per_blob) for r in ratios]

    def join_fragments(self, blobs: Sequence[Blob]) -> list[Blob]:
        """Join blobs stacked above one another into one when together they are no taller
        than ``join_height`` people there (a torso and legs split by a mask gap). Blobs
        that join nothing are returned as they are."""
        groups = self._fragment_groups(blobs) if self.ready and len(blobs) > 1 else None
        if groups is None:
            return list(blobs)
        return [
            blobs[group[0]] if len(group) == 1 else _joined([blobs[k] for k in group])
            for group in groups
        ]

    def _fragment_groups(self, blobs: Sequence[Blob]) -> list[list[int]] | None:
        """The blobs as groups of indices to join, each lowest blob first, in the order of
        the lowest blob's index; None when no blob joins another."""
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _, _ in blobs]
        owner = list(range(len(boxes)))
        # Lowest feet first: each lower blob absorbs the fragments sitting above it.
        by_bottom = sorted(range(len(boxes)), key=lambda k: -boxes[k][3])
        start = 0  # the first blob in by_bottom whose feet are not lower than blob i's
        for i in by_bottom:
            bi = boxes[i]
            while boxes[by_bottom[start]][3] > bi[3]:
                start += 1
            if owner[i] != i:
                continue
            for j in by_bottom[start:]:
                if j == i or owner[j] != j:
                    continue
                bj = boxes[j]
                if bj[0] > bi[2] or bi[0] > bj[2]:
                    continue  # apart side by side, as most pairs are: the cheapest test first
                # Side by side, they overlap by at least half the narrower one's width.
                overlap = min(bi[2], bj[2]) - max(bi[0], bj[0])
                if overlap < 0.5 * min(bi[2] - bi[0], bj[2] - bj[0]):
                    continue
                # Together no taller than join_height people standing where i stands.
                top = min(bi[1], bj[1])
                if bi[3] - top > self.join_height * self.expected_height(bi[3]):
                    continue
                bi[0], bi[1], bi[2] = min(bi[0], bj[0]), top, max(bi[2], bj[2])
                owner[j] = i
        if owner == list(range(len(boxes))):
            return None
        groups: dict[int, list[int]] = {}
        for k in by_bottom:
            root = owner[k]
            while owner[root] != root:
                root = owner[root]
            groups.setdefault(root, []).append(k)
        return [groups[k] for k in sorted(groups)]

    def split(self, blobs: Sequence[Blob]) -> list[Person]:
        """One foot point per estimated person: spread along the bottom of each blob, or,
        when the blob's outline is known, where each person's share of it stands."""
        return self._people(blobs, self.people_per_blob(blobs))

    def _people(self, blobs: Sequence[Blob], counts: list[int]) -> list[Person]:
        people: list[Person] = []
        ready = self.ready
        for k, (blob, n) in enumerate(zip(blobs, counts, strict=True)):
            x, y, w, h, _, outline = blob
            # Taller than one person there: something hangs below them (a bag, a pigeon).
            tall = n == 1 and ready and h > self.join_height * self.expected_height(y + h)
            if outline is not None and (n > 1 or tall):
                # The feet from the outline, not the box.
                if n == 1:
                    people.append(Person((blob.foot[0], foot_row(outline, int(x), int(w))), k))
                else:
                    feet = feet_from_outline(outline, int(x), int(w), n)
                    people += [Person(foot, k) for foot in feet]
            elif n == 1:
                people.append(Person(blob.foot, k))
            else:
                # The k-th person of an n-person blob stands at (k + 0.5) / n of its width.
                people += [Person((x + w * (i + 0.5) / n, y + h), k) for i in range(n)]
        return people

    def analyse(
        self, blobs: Sequence[Blob], frame_height: int, frame_width: int
    ) -> tuple[list[Blob], list[Person], list[float]]:
        """One frame: learn from its blobs, join fragments and split into people. Returns
        the (joined) blobs, the people, and each blob's area in units of one person's
        expected area there (empty until the model is ready)."""
        self.learn(blobs, frame_height, frame_width)
        joined = self.join_fragments(blobs)
        if not self.ready:
            return joined, self._people(joined, [1] * len(joined)), []
        ratios = self.ratios(joined)
        return joined, self._people(joined, self._counts(ratios)), ratios

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


SAME_BOX_PX = 0.0
"""Boxes closer than this on every side (analysis pixels) are one blob that stood still."""


def _same_box(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return all(abs(p - q) <= SAME_BOX_PX for p, q in zip(a, b, strict=True))


def _joined(parts: Sequence[Blob]) -> Blob:
    """One blob of ``parts``: the box around them, their summed area, their outlines."""
    x0 = min(b.x for b in parts)
    y0 = min(b.y for b in parts)
    x1 = max(b.x + b.w for b in parts)
    y1 = max(b.y + b.h for b in parts)
    outlines = [b.outline for b in parts if b.outline is not None]
    outline = np.concatenate(outlines) if len(outlines) == len(parts) else None
    return Blob(x0, y0, x1 - x0, y1 - y0, sum(b.area for b in parts), outline)
