"""The ``background`` segmenter: no model, for static cameras and machines without accelerator.

Foreground is whatever differs from a learned picture of the empty scene (OpenCV's MOG2
mixture model, with its shadow detection: shadows are never reported as people). A shadow
is a pixel darker than the model but of the same colour, and no darker than
``shadow_threshold`` of it (0.6: MOG2's own 0.5 reads small dark shoes, blurred into a
light floor, as shadow and cuts people off above their feet). Plain
MOG2 learns everything that stops moving, so a customer who stands at a shelf for a minute
melts into the background. Here the model is updated only where nobody is:

1. Every frame is first compared with the model without learning (``learningRate=0``).
2. The foreground is cleaned (opening removes noise specks, closing fills holes) and
   grouped into blobs together with the shadows; blobs smaller than ``_MIN_BLOB_FRAC``
   of the picture are dropped.
3. The model then learns a composite picture: the current frame where the scene is empty,
   its own background picture under the (dilated) blobs, brought to the current lighting
   by the per-channel gain measured where the scene is empty. So a person standing still
   stays foreground for as long as they stand, and a slow lighting drift (daylight) is
   followed under them too instead of leaving a stale ring that grows into their blob.
4. Something that stays foreground without moving for ``still_person_hold_s`` is absorbed:
   it is no longer reported and the model learns it (a moved shelf item, a parked trolley).
   A blob counts as moving when part of it changed within the last ``_MOTION_WINDOW_S``;
   a standing person sways and breathes, which keeps their whole blob alive.
5. A blob that appears where the model holds an object's outline but the current frame
   has no outline is a *ghost* (someone who was there when the model was learned has
   left): it is absorbed at once instead of after the hold.
6. Each frame is compared with the model at the model's exposure: a per-channel gain
   measured where the last frame was empty, up to ``_MAX_GAIN_STEP`` (camera
   auto-exposure and white balance move by a few per cent as people in dark or light
   clothes come and go; uncorrected, MOG2 reads the whole floor as shadow or foreground).
   The model itself learns the frames as they are, so it follows a lasting change. When
   most of the picture differs even so (lights switched), the model restarts from the
   current frame rather than reporting the whole scene as a person.
7. For ``history_s / 3`` after a (re)start the model learns everywhere (a warm-up): the
   people in the first frame are learned out again as they walk off, even where their
   ghost touches other people and the outline test cannot separate them. Someone who
   walks in and stands still during the warm-up is learned too. Learning alone takes
   seconds there, so in the warm-up the floor uncovered by someone who was in the first
   frame is also recognised directly: a foreground pixel that has *settled* (its grey
   value is the median of the last ``_SETTLED_S``) and looks like the empty scene next
   to it (within ``_SPREAD_LEVEL`` of the mean colour of its empty neighbours, and within
   ``_WIDE_LEVEL`` of that of a wider neighbourhood) is uncovered floor, and the test
   spreads inward from the ghost's edge, a few pixels per step. Its pixels are
   remembered with their colour and kept out of the mask while the frame still shows
   that colour there, until the model has learned them. People who walk are never
   settled; a person standing still differs from the floor beside them.

Durations are seconds of ``Frame.t`` (never frame counts); the learning rate per frame is
``1 - exp(-dt / history_s)``, so a frame-rate drop does not change how fast it adapts.
Each camera has its own model. Masks have ``mask_max_side`` pixels on their long side (no
upscaling of smaller frames) and map to the frame by a plain stretch.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.config import BackgroundSegmenterConfig
from edge_app.core.domain import Frame, MaskMapping, PersonMask
from edge_app.core.errors import SegmenterError

_MIN_BLOB_FRAC = 0.001
"""Smallest reported blob, as a fraction of the mask's pixels (about 58 px at 320x180)."""
_MOTION_WINDOW_S = 1.0
"""Motion is measured against a picture at least this old (seconds), whatever the FPS."""
_LEARN_EVERY_S = 0.4
"""The model learns at most this often (seconds), with the time elapsed since: half the
cost at 5 FPS and more above, and no change in how fast it adapts."""
_FLICKER_S = 2.0
"""A pixel out of every blob for less than this (seconds) keeps its stillness timer, so
noise flicker at an object's edge does not restart the hold there."""
_MOTION_LEVEL = 20
"""Grey-level change (of a lightly blurred picture) that counts as motion, above noise."""
_MOTION_MIN_FRAC = 0.01
"""Share of a blob's pixels that must change within the window for it to be moving."""
_GHOST_EDGE_RATIO = 0.5
"""A still blob whose outline is this much weaker in the frame than in the model is a ghost."""
_SUDDEN_CHANGE_FRAC = 0.6
"""Share of changed pixels that means a lighting change rather than people."""
_WARM_UP_OF_HISTORY = 1 / 3
"""After a (re)start the model learns everywhere for this share of ``history_s``: whoever
stood in the first frame is learned out again (about ``0.1 * history_s``) when they leave."""
_MIN_EMPTY_FRAC = 0.2
"""Lighting is measured only when at least this share of the picture is free of people."""
_MAX_GAIN_STEP = 0.15
"""Larger exposure differences are not compensated: that is the lights, not the camera."""
_SETTLED_S = 1.6
"""Span of grey samples (one per learning step) whose median a settled pixel matches."""
_SETTLED_LEVEL = 15
"""Grey levels within which a pixel matches the median of its samples."""
_SPREAD_LEVEL = 12
"""Largest difference (per channel) from the empty neighbours' mean for uncovered floor."""
_SPREAD_STEPS = 6
"""Inward growth steps of the uncovered-floor test per learning step."""
_WIDE_SIDE = 31
"""Side of the wider neighbourhood (pixels at 320 px) whose empty floor the uncovered floor
must also match, so that the test does not spread into a person through a patch of them
that looks like the model (where they stood in the first frame)."""
_WIDE_LEVEL = 20
"""Largest difference (per channel) from the wider neighbourhood's empty mean."""
_KNOWN_LEVEL = 20
"""Largest difference (per channel) from a remembered floor colour that still is floor."""
_GAIN_DEADBAND = 0.005
"""Exposure gains closer to 1 than this are not applied (noise in the measurement)."""
_BASE_SIDE = 320
"""Mask long side the kernel sizes below are tuned for; they scale with it."""


