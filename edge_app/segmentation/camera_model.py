"""One camera's model for the ``background`` segmenter: scene, bootstrap, timers and tests.

**Frame by frame:**

1. The frame is brought to the model's exposure (a per-channel gain measured where the
   last frame was empty; auto-exposure moves a few per cent as people come and go) and
   classified; the foreground is cleaned (opening, closing) and grouped into blobs with
   the shadows; blobs smaller than ``_MIN_BLOB_FRAC`` of the picture are dropped.
2. When most of the picture differs (lights switched), the model is relit by the global
   gain when that explains the picture (people stay reported); otherwise the camera was
   moved or the scene changed and the camera starts cold.
3. Every ``_LEARN_EVERY_S`` the model learns a composite picture: the frame where the
   scene is empty, its own picture under the (dilated) blobs, brought to the frame's
   lighting. A person standing still stays foreground for as long as they stand, and a
   slow lighting drift is followed under them too.
4. Every ``_MOTION_WINDOW_S`` each blob's motion is measured. Foreground that has stayed
   still for ``still_person_hold_s`` becomes part of the scene (a moved shelf item, a
   parked trolley). And the floor uncovered by someone who was part of the model (a
   ghost) is found and learned at once: foreground that is still, looks plain in the frame
   (no edge stronger than the floor's own), and borders the blob's outline where the model
   has an edge the frame lacks. The test works on the parts of a blob between the frame's
   edges, so the ghost goes and a person standing beside it, whose own outline is an edge
   of the frame, stays.

Durations are seconds of ``Frame.t`` (never frame counts); the learning rate per step is
``1 - exp(-dt / history_s)``, so a frame-rate drop does not change how fast it adapts.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.config import BackgroundSegmenterConfig
from edge_app.core.domain import MaskMapping
from edge_app.segmentation.bootstrap import MIN_SAMPLES, Bootstrap, detail_grey, fill_holes
from edge_app.segmentation.scene_model import (
    SceneModel,
    channel_gain,
    decode_png,
    edge_strength,
    encode_png,
    relit,
    view_gain,
)

log = logging.getLogger(__name__)

_MIN_BLOB_FRAC = 0.001
"""Smallest reported blob, as a fraction of the mask's pixels (about 77 px at 320x240)."""
_MOTION_WINDOW_S = 1.0
"""Motion is measured against a picture at least this old (seconds), whatever the FPS."""
_LEARN_EVERY_S = 0.4
"""The model learns at most this often (seconds), with the time elapsed since."""
_FLICKER_S = 2.0
"""A pixel out of every blob for less than this (seconds) keeps its stillness timer, so
noise flicker at an object's edge does not restart the hold there."""
_MOTION_LEVEL = 20
"""Grey-level change (of a lightly blurred picture) that counts as motion, above noise."""
_MOTION_MIN_FRAC = 0.01
"""Share of a blob's pixels that must change within the window for it to be moving."""
_SUDDEN_CHANGE_FRAC = 0.6
"""Share of changed pixels that means a lighting change (or a moved camera), not people."""
_MAX_GAIN_STEP = 0.15
"""Larger exposure differences are not compensated frame by frame: that is the lights."""
_GAIN_DEADBAND = 0.005
"""Exposure gains closer to 1 than this are not applied (noise in the measurement)."""
_GHOST_EDGE_RATIO = 2.0
"""An outline pixel is a ghost's when the model's edge there is this many times the frame's."""
_GHOST_MIN_EDGE = 40.0
"""Weakest model edge (Sobel L1) a ghost's outline must have."""
_PLAIN_OF_FLOOR = 2.0
"""A pixel looks plain when its edge is at most this many times the empty floor's median."""
_GHOST_MIN_PX = 4
"""Fewest ghost outline pixels that make a still part of a blob uncovered floor."""
_LEFT_SHARE = 0.5
"""A standing person has left when more than this share of their place differs from the
model (which holds them)."""
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


