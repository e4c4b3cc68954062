"""Person blobs from a 0/1 mask, and how many people each one holds.

A semantic mask has no instances: two shoppers side by side are one blob. ``PersonSize``
learns, per camera, how large one person is at each image row (perspective) from blobs
that look like a single standing person, and estimates how many people a bigger blob
holds. Everything is in analysis-grid pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.domain import ImageU8

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Blobs:
    """Connected person regions of one mask, as parallel ``(B,)`` arrays.

    ``x, y, w, h`` is the bounding box (pixels), ``area`` the pixel count; the foot point
    of a blob is the bottom centre of its box: ``(x + w / 2, y + h)``.
    """

    x: FloatArray
    y: FloatArray
    w: FloatArray
    h: FloatArray
    area: FloatArray

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        for name in ("y", "w", "h", "area"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"Blobs.{name} must have shape ({n},), got {getattr(self, name).shape}"
                )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def foot_x(self) -> FloatArray:
        return self.x + self.w / 2

    @property
    def foot_y(self) -> FloatArray:
        return self.y + self.h


def find_blobs(mask: ImageU8, min_area_px: float) -> Blobs:
    """Connected components (8-connected) of a ``(h, w)`` 0/1 uint8 mask, smallest dropped."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_32S)
    stats = stats[1:n]
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area_px
    s = stats[keep].astype(np.float64)
    return Blobs(
        x=s[:, cv2.CC_STAT_LEFT],
        y=s[:, cv2.CC_STAT_TOP],
        w=s[:, cv2.CC_STAT_WIDTH],
        h=s[:, cv2.CC_STAT_HEIGHT],
        area=s[:, cv2.CC_STAT_AREA],
    )


@dataclass(frozen=True, slots=True)
class People:
    """Estimated people: one foot point each, ``(P,)`` arrays, and the blob each came from."""

    foot_x: FloatArray
    foot_y: FloatArray
    blob: npt.NDArray[np.intp]

    def __len__(self) -> int:
        return int(self.foot_x.shape[0])


class PersonSize:
    """Online perspective model: the expected area of one person whose feet are at row y.

    It fits ``sqrt(area) = a * y + b`` by exponentially weighted least squares over blobs
    whose shape is that of one upright person (``single_aspect`` range of height/width).
    Until ``min_samples`` such blobs are seen, every blob counts as one person.

    ``memory`` is the number of samples that dominate the fit (older ones fade), so the
    model follows a camera that was moved without forgetting after one odd frame.
    """

    def __init__(
        self,
        single_aspect: tuple[float, float] = (1.6, 4.5),
        min_samples: int = 30,
        memory: float = 2000.0,
        max_people_per_blob: int = 12,
    ) -> None:
        if not 0 < single_aspect[0] < single_aspect[1]:
            raise ValueError(
                f"single_aspect must be (low, high) with 0 < low < high, got {single_aspect}"
            )
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2, got {min_samples}")
        if memory <= 1:
            raise ValueError(f"memory must be > 1 sample, got {memory}")
        self.single_aspect = single_aspect
        self.min_samples = min_samples
        self.decay = 1.0 - 1.0 / memory
        self.max_people_per_blob = max_people_per_blob
        # Weighted sums for least squares of s = a*y + b.
        self._sw = 0.0
        self._sy = 0.0
        self._ss = 0.0
        self._syy = 0.0
        self._sys = 0.0
        self.samples = 0

    @property
    def ready(self) -> bool:
        return self.samples >= self.min_samples

    def learn(self, blobs: Blobs, frame_height: int) -> None:
        """Add the blobs that look like one isolated person to the fit."""
        if len(blobs) == 0:
            return
        aspect = blobs.h / np.maximum(blobs.w, 1.0)
        lo, hi = self.single_aspect
        # Blobs cut by the frame edge are not whole people.
        whole = (blobs.y > 0) & (blobs.foot_y < frame_height)
        pick = (aspect >= lo) & (aspect <= hi) & whole
        for y, area in zip(blobs.foot_y[pick], blobs.area[pick], strict=True):
            s = float(np.sqrt(area))
            self._sw = self._sw * self.decay + 1.0
            self._sy = self._sy * self.decay + y
            self._ss = self._ss * self.decay + s
            self._syy = self._syy * self.decay + y * y
            self._sys = self._sys * self.decay + y * s
            self.samples += 1

    def expected_area(self, foot_y: FloatArray) -> FloatArray:
        """Expected pixel area of one person with feet at rows ``foot_y``."""
        denom = self._sw * self._syy - self._sy * self._sy
        mean_s = self._ss / max(self._sw, 1e-9)
        if denom <= 1e-9 * max(self._sw, 1.0) ** 2:
            s = np.full_like(foot_y, mean_s)
        else:
            a = (self._sw * self._sys - self._sy * self._ss) / denom
            b = (self._ss - a * self._sy) / self._sw
            s = a * foot_y + b
        # Never let extrapolation far from the sampled rows collapse the size.
        s = np.maximum(s, 0.25 * mean_s)
        return np.asarray(s * s, dtype=np.float64)

    def people_per_blob(self, blobs: Blobs) -> npt.NDArray[np.intp]:
        """How many people each blob holds (>= 1)."""
        n = np.ones(len(blobs), dtype=np.intp)
        if not self.ready or len(blobs) == 0:
            return n
        ratio = blobs.area / self.expected_area(blobs.foot_y)
        # A blob needs clearly more than one person's area (with the margin) before it
        # counts as two: partial occlusions make single people vary a lot in area.
        est = np.floor(ratio + 0.35).astype(np.intp)
        return np.asarray(np.clip(est, 1, self.max_people_per_blob), dtype=np.intp)

    def split(self, blobs: Blobs) -> People:
        """One foot point per estimated person, spread along the bottom of each blob."""
        counts = self.people_per_blob(blobs)
        if len(blobs) == 0:
            empty = np.zeros(0, dtype=np.float64)
            return People(empty, empty.copy(), np.zeros(0, dtype=np.intp))
        blob_idx = np.repeat(np.arange(len(blobs), dtype=np.intp), counts)
        # k-th person of an n-person blob stands at fraction (k + 0.5) / n of its width.
        starts = np.cumsum(counts) - counts
        k = np.arange(blob_idx.shape[0]) - starts[blob_idx]
        frac = (k + 0.5) / counts[blob_idx]
        foot_x = blobs.x[blob_idx] + blobs.w[blob_idx] * frac
        foot_y = blobs.foot_y[blob_idx]
        return People(foot_x, foot_y, blob_idx)

    def state(self) -> dict[str, Any]:
        """The learned model as plain numbers, to persist across restarts."""
        return {
            "sw": self._sw,
            "sy": self._sy,
            "ss": self._ss,
            "syy": self._syy,
            "sys": self._sys,
            "samples": self.samples,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``state()`` returned."""
        self._sw = float(state["sw"])
        self._sy = float(state["sy"])
        self._ss = float(state["ss"])
        self._syy = float(state["syy"])
        self._sys = float(state["sys"])
        self.samples = int(state["samples"])
