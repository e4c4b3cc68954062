"""Person blobs from a 0/1 mask.

A semantic mask has no instances: two shoppers side by side are one blob. How many
people a blob holds is estimated by ``edge_app.analytics.personsize``. Everything is in
analysis-grid pixels.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.core.domain import ImageU8, Point

Outline = npt.NDArray[np.int32]
"""A blob's outer contour: ``(K, 2)`` int ``x, y`` pixel points."""


class Blob(NamedTuple):
    """One connected person region: its bounding box ``x, y, w, h`` and ``area`` (pixels),
    and, when known, its ``outline`` (used to find the feet of several people in it).

    A frame holds a handful of blobs: small immutable rows of plain floats are cheaper to
    make and read one by one than arrays.
    """

    x: float
    y: float
    w: float
    h: float
    area: float
    outline: Outline | None = None

    @property
    def foot(self) -> Point:
        """The bottom centre of the box: the foot point of a blob of one person."""
        return self.x + self.w / 2, self.y + self.h


def find_blobs(mask: ImageU8, min_area_px: float) -> list[Blob]:
    """Connected regions (8-connected) of a ``(h, w)`` 0/1 uint8 mask, smallest dropped.

    Traced as outer contours rather than labelled pixel by pixel: several times cheaper
    at analysis resolutions. ``area`` counts the pixels inside the outer contour (holes
    included), exact for any hole-free region by Pick's theorem.

    >>> mask = np.zeros((6, 8), np.uint8); mask[1:5, 2:4] = 1
    >>> [(b.x, b.y, b.w, b.h, b.area) for b in find_blobs(mask, min_area_px=4)]
    [(2.0, 1.0, 2.0, 4.0, 8.0)]
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    blobs = []
    for contour in contours:
        # Pick's theorem: the pixels on and inside the contour number the area of the
        # polygon through their centres, plus half its boundary points, plus one.
        area = cv2.contourArea(contour) + 0.5 * len(contour) + 1.0
        if area >= min_area_px:
            x, y, w, h = cv2.boundingRect(contour)
            outline = cast(Outline, contour.reshape(-1, 2))  # int32 points already
            blobs.append(Blob(float(x), float(y), float(w), float(h), area, outline))
    return blobs