class CameraModel:
    """The scene model, bootstrap and timers of one camera (mutable, owned by the segmenter)."""

    def __init__(
        self, config: BackgroundSegmenterConfig, frame_size: tuple[int, int], t: float
    ) -> None:
        self.frame_size = frame_size
        self.size = mask_size_for(frame_size, config.mask_max_side)
        w, h = self.size
        self.mapping = MaskMapping.stretch(frame_size, self.size)
        self.scale = max(w, h) / _BASE_SIDE
        self.open_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.close_kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (_odd(7 * self.scale),) * 2
        )
        self.protect_kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (_odd(5 * self.scale),) * 2
        )
        self.min_blob_px = max(4, int(_MIN_BLOB_FRAC * w * h))
        self.history_s = config.history_s
        self.hold_s = config.still_person_hold_s
        self.bootstrap_s = config.bootstrap_s
        self.scene = SceneModel(
            self.size, config.var_threshold, config.detect_shadows, config.shadow_threshold
        )
        self.bootstrap: Bootstrap | None = None
        self.last_t = self.ref_t = self.learned_t = t
        self.ref = np.zeros((h, w), np.uint8)
        # Where the background holds a person who stood through the bootstrap.
        self.standing = np.zeros((h, w), bool)
        # Source-clock second since which each pixel's blob has not moved (reset where empty).
        self.still_since = np.full((h, w), t, np.float64)
        self.last_in_blob = np.full((h, w), -math.inf, np.float64)
        self.empty = np.ones((h, w), np.uint8)  # where the last frame was free of people

    @property
    def warming_up(self) -> bool:
        return self.bootstrap is not None

    # --- starts --------------------------------------------------------------------------

    def start_cold(
        self, small: npt.NDArray[np.uint8], image: npt.NDArray[np.uint8], t: float
    ) -> None:
        """Begin a bootstrap at this frame (``small``, and the ``image`` it was made from);
        until it ends, ``small`` is the scene."""
        self.scene.seed(small)
        self.bootstrap = Bootstrap(self.min_blob_px, self.scale)
        self.bootstrap.add(small, detail_grey(image), t)
        self.standing.fill(False)
        self._reset_timers(t)

    def start_warm(self, state: dict[str, Any], small: npt.NDArray[np.uint8], t: float) -> bool:
        """Use a saved scene when ``small`` shows the same view; False when it does not."""
        try:
            self.scene.restore(state)
            standing = decode_png(str(state["standing"]), color=False) > 0
        except (KeyError, ValueError) as exc:
            log.warning("saved background not used (%s); starting cold", exc)
            return False
        if standing.shape != self.standing.shape:
            return False
        gain = view_gain(small, self.scene)
        if gain is None:
            log.info("the camera shows another view than its saved background; starting cold")
            return False
        if np.any(np.abs(gain - 1.0) >= _GAIN_DEADBAND):
            self.scene.relight(gain)
        self.standing = standing
        self.bootstrap = None
        self._reset_timers(t)
        self.ref = _u8(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        return True

    def _trust(self, t: float, small: npt.NDArray[np.uint8]) -> None:
        """The bootstrap is over: its estimate is the scene from now on."""
        if self.bootstrap is None:
            return
        estimate = self.bootstrap.estimate()
        self.scene.seed(estimate.background, estimate.variance)
        self.standing = estimate.standing
        self.bootstrap = None
        self._reset_timers(t)
        self.ref = _u8(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))

    def _reset_timers(self, t: float) -> None:
        self.last_t = self.ref_t = self.learned_t = t
        self.still_since.fill(t)
        self.last_in_blob.fill(-math.inf)
        self.empty.fill(1)

    def state(self) -> dict[str, Any] | None:
        """The learned scene (JSON-ready), the bootstrap's estimate so far while it runs;
        ``None`` before it has enough samples."""
        standing = self.standing
        if self.bootstrap is not None:
            if self.bootstrap.samples < MIN_SAMPLES:
                return None
            estimate = self.bootstrap.estimate()
            scene = SceneModel(self.size, self.scene.var_threshold, False, 0.5)
            scene.seed(estimate.background, estimate.variance)
            saved = scene.state()
            standing = estimate.standing
        else:
            saved = self.scene.state()
        saved["frame_size"] = list(self.frame_size)
        saved["standing"] = encode_png(standing.astype(np.uint8) * 255)
        return saved

    # --- per frame -----------------------------------------------------------------------

    def update(
        self, small: npt.NDArray[np.uint8], image: npt.NDArray[np.uint8], t: float
    ) -> npt.NDArray[np.uint8]:
        """One frame (mask-sized, lightly blurred BGR ``small``, made from the frame's
        ``image``) -> 0/1 person mask."""
        if t < self.last_t:  # the source restarted its clock (a looped file)
            self._reset_timers(t)
        self.last_t = t
        boot = self.bootstrap
        if boot is not None:
            if boot.due(t):
                boot.add(small, detail_grey(image), t)
            if boot.seconds(t) >= self.bootstrap_s and boot.samples >= MIN_SAMPLES:
                self._trust(t, small)
        frame = small  # as it is, for the model to learn
        small = self._to_model_exposure(small)
        foreground, shadow = self.scene.classify(small)
        changed = cv2.countNonZero(foreground) + cv2.countNonZero(shadow)
        if changed > _SUDDEN_CHANGE_FRAC * foreground.size:
            gain = view_gain(frame, self.scene) if self.bootstrap is None else None
            if gain is None:  # a moved camera, another scene, or lights while warming up
                self.start_cold(frame, image, t)
                return np.zeros_like(foreground)
            self.scene.relight(gain)
            foreground, shadow = self.scene.classify(frame)
        if self.standing.any():
            foreground[self.standing] = 1
            shadow[self.standing] = 0
        fg, labels, count, blobs = self._blobs(foreground, shadow)
        self.empty = (cv2.dilate(blobs.view(np.uint8), self.protect_kernel) == 0).view(np.uint8)
        person = (blobs & fg.view(np.bool_)).view(np.uint8)
        if self.bootstrap is not None:
            return person
        if t - self.ref_t >= _MOTION_WINDOW_S:
            absorbed = self._check(frame, labels, count, blobs, t)
            if absorbed is not None:
                person = person & ~absorbed.view(np.uint8)
        if t - self.learned_t >= _LEARN_EVERY_S:
            self._learn(frame, t)
        return person

    def _blobs(
        self, foreground: npt.NDArray[np.uint8], shadow: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32], int, npt.NDArray[np.bool_]]:
        """The cleaned foreground (0/1), the labels of foreground and shadow together, their
        count, and the person blobs (with their shadows; small ones dropped)."""
        fg = _u8(cv2.morphologyEx(foreground, cv2.MORPH_OPEN, self.open_kernel))
        fg = _u8(cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self.close_kernel))
        tracked = fg | _u8(cv2.morphologyEx(shadow, cv2.MORPH_OPEN, self.open_kernel))
        count, label_image = cv2.connectedComponents(tracked, connectivity=8)
        labels: npt.NDArray[np.int32] = np.asarray(label_image, np.int32)
        fg_area = np.bincount(labels[fg.view(np.bool_)], minlength=count)
        fg_area[0] = 0
        kept = fg_area >= self.min_blob_px
        blobs: npt.NDArray[np.bool_] = np.take(kept, labels)  # faster than kept[labels]
        return fg, labels, count, blobs

    def _to_model_exposure(self, small: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The frame times the per-channel gain that matches the model where the last frame
        was empty; unchanged when too little was empty or the gain is about 1."""
        gain = channel_gain(small, self.scene.background, self.empty)
        if gain is None:
            return small
        step = np.abs(gain - 1.0)
        if np.all(step < _GAIN_DEADBAND) or np.any(step > _MAX_GAIN_STEP):
            return small
        return _u8(cv2.transform(small, np.diag(gain)))

    def _learn(self, frame: npt.NDArray[np.uint8], t: float) -> None:
        """Update the model with the time since the last update, except under people."""
        dt = t - self.learned_t
        self.learned_t = t
        protect = (self.empty == 0).view(np.uint8)
        under = relit(self.scene.background, frame, self.empty)
        composite = cv2.copyTo(under, protect, frame.copy())
        self.scene.learn(_u8(composite), 1.0 - math.exp(-dt / self.history_s))

    def _check(
        self,
        frame: npt.NDArray[np.uint8],
        labels: npt.NDArray[np.int32],
        count: int,
        blobs: npt.NDArray[np.bool_],
        t: float,
    ) -> npt.NDArray[np.bool_] | None:
        """Once per motion window: stillness timers, ghosts, and what has become part of
        the scene (learned at once). Returns the pixels absorbed, if any."""
        gray = _u8(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        moved = cv2.absdiff(gray, self.ref) > _MOTION_LEVEL
        self.ref = gray
        self.ref_t = t
        self.last_in_blob[blobs] = t
        self.still_since[(t - self.last_in_blob) > _FLICKER_S] = t
        area = np.bincount(labels.ravel(), minlength=count)
        moved_px = np.bincount(labels[moved], minlength=count)
        moving = moved_px >= np.maximum(4, _MOTION_MIN_FRAC * area)
        moving[0] = False
        self.still_since[np.take(moving, labels)] = t
        absorbed = blobs & ((t - self.still_since) >= self.hold_s)
        ghosts = self._ghosts(gray, blobs, moved)
        if ghosts is not None:
            absorbed |= ghosts
        if self.standing.any():
            absorbed |= self._left(frame, moved)
        if not absorbed.any():
            return None
        self.scene.replace(absorbed, frame)
        self.standing &= ~absorbed
        self.still_since[absorbed] = t
        return absorbed

    def _left(
        self, frame: npt.NDArray[np.uint8], moved: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """The places of standing people who have left: the model holds the person, so
        while they stand there it matches the frame; once most of the place differs and
        nothing moves there, they are gone and what the frame shows is the scene."""
        differs, _ = self.scene.classify(frame)
        count, places = cv2.connectedComponents(self.standing.view(np.uint8), connectivity=8)
        place = np.asarray(places, np.int32)
        size = np.bincount(place.ravel(), minlength=count)
        changed = np.bincount(place[differs > 0], minlength=count)
        busy = np.bincount(place[moved], minlength=count)
        left = (changed > _LEFT_SHARE * size) & (busy == 0)
        left[0] = False
        found: npt.NDArray[np.bool_] = left[place]
        return found

    def _ghosts(
        self,
        gray: npt.NDArray[np.uint8],
        blobs: npt.NDArray[np.bool_],
        moved: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_] | None:
        """Uncovered floor inside the blobs: still, plain parts of a blob (between the
        frame's edges) whose border with the outside is an edge of the model only."""
        outline = cv2.morphologyEx(blobs.view(np.uint8), cv2.MORPH_GRADIENT, self.open_kernel)
        inner = (outline > 0) & blobs
        if not inner.any():
            return None
        kernel = np.ones((3, 3), np.uint8)
        now_edges = edge_strength(gray)
        model_edges = edge_strength(_u8(cv2.cvtColor(self.scene.background, cv2.COLOR_BGR2GRAY)))
        now_near = np.asarray(cv2.dilate(now_edges, kernel), np.float32)
        model_near = np.asarray(cv2.dilate(model_edges, kernel), np.float32)
        ghost_px = inner & (model_near >= _GHOST_MIN_EDGE)
        ghost_px &= model_near > _GHOST_EDGE_RATIO * now_near
        if np.count_nonzero(ghost_px) < _GHOST_MIN_PX:
            return None
        real_px = inner & ~ghost_px & (now_near >= _GHOST_MIN_EDGE)
        floor = now_edges[~blobs]
        floor_level = float(np.median(floor[::7])) if floor.size else 0.0
        plain = now_edges <= max(_GHOST_MIN_EDGE / 2, _PLAIN_OF_FLOOR * floor_level)
        near_motion = cv2.dilate(moved.view(np.uint8), self.protect_kernel) > 0
        candidate = blobs & plain & ~near_motion
        parts, part_image = cv2.connectedComponents(candidate.view(np.uint8), connectivity=4)
        if parts <= 1:
            return None
        part = np.asarray(part_image, np.int32)
        ghost_hits = np.bincount(part[ghost_px], minlength=parts)
        # Real outline pixels are edges of the frame, so never candidates: count them for
        # the part next to them.
        beside = np.asarray(cv2.dilate(part.astype(np.uint16), kernel), np.int32)
        real_hits = np.bincount(beside[real_px], minlength=parts)
        ghost = (ghost_hits >= _GHOST_MIN_PX) & (ghost_hits >= 2 * real_hits)
        ghost[0] = False
        if not ghost.any():
            return None
        found = np.take(ghost, part)
        # With the rim of the part (the model's edge) and what it encloses.
        found = fill_holes(cv2.dilate(found.view(np.uint8), kernel) > 0) & blobs
        return found
