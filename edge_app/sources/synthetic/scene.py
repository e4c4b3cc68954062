"""The built-in demo camera: a synthetic shop floor with people, and its exact truth.

A fixed camera over a small shop (``store_layout``); people walk in through the door,
browse shelves, queue at the checkout and leave (``store_people``); each frame is the
static scene (rendered once) plus the people drawn as simple humanoids, plus mild sensor
noise (``store_render``). For cold starts, the camera may start while the shop is open
(``start_s``: people in view from the first frame), with ``standers`` who stand at the
shelves from before the first frame for minutes, and the lights may change
(``dim_at_s``, ``dim_to``). It is deterministic in ``cfg.seed``: the same config gives the
same frames and the same truth. ``truth(index)`` says where every person is in a frame,
``feet_inside(index, polygon)`` which of them stand in a zone, so measured counts and
dwell can be compared against it.

Example::

    src = SyntheticSource("store-floor", SyntheticSourceConfig(duration_s=10))
    for frame, people in src.frames_with_truth():
        print(frame.t, [p.person_id for p in people if p.visible])
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.config import SyntheticSourceConfig
from edge_app.core.domain import Frame, ImageU8
from edge_app.sources.synthetic.backdrop import render_backdrop
from edge_app.sources.synthetic.layout import STORE_LAYOUT, StoreLayout
from edge_app.sources.synthetic.people import PersonPlan, plan_standers, plan_visits
from edge_app.sources.synthetic.render import PersonShape, draw_person, draw_shadow, person_shape

Polygon = npt.NDArray[np.floating[Any]] | Sequence[Sequence[float]]
"""An ``(N, 2)`` polygon of ``x, y`` frame pixels."""

NOISE_SIGMA = 2.0
"""Standard deviation of the sensor noise, in 8-bit grey levels."""

_NOISE_BANK_BYTES = 24 * 1024 * 1024
"""Memory allowed for pre-computed noise (a few frames, reused in a fixed random order)."""

_NOISE_ORDER_LEN = 251
"""Length of the (prime, so not a multiple of the bank size) cycle of noise frames."""

MAX_HIDDEN_FOR_VISIBLE = 0.5
"""A person counts as visible when at most this fraction of their box is behind others."""


@dataclass(frozen=True, slots=True)
class PersonTruth:
    """Where one person is in one frame.

    ``bbox`` is ``(x, y, w, h)`` frame pixels of the whole body (it may reach past the
    frame edge while someone enters or leaves); ``foot`` its bottom centre ``(x, y)``;
    ``visible`` is true when the box is wholly inside the frame and at most half of it is
    hidden behind nearer people (``hidden`` is that fraction, from box overlaps).
    ``floor_xy`` is the position on the floor in metres, ``moving`` false while standing.
    """

    person_id: int
    bbox: tuple[int, int, int, int]
    foot: tuple[float, float]
    visible: bool
    floor_xy: tuple[float, float]
    moving: bool
    hidden: float


def _hidden_fractions(boxes: Sequence[tuple[int, int, int, int]]) -> list[float]:
    """For boxes sorted far to near: the fraction of each covered by the nearer ones."""
    out = []
    for i, (x, y, w, h) in enumerate(boxes):
        cover = np.zeros((h, w), bool)
        for ox, oy, ow, oh in boxes[i + 1 :]:
            ix0, iy0 = max(ox - x, 0), max(oy - y, 0)
            ix1, iy1 = min(ox + ow - x, w), min(oy + oh - y, h)
            if ix0 < ix1 and iy0 < iy1:
                cover[iy0:iy1, ix0:ix1] = True
        out.append(float(cover.mean()) if w > 0 and h > 0 else 1.0)
    return out


class SyntheticSource:
    """The synthetic shop camera: paced at ``cfg.fps`` when ``cfg.realtime``, as fast as
    it renders otherwise, and finite either way (it ends after ``duration_s``, like a
    file: ``live`` is false, so nothing reconnects it and no frame is dropped).

    Frame ``index`` is at ``t = index / fps`` seconds of the camera's clock and at
    ``start_s + t`` of the shop's (``shop_time``); there are
    ``frame_count = ceil(duration_s * fps)`` frames of ``cfg.width`` x ``cfg.height``.
    """

    def __init__(
        self, camera_id: str, cfg: SyntheticSourceConfig, layout: StoreLayout = STORE_LAYOUT
    ) -> None:
        self.camera_id = camera_id
        self.cfg = cfg
        self.layout = layout
        self.live = False
        self.size = (cfg.width, cfg.height)
        self.frame_count = max(math.ceil(cfg.duration_s * cfg.fps - 1e-9), 1)
        shop_s = cfg.start_s + cfg.duration_s
        # Standers leave at 45 % and 75 % of the run; any others stay to its end.
        leave_at = [cfg.start_s + cfg.duration_s * (0.45 + 0.3 * k) for k in range(cfg.standers)]
        self.plans: tuple[PersonPlan, ...] = plan_visits(
            layout, cfg.seed, cfg.people, shop_s
        ) + plan_standers(layout, cfg.seed, cfg.standers, leave_at, first_id=cfg.people)
        self._stop = threading.Event()
        self._prepare_lock = threading.Lock()
        self._backdrop: ImageU8 | None = None
        self._noise: list[tuple[ImageU8, ImageU8]] = []
        self._noise_order: list[int] = []

    def close(self) -> None:
        """Stop ``frames()``; there is nothing else to release. Safe to call twice."""
        self._stop.set()

    def time_of(self, index: int) -> float:
        """Seconds on the source clock of frame ``index``."""
        return index / self.cfg.fps

    def shop_time(self, index: int) -> float:
        """Seconds on the shop's clock (the people's plans) of frame ``index``."""
        return self.cfg.start_s + index / self.cfg.fps

    def _shapes(self, index: int) -> list[tuple[PersonPlan, PersonShape]]:
        """Everyone in view at frame ``index``, far to near (paint order)."""
        t = self.shop_time(index)
        w, h = self.size
        found = []
        for plan in self.plans:
            shape = person_shape(plan, t, self.layout, self.size)
            if shape is None:
                continue
            x, y, bw, bh = shape.bbox
            if x + bw <= 0 or y + bh <= 0 or x >= w or y >= h:
                continue
            found.append((plan, shape))
        found.sort(key=lambda ps: -ps[1].depth)
        return found

    def truth(self, index: int) -> list[PersonTruth]:
        """The people at least partly in frame ``index``, in person id order."""
        return self._truth(index, self._shapes(index))

    def _truth(self, index: int, shapes: list[tuple[PersonPlan, PersonShape]]) -> list[PersonTruth]:
        t = self.shop_time(index)
        w, h = self.size
        hidden = _hidden_fractions([s.bbox for _, s in shapes])
        out = []
        for (plan, shape), covered in zip(shapes, hidden, strict=True):
            x, y, bw, bh = shape.bbox
            inside = x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
            state = plan.state(t)
            out.append(
                PersonTruth(
                    person_id=plan.person_id,
                    bbox=shape.bbox,
                    foot=(x + bw / 2.0, float(y + bh)),
                    visible=inside and covered <= MAX_HIDDEN_FOR_VISIBLE,
                    floor_xy=(state.x, state.y),
                    moving=state.moving,
                    hidden=covered,
                )
            )
        out.sort(key=lambda p: p.person_id)
        return out

    def feet_inside(self, index: int, polygon: Polygon) -> set[int]:
        """Ids of the people whose foot point is inside ``polygon`` at frame ``index``.

        ``polygon`` is ``(N, 2)`` frame pixels (of this source's frame size); a foot on
        the edge counts as inside.
        """
        return people_inside(self.truth(index), polygon)

    def render(self, index: int) -> ImageU8:
        """Frame ``index`` as a new ``(H, W, 3)`` BGR uint8 image."""
        return self._render(index, self._shapes(index))

    def _render(self, index: int, shapes: list[tuple[PersonPlan, PersonShape]]) -> ImageU8:
        backdrop, noise, order = self._prepared()
        image: ImageU8 = backdrop.copy()
        for _, shape in shapes:
            draw_shadow(image, shape)
        for _, shape in shapes:
            draw_person(image, shape)
        dim_at = self.cfg.dim_at_s
        if dim_at is not None and self.time_of(index) >= dim_at:
            cv2.convertScaleAbs(image, dst=image, alpha=self.cfg.dim_to)
        # Noise over people too: a sensor does not know what it is looking at.
        up, down = noise[order[index % len(order)]]
        cv2.add(image, up, dst=image)
        cv2.subtract(image, down, dst=image)
        return image

    def frames(self) -> Iterator[Frame]:
        """Every frame from ``t = 0`` to ``duration_s``, paced in real time with
        ``cfg.realtime``."""
        for frame, _ in self.frames_with_truth():
            yield frame

    def frames_with_truth(self) -> Iterator[tuple[Frame, list[PersonTruth]]]:
        """Every frame together with its truth (as ``truth(index)``)."""
        wall0 = datetime.now(timezone.utc)
        mono0 = time.monotonic()
        for index in range(self.frame_count):
            if self._stop.is_set():
                return
            t = self.time_of(index)
            if self.cfg.realtime:
                # Paced against a monotonic clock so rendering time does not add up as drift.
                delay = t - (time.monotonic() - mono0)
                if delay > 0 and self._stop.wait(delay):
                    return
            shapes = self._shapes(index)
            image = self._render(index, shapes)
            frame = Frame(self.camera_id, index, t, wall0 + timedelta(seconds=t), image)
            yield frame, self._truth(index, shapes)

    def _prepared(self) -> tuple[ImageU8, list[tuple[ImageU8, ImageU8]], list[int]]:
        """The static scene and the noise bank, made on first use (about 0.5 s).

        Noise is a few frames of ``(add, subtract)`` uint8 pairs (saturating adds are far
        cheaper per frame than drawing random numbers) used in a fixed random order.
        """
        with self._prepare_lock:
            if self._backdrop is None:
                backdrop = render_backdrop(self.layout, self.size, self.cfg.seed)
                rng = np.random.default_rng(self.cfg.seed + 1)
                count = int(np.clip(_NOISE_BANK_BYTES // (2 * backdrop.nbytes), 2, 6))
                for _ in range(count):
                    noise = np.rint(rng.normal(0.0, NOISE_SIGMA, backdrop.shape))
                    up = np.clip(noise, 0, 255).astype(np.uint8)
                    down = np.clip(-noise, 0, 255).astype(np.uint8)
                    self._noise.append((up, down))
                self._noise_order = [int(i) for i in rng.integers(0, count, _NOISE_ORDER_LEN)]
                self._backdrop = backdrop
            return self._backdrop, self._noise, self._noise_order


def people_inside(people: Sequence[PersonTruth], polygon: Polygon) -> set[int]:
    """Ids of ``people`` whose foot point is inside (or on) ``polygon`` (``(N, 2)`` pixels)."""
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return {
        p.person_id
        for p in people
        if cv2.pointPolygonTest(contour, (float(p.foot[0]), float(p.foot[1])), False) >= 0
    }
