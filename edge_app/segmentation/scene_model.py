"""A picture of the empty scene with each pixel's noise: what differs is foreground.

One Gaussian per pixel: a mean colour (BGR) and one variance (grey levels squared, per
channel), as in OpenCV's MOG2 but without its mixture: the background segmenter decides
itself where the model may learn, so one mode per pixel is all it keeps. A pixel is
foreground when its squared colour distance to the mean exceeds ``var_threshold`` times
the variance; a foreground pixel is *shadow* when it is the mean darkened, with the same
colour, to no less than ``shadow_threshold`` of its brightness (MOG2's test).

Per frame everything is exact work on uint8 pictures (squared differences are summed in
float32, which holds those integers exactly) and the shadow test runs only on the
foreground pixels, so a frame costs a fraction of MOG2's (see docs/benchmarks.md), and
results do not depend on how many threads OpenCV uses.
"""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

DEFAULT_VARIANCE = 15.0
"""Variance of a pixel whose noise is not known (MOG2's initial variance)."""
MIN_VARIANCE = 6.0
"""Smallest variance: video compression and blur make measured noise look lower than
it is at other moments."""
MAX_VARIANCE = 75.0
"""Largest variance (MOG2's): noisier pixels still report people of good contrast."""
STATE_VERSION = 1
_SHADOW_GREY_MARGIN = 0.8
"""Pixels darker than this share of ``shadow_threshold`` times the scene's grey are never
shadow (the colour test would reject them): they skip it."""

_ONES = np.ones((1, 3), np.float32)
_ONES.flags.writeable = False  # shared by every instance: read only


