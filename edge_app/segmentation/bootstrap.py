"""The empty scene from the first seconds of a camera: the background segmenter's cold start.

A background model that starts from one frame learns whoever is in it, and their ghosts
stay when they leave. Instead, ``Bootstrap`` keeps a few samples of the first seconds and
estimates each pixel's empty-scene colour as the colour that recurs most across the whole
window, counting mostly the samples in which nothing moved there: the densest cluster of
the samples' colours (those within ``_MOTION_LEVEL`` of one another), each sample
weighing ``_STILL_WEIGHT`` times more where the optical flow to its neighbouring samples
is still. A passer-by covers a pixel for a fraction of a second; a group walking slowly
covers it for most of the window, but its people's clothes differ and they move (the
flow inside an even coat is that of the coat, where a difference between samples a
second apart sees nothing), while the floor between and after them recurs and stays put.

It also estimates each pixel's noise (the spread of its still samples) and finds people
who stood through the whole window: a standing person is never perfectly still (weight
shifts, breathing), so the outline of where they stand keeps changing a little, while the
median there holds the person. The sway of a far person is a fraction of a mask pixel,
so this is looked for in grey samples at the frame's own resolution (up to
``DETAIL_MAX_SIDE``): pixels that differ from their median in a good share of the samples
are *restless*; a restless outline that encloses much more than itself (its convex hull;
the trail of passers-by is solid) is a person, reported as ``standing``: the model holds
them, and the segmenter keeps them in its masks until they leave.

Everything is computed once, when the window is over; the samples are then dropped.
Pure array work on uint8 pictures and OpenCV's optical flow (the same whatever the number
of threads). Memory: the samples go into arrays made once (``_CAPACITY`` samples, grown if
more come), and the estimate works through them in bands of rows (``_BAND_BYTES``), so a
camera holds little more than its samples while it bootstraps (every camera does so at
once when the daemon starts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.segmentation.scene_model import DEFAULT_VARIANCE

SAMPLE_EVERY_S = 0.2
"""Samples are taken at most this often (seconds of the source clock)."""
DETAIL_MAX_SIDE = 960
"""Long side (pixels) of the grey samples in which standing people's sway is looked for."""
MIN_SAMPLES = 6
"""Fewest samples an estimate is made from."""
_MOTION_LEVEL = 12
"""Grey-level change between two samples that counts as motion (above camera noise)."""
_MOTION_SPAN_S = 1.0
"""Samples this far apart (seconds) are compared to find what moves (for the noise)."""
_MIN_STILL = 3
"""A pixel still in fewer samples has no noise estimate (the model's default is used)."""
_FLOW_PX = 1.5
"""Optical flow between two samples (mask pixels at a long side of 320) that is motion."""
_FLOW_WINDOW = 11
"""Window of the optical flow (mask pixels at a long side of 320)."""
_STILL_WEIGHT = 32
"""How many times more a sample counts in the densest colour where its flow is still."""
_RESTLESS_SHARE = 0.3
"""A pixel that differs from its median in at least this share of the samples is restless."""
_SWAY_LEVEL = 10
"""Grey-level difference from a pixel's median that counts (frame resolution, no blur)."""
_STRIP_OF_HEIGHT = 0.12
"""Widest (mean width over height) restless strip a sway makes, as a share of its height."""
_STRIP_MIN_PX = 4.0
"""... and at least this many pixels wide."""
_WIDTH_OF_HEIGHT = 0.5
"""Widest gap between the two sides of one person, as a share of their height."""
_GAP_OF_HEIGHT = 0.3
"""Largest gap in height between two strips of one person, as a share of the taller."""
_HULL_OF_RING = 3.0
"""A standing person's outline encloses at least this many times its own pixels."""
_RESTLESS_MIN_SAMPLES = 10
"""Restlessness needs this many samples (two seconds at the sample rate)."""
_MAD_TO_SIGMA = 1 / 1.265
"""The median of the largest of three channels' absolute Gaussian noise is 1.265 sigma."""
_MOVED = 1
"""Motion flag: the sample differs from one within ``_MOTION_SPAN_S`` (or is near that)."""
_FLOWING = 2
"""Motion flag: the optical flow to the sample before or after is at least ``_FLOW_PX``."""
_CAPACITY = 26
"""Samples room is first made for: 5 s (the default ``bootstrap_s``) at the sample rate,
the first one included; room for more is made as they come."""
_BAND_BYTES = 1 << 18
"""Samples' bytes the estimate works on at a time (a band of rows of every sample)."""