def _odd(value: float) -> int:
    return max(3, round(value) | 1)


def _u8(image: object) -> npt.NDArray[np.uint8]:
    """An OpenCV result as the uint8 array it is (for the type checker; no copy)."""
    return np.asarray(image, np.uint8)


def mask_size_for(frame_size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``(width, height)`` of the mask for a frame: long side ``max_side``, never upscaled."""
    w, h = frame_size
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


class _CameraModel:
    """The background model and timers of one camera (mutable, owned by the segmenter)."""

    def __init__(
        self, config: BackgroundSegmenterConfig, frame_size: tuple[int, int], t: float
    ) -> None:
        self.frame_size = frame_size
        self.size = mask_size_for(frame_size, config.mask_max_side)
        w, h = self.size
        self.mapping = MaskMapping.stretch(frame_size, self.size)
        scale = max(w, h) / _BASE_SIDE
        self.open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.close_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(7 * scale),) * 2)
        self.protect_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(5 * scale),) * 2)
        self.min_blob_px = max(4, int(_MIN_BLOB_FRAC * w * h))
        self.history_s = config.history_s
        self.hold_s = config.still_person_hold_s
        self.warm_up_s = config.history_s * _WARM_UP_OF_HISTORY
        self.learn_everywhere_until = t
        self.detect_shadows = config.detect_shadows
        self.mog = cv2.createBackgroundSubtractorMOG2(
            history=500, varThreshold=config.var_threshold, detectShadows=config.detect_shadows
        )
        self.mog.setShadowThreshold(config.shadow_threshold)
        self.raw = np.zeros((h, w), np.uint8)
        self.last_t = t
        self.ref_t = t
        self.learned_t = t
        self.ref: npt.NDArray[np.uint8] = np.zeros((h, w), np.uint8)
        # Source-clock second since which each pixel's blob has not moved (reset where empty).
        self.still_since = np.full((h, w), t, np.float64)
        self.last_in_blob = np.full((h, w), -math.inf, np.float64)
        # Where the last frame was empty (for the exposure gain), and the model's picture.
        self.empty = np.ones((h, w), np.uint8)
        self.bg = np.zeros((h, w, 3), np.uint8)
        self.spread_size = (_odd(5 * scale),) * 2
        self.wide_size = (_odd(_WIDE_SIDE * scale),) * 2
        # Grey frames of the warm-up, and the floor uncovered in it (with its colour).
        self.samples: deque[tuple[float, npt.NDArray[np.uint8]]] = deque()
        self.known = np.zeros((h, w), bool)
        self.known_floor = np.zeros((h, w, 3), np.uint8)

    def restart(self, small: np.ndarray, gray: np.ndarray, t: float) -> None:
        """Learn ``small`` as the whole background (first frame, or a lighting change)."""
        self.raw = _u8(self.mog.apply(small, self.raw, learningRate=1.0))
        self.bg = _u8(self.mog.getBackgroundImage())
        self.empty.fill(1)
        self.samples.clear()
        self.known.fill(False)
        self.ref = gray
        self.ref_t = t
        self.learned_t = t
        self.still_since.fill(t)
        self.last_in_blob.fill(-math.inf)
        self.learn_everywhere_until = t + self.warm_up_s

    def update(self, small: np.ndarray, gray: np.ndarray, t: float) -> npt.NDArray[np.uint8]:
        """One frame (mask-sized BGR ``small`` and its grey ``gray``) -> 0/1 person mask."""
        if t < self.last_t:  # the source restarted its clock (a looped file): restart timers
            self.still_since.fill(t)
            self.last_in_blob.fill(-math.inf)
            self.ref_t = t
            self.learned_t = t
            self.samples.clear()
        self.last_t = t
        frame = small  # as it is, for the model to learn
        small, gray = self._to_model_exposure(small, gray)
        self.raw = _u8(self.mog.apply(small, self.raw, learningRate=0.0))
        if np.count_nonzero(self.raw) > _SUDDEN_CHANGE_FRAC * self.raw.size:
            self.restart(frame, gray, t)
            return np.zeros_like(self.raw)
        if self.known.any():
            self._clear_known_floor(small)
        fg = _u8(
            cv2.morphologyEx((self.raw == 255).view(np.uint8), cv2.MORPH_OPEN, self.open_kernel)
        )
        fg = _u8(cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self.close_kernel))
        tracked = fg
        if self.detect_shadows:
            shadow = (self.raw == 127).view(np.uint8)
            tracked = fg | _u8(cv2.morphologyEx(shadow, cv2.MORPH_OPEN, self.open_kernel))
        count, label_image = cv2.connectedComponents(tracked, connectivity=8)
        labels: npt.NDArray[np.int32] = np.asarray(label_image, np.int32)
        fg_area = np.bincount(labels[fg > 0], minlength=count)
        fg_area[0] = 0
        kept = fg_area >= self.min_blob_px
        blobs = kept[labels]  # person blobs with their shadows
        if t < self.learn_everywhere_until and t - self.learned_t >= _LEARN_EVERY_S:
            floor = self._uncovered_floor(small, gray, blobs, t)
            if floor is not None:
                self.known |= floor
                np.copyto(self.known_floor, small, where=floor[:, :, None])
                blobs &= ~floor
        self.empty = _u8(cv2.dilate(blobs.view(np.uint8), self.protect_kernel) == 0)
        self.last_in_blob[blobs] = t
        self.still_since[(t - self.last_in_blob) > _FLICKER_S] = t
        if t - self.ref_t >= _MOTION_WINDOW_S:
            self._check_motion(gray, labels, count, blobs, t)
        absorbed = blobs & ((t - self.still_since) >= self.hold_s)
        if t - self.learned_t >= _LEARN_EVERY_S:
            self._learn(frame, blobs & ~absorbed, t)
        person = (blobs & ~absorbed & (fg > 0)).view(np.uint8)
        if absorbed.any():
            # What is left of a blob being absorbed is edge fragments, not people.
            person = self._drop_small(person)
        return person

    def _to_model_exposure(
        self, small: npt.NDArray[np.uint8], gray: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """The frame (and its grey) times the per-channel gain that matches the model where
        the last frame was empty; unchanged when too little was empty or the gain is ~1."""
        gain = _channel_gain(  # a quarter of the pixels is plenty
            np.ascontiguousarray(small[::2, ::2]),
            np.ascontiguousarray(self.bg[::2, ::2]),
            np.ascontiguousarray(self.empty[::2, ::2]),
        )
        if gain is None:
            return small, gray
        step = np.abs(gain - 1.0)
        if np.all(step < _GAIN_DEADBAND) or np.any(step > _MAX_GAIN_STEP):
            return small, gray
        small = _u8(cv2.transform(small, np.diag(gain)))
        return small, _u8(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))

    def _clear_known_floor(self, small: npt.NDArray[np.uint8]) -> None:
        """No foreground where the frame shows the remembered colour of uncovered floor."""
        self.known &= self.raw != 0  # once the model has learned it, it is its own business
        diff = _channel_max(cv2.absdiff(small, self.known_floor))
        self.raw[self.known & (diff <= _KNOWN_LEVEL)] = 0

    def _uncovered_floor(
        self,
        small: npt.NDArray[np.uint8],
        gray: npt.NDArray[np.uint8],
        blobs: npt.NDArray[np.bool_],
        t: float,
    ) -> npt.NDArray[np.bool_] | None:
        """Settled foreground that looks like the empty scene beside it (see step 7)."""
        samples = self.samples
        while samples and t - samples[0][0] > _SETTLED_S:
            samples.popleft()
        full = bool(samples) and t - samples[0][0] >= _SETTLED_S - _LEARN_EVERY_S
        samples.append((t, gray))
        if not full or not blobs.any():
            return None
        where = np.nonzero(blobs)
        typical = np.median(np.stack([old[where] for _, old in samples]), axis=0)
        settled = np.zeros_like(blobs)
        settled[where] = np.abs(gray[where] - typical) <= _SETTLED_LEVEL
        floor = np.zeros_like(blobs)
        empty = (~blobs).astype(np.float32)
        image = small.astype(np.float32)
        wide_weight = np.asarray(cv2.blur(empty, self.wide_size), np.float32)
        wide = _empty_mean(image, empty, wide_weight, self.wide_size)
        like_wide = _channel_max(cv2.absdiff(image, wide)) <= _WIDE_LEVEL
        settled &= like_wide
        for _ in range(_SPREAD_STEPS):
            weight = np.asarray(cv2.blur(empty, self.spread_size), np.float32)
            edge = settled & ~floor & (weight > 0.2)  # beside enough empty pixels
            if not edge.any():
                break
            near = _empty_mean(image, empty, weight, self.spread_size)
            new = edge & (_channel_max(cv2.absdiff(image, near)) <= _SPREAD_LEVEL)
            if not new.any():
                break
            floor |= new
            empty[new] = 1.0
        return floor if floor.any() else None

    def _learn(self, small: np.ndarray, keep_out: npt.NDArray[np.bool_], t: float) -> None:
        """Update the model with the time since the last update, except under ``keep_out``."""
        dt = t - self.learned_t
        self.learned_t = t
        if t < self.learn_everywhere_until:
            protect = np.zeros(keep_out.shape, np.uint8)
        else:
            protect = _u8(cv2.dilate(keep_out.view(np.uint8), self.protect_kernel))
        under = _relit(self.bg, small, protect)
        composite = cv2.copyTo(under, protect, small.copy())
        rate = 1.0 - math.exp(-dt / self.history_s)
        self.raw = _u8(self.mog.apply(composite, self.raw, learningRate=rate))
        self.bg = _u8(self.mog.getBackgroundImage())

    def _drop_small(self, mask: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        big = np.asarray(stats)[:, cv2.CC_STAT_AREA] >= self.min_blob_px
        big[0] = False
        return _u8(big[np.asarray(labels)])

    def _check_motion(
        self,
        gray: np.ndarray,
        labels: npt.NDArray[np.int32],
        count: int,
        blobs: npt.NDArray[np.bool_],
        t: float,
    ) -> None:
        """Restart the stillness timer of moving blobs; let ghosts be absorbed at once."""
        moved = cv2.absdiff(gray, self.ref) > _MOTION_LEVEL
        self.ref = gray
        self.ref_t = t
        area = np.bincount(labels.ravel(), minlength=count)
        moved_px = np.bincount(labels[moved], minlength=count)
        moving = moved_px >= np.maximum(4, _MOTION_MIN_FRAC * area)
        moving[0] = False
        self.still_since[moving[labels]] = t
        # Ghost test on still blobs: compare edge strength along each blob's outline in the
        # current frame and in the model's background picture.
        outline = cv2.morphologyEx(blobs.view(np.uint8), cv2.MORPH_GRADIENT, self.open_kernel).view(
            bool
        )
        if not outline.any():
            return
        bg_gray = cv2.cvtColor(self.bg, cv2.COLOR_BGR2GRAY)
        where = labels[outline]
        now_edges = np.bincount(where, _edge_strength(gray)[outline], minlength=count)
        model_edges = np.bincount(where, _edge_strength(bg_gray)[outline], minlength=count)
        ghost = (now_edges < _GHOST_EDGE_RATIO * model_edges) & ~moving
        ghost[0] = False
        if ghost.any():
            self.still_since[ghost[labels]] = -math.inf


def _relit(
    background: npt.NDArray[np.uint8], small: npt.NDArray[np.uint8], protect: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """The background picture under the current lighting, for the model to learn under people.

    Without it the model would never follow a slow lighting drift (daylight, dimmers) where
    someone stands, and the stale ring around them would grow into the blob. The per-channel
    gain is measured where nobody is.
    """
    gain = _channel_gain(background, small, (protect == 0).view(np.uint8))
    if gain is None or np.all(np.abs(gain - 1.0) < 0.003):
        return background
    return _u8(cv2.transform(background, np.diag(gain)))


def _channel_gain(
    source: npt.NDArray[np.uint8], target: npt.NDArray[np.uint8], empty: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64] | None:
    """Per-channel gain that brings ``source`` to ``target``'s brightness, measured where
    ``empty`` is set (nobody there); ``None`` when too little of the picture is empty."""
    if np.count_nonzero(empty) < _MIN_EMPTY_FRAC * empty.size:
        return None
    now = np.array(cv2.mean(source, empty)[:3])
    wanted = np.array(cv2.mean(target, empty)[:3])
    gain: npt.NDArray[np.float64] = wanted / np.maximum(now, 1.0)
    return gain


def _empty_mean(
    image: np.ndarray, empty: np.ndarray, weight: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Mean colour of the empty pixels (``empty`` 1.0) in a box around each pixel of a float
    picture; ``weight`` is the box mean of ``empty`` (the share of them)."""
    total = cv2.blur(cv2.multiply(image, cv2.merge([empty] * 3)), size)
    return np.asarray(cv2.divide(total, cv2.merge([np.maximum(weight, 1e-3)] * 3)))


def _channel_max(image: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over the channels of a 3-channel picture."""
    b, g, r = cv2.split(image)
    return np.asarray(cv2.max(cv2.max(b, g), r))


def _edge_strength(gray: np.ndarray) -> npt.NDArray[np.float32]:
    """Gradient magnitude (L1 of Sobel x/y) of a grey picture, float32."""
    gx = np.asarray(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), np.float32)
    gy = np.asarray(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3), np.float32)
    return np.abs(gx) + np.abs(gy)


class BackgroundSegmenter:
    """Person masks from background subtraction, one model per camera.

    Needs a static camera. Someone present when a camera's model starts (its first frame)
    is learned as background; the ghost they leave behind when they walk off is detected
    and absorbed. Example::

        segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
        masks = segmenter.segment(frames)  # frames of any cameras, any order of cameras
    """

    name = "background"
    batch_size = 16
    """Any number of frames works; this bounds how long one ``segment`` call takes."""

    def __init__(self, config: BackgroundSegmenterConfig) -> None:
        self.config = config
        self._cameras: dict[str, _CameraModel] = {}
        self._closed = False

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        """One ``PersonMask`` per frame, in order; each camera's frames in time order."""
        if self._closed:
            raise SegmenterError("the background segmenter is closed")
        return [self._segment_one(frame) for frame in frames]

    def _segment_one(self, frame: Frame) -> PersonMask:
        model = self._cameras.get(frame.camera_id)
        size = mask_size_for(frame.size, self.config.mask_max_side)
        image = frame.image
        if (image.shape[1], image.shape[0]) != size:
            image = _u8(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
        small = _u8(cv2.GaussianBlur(image, (3, 3), 0))  # camera noise would read as motion
        gray = _u8(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        if model is None or model.frame_size != frame.size:
            # A new camera, or its resolution changed: start its model from this frame.
            model = _CameraModel(self.config, frame.size, frame.t)
            self._cameras[frame.camera_id] = model
            model.restart(small, gray, frame.t)
            mask = np.zeros((size[1], size[0]), np.uint8)
        else:
            mask = model.update(small, gray, frame.t)
        return PersonMask(mask, model.mapping)

    def for_camera(self, camera_id: str) -> BackgroundSegmenter:
        """A segmenter of the same configuration for one camera's own thread (see
        ``PerCameraSegmenter``): the work releases the GIL for most of each frame."""
        return BackgroundSegmenter(self.config)

    def close(self) -> None:
        """Forget every camera's model; ``close`` may be repeated."""
        self._cameras.clear()
        self._closed = True
