"""The ``Segmenter`` protocol and the factory that builds one from the config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from edge_app.config import (
    BackgroundSegmenterConfig,
    OnnxSegmenterConfig,
    PreprocessConfig,
    SegmenterConfig,
    TensorRTSegmenterConfig,
)
from edge_app.core.domain import Frame, PersonMask


@runtime_checkable
class Segmenter(Protocol):
    """A batch of frames in, one person mask per frame out, in the same order.

    ``batch_size`` is the largest batch ``segment`` accepts in one call (the inference
    worker batches frames across cameras up to it). Masks are uint8 0/1 at the model's
    output resolution, each with its mapping back to frame pixels.
    """

    name: str
    batch_size: int

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]: ...

    def close(self) -> None: ...


@runtime_checkable
class LearningSegmenter(Segmenter, Protocol):
    """A segmenter that learns each camera's scene (``background``): what it learned can
    be saved and given back, so that a restart is not a cold start.

    ``state(camera)`` is JSON-ready (``None`` when nothing worth keeping was learned yet);
    ``restore(camera, state)`` makes the camera start from it at its next frame (``None``:
    start cold), and raises ``ValueError`` for what is not such a state.
    """

    def state(self, camera_id: str) -> dict[str, Any] | None: ...

    def restore(self, camera_id: str, state: dict[str, Any] | None) -> None: ...


@runtime_checkable
class TwoStageSegmenter(Segmenter, Protocol):
    """A segmenter whose ``segment`` is ``infer(prepare(frames))``, split so a pipeline can
    prepare the next frames (resize, colour, normalise: work without the model) in another
    thread while the model runs on the current ones. ``prepare`` must be safe to call
    beside ``infer``; what it returns is only for ``infer``. ``prepare_apart`` says whether
    that pays: true when the model leaves a core free for it; a model whose parallel
    operators use every core is only delayed by work beside it."""

    prepare_apart: bool

    def prepare(self, frames: Sequence[Frame]) -> Any: ...

    def infer(self, prepared: Any) -> list[PersonMask]: ...


@runtime_checkable
class PerCameraSegmenter(Segmenter, Protocol):
    """A segmenter that keeps a state per camera and gains nothing from batching across
    cameras (the ``background`` model: per-frame OpenCV work that releases the GIL for most
    of its time). A pipeline gives each camera its own instance, made by ``for_camera``, and
    runs it in that camera's own thread, so the cameras use every core; each instance sees
    one camera's frames, in order. The caller owns (and closes) what ``for_camera`` returns.
    """

    def for_camera(self, camera_id: str) -> Segmenter: ...


def create_segmenter(config: SegmenterConfig) -> Segmenter:
    """Build the configured backend; raises ``SegmenterError`` with a clear message."""
    if isinstance(config, BackgroundSegmenterConfig):
        from edge_app.segmentation.background import BackgroundSegmenter

        return BackgroundSegmenter(config)
    if isinstance(config, OnnxSegmenterConfig):
        from edge_app.segmentation.onnx import OnnxSegmenter

        return OnnxSegmenter(config)
    if isinstance(config, TensorRTSegmenterConfig):
        from edge_app.segmentation.tensorrt.segmenter import TensorRTSegmenter

        return TensorRTSegmenter(config)
    raise TypeError(f"unknown segmenter config {type(config).__name__}")


def stretched_input_size(segmenter: Segmenter) -> tuple[int, int] | None:
    """``(width, height)`` every frame is stretched to before inference, or ``None``.

    A model that stretches frames to its input (nvinfer's default, PeopleSemSegFormer's
    contract) sees nothing a camera could not deliver at that size already, so a camera
    that scales in hardware (Jetson's VIC) can hand over frames that small and the CPU
    never touches full-resolution pixels. ``None`` for a letterboxing model (the camera's
    aspect ratio must survive) and for segmenters without a model input (``background``).
    """
    preprocess = getattr(getattr(segmenter, "config", None), "preprocess", None)
    if not isinstance(preprocess, PreprocessConfig) or preprocess.maintain_aspect_ratio:
        return None
    _, height, width = preprocess.infer_dims
    return (width, height)