@dataclass(frozen=True, slots=True)
class SceneEstimate:
    """What a bootstrap learned: ``background`` ``(h, w, 3)`` uint8 BGR, ``variance``
    ``(h, w)`` float32 (grey levels squared, per pixel) and ``standing`` ``(h, w)`` bool
    (the background holds a person who stood through the window)."""

    background: npt.NDArray[np.uint8]
    variance: npt.NDArray[np.float32]
    standing: npt.NDArray[np.bool_]


class Bootstrap:
    """Samples of one camera's first seconds, and the empty scene estimated from them.

    ``min_blob_px`` is the smallest standing person (mask pixels); ``kernel_scale`` the
    mask's long side over 320 (kernel sizes follow it).

    >>> import numpy as np
    >>> boot = Bootstrap(min_blob_px=20, kernel_scale=0.25)
    >>> floor = np.full((20, 30, 3), 120, np.uint8)
    >>> for k in range(8):
    ...     frame = floor.copy(); frame[5:15, 3 * k : 3 * k + 4] = 30   # someone walking
    ...     boot.add(frame, frame[:, :, 0], 0.2 * k)
    >>> estimate = boot.estimate()
    >>> int(estimate.background.min()), bool(estimate.standing.any())
    (120, False)
    """

    def __init__(self, min_blob_px: int, kernel_scale: float) -> None:
        self.min_blob_px = min_blob_px
        self._scale = kernel_scale
        # The samples in order: the first ``_count`` of each (made at the first sample).
        self._pictures: npt.NDArray[np.uint8] | None = None  # (capacity, h, w, 3)
        self._details: npt.NDArray[np.uint8] | None = None  # (capacity, H, W)
        self._count = 0
        self.first_t: float | None = None
        self.last_t = -np.inf

    @property
    def samples(self) -> int:
        return self._count

    def seconds(self, t: float) -> float:
        """Seconds of source clock the samples span at ``t``."""
        return 0.0 if self.first_t is None else t - self.first_t

    def due(self, t: float) -> bool:
        """Whether a frame seen at ``t`` is to be a sample."""
        return t - self.last_t >= SAMPLE_EVERY_S - 1e-6

    def add(self, picture: npt.NDArray[np.uint8], detail: npt.NDArray[np.uint8], t: float) -> None:
        """A sample seen at ``t``: the mask-sized BGR ``picture`` and the frame's grey
        ``detail`` (at most ``DETAIL_MAX_SIDE`` on its long side); both are copied."""
        pictures, details = self._pictures, self._details
        if pictures is None or details is None:
            pictures = np.empty((_CAPACITY, *picture.shape), np.uint8)
            details = np.empty((_CAPACITY, *detail.shape), np.uint8)
        elif picture.shape != pictures.shape[1:] or detail.shape != details.shape[1:]:
            raise ValueError("every sample of a bootstrap has the size of the first")
        elif self._count == pictures.shape[0]:
            pictures, details = _grown(pictures), _grown(details)
        self._pictures, self._details = pictures, details
        pictures[self._count] = picture
        details[self._count] = detail
        self._count += 1
        if self.first_t is None:
            self.first_t = t
        self.last_t = t

    def estimate(self) -> SceneEstimate:
        """The empty scene from the samples so far (at least one)."""
        if self._pictures is None or self._details is None or not self._count:
            raise ValueError("a bootstrap needs at least one sample")
        k = self._count
        pictures = self._pictures[:k]  # (K, h, w, 3), a view
        motion = self._motion(pictures)
        h, w = pictures.shape[1:3]
        background = np.empty((h, w, 3), np.uint8)
        variance = np.empty((h, w), np.float32)
        # Per pixel, so band by band: the bands' work arrays are all that is made.
        for rows in _bands(h, k * w * 3):
            band, band_motion = pictures[:, rows], motion[:, rows]
            background[rows] = _densest_colour(band, (band_motion & _FLOWING) == 0)
            # The noise is the spread of the still samples of the scene's own colour.
            band_moving = ((band_motion & _MOVED) != 0) | ~_near(band, background[rows])
            still = k - np.count_nonzero(band_moving, axis=0)  # (rows, w)
            variance[rows] = _noise_variance(band, band_moving, still, background[rows])
        del motion
        standing = np.zeros((h, w), bool)
        if k >= _RESTLESS_MIN_SAMPLES:
            details = self._details[:k]  # (K, H, W), a view
            standing = self._standing(details, pictures[-1], background, variance)
        return SceneEstimate(background, variance, standing)

    def _motion(self, pictures: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """``(K, h, w)`` flags of where each sample moves. ``_MOVED``: it differs from a
        sample up to ``_MOTION_SPAN_S`` before or after it, or is near that (the inside
        of a passer-by of even colour changes little from one sample to the next).
        ``_FLOWING``: the optical flow to the sample before or after it is at least
        ``_FLOW_PX``: the people of a group walking slowly move, even where their
        picture changes little within a second."""
        k = pictures.shape[0]
        motion = np.zeros(pictures.shape[:3], np.uint8)
        reach = min(max(1, round(_MOTION_SPAN_S / SAMPLE_EVERY_S)), k - 1)
        before: list[npt.NDArray[np.uint8]] = []  # the greys of the last `reach` samples
        window = _odd(_FLOW_WINDOW * self._scale)
        flow_limit = (_FLOW_PX * self._scale) ** 2
        for i in range(k):
            grey = np.asarray(cv2.cvtColor(pictures[i], cv2.COLOR_BGR2GRAY), np.uint8)
            for gap in range(1, min(reach, i) + 1):
                differs = np.asarray(cv2.absdiff(grey, before[-gap])) > _MOTION_LEVEL
                motion[i] |= differs
                motion[i - gap] |= differs
            if before:
                flow = cv2.calcOpticalFlowFarneback(
                    before[-1], grey, None, 0.5, 3, window, 3, 5, 1.1, 0
                )
                flowing = np.square(flow).sum(axis=2) >= flow_limit
                motion[i - 1 : i + 1] |= np.where(flowing, _FLOWING, 0).astype(np.uint8)
            before = [*before, grey][-reach:] if reach else []
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(9 * self._scale),) * 2)
        for i in range(k):
            moved = np.asarray(cv2.dilate(motion[i] & _MOVED, kernel), np.uint8)
            motion[i] = (motion[i] & _FLOWING) | moved
        return motion

    def _standing(
        self,
        details: npt.NDArray[np.uint8],
        last: npt.NDArray[np.uint8],
        background: npt.NDArray[np.uint8],
        variance: npt.NDArray[np.float32],
    ) -> npt.NDArray[np.bool_]:
        """Restless outlines that enclose a person (their convex hulls, mask-sized), where
        the background holds what the last sample shows (the person is still there)."""
        k, detail_h, detail_w = details.shape
        middle = (k - 1) // 2
        median = np.empty((detail_h, detail_w), np.uint8)
        for rows in _bands(detail_h, k * detail_w):
            median[rows] = np.partition(details[:, rows], middle, axis=0)[middle]
        away = np.zeros(median.shape, np.min_scalar_type(k))  # samples away from the median
        for detail in details:
            away += np.asarray(cv2.absdiff(detail, median)) > _SWAY_LEVEL
        # Counts are whole: at least the share of K is at least its ceiling.
        restless = (away >= math.ceil(_RESTLESS_SHARE * k)).astype(np.uint8)
        h, w = background.shape[:2]
        found: npt.NDArray[np.bool_] = np.zeros((h, w), bool)
        if not restless.any():
            return found
        ring = np.asarray(
            cv2.morphologyEx(restless, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)), np.uint8
        )
        contours, _ = cv2.findContours(ring, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hulls = np.zeros((detail_h, detail_w), np.uint8)
        min_area = self.min_blob_px * (detail_w * detail_h) / (w * h)
        # A person's sway makes thin strips along their outline; passers-by leave solid
        # trails, as wide as a person.
        strips = [np.asarray(c, np.int32) for c in contours]
        strips = [c for c in strips if _thin(c)]
        for group in _side_by_side(strips):
            hull = cv2.convexHull(np.concatenate(group))
            area = cv2.contourArea(hull)
            if area < min_area:
                continue
            inside = np.zeros_like(hulls)
            cv2.fillPoly(inside, [hull], 1)
            # A person's outline encloses their body; the trail of passers-by is solid.
            if area >= _HULL_OF_RING * np.count_nonzero(ring & inside):
                hulls |= inside
        if not hulls.any():
            return found
        standing = np.asarray(cv2.resize(hulls, (w, h), interpolation=cv2.INTER_AREA)) > 0
        diff = cv2.absdiff(last, background).astype(np.float32)
        same = np.sum(diff * diff, axis=2) <= 16.0 * np.maximum(variance, DEFAULT_VARIANCE)
        found = np.logical_and(standing, same)
        return found


def _thin(contour: npt.NDArray[np.int32]) -> bool:
    """Whether a contour is a thin strip: on average narrower than ``_STRIP_OF_HEIGHT`` of
    its height (at least ``_STRIP_MIN_PX``)."""
    _, _, _, height = cv2.boundingRect(contour)
    width = cv2.contourArea(contour) / max(height, 1)
    return width <= max(_STRIP_MIN_PX, _STRIP_OF_HEIGHT * height)


def _side_by_side(contours: Sequence[npt.NDArray[np.int32]]) -> list[list[npt.NDArray[np.int32]]]:
    """Contours grouped with those near them: a person's sway shows in strips along their
    outline (left and right, body and legs), no further apart sideways than a person is
    wide (``_WIDTH_OF_HEIGHT`` of the taller strip's height) and with gaps in height of
    at most ``_GAP_OF_HEIGHT`` of it."""
    boxes = [cv2.boundingRect(c) for c in contours]
    owner = list(range(len(boxes)))

    def root(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    for i, (xi, yi, wi, hi) in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            xj, yj, wj, hj = boxes[j]
            tall = max(hi, hj)
            gap_x = max(xi, xj) - min(xi + wi, xj + wj)
            gap_y = max(yi, yj) - min(yi + hi, yj + hj)
            if gap_x <= _WIDTH_OF_HEIGHT * tall and gap_y <= _GAP_OF_HEIGHT * tall:
                owner[root(j)] = root(i)
    groups: dict[int, list[npt.NDArray[np.int32]]] = {}
    for i, contour in enumerate(contours):
        groups.setdefault(root(i), []).append(contour)
    return list(groups.values())


def fill_holes(region: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``region`` with every area it encloses (not connected to the picture's border)."""
    h, w = region.shape
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = region
    mask = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(outside, mask, (0, 0), 2)
    filled: npt.NDArray[np.bool_] = outside[1:-1, 1:-1] != 2
    return filled


def _densest_colour(
    pictures: npt.NDArray[np.uint8], still: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint8]:
    """Per pixel: the colour that recurs most. Each sample's support is the weight of the
    samples within ``_MOTION_LEVEL`` of it in every channel (itself included), a sample
    weighing ``_STILL_WEIGHT`` where ``still`` and 1 elsewhere; the result is the
    (lower) median, per channel, of the samples within ``_MOTION_LEVEL`` of the
    best-supported one (the first of equals)."""
    k = pictures.shape[0]
    weight = np.where(still, _STILL_WEIGHT, 1).astype(np.uint8)  # (K, rows, w)
    support = weight.astype(np.uint32)
    low, high = (0, 0, 0), (_MOTION_LEVEL,) * 3
    for i in range(k):
        for j in range(i + 1, k):
            near = np.asarray(cv2.inRange(cv2.absdiff(pictures[i], pictures[j]), low, high))
            support[i] += np.asarray(cv2.bitwise_and(weight[j], near), np.uint8)
            support[j] += np.asarray(cv2.bitwise_and(weight[i], near), np.uint8)
    best = np.argmax(support, axis=0)
    del support, weight
    chosen = np.take_along_axis(pictures, best[None, :, :, None], axis=0)[0]
    # Samples away from the chosen colour set to 255 sort last, so its cluster is first.
    near = _near(pictures, chosen)
    ordered = pictures.copy()
    ordered[~near] = 255
    ordered.sort(axis=0)
    rank = (np.count_nonzero(near, axis=0) - 1) // 2  # the chosen sample is one: >= 0
    densest: npt.NDArray[np.uint8] = np.take_along_axis(ordered, rank[None, :, :, None], axis=0)[0]
    return densest


def _near(pictures: npt.NDArray[np.uint8], colour: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """``(K, rows, w)``: where each sample is within ``_MOTION_LEVEL`` of ``colour`` in
    every channel."""
    near = np.empty(pictures.shape[:3], bool)
    for i, picture in enumerate(pictures):
        band = cv2.inRange(cv2.absdiff(picture, colour), (0, 0, 0), (_MOTION_LEVEL,) * 3)
        near[i] = np.asarray(band) != 0
    return near


def _noise_variance(
    pictures: npt.NDArray[np.uint8],
    moving: npt.NDArray[np.bool_],
    still: npt.NDArray[np.intp],
    background: npt.NDArray[np.uint8],
) -> npt.NDArray[np.float32]:
    """Per-pixel noise variance (grey levels squared, the worst channel) from the median
    absolute deviation of the still samples; 0 where too few were still (the model then
    takes its default)."""
    k = pictures.shape[0]
    difference = np.maximum(pictures, background)
    difference -= np.minimum(pictures, background)  # |picture - background|, exact in uint8
    deviation = np.max(difference, axis=3)
    del difference
    deviation[moving] = 255
    deviation.sort(axis=0)
    rank = np.clip((still - 1) // 2, 0, k - 1)
    mad = np.take_along_axis(deviation, rank[None], axis=0)[0].astype(np.float32)
    sigma = _MAD_TO_SIGMA * mad
    variance: npt.NDArray[np.float32] = np.where(still >= _MIN_STILL, sigma * sigma, 0.0).astype(
        np.float32
    )
    return variance


def _bands(height: int, row_bytes: int) -> list[slice]:
    """Slices of ``height`` rows, each at most ``_BAND_BYTES`` of ``row_bytes`` a row
    (at least one row)."""
    step = max(1, _BAND_BYTES // max(1, row_bytes))
    return [slice(top, min(top + step, height)) for top in range(0, height, step)]


def _grown(samples: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``samples`` in an array with room for half as many again."""
    grown = np.empty((samples.shape[0] * 3 // 2 + 1, *samples.shape[1:]), np.uint8)
    grown[: samples.shape[0]] = samples
    return grown


def _odd(value: float) -> int:
    return max(3, round(value) | 1)


def detail_grey(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """A frame's grey picture for ``Bootstrap.add``: at most ``DETAIL_MAX_SIDE`` long."""
    h, w = image.shape[:2]
    if max(w, h) > DETAIL_MAX_SIDE:
        scale = DETAIL_MAX_SIDE / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
