"""Drawing the synthetic shop: the static scene once, then people as simple humanoids.

The static picture (tiled floor, walls, shelves with goods, fridges, checkout counter,
door mat, soft vignetting) is rendered once per source. A person is a handful of convex
polygons and ellipses (legs and shoes, torso, arms, neck, head with hair) on a vertical
plane through their floor position, projected through the layout's camera, so perspective
scales and places them exactly as it does the floor. ``person_shape`` computes the pixels
once; the truth's bounding box and the drawing both come from it, so they agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.core.domain import ImageU8
from edge_app.sources.synthetic.layout import BGR, FloatArray, StoreLayout
from edge_app.sources.synthetic.people import PersonPlan, PersonState

STRIDE_M = 1.4
"""Distance of one full gait cycle (two steps): the legs' swing repeats every STRIDE_M."""
SWAY_M = 0.012
"""How far a standing person sways to each side (metres): nobody stands perfectly still."""
SWAY_PERIOD_S = 3.3
"""Seconds of one sway to and fro (each person starts at their own phase)."""


@dataclass(frozen=True, slots=True)
class PersonShape:
    """A person's drawing in pixels: polygons and ellipses in paint order, and their box.

    ``bbox`` is ``(x, y, w, h)``: the pixels the outline covers (it may reach outside
    the frame); anti-aliasing tints at most 3 pixels beyond it. ``depth`` is metres from
    the camera to the feet (paint order).
    """

    polygons: tuple[tuple[np.ndarray, BGR], ...]
    ellipses: tuple[tuple[tuple[float, float], tuple[float, float], float, BGR], ...]
    shadow: tuple[tuple[float, float], tuple[float, float]]
    bbox: tuple[int, int, int, int]
    depth: float


def _body_points(plan: PersonPlan, state: PersonState) -> FloatArray:
    """Body outline points ``(N, 2)`` as (lateral, height) metres, legs in their swing."""
    h, s = plan.height_m, plan.shoulder_m
    # Legs swing sideways in the picture only as much as the walk goes across it.
    across = abs(state.heading[0]) if state.moving else 0.0
    swing = (0.06 + 0.16 * across) * math.sin(2 * math.pi * state.walked_m / STRIDE_M)
    if not state.moving:
        swing = 0.0
    hip, z_hip, z_sh = 0.36 * s, 0.50 * h, 0.815 * h
    fl, fr = -0.085 + swing, 0.085 - swing
    arm_l, arm_r = -s / 2 - 0.02 - 0.5 * swing, s / 2 + 0.02 - 0.5 * swing
    pts = [
        # legs (4 + 4)
        (-hip, z_hip), (-0.005, z_hip), (fl + 0.05, 0.06), (fl - 0.05, 0.06),
        (0.005, z_hip), (hip, z_hip), (fr + 0.05, 0.06), (fr - 0.05, 0.06),
        # shoes (4 + 4)
        (fl - 0.06, 0.07), (fl + 0.07, 0.07), (fl + 0.07, 0.0), (fl - 0.06, 0.0),
        (fr - 0.07, 0.07), (fr + 0.06, 0.07), (fr + 0.06, 0.0), (fr - 0.07, 0.0),
        # torso (6)
        (-hip * 1.05, z_hip - 0.04 * h), (hip * 1.05, z_hip - 0.04 * h), (s / 2, z_sh),
        (0.36 * s, z_sh + 0.03 * h), (-0.36 * s, z_sh + 0.03 * h), (-s / 2, z_sh),
        # arms (4 + 4)
        (-s / 2 + 0.02, z_sh + 0.01 * h), (-s / 2 + 0.11, z_sh - 0.02 * h),
        (arm_l + 0.07, 0.45 * h), (arm_l, 0.45 * h),
        (s / 2 - 0.11, z_sh - 0.02 * h), (s / 2 - 0.02, z_sh + 0.01 * h),
        (arm_r, 0.45 * h), (arm_r - 0.07, 0.45 * h),
        # neck (4)
        (-0.05, z_sh), (0.05, z_sh), (0.045, 0.885 * h), (-0.045, 0.885 * h),
        # hands (centre, edge) x 2; head: centre, lateral edge, top edge; face centre
        (arm_l + 0.035, 0.43 * h), (arm_l + 0.07, 0.43 * h),
        (arm_r - 0.035, 0.43 * h), (arm_r, 0.43 * h),
        (0.0, 0.935 * h), (0.085, 0.935 * h), (0.0, h),
        (0.0, 0.918 * h),
    ]  # fmt: skip
    return np.array(pts, dtype=np.float64)


