"""Person blobs from a 0/1 mask, and the people estimated in them.

A semantic mask has no instances: two shoppers side by side are one blob. How many
people a blob holds is estimated by ``edge_app.analytics.personsize``. Everything is in
analysis-grid pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.core.domain import ImageU8

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Blobs:
    """Connected person regions of one mask, as parallel ``(B,)`` arrays.

    ``x, y, w, h`` is the bounding box (pixels), ``area`` the pixel count; the foot point
    of a blob is the bottom centre of its box: ``(x + w / 2, y + h)``. ``outlines``, when
    known, holds each blob's outer contour as ``(K, 2)`` int ``x, y`` pixel points (used
    to find the feet of several people in one blob).
    """

    x: FloatArray
    y: FloatArray
    w: FloatArray
    h: FloatArray
    area: FloatArray
    outlines: tuple[npt.NDArray[np.int32], ...] = field(default=(), compare=False, repr=False)
    _rows: list[list[float]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        for name in ("y", "w", "h", "area"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"Blobs.{name} must have shape ({n},), got {getattr(self, name).shape}"
                )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Sequence[float]],
        outlines: tuple[npt.NDArray[np.int32], ...] = (),
    ) -> Blobs:
        """Blobs from ``(x, y, w, h, area)`` rows (and their outlines, if known)."""
        s = np.array(rows, dtype=np.float64).reshape(-1, 5)
        return cls(x=s[:, 0], y=s[:, 1], w=s[:, 2], h=s[:, 3], area=s[:, 4], outlines=outlines)

    @classmethod
    def _of_rows(
        cls, rows: list[list[float]], outlines: tuple[npt.NDArray[np.int32], ...]
    ) -> Blobs:
        """``from_rows`` for rows of five plain floats that the new value may keep (they are
        handed back by ``row_list`` without converting the arrays again)."""
        s = np.array(rows, dtype=np.float64).reshape(-1, 5)
        return cls(s[:, 0], s[:, 1], s[:, 2], s[:, 3], s[:, 4], outlines, rows)

    def rows(self) -> list[list[float]]:
        """``[x, y, w, h, area]`` per blob as plain floats (cheap to loop over)."""
        return [row[:] for row in self.row_list()]

    def row_list(self) -> list[list[float]]:
        """Like ``rows()``, but possibly shared with this value: read only."""
        if self._rows is None:
            rows = np.column_stack((self.x, self.y, self.w, self.h, self.area)).tolist()
            object.__setattr__(self, "_rows", rows)
            return rows  # type: ignore[no-any-return]
        return self._rows

    @property
    def foot_x(self) -> FloatArray:
        return self.x + self.w / 2

    @property
    def foot_y(self) -> FloatArray:
        return self.y + self.h


def find_blobs(mask: ImageU8, min_area_px: float) -> Blobs:
    """Connected regions (8-connected) of a ``(h, w)`` 0/1 uint8 mask, smallest dropped.

    Traced as outer contours rather than labelled pixel by pixel: several times cheaper
    at analysis resolutions. ``area`` counts the pixels inside the outer contour (holes
    included), exact for any hole-free region by Pick's theorem.
    """
    rows, outlines = blob_rows(mask, min_area_px)
    return Blobs._of_rows(rows, tuple(outlines))


def blob_rows(
    mask: ImageU8, min_area_px: float
) -> tuple[list[list[float]], list[npt.NDArray[np.int32]]]:
    """``find_blobs`` as plain ``[x, y, w, h, area]`` rows and the outlines, without the
    arrays of ``Blobs`` (the analyzer works on the rows)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    rows: list[list[float]] = []
    outlines: list[npt.NDArray[np.int32]] = []
    area_of, rect_of = cv2.contourArea, cv2.boundingRect
    for c in contours:
        area = area_of(c) + 0.5 * len(c) + 1.0
        if area >= min_area_px:
            x, y, w, h = rect_of(c)
            rows.append([float(x), float(y), float(w), float(h), area])
            outlines.append(c.reshape(-1, 2))  # type: ignore[arg-type]  # int32 already
    return rows, outlines


@dataclass(frozen=True, slots=True)
class People:
    """Estimated people: one foot point each, ``(P,)`` arrays, and the blob each came from."""

    foot_x: FloatArray
    foot_y: FloatArray
    blob: npt.NDArray[np.intp]

    def __len__(self) -> int:
        return int(self.foot_x.shape[0])
