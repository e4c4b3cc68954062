"""Which zones a foot point stands in: the exact polygons, in frame pixels.

A person is in a zone when their foot point is inside its polygon. Looked up on a
rasterised zone, a point takes the zone of its whole cell, so a person walking along a
zone's edge would be in or out by up to half a cell of the analysis grid (several frame
pixels); the polygons themselves have no such error. (Coverage, a share of the zone's
pixels, is measured on the raster: ``ZoneMap``.)

The test is the even-odd crossing rule, with each edge half-open (its lower end in, its
upper end out), so a point on an edge shared by two zones that tile the floor is in
exactly one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge_app.core.domain import Point, Points


class ZonePolygons:
    """Zones ``0..n-1`` as polygons (each ``(N, 2)`` pixels), for point lookups.

    >>> square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    >>> right = np.array([[4, 0], [8, 0], [8, 4], [4, 4]], float)
    >>> ZonePolygons([square, right]).lookup([(1.5, 2.5), (4.0, 1.0), (9.0, 1.0)])
    ([1, 1], [(0,), (1,), ()])
    """

    __slots__ = ("_x0", "_x_slope", "_y0", "_y1", "_zone_starts", "zone_count")

    def __init__(self, polygons: Sequence[Points]) -> None:
        if not polygons:
            raise ValueError("ZonePolygons needs at least one polygon")
        starts, x0s, y0s, x1s, y1s = [], [], [], [], []
        total = 0
        for k, polygon in enumerate(polygons):
            pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
            if pts.shape[0] < 3:
                raise ValueError(f"zone {k}: a polygon needs 3 points, got {pts.shape[0]}")
            nxt = np.roll(pts, -1, axis=0)
            starts.append(total)
            total += pts.shape[0]
            x0s.append(pts[:, 0])
            y0s.append(pts[:, 1])
            x1s.append(nxt[:, 0])
            y1s.append(nxt[:, 1])
        self.zone_count = len(polygons)
        self._zone_starts = np.array(starts, dtype=np.intp)
        x0, y0 = np.concatenate(x0s), np.concatenate(y0s)
        x1, y1 = np.concatenate(x1s), np.concatenate(y1s)
        dy = y1 - y0
        # x where a horizontal line at y crosses each edge: x0 + (y - y0) * slope.
        self._x_slope = np.divide(x1 - x0, dy, out=np.zeros_like(dy), where=dy != 0)
        self._x0, self._y0, self._y1 = x0, y0, y1

    def inside(self, points: Points) -> npt.NDArray[np.bool_]:
        """``(P, n)``: whether each of ``(P, 2)`` points is inside each zone."""
        px = points[:, 0:1]
        py = points[:, 1:2]
        spans = (self._y0 <= py) != (self._y1 <= py)  # the edge spans the point's row
        x_cross = self._x0 + (py - self._y0) * self._x_slope
        crossings = (spans & (px < x_cross)).view(np.uint8)
        odd: npt.NDArray[np.bool_] = (
            np.add.reduceat(crossings, self._zone_starts, axis=1, dtype=np.intp) % 2 == 1
        )
        return odd

    def lookup(self, points: Sequence[Point] | Points) -> tuple[list[int], list[tuple[int, ...]]]:
        """How many of ``(x, y)`` points each zone holds, and the zones each point is in
        (in zone order)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if not pts.shape[0]:
            return [0] * self.zone_count, []
        inside = self.inside(pts)
        counts = np.count_nonzero(inside, axis=0).tolist()
        zones_of = [tuple(np.flatnonzero(row).tolist()) for row in inside]
        return counts, zones_of