def person_shape(
    plan: PersonPlan, t: float, layout: StoreLayout, frame_size: tuple[int, int]
) -> PersonShape | None:
    """The drawing of ``plan`` at ``t`` seconds, or ``None`` when absent or behind the camera."""
    if not plan.present(t):
        return None
    state = plan.state(t)
    body = _body_points(plan, state)
    n = len(body)
    sway = 0.0
    if not state.moving:
        sway = SWAY_M * math.sin(2 * math.pi * t / SWAY_PERIOD_S + 1.7 * plan.person_id)
    # The body is a vertical plane facing the camera: lateral offsets run along floor x.
    pts3 = np.column_stack((state.x + sway + body[:, 0], np.full(n, state.y), body[:, 1]))
    shadow3 = np.array(
        [[state.x, state.y, 0.0], [state.x + 0.26, state.y, 0.0], [state.x, state.y + 0.2, 0.0]]
    )
    px, depth = layout.camera.project(np.vstack((pts3, shadow3)), frame_size)
    if float(depth.min()) < 0.3:
        return None
    o = plan.outfit
    sleeve: BGR = (int(o.shirt[0] * 0.85), int(o.shirt[1] * 0.85), int(o.shirt[2] * 0.85))
    polys = (
        (px[0:4], o.trousers), (px[4:8], o.trousers),
        (px[8:12], o.shoes), (px[12:16], o.shoes),
        (px[16:22], o.shirt), (px[22:26], sleeve), (px[26:30], sleeve),
        (px[30:34], o.skin),
    )  # fmt: skip
    ellipses = []
    for centre, edge, colour in ((34, 35, o.skin), (36, 37, o.skin)):
        r = float(np.hypot(*(px[edge] - px[centre])))
        ellipses.append(((float(px[centre, 0]), float(px[centre, 1])), (r, r), 0.0, colour))
    head_c, head_side, head_top, face_c = px[38], px[39], px[40], px[41]
    rx = float(np.hypot(*(head_side - head_c)))
    ry = float(np.hypot(*(head_top - head_c)))
    tilt = math.degrees(math.atan2(head_top[0] - head_c[0], head_c[1] - head_top[1]))
    ellipses.append(((float(head_c[0]), float(head_c[1])), (rx, ry), tilt, o.hair))
    ellipses.append(((float(face_c[0]), float(face_c[1])), (rx * 0.8, ry * 0.8), tilt, o.skin))
    # Half extents of the (tilted) head ellipse, the only curved part that can stick out.
    th = math.radians(tilt)
    half_w = math.hypot(rx * math.cos(th), ry * math.sin(th))
    half_h = math.hypot(rx * math.sin(th), ry * math.cos(th))
    lo = np.minimum(np.min(px[:38], axis=0), [head_c[0] - half_w, head_c[1] - half_h])
    hi = np.maximum(np.max(px[:38], axis=0), [head_c[0] + half_w, head_c[1] + half_h])
    for (cx, cy), (r, _), _, _ in ellipses[:2]:  # the hands: whole circles
        lo = np.minimum(lo, [cx - r, cy - r])
        hi = np.maximum(hi, [cx + r, cy + r])
    # Every pixel the outline touches; pixel i spans [i, i + 1) here.
    x0, y0 = math.floor(lo[0]), math.floor(lo[1])
    x1, y1 = math.floor(hi[0]) + 1, math.floor(hi[1]) + 1
    sc, sx, sy = px[42], px[43], px[44]
    shadow = (
        (float(sc[0]), float(sc[1])),
        (float(np.hypot(*(sx - sc))), float(np.hypot(*(sy - sc)))),
    )
    foot_depth = float(depth[42])
    return PersonShape(polys, tuple(ellipses), shadow, (x0, y0, x1 - x0, y1 - y0), foot_depth)


def _shift(v: float) -> int:
    return round(v * 16)


def draw_person(image: ImageU8, shape: PersonShape) -> None:
    """Paint ``shape`` into ``image`` in place (anti-aliased, 4 bits sub-pixel precision)."""
    for poly, colour in shape.polygons:
        pts = np.round(poly * 16).astype(np.int32)
        cv2.fillConvexPoly(image, pts, colour, cv2.LINE_AA, 4)
    for (cx, cy), (ax, ay), angle, colour in shape.ellipses:
        cv2.ellipse(
            image,
            (_shift(cx), _shift(cy)),
            (_shift(ax), _shift(ay)),
            angle,
            0,
            360,
            colour,
            -1,
            cv2.LINE_AA,
            4,
        )


def draw_shadow(image: ImageU8, shape: PersonShape) -> None:
    """Darken the floor under the person's feet (soft contact shadow), in place."""
    (cx, cy), (ax, ay) = shape.shadow
    h, w = image.shape[:2]
    x0, x1 = max(int(cx - ax) - 1, 0), min(int(cx + ax) + 2, w)
    y0, y1 = max(int(cy - ay) - 1, 0), min(int(cy + ay) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return
    roi = image[y0:y1, x0:x1]
    mask = np.zeros(roi.shape[:2], np.uint8)
    cv2.ellipse(
        mask,
        (_shift(cx - x0), _shift(cy - y0)),
        (_shift(ax), _shift(ay)),
        0,
        0,
        360,
        255,
        -1,
        cv2.LINE_AA,
        4,
    )
    dark = cv2.convertScaleAbs(roi, alpha=0.86)
    np.copyto(roi, dark, where=mask[:, :, None] > 127)
