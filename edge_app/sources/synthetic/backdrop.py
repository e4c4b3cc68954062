"""The static picture of the synthetic shop, rendered once per source.

Tiled floor, walls with skirting, shelf units with boards and packs of goods, glass-door
fridges, the checkout counter with its belt and till, the door mat, queue markings, a
poster and a hanging sign; then soft vignetting and a slight blur, as a real lens would
give. Everything is projected through the layout's camera, so it lines up with the floor
areas (zones) and with the people drawn on top. Deterministic in ``seed``.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_app.core.domain import ImageU8
from edge_app.sources.synthetic.layout import BGR, Box, StoreLayout

Corners = list[tuple[float, float, float]]

FLOOR_TILES: tuple[BGR, BGR] = ((174, 181, 186), (184, 190, 194))
GROUT: BGR = (152, 158, 162)
WALL: BGR = (206, 214, 218)
SKIRTING: BGR = (96, 100, 104)
TILE_M = 0.6
GOODS: tuple[BGR, ...] = (
    (40, 40, 190), (40, 150, 230), (200, 120, 40), (60, 160, 60), (230, 230, 230),
    (40, 200, 230), (140, 60, 140), (30, 90, 160), (170, 170, 60), (90, 90, 220),
)  # fmt: skip


def _project(layout: StoreLayout, image: ImageU8, corners: Corners) -> np.ndarray | None:
    """Corners in floor metres to 4-bit fixed-point pixels, ``None`` if behind the camera."""
    size = (image.shape[1], image.shape[0])
    px, depth = layout.camera.project(np.array(corners, dtype=np.float64), size)
    if float(depth.min()) <= 0.05:
        return None
    return np.round(px * 16).astype(np.int32)


def _fill(image: ImageU8, layout: StoreLayout, corners: Corners, colour: BGR) -> None:
    pts = _project(layout, image, corners)
    if pts is not None:
        cv2.fillConvexPoly(image, pts, colour, cv2.LINE_AA, 4)


def _line(
    image: ImageU8,
    layout: StoreLayout,
    a: tuple[float, float, float],
    b: tuple[float, float, float],
    colour: BGR,
    thickness: int = 1,
) -> None:
    pts = _project(layout, image, [a, b])
    if pts is not None:
        p, q = pts
        cv2.line(
            image, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), colour, thickness, cv2.LINE_AA, 4
        )


def _shade(colour: BGR, factor: float) -> BGR:
    return (
        min(int(colour[0] * factor), 255),
        min(int(colour[1] * factor), 255),
        min(int(colour[2] * factor), 255),
    )


def _on_face(axis: str, fixed: float, pts: list[tuple[float, float]]) -> Corners:
    """Points ``(along, z)`` on the vertical plane ``y = fixed`` or ``x = fixed``."""
    if axis == "y":
        return [(a, fixed, z) for a, z in pts]
    return [(fixed, a, z) for a, z in pts]


def _rect_on(axis: str, fixed: float, a0: float, a1: float, z0: float, z1: float) -> Corners:
    return _on_face(axis, fixed, [(a0, z0), (a1, z0), (a1, z1), (a0, z1)])


def _draw_box(image: ImageU8, layout: StoreLayout, box: Box) -> None:
    """The faces of a box the camera sees: a side, the front (-y) and the top."""
    cam = layout.camera
    x0, y0, x1, y1, h = box.x0, box.y0, box.x1, box.y1, box.height_m
    side = _shade(box.colour, 0.8)
    if cam.x > x1:
        _fill(image, layout, _rect_on("x", x1, y0, y1, 0.0, h), side)
    if cam.x < x0:
        _fill(image, layout, _rect_on("x", x0, y0, y1, 0.0, h), side)
    _fill(image, layout, _rect_on("y", y0, x0, x1, 0.0, h), box.colour)
    _fill(
        image,
        layout,
        [(x0, y0, h), (x1, y0, h), (x1, y1, h), (x0, y1, h)],
        _shade(box.colour, 1.15),
    )


def _draw_goods(
    image: ImageU8,
    layout: StoreLayout,
    rng: np.random.Generator,
    axis: str,
    fixed: float,
    span: tuple[float, float],
    top: float,
    bottles: bool = False,
) -> None:
    """Shelf boards with goods on them, on one face of a unit.

    Goods come in runs of identical packs (facings), as shops stock them; ``bottles``
    gives narrow tall items (drinks).
    """
    for z in np.arange(0.12, top - 0.1, 0.36):
        _fill(image, layout, _rect_on(axis, fixed, span[0], span[1], z - 0.03, z), (70, 74, 80))
        pos = span[0] + 0.03
        while pos < span[1] - 0.1:
            width = float(rng.uniform(0.05, 0.08) if bottles else rng.uniform(0.08, 0.18))
            height = float(rng.uniform(0.2, 0.3) if bottles else rng.uniform(0.12, 0.28))
            colour = GOODS[int(rng.integers(len(GOODS)))]
            for k in range(int(rng.integers(2, 8))):
                if pos + width > span[1] - 0.03:
                    break
                # Alternate a shade so neighbouring packs read as separate items.
                shade = _shade(colour, 1.0 if k % 2 == 0 else 0.8)
                _fill(image, layout, _rect_on(axis, fixed, pos, pos + width, z, z + height), shade)
                pos += width + 0.015
            pos += float(rng.uniform(0.02, 0.06))


def _draw_floor(image: ImageU8, layout: StoreLayout, rng: np.random.Generator) -> None:
    w, d = layout.room_width_m, layout.room_depth_m
    for i, x in enumerate(np.arange(0.0, w, TILE_M)):
        for j, y in enumerate(np.arange(0.0, d, TILE_M)):
            base = FLOOR_TILES[(i + j) % 2]
            colour = _shade(base, float(rng.uniform(0.97, 1.02)))
            corners = [
                (x, y, 0.0),
                (x + TILE_M, y, 0.0),
                (x + TILE_M, y + TILE_M, 0.0),
                (x, y + TILE_M, 0.0),
            ]
            _fill(image, layout, corners, colour)
    for x in np.arange(0.0, w + 1e-6, TILE_M):
        _line(image, layout, (x, 0.3, 0.0), (x, d, 0.0), GROUT)
    for y in np.arange(TILE_M, d + 1e-6, TILE_M):
        _line(image, layout, (0.0, y, 0.0), (w, y, 0.0), GROUT)


def _draw_walls(image: ImageU8, layout: StoreLayout) -> None:
    w, d, h = layout.room_width_m, layout.room_depth_m, layout.wall_height_m
    _fill(image, layout, _rect_on("y", d, 0.0, w, 0.0, h), WALL)
    for x in (0.0, w):
        _fill(image, layout, _rect_on("x", x, 1.0, d, 0.0, h), _shade(WALL, 0.9))
        _fill(image, layout, _rect_on("x", x, 1.0, d, 0.0, 0.1), SKIRTING)
    _fill(image, layout, _rect_on("y", d, 0.0, w, 0.0, 0.1), SKIRTING)


def _draw_fridges(image: ImageU8, layout: StoreLayout, rng: np.random.Generator, box: Box) -> None:
    _draw_box(image, layout, box)
    face = box.x0 - 0.005
    doors = np.arange(box.y0 + 0.05, box.y1 - 0.1, 0.8)
    for y in doors:
        _fill(image, layout, _rect_on("x", face, y, y + 0.76, 0.15, 1.85), (236, 226, 204))
    _draw_goods(image, layout, rng, "x", face, (box.y0 + 0.1, box.y1 - 0.1), 1.85, True)
    # Cold, lit glass in front of the drinks: a pale blue wash over the doors.
    glass = np.zeros(image.shape[:2], np.uint8)
    for y in doors:
        pts = _project(layout, image, _rect_on("x", face, y, y + 0.76, 0.15, 1.85))
        if pts is not None:
            cv2.fillConvexPoly(glass, pts, 255, cv2.LINE_AA, 4)
    tint = np.full_like(image, (250, 236, 214))
    washed = cv2.addWeighted(image, 0.6, tint, 0.4, 0.0)
    np.copyto(image, washed, where=glass[:, :, None] > 127)
    for y in doors:
        for edge in (y, y + 0.76):
            _line(image, layout, (face, edge, 0.15), (face, edge, 1.85), (90, 92, 96), 2)
        _line(image, layout, (face, y + 0.68, 0.8), (face, y + 0.68, 1.3), (60, 60, 64), 2)


def _draw_checkout(image: ImageU8, layout: StoreLayout) -> None:
    c = layout.counter
    _draw_box(image, layout, c)
    top = c.height_m + 0.005
    _fill(
        image,
        layout,
        [
            (c.x0 + 0.1, c.y0 + 0.1, top),
            (c.x1 - 1.1, c.y0 + 0.1, top),
            (c.x1 - 1.1, c.y0 + 0.45, top),
            (c.x0 + 0.1, c.y0 + 0.45, top),
        ],
        (40, 40, 44),
    )
    till = Box(
        "till", c.x1 - 0.9, c.y0 + 0.15, c.x1 - 0.5, c.y0 + 0.55, c.height_m + 0.3, (60, 62, 66)
    )
    _draw_box(image, layout, till)
    _fill(
        image,
        layout,
        _rect_on(
            "y",
            till.y0 - 0.01,
            till.x0 + 0.05,
            till.x1 - 0.05,
            c.height_m + 0.12,
            c.height_m + 0.27,
        ),
        (200, 160, 90),
    )
    # Queue markings: a dashed line along the lane and a "wait here" bar.
    qx, qy = layout.queue_head
    for x in np.arange(qx - 3.2, qx + 0.2, 0.4):
        _fill(
            image,
            layout,
            [
                (x, qy - 0.55, 0.0),
                (x + 0.22, qy - 0.55, 0.0),
                (x + 0.22, qy - 0.5, 0.0),
                (x, qy - 0.5, 0.0),
            ],
            (40, 190, 220),
        )


def _draw_mat(image: ImageU8, layout: StoreLayout) -> None:
    x0, y0, x1, y1 = layout.mat
    _fill(image, layout, [(x0, y0, 0.0), (x1, y0, 0.0), (x1, y1, 0.0), (x0, y1, 0.0)], (58, 52, 50))
    _fill(
        image,
        layout,
        [
            (x0 + 0.1, y0 + 0.1, 0.0),
            (x1 - 0.1, y0 + 0.1, 0.0),
            (x1 - 0.1, y1 - 0.1, 0.0),
            (x0 + 0.1, y1 - 0.1, 0.0),
        ],
        (84, 70, 62),
    )
    for y in np.arange(y0 + 0.2, y1 - 0.1, 0.12):
        _line(image, layout, (x0 + 0.12, y, 0.0), (x1 - 0.12, y, 0.0), (70, 60, 54))


def _paste_text(
    image: ImageU8, layout: StoreLayout, corners: Corners, text: str, background: BGR, ink: BGR
) -> None:
    """A sign: ``text`` on a plate whose corners (tl, tr, br, bl) are in floor metres."""
    pts = _project(layout, image, corners)
    if pts is None:
        return
    dst = (pts.astype(np.float32) / 16.0).reshape(4, 2)
    plate = np.full((64, 40 * len(text) + 24, 3), background, np.uint8)
    cv2.putText(plate, text, (12, 48), cv2.FONT_HERSHEY_DUPLEX, 1.6, ink, 3, cv2.LINE_AA)
    ph, pw = plate.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    warp = cv2.getPerspectiveTransform(src, dst)
    size = (image.shape[1], image.shape[0])
    sign = cv2.warpPerspective(plate, warp, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), warp, size)
    np.copyto(image, sign, where=mask[:, :, None] > 127)


def _light(image: ImageU8) -> ImageU8:
    """Lens vignetting and a slight blur: real cameras never give hard, even pictures."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    gain = (1.0 - 0.09 * r2)[:, :, None]
    lit = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return np.asarray(cv2.GaussianBlur(lit, (3, 3), 0.7), dtype=np.uint8)


