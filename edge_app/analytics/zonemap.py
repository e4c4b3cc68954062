"""Zones rasterised once at mask resolution, so each frame is array indexing only.

Zones may overlap (a queue inside a checkout area), so they are packed into layers: each
layer is an ``int16`` label image (0 = no zone, k = zone k-1) holding zones that do not
overlap each other. Nearly every store needs a single layer.

Per frame the person pixels of every zone come from one integral image of the mask: each
zone is kept as the few rectangles its pixels make up (one for an axis-aligned box), and a
rectangle's pixel count is four lookups in the integral image. Whether a foot point is in
a zone is not read from the raster but from the polygon itself (``ZonePolygons``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.core.domain import ImageU8, Points

SUPERSAMPLE = 4

_NO_CORNERS = np.zeros((4, 0), dtype=np.intp)
_NO_INDEX = np.zeros(0, dtype=np.intp)


class ZoneMap:
    """Zones ``0..n-1`` rasterised on a ``(height, width)`` grid (see ``build``).

    ``layers`` is ``(L, h, w)`` int16 with labels ``zone + 1``, ``layer_zones`` the zones
    of each layer; ``areas`` is each zone's pixel count (>= 1, a sliver thinner than a
    pixel still gets its nearest pixel). Counting person pixels writes into one buffer,
    so a zone map is not thread-safe: one per analyzer.

    >>> zm = ZoneMap.build([np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)], (8, 4))
    >>> mask = np.zeros((4, 8), np.uint8); mask[:, 2:6] = 1
    >>> zm.coverage(mask).tolist()
    [0.5]
    """

    __slots__ = (
        "_corner_index",
        "_corner_signs",
        "_sums",
        "_window",
        "areas",
        "layer_zones",
        "layers",
    )

    def __init__(
        self,
        layers: npt.NDArray[np.int16],
        layer_zones: tuple[npt.NDArray[np.intp], ...],
        areas: npt.NDArray[np.float64],
    ) -> None:
        self.layers = layers
        self.layer_zones = layer_zones
        self.areas = areas
        # Person pixels are counted in the integral image of the window that holds every
        # zone: each zone is the few rectangles its pixels make up, and each zone's pixel
        # count one product of +1/-1 with the four corners of each of its rectangles,
        # gathered in one go (exact: small integers).
        any_zone = np.any(layers != 0, axis=0)
        rows, cols = np.flatnonzero(any_zone.any(axis=1)), np.flatnonzero(any_zone.any(axis=0))
        y0, y1, x0, x1 = 0, 0, 0, 0
        if rows.shape[0]:
            y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        self._window = (slice(y0, y1), slice(x0, x1))
        corners, rect_zone = _rectangles(layers[:, y0:y1, x0:x1])
        self._sums = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.int32)
        n_rects = rect_zone.shape[0]
        signs = np.zeros((self.zone_count, 4 * n_rects), dtype=np.float64)
        for r, zone in enumerate(rect_zone.tolist()):
            for k, sign in enumerate((1.0, -1.0, -1.0, 1.0)):
                signs[zone, k * n_rects + r] = sign
        self._corner_index = corners.reshape(-1).copy()
        self._corner_signs = signs

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
        if mask.shape != self.layers.shape[1:]:
            raise ValueError(f"mask is {mask.shape}, the zone map {self.layers.shape[1:]}")
        if not self._corner_index.shape[0]:
            return np.zeros(self.zone_count, dtype=np.float64)
        if mask.dtype != np.uint8:
            mask = (mask > 0).view(np.uint8)
        part = mask[self._window]
        sums = cv2.integral(part, self._sums)
        if int(sums[-1, -1]) != cv2.countNonZero(part):
            # Not 0/1 (e.g. 0/255): count the pixels that are not zero.
            sums = cv2.integral((part != 0).view(np.uint8), self._sums)
        # Pixels of each rectangle from its four corners in the integral image, summed per
        # zone: bottom right - top right - bottom left + top left.
        counts: npt.NDArray[np.float64] = self._corner_signs @ sums.reshape(-1)[self._corner_index]
        return counts

    def coverage(self, mask: ImageU8) -> npt.NDArray[np.float64]:
        """Fraction ``0..1`` of each zone's pixels that are person."""
        return self.person_pixels(mask) / self.areas


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


def _rectangles(
    layers: npt.NDArray[np.int16],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Each zone's pixels as disjoint rectangles: rows with the same runs of zone pixels
    are merged into one rectangle per run. Returns the flat indices, in an integral image
    of ``(h + 1, w + 1)``, of each rectangle's corners ``(4, R)`` (bottom right, top right,
    bottom left, top left) and the zone of each rectangle ``(R,)``."""
    _, h, w = layers.shape
    stride = w + 1
    corners: list[tuple[int, int, int, int]] = []
    zone_of: list[int] = []
    for layer in layers:
        for k in np.unique(layer).tolist():
            if k == 0:
                continue
            inside = np.zeros((h, w + 2), dtype=np.int8)
            inside[:, 1:-1] = layer == k
            edges = np.diff(inside, axis=1)
            rows_r, starts_c = np.nonzero(edges == 1)
            _, ends_c = np.nonzero(edges == -1)
            # Runs [x0, x1) of each row, in row order; equal runs on consecutive rows merge.
            open_runs: dict[tuple[int, int], int] = {}  # run -> first row
            by_row: dict[int, list[tuple[int, int]]] = {}
            for r, x0, x1 in zip(rows_r.tolist(), starts_c.tolist(), ends_c.tolist(), strict=True):
                by_row.setdefault(r, []).append((x0, x1))
            for r in range(h + 1):
                runs = set(by_row.get(r, ()))
                for run in [run for run in open_runs if run not in runs]:
                    y0 = open_runs.pop(run)
                    x0, x1 = run
                    corners.append(
                        (r * stride + x1, y0 * stride + x1, r * stride + x0, y0 * stride + x0)
                    )
                    zone_of.append(k - 1)
                for run in sorted(runs):
                    open_runs.setdefault(run, r)
    if not corners:
        return _NO_CORNERS, _NO_INDEX
    return np.array(corners, dtype=np.intp).T.copy(), np.array(zone_of, dtype=np.intp)
