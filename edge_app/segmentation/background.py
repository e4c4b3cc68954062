"""The ``background`` segmenter: no model, for static cameras and machines without accelerator.

Foreground is whatever differs from a picture of the empty scene (``SceneModel``: a mean
colour and a noise level per pixel). Shadows (the scene darkened with its own colour, to
no less than ``shadow_threshold`` of its brightness) are never reported as people.

**Cold start.** The empty scene is not one frame (whoever stands in it would become
background, and leave a ghost): for ``bootstrap_s`` seconds the camera's frames are
sampled, and each pixel's empty scene is the colour that recurs most across them, samples
where the picture stood still counting most, so a group walking slowly through it is not
learned in (``Bootstrap``). Until then the masks come from the first frame's picture
and say ``warming_up``: the daemon marks what it counts from them, replay and eval
segment those frames again with the finished model. People who stood through the whole
window are found from their restless outline and kept in the masks (``standing``) until
they leave.

**Restarts are not cold starts.** ``state(camera)`` is the learned scene (the daemon saves
it when it stops); ``restore(camera, state)`` gives it back. On the camera's next frame it
is checked against what the camera shows: the same view (the lighting may differ, people
may stand in front of it) is used at once; a moved or changed camera starts cold.

Frame by frame, each camera's ``CameraModel`` (``camera_model.py``) brings the frame to
the model's exposure, classifies it, relights the model or starts cold when most of the
picture changes, learns where nobody is, and finds what stood still and the ghosts of
people who were part of the scene. Each camera has its own model; nothing is shared
between instances. Masks have ``mask_max_side`` pixels on their long side (no upscaling)
and map to the frame by a plain stretch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from edge_app.config import BackgroundSegmenterConfig
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.camera_model import CameraModel, mask_size_for


class BackgroundSegmenter:
    """Person masks from background subtraction, one model per camera.

    Needs a static camera. A camera's first ``bootstrap_s`` seconds give masks that say
    ``warming_up``; after that the empty scene is known. Its learned scene can be saved
    with ``state`` and given back with ``restore`` (a restart then counts at once).
    Example::

        segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
        segmenter.restore("door", saved)  # optional: what state("door") returned earlier
        masks = segmenter.segment(frames)  # frames of any cameras, any order of cameras
        saved = segmenter.state("door")
    """

    name = "background"
    batch_size = 16
    """Any number of frames works; this bounds how long one ``segment`` call takes."""

    def __init__(self, config: BackgroundSegmenterConfig) -> None:
        self.config = config
        self._cameras: dict[str, CameraModel] = {}
        self._saved: dict[str, dict[str, Any]] = {}
        self._closed = False

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        """One ``PersonMask`` per frame, in order; each camera's frames in time order."""
        if self._closed:
            raise SegmenterError("the background segmenter is closed")
        return [self._segment_one(frame) for frame in frames]

    def state(self, camera_id: str) -> dict[str, Any] | None:
        """The camera's learned scene as JSON-ready values (``None`` when too little was
        seen yet): to save for the camera's next start."""
        model = self._cameras.get(camera_id)
        return self._saved.get(camera_id) if model is None else model.state()

    def restore(self, camera_id: str, state: dict[str, Any] | None) -> None:
        """Start the camera from a saved scene at its next frame (``None``: start cold).
        The state is checked against that frame: a moved camera starts cold."""
        if state is not None and not isinstance(state.get("background"), str):
            raise ValueError("not a background state: no background picture")
        self._cameras.pop(camera_id, None)
        if state is None:
            self._saved.pop(camera_id, None)
        else:
            self._saved[camera_id] = state

    def _segment_one(self, frame: Frame) -> PersonMask:
        model = self._cameras.get(frame.camera_id)
        size = mask_size_for(frame.size, self.config.mask_max_side)
        image = frame.image
        if (image.shape[1], image.shape[0]) != size:
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        # Camera noise would read as motion.
        small = np.asarray(cv2.GaussianBlur(image, (3, 3), 0), np.uint8)
        if model is None or model.frame_size != frame.size:
            # A new camera, or its resolution changed: a saved scene, or a cold start.
            model = CameraModel(self.config, frame.size, frame.t)
            self._cameras[frame.camera_id] = model
            saved = self._saved.pop(frame.camera_id, None)
            warm = saved is not None and saved.get("frame_size") == list(frame.size)
            if not (warm and saved is not None and model.start_warm(saved, small, frame.t)):
                model.start_cold(small, frame.image, frame.t)
                mask = np.zeros((size[1], size[0]), np.uint8)
                return PersonMask(mask, model.mapping, warming_up=True)
        mask = model.update(small, frame.image, frame.t)
        return PersonMask(mask, model.mapping, warming_up=model.warming_up)

    def for_camera(self, camera_id: str) -> _OneCamera:
        """This segmenter as one camera's own thread uses it (see ``PerCameraSegmenter``;
        the work releases the GIL for most of each frame). It works on this segmenter's
        model of the camera, so what the camera learns is in ``state(camera_id)`` and a
        restored scene is used; only that camera's thread touches its model."""
        return _OneCamera(self, camera_id)

    def close(self) -> None:
        """Forget every camera's model; ``close`` may be repeated."""
        self._cameras.clear()
        self._closed = True


class _OneCamera:
    """One camera's view of a ``BackgroundSegmenter`` (``for_camera``): closing it leaves
    the camera's model with its owner, who saves it."""

    name = BackgroundSegmenter.name
    batch_size = 1

    def __init__(self, owner: BackgroundSegmenter, camera_id: str) -> None:
        self._owner = owner
        self.camera_id = camera_id

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        if any(frame.camera_id != self.camera_id for frame in frames):
            raise SegmenterError(f"the segmenter of camera {self.camera_id!r} got another's frame")
        return self._owner.segment(frames)

    def close(self) -> None:
        pass  # the owner keeps the camera's model (its state is saved at the stop)