def render_backdrop(layout: StoreLayout, frame_size: tuple[int, int], seed: int) -> ImageU8:
    """The empty shop as seen by the camera: ``(H, W, 3)`` BGR uint8 for ``(W, H)``."""
    rng = np.random.default_rng(seed)
    w, h = frame_size
    image = np.full((h, w, 3), WALL, np.uint8)
    _draw_walls(image, layout)
    _draw_floor(image, layout, rng)
    _draw_mat(image, layout)
    d = layout.room_depth_m - 0.01
    _paste_text(
        image,
        layout,
        [(3.2, d, 2.3), (8.8, d, 2.3), (8.8, d, 1.96), (3.2, d, 1.96)],
        "FRESH DEALS EVERY DAY",
        (40, 40, 190),
        (255, 255, 255),
    )
    # Far things first, so nearer furniture covers them.
    units = sorted(layout.shelves, key=lambda b: -(b.y0 + abs(b.x0 - layout.camera.x) * 0.1))
    for box in units:
        if box.name == "fridges":
            _draw_fridges(image, layout, rng, box)
            continue
        _draw_box(image, layout, box)
        if box.x1 - box.x0 > box.y1 - box.y0:
            _draw_goods(image, layout, rng, "y", box.y0 - 0.005, (box.x0, box.x1), box.height_m)
        else:
            face = box.x1 + 0.005 if layout.camera.x > box.x1 else box.x0 - 0.005
            _draw_goods(image, layout, rng, "x", face, (box.y0, box.y1), box.height_m)
    _draw_checkout(image, layout)
    c = layout.counter
    sign_y, x0, x1 = (c.y0 + c.y1) / 2, c.x0 + 0.7, c.x1 - 0.5
    for x in (x0 + 0.1, x1 - 0.1):
        _line(image, layout, (x, sign_y, 2.35), (x, sign_y, 3.2), (80, 80, 84))
    _paste_text(
        image,
        layout,
        [(x0, sign_y, 2.35), (x1, sign_y, 2.35), (x1, sign_y, 2.0), (x0, sign_y, 2.0)],
        "CHECKOUT",
        (60, 110, 30),
        (255, 255, 255),
    )
    return _light(image)
