"""Zones rasterised once at mask resolution, so each frame is array indexing only.

Zones may overlap (a queue inside a checkout area), so they are packed into layers: each
layer is an ``int16`` label image (0 = no zone, k = zone k-1) holding zones that do not
overlap each other. Nearly every store needs a single layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.domain import ImageU8, Points

SUPERSAMPLE = 4


@dataclass(frozen=True, slots=True)
class ZoneMap:
    """Zones ``0..n-1`` rasterised on a ``(height, width)`` grid.

    ``layers`` is ``(L, h, w)`` int16 with labels ``zone + 1``; ``areas`` is each zone's
    pixel count (>= 1, a sliver thinner than a pixel still gets its nearest pixel).
    """

    layers: npt.NDArray[np.int16]
    layer_zones: tuple[npt.NDArray[np.intp], ...]
    areas: npt.NDArray[np.float64]
    _layer_rows: tuple[list[list[int]], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        # The labels as nested lists too, for cheap lookups of a few points per frame.
        object.__setattr__(self, "_layer_rows", tuple(layer.tolist() for layer in self.layers))

    @property
    def zone_count(self) -> int:
        return int(self.areas.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the grid."""
        return int(self.layers.shape[2]), int(self.layers.shape[1])

    @classmethod
    def build(cls, polygons: Sequence[Points], size: tuple[int, int]) -> ZoneMap:
        """Rasterise ``polygons`` (each ``(N, 2)`` in grid pixel coordinates) on a grid of
        ``size = (width, height)``."""
        width, height = size
        if not polygons:
            raise ValueError("ZoneMap needs at least one polygon")
        masks = [_rasterise(p, width, height) for p in polygons]
        layers: list[npt.NDArray[np.int16]] = []
        members: list[list[int]] = []
        for k, m in enumerate(masks):
            for layer, zone_ids in zip(layers, members, strict=True):
                if not np.any(layer[m]):
                    layer[m] = k + 1
                    zone_ids.append(k)
                    break
            else:
                layer = np.zeros((height, width), dtype=np.int16)
                layer[m] = k + 1
                layers.append(layer)
                members.append([k])
        areas = np.array([max(int(m.sum()), 1) for m in masks], dtype=np.float64)
        return cls(
            layers=np.stack(layers),
            layer_zones=tuple(np.array(z, dtype=np.intp) for z in members),
            areas=areas,
        )

    def person_pixels(self, mask: ImageU8) -> npt.NDArray[np.float64]:
        """Person pixels inside each zone: ``(n,)`` counts for a ``(h, w)`` 0/1 mask."""
        n = self.zone_count
        out = np.zeros(n + 1, dtype=np.float64)
        flat_mask = mask.reshape(-1).view(np.bool_) if mask.dtype == np.uint8 else mask > 0
        for layer in self.layers:
            labels = layer.reshape(-1)[flat_mask.reshape(-1)]
            out += np.bincount(labels, minlength=n + 1)[: n + 1]
        return out[1:]

    def coverage(self, mask: ImageU8) -> npt.NDArray[np.float64]:
        """Fraction ``0..1`` of each zone's pixels that are person."""
        return self.person_pixels(mask) / self.areas

    def lookup(
        self, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
    ) -> tuple[list[int], list[tuple[int, ...]]]:
        """Zones of points at grid coordinates ``xs, ys`` (``(P,)``, clipped into the grid):
        people per zone, and for each point the zones it is in."""
        counts = [0] * self.zone_count
        zones_of: list[tuple[int, ...]] = []
        h, w = self.layers.shape[1:]
        layers = self._layer_rows
        for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
            # Plain Python per point: people are few, NumPy calls cost more than the work.
            cx = min(max(int(x), 0), w - 1)
            cy = min(max(math.floor(y), 0), h - 1)
            found = tuple(rows[cy][cx] - 1 for rows in layers if rows[cy][cx])
            for k in found:
                counts[k] += 1
            zones_of.append(found)
        return counts, zones_of

    def zones_at(self, xs: npt.NDArray[np.intp], ys: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """``(P, n)`` membership of points (grid pixel indices, clipped) in each zone."""
        n = self.zone_count
        inside = np.zeros((xs.shape[0], n), dtype=np.bool_)
        if xs.shape[0] == 0:
            return inside
        h, w = self.layers.shape[1:]
        cx = np.clip(xs, 0, w - 1)
        cy = np.clip(ys, 0, h - 1)
        rows = np.arange(xs.shape[0])
        for layer in self.layers:
            labels = layer[cy, cx].astype(np.intp)
            hit = labels > 0
            inside[rows[hit], labels[hit] - 1] = True
        return inside


def _rasterise(polygon: Points, width: int, height: int) -> npt.NDArray[np.bool_]:
    """Pixels of which at least half lies inside ``polygon`` (``(N, 2)``, pixel units).

    fillPoly includes pixels on the right and bottom edges, which would grow every zone
    by a row and a column; drawing at ``SUPERSAMPLE`` times the resolution and keeping
    pixels that are at least half covered makes zone areas (and so coverage) exact.
    """
    s = SUPERSAMPLE
    canvas = np.zeros((height * s, width * s), dtype=np.uint8)
    shift = 4  # sub-pixel precision of the fine grid
    scale = s * (1 << shift)
    pts = np.round(np.asarray(polygon, dtype=np.float64) * scale - 0.5 * (1 << shift))
    cv2.fillPoly(canvas, [pts.astype(np.int32).reshape(-1, 1, 2)], 1, cv2.LINE_8, shift)
    share = canvas.reshape(height, s, width, s).mean(axis=(1, 3))
    inside = share >= 0.5
    if not inside.any():
        # A zone thinner than half a pixel at this resolution: keep its centre pixel so it
        # can still be counted instead of silently vanishing.
        cx, cy = np.asarray(polygon, dtype=np.float64).mean(axis=0)
        inside[int(np.clip(cy, 0, height - 1)), int(np.clip(cx, 0, width - 1))] = True
    return np.asarray(inside, dtype=np.bool_)
