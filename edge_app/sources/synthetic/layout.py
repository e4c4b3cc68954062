"""The frozen description of the synthetic shop floor: camera, furniture and named areas.

Floor coordinates are metres: ``x`` across the shop (0 at the left wall, 12 at the right),
``y`` into the shop (0 at the front wall with the door, 12 at the back wall), ``z`` up.
The camera hangs above the front wall at ``(6, 0, 3)`` and looks into the shop, tilted
down, so the far end of the shop is near the top of the picture and people there are
small. ``zones/store-floor.yaml`` is these named areas projected into a 960x540 frame
(``area_polygon_px``); a test keeps the two in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BGR = tuple[int, int, int]
XY = tuple[float, float]

REFERENCE_SIZE = (960, 540)
"""The frame size (width, height) the zone file's pixel coordinates refer to."""


@dataclass(frozen=True, slots=True)
class FloorCamera:
    """A pinhole camera above the floor, looking along +y and tilted down by ``pitch_deg``.

    ``focal_px`` is the focal length at ``REFERENCE_SIZE``; other frame sizes scale it per
    axis (so the view stretches instead of cropping, and zone pixels scale linearly).
    """

    x: float = 6.0
    y: float = 0.0
    height_m: float = 3.0
    pitch_deg: float = 30.0
    focal_px: float = 520.0

    def _intrinsics(self, frame_size: tuple[int, int]) -> tuple[float, float, float, float]:
        w, h = frame_size
        fx = self.focal_px * w / REFERENCE_SIZE[0]
        fy = self.focal_px * h / REFERENCE_SIZE[1]
        return fx, fy, w / 2.0, h / 2.0

    def project(
        self, points: FloatArray, frame_size: tuple[int, int]
    ) -> tuple[FloatArray, FloatArray]:
        """Project ``(N, 3)`` floor-frame metres to ``(N, 2)`` pixels and ``(N,)`` depths.

        Depth is metres along the viewing axis; points with depth <= 0 are behind the
        camera and their pixels are meaningless.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        s, c = math.sin(math.radians(self.pitch_deg)), math.cos(math.radians(self.pitch_deg))
        dx = pts[:, 0] - self.x
        dy = pts[:, 1] - self.y
        dz = pts[:, 2] - self.height_m
        depth = c * dy - s * dz
        down = -s * dy - c * dz
        safe = np.where(depth > 1e-6, depth, 1e-6)
        fx, fy, cx, cy = self._intrinsics(frame_size)
        pixels = np.column_stack((cx + fx * dx / safe, cy + fy * down / safe))
        return pixels, depth

    def floor_homography(self, frame_size: tuple[int, int]) -> FloatArray:
        """The 3x3 homography from floor ``(x, y, 1)`` metres to image pixels."""
        s, c = math.sin(math.radians(self.pitch_deg)), math.cos(math.radians(self.pitch_deg))
        cam_from_floor = np.array(
            [
                [1.0, 0.0, -self.x],
                [0.0, -s, s * self.y + c * self.height_m],
                [0.0, c, -c * self.y + s * self.height_m],
            ]
        )
        fx, fy, cx, cy = self._intrinsics(frame_size)
        k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return np.asarray(k @ cam_from_floor, dtype=np.float64)

    def floor_to_image(self, points: FloatArray, frame_size: tuple[int, int]) -> FloatArray:
        """``(N, 2)`` floor metres to ``(N, 2)`` image pixels."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        zeros = np.zeros((len(pts), 1))
        return self.project(np.hstack((pts, zeros)), frame_size)[0]

    def image_to_floor(self, pixels: FloatArray, frame_size: tuple[int, int]) -> FloatArray:
        """``(N, 2)`` image pixels (below the horizon) to ``(N, 2)`` floor metres."""
        px = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        inv = np.linalg.inv(self.floor_homography(frame_size))
        hom = np.hstack((px, np.ones((len(px), 1)))) @ inv.T
        return np.asarray(hom[:, :2] / hom[:, 2:3], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Box:
    """A piece of furniture: an axis-aligned box standing on the floor (metres)."""

    name: str
    x0: float
    y0: float
    x1: float
    y1: float
    height_m: float
    colour: BGR


@dataclass(frozen=True, slots=True)
class FloorArea:
    """A named area of the floor: ``polygon`` in floor metres, ``zone_id`` its zone id."""

    zone_id: str
    title: str
    polygon: tuple[XY, ...]

    def contains(self, x: float, y: float) -> bool:
        """Whether the floor point ``(x, y)`` metres is inside (ray casting)."""
        inside = False
        pts = self.polygon
        for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
        return inside


def _rect(x0: float, y0: float, x1: float, y1: float) -> tuple[XY, ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


@dataclass(frozen=True, slots=True)
class StoreLayout:
    """Everything fixed about the shop: room, camera, furniture, areas and walking spots.

    Walking spots are floor points (metres) the itineraries are built from: the door
    outside the picture, named aisle waypoints, where browsers stop (``*_browse_*``: a
    range along the shelf and the distance from it) and the checkout queue (the served
    customer at ``queue_head``, the others every ``queue_spacing_m`` towards -x).
    """

    camera: FloorCamera
    room_width_m: float
    room_depth_m: float
    wall_height_m: float
    door: tuple[float, float]
    mat: tuple[float, float, float, float]
    shelves: tuple[Box, ...]
    counter: Box
    areas: tuple[FloorArea, ...]
    door_outside: XY
    door_inside: XY
    waypoints: tuple[tuple[str, XY], ...]
    back_browse_x: tuple[float, float]
    back_browse_y: float
    left_browse_y: tuple[float, float]
    left_browse_x: float
    queue_head: XY
    queue_spacing_m: float
    queue_approach: XY
    checkout_leave: tuple[XY, ...]

    def area(self, zone_id: str) -> FloorArea:
        """The named area ``zone_id``; ``KeyError`` naming the known ids otherwise."""
        for area in self.areas:
            if area.zone_id == zone_id:
                return area
        known = ", ".join(a.zone_id for a in self.areas)
        raise KeyError(f"no area {zone_id!r} in the store layout (known: {known})")

    def waypoint(self, name: str) -> XY:
        """The walking spot ``name`` (floor metres)."""
        for key, xy in self.waypoints:
            if key == name:
                return xy
        known = ", ".join(k for k, _ in self.waypoints)
        raise KeyError(f"no waypoint {name!r} in the store layout (known: {known})")

    def queue_slot(self, position: int) -> XY:
        """Where the customer ``position`` places from the counter stands (0 is served)."""
        return (self.queue_head[0] - position * self.queue_spacing_m, self.queue_head[1])

    def area_polygon_px(self, zone_id: str, frame_size: tuple[int, int]) -> FloatArray:
        """The area ``zone_id`` as an ``(N, 2)`` pixel polygon in a frame of ``frame_size``."""
        poly = np.array(self.area(zone_id).polygon, dtype=np.float64)
        return self.camera.floor_to_image(poly, frame_size)


STORE_LAYOUT = StoreLayout(
    camera=FloorCamera(),
    room_width_m=12.0,
    room_depth_m=12.0,
    wall_height_m=3.2,
    door=(3.5, 5.5),
    mat=(3.8, 2.1, 5.6, 3.4),
    shelves=(
        Box("back shelves", 0.3, 11.45, 11.7, 12.0, 1.9, (92, 104, 118)),
        Box("left shelves", 0.0, 4.0, 0.5, 11.45, 1.8, (98, 110, 124)),
        Box("fridges", 11.3, 6.5, 12.0, 11.45, 2.0, (205, 205, 200)),
    ),
    counter=Box("checkout counter", 7.8, 4.6, 10.5, 5.4, 0.95, (70, 92, 128)),
    areas=(
        FloorArea("entrance", "Entrance", _rect(3.8, 2.1, 5.6, 3.4)),
        FloorArea("shelf-left", "Left wall shelves", _rect(0.55, 5.4, 2.0, 10.3)),
        FloorArea("shelf-back", "Back wall shelves", _rect(2.0, 9.4, 10.0, 11.4)),
        FloorArea("checkout-1", "Checkout lane 1", _rect(5.3, 3.3, 9.6, 4.5)),
    ),
    door_outside=(4.5, 0.15),
    door_inside=(4.7, 2.75),
    waypoints=(
        ("centre", (5.6, 6.8)),
        ("left-aisle", (3.0, 7.5)),
        ("fridges", (8.8, 8.3)),
        ("back-aisle", (6.2, 8.6)),
        ("front-left", (4.2, 5.0)),
    ),
    back_browse_x=(2.8, 9.3),
    back_browse_y=10.7,
    left_browse_y=(6.0, 9.8),
    left_browse_x=1.25,
    queue_head=(9.0, 3.9),
    queue_spacing_m=0.85,
    queue_approach=(6.0, 4.6),
    checkout_leave=((8.7, 2.95), (6.0, 2.8)),
)
"""The shop the synthetic camera ``store-floor`` looks at."""