class SceneModel:
    """The empty scene of one camera at mask resolution ``(w, h)``.

    ``background`` is the mean picture (uint8 BGR, for relighting and edges); learning
    accumulates in float and is rounded once per ``learn``.
    """

    def __init__(
        self,
        size: tuple[int, int],
        var_threshold: float,
        detect_shadows: bool,
        shadow_threshold: float,
    ) -> None:
        w, h = size
        self.size = size
        self.var_threshold = var_threshold
        self.detect_shadows = detect_shadows
        self.shadow_threshold = shadow_threshold
        self._mean = np.zeros((h, w, 3), np.float32)
        self._variance = np.full((h, w), DEFAULT_VARIANCE, np.float32)
        self.background = np.zeros((h, w, 3), np.uint8)
        self._limit = np.zeros((h, w), np.float32)  # var_threshold * variance, rounded up
        self._grey = np.zeros((h, w), np.uint8)
        self._grey_floor = np.zeros((h, w), np.uint8)
        self._refresh()

    # --- seeding -------------------------------------------------------------------------

    def seed(
        self, background: npt.NDArray[np.uint8], variance: npt.NDArray[np.float32] | None = None
    ) -> None:
        """Take ``background`` as the empty scene; ``variance`` (0 where unknown) as noise."""
        self._mean[:] = background
        if variance is None:
            self._variance.fill(DEFAULT_VARIANCE)
        else:
            known = np.where(variance > 0, variance, DEFAULT_VARIANCE)
            np.clip(known, MIN_VARIANCE, MAX_VARIANCE, out=self._variance)
        self._refresh()

    def replace(self, where: npt.NDArray[np.bool_], picture: npt.NDArray[np.uint8]) -> None:
        """The empty scene is ``picture`` at ``where`` from now on (uncovered floor, an
        object that has become part of the scene)."""
        self._mean[where] = picture[where]
        self._refresh()

    def relight(self, gain: npt.NDArray[np.float64]) -> None:
        """The lights changed: every pixel times the per-channel ``gain``."""
        np.multiply(self._mean, gain.astype(np.float32), out=self._mean)
        np.clip(self._mean, 0, 255, out=self._mean)
        self._refresh()

    # --- per frame -----------------------------------------------------------------------

    def classify(
        self, picture: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """``(foreground, shadow)`` 0/1 masks of a mask-sized BGR picture."""
        distance = squared_distance(picture, self.background)
        foreground = (distance > self._limit).view(np.uint8)
        shadow = np.zeros_like(foreground)
        if self.detect_shadows:
            self._find_shadows(picture, foreground, shadow)
        return foreground, shadow

    def _find_shadows(
        self,
        picture: npt.NDArray[np.uint8],
        foreground: npt.NDArray[np.uint8],
        shadow: npt.NDArray[np.uint8],
    ) -> None:
        """Move the shadow pixels of ``foreground`` to ``shadow`` (both changed in place)."""
        # Only pixels darker than the scene, but not much darker than the shadow threshold
        # allows (with a margin: grey is not the colour projection), can be its shadow:
        # the test runs on those.
        grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
        darker = cv2.compare(grey, self._grey, cv2.CMP_LT)
        bright_enough = cv2.compare(grey, self._grey_floor, cv2.CMP_GE)
        maybe = cv2.bitwise_and(cv2.bitwise_and(darker, bright_enough), foreground)  # 0/1
        where = np.flatnonzero(maybe.view(np.bool_))
        if not where.shape[0]:
            return
        now = np.take(picture.reshape(-1, 3), where, axis=0).astype(np.float32)
        mean = np.take(self.background.reshape(-1, 3), where, axis=0).astype(np.float32)
        norm = np.maximum(_row_dot(mean, mean), 1.0)
        a = _row_dot(now, mean) / norm  # the darkening factor that best explains the pixel
        rest = now - a[:, None] * mean
        limit = self.var_threshold * np.take(self._variance.reshape(-1), where) * a * a
        dark = (a >= self.shadow_threshold) & (a <= 1.0) & (_row_dot(rest, rest) < limit)
        hits = where[dark]
        foreground.reshape(-1)[hits] = 0
        shadow.reshape(-1)[hits] = 1

    def learn(self, picture: npt.NDArray[np.uint8], rate: float) -> None:
        """Move the model ``rate`` (0..1) of the way to ``picture``; the variance follows
        the squared differences where they are noise (below the foreground limit)."""
        distance = squared_distance(picture, self.background)
        noise = distance <= self._limit
        # Per channel: the squared distance over three channels, a third each.
        sample = np.where(noise, distance / 3.0, self._variance)
        cv2.accumulateWeighted(picture, self._mean, rate)
        cv2.accumulateWeighted(sample, self._variance, rate)
        np.clip(self._variance, MIN_VARIANCE, MAX_VARIANCE, out=self._variance)
        self._refresh()

    def _refresh(self) -> None:
        self.background = np.asarray(cv2.convertScaleAbs(self._mean), np.uint8)
        self._grey = np.asarray(cv2.cvtColor(self.background, cv2.COLOR_BGR2GRAY), np.uint8)
        floor = _SHADOW_GREY_MARGIN * self.shadow_threshold
        self._grey_floor = np.asarray(cv2.convertScaleAbs(self._grey, alpha=floor), np.uint8)
        self._refresh_limit()

    def _refresh_limit(self) -> None:
        self._limit = np.ceil(self.var_threshold * self._variance)

    # --- persistence ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The model as JSON-ready values (the pictures as base64 PNG)."""
        noise = np.clip(np.sqrt(self._variance) * 16.0, 0, 255).astype(np.uint8)
        return {
            "version": STATE_VERSION,
            "mask_size": list(self.size),
            "background": encode_png(self.background),
            "noise": encode_png(noise),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load what ``state()`` returned; raises ``ValueError`` on anything else."""
        try:
            version = int(state["version"])
            size = tuple(int(v) for v in state["mask_size"])
            background = decode_png(str(state["background"]), color=True)
            noise = decode_png(str(state["noise"]), color=False)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a background state: {exc!r}") from exc
        if version != STATE_VERSION:
            raise ValueError(f"background state version {version}, expected {STATE_VERSION}")
        w, h = self.size
        if size != self.size or background.shape != (h, w, 3) or noise.shape != (h, w):
            raise ValueError(f"background state is for a {size} mask, this camera's is {self.size}")
        sigma = noise.astype(np.float32) / 16.0
        self.seed(background, sigma * sigma)


def _row_dot(
    x: npt.NDArray[np.floating[Any]], y: npt.NDArray[np.floating[Any]]
) -> npt.NDArray[np.floating[Any]]:
    """Dot products of the rows of two ``(n, 3)`` float32 arrays: the three products,
    then their sum from the first channel on, each rounded to float32 by itself (never a
    fused multiply-add, so the same on every platform; on x86-64 what
    ``np.einsum("ij,ij->i", x, y)`` gives, in a third of its time)."""
    product = x * y
    dot: npt.NDArray[np.floating[Any]] = (product[:, 0] + product[:, 1]) + product[:, 2]
    return dot


def encode_png(picture: npt.NDArray[np.uint8]) -> str:
    """A uint8 picture as base64 PNG text (lossless)."""
    ok, data = cv2.imencode(".png", picture)
    if not ok:
        raise ValueError("cannot encode the picture as PNG")
    return base64.b64encode(np.asarray(data).tobytes()).decode("ascii")


def decode_png(text: str, color: bool) -> npt.NDArray[np.uint8]:
    """Inverse of ``encode_png``; raises ``ValueError`` on anything that is not one."""
    try:
        data = np.frombuffer(base64.b64decode(text, validate=True), np.uint8)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not base64: {exc}") from exc
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    picture = cv2.imdecode(data, flag) if data.size else None
    if picture is None:
        raise ValueError("not a PNG picture")
    return np.asarray(picture, np.uint8)


_VIEW_EXPLAINED = 0.5
"""Share of the picture the model must explain (after relighting) to be the same view:
people may cover the rest."""
_VIEW_EDGES = 0.5
"""Share of the model's strong edges the picture must also show to be the same view."""
_EDGE_MIN = 40.0
"""Weakest gradient (Sobel L1 of a grey picture) that counts as a strong edge."""


def view_gain(picture: npt.NDArray[np.uint8], model: SceneModel) -> npt.NDArray[np.float64] | None:
    """The per-channel gain that brings ``model`` to the lighting of ``picture`` when both
    show the same view (the camera has not moved; people may stand in front of it), else
    ``None``: the model is of another scene.

    The gain is the median ratio of the two pictures (people are a minority of pixels);
    the same view explains most pixels after that gain and shows most of the model's
    strong edges.
    """
    background = model.background
    now = picture[::2, ::2].reshape(-1, 3).astype(np.float32)
    then = background[::2, ::2].reshape(-1, 3).astype(np.float32)
    lit = np.all(then >= 16.0, axis=1)
    gain: npt.NDArray[np.float64] = np.ones(3, np.float64)
    if np.count_nonzero(lit) >= 0.2 * lit.shape[0]:  # else a dark scene: compared as it is
        gain = np.median(now[lit] / then[lit], axis=0).astype(np.float64)
    if not np.all(np.isfinite(gain)) or np.any(gain <= 0.05):
        return None
    relit = np.clip(background.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(
        np.uint8
    )
    distance = squared_distance(picture, relit)
    explained = np.count_nonzero(distance <= model.var_threshold * MAX_VARIANCE)
    if explained < _VIEW_EXPLAINED * distance.size:
        return None
    model_edges = edge_strength(np.asarray(cv2.cvtColor(relit, cv2.COLOR_BGR2GRAY), np.uint8))
    strong = model_edges >= max(_EDGE_MIN, float(np.percentile(model_edges, 90)))
    if np.count_nonzero(strong) < 0.01 * strong.size:
        return gain  # a featureless scene: nothing to misalign
    kernel = np.ones((3, 3), np.uint8)
    grey = np.asarray(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), np.uint8)
    picture_edges = cv2.dilate(edge_strength(grey), kernel)
    agree = np.count_nonzero(picture_edges[strong] >= 0.5 * model_edges[strong])
    return gain if agree >= _VIEW_EDGES * np.count_nonzero(strong) else None


def edge_strength(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Gradient magnitude (L1 of Sobel x/y) of a grey picture, float32."""
    gx = np.asarray(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), np.float32)
    gy = np.asarray(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3), np.float32)
    strength: npt.NDArray[np.float32] = np.abs(gx) + np.abs(gy)
    return strength


MIN_EMPTY_FRAC = 0.2
"""Lighting is measured only when at least this share of the picture is free of people."""


def relit(
    background: npt.NDArray[np.uint8], frame: npt.NDArray[np.uint8], empty: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """The background picture under the frame's lighting (the per-channel gain measured
    where nobody is), for the model to learn under people: without it a slow drift
    (daylight, dimmers) is never followed where someone stands, and the stale ring
    around them grows into their blob."""
    gain = channel_gain(background, frame, empty)
    if gain is None or np.all(np.abs(gain - 1.0) < 0.003):
        return background
    return np.asarray(cv2.transform(background, np.diag(gain)), np.uint8)


def channel_gain(
    source: npt.NDArray[np.uint8], target: npt.NDArray[np.uint8], empty: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64] | None:
    """Per-channel gain that brings ``source`` to ``target``'s brightness, measured where
    ``empty`` is set (nobody there); ``None`` when too little of the picture is empty.
    Means of uint8 pictures are exact sums, whatever the number of threads."""
    count = cv2.countNonZero(empty)
    if count < MIN_EMPTY_FRAC * empty.size:
        return None
    _, set_255 = cv2.threshold(empty, 0, 255, cv2.THRESH_BINARY)
    keep = np.asarray(cv2.cvtColor(set_255, cv2.COLOR_GRAY2BGR), np.uint8)  # 0/255 BGR
    now = _masked_mean(source, keep, count)
    wanted = _masked_mean(target, keep, count)
    gain: npt.NDArray[np.float64] = wanted / np.maximum(now, 1.0)
    return gain


def _masked_mean(
    picture: npt.NDArray[np.uint8], keep: npt.NDArray[np.uint8], count: int
) -> npt.NDArray[np.float64]:
    """Per-channel mean of a BGR picture where ``keep`` (a 0/255 BGR mask of ``count``
    pixels) is set: what ``cv2.mean`` with the one-channel mask returns (the exact integer
    sum times ``1 / count``), from plain vectorised passes rather than a masked one."""
    total = cv2.sumElems(cv2.bitwise_and(picture, keep))
    return np.array(total[:3]) * (1.0 / count)


def squared_distance(
    picture: npt.NDArray[np.uint8], background: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float32]:
    """Per pixel, the squared colour distance of two BGR pictures (float32, exact: sums
    of three squared uint8 differences are integers well within float32's precision)."""
    diff = cv2.absdiff(picture, background)
    square = cv2.multiply(diff, diff, dtype=cv2.CV_32F)
    return np.asarray(cv2.transform(square, _ONES), np.float32)
