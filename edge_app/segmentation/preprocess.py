"""Frames to a model's input tensor, configured like DeepStream nvinfer.

Per pixel and channel, ``y = net_scale_factor * (x - offset[c])`` where ``x`` is the 0..255
value in ``model_color_format`` order (0 RGB, 1 BGR, 2 GRAY). A model that wants its input
in another range is configured through the same two numbers: PeopleSemSegFormer's -1..1 is
``0.007843 * (x - 127.5)``, a 0..1 model is ``net_scale_factor = 1/255`` with offsets 0.

The frame is resized to ``infer_dims`` (bilinear, on the uint8 picture, before the colour
and float conversions, as nvinfer does): stretched to fill it, or with
``maintain_aspect_ratio`` scaled to fit and padded with black (pixel value 0 before
normalisation) at the right and bottom, or on both sides with ``symmetric_padding``.

Example::

    >>> import numpy as np
    >>> from edge_app.config import PreprocessConfig
    >>> cfg = PreprocessConfig(infer_dims=(3, 64, 64), maintain_aspect_ratio=True)
    >>> batch = prepare_batch([np.zeros((90, 160, 3), np.uint8)], cfg)
    >>> batch.tensor.shape, batch.mappings[0].mask_size, batch.mappings[0].offset_y
    ((1, 3, 64, 64), (64, 64), 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge_app.config import PreprocessConfig
from edge_app.core.domain import MaskMapping
from edge_app.core.errors import SegmenterError

FloatArray = npt.NDArray[np.float32]

# BGR (OpenCV's order) -> channel indices in the model's order, per model_color_format.
_CHANNEL_ORDER = {0: (2, 1, 0), 1: (0, 1, 2)}


@dataclass(frozen=True)
class PreparedBatch:
    """A model input tensor and, per frame, where its pixels went.

    ``tensor`` is float32, ``(N, C, H, W)`` or ``(N, H, W, C)`` per ``tensor_layout``,
    C-contiguous. ``mappings[i]`` maps frame ``i``'s pixels to model-input pixels
    (``mask_size = (W_in, H_in)``), padding included.
    """

    tensor: FloatArray
    mappings: list[MaskMapping]


def input_shape(cfg: PreprocessConfig, batch: int) -> tuple[int, int, int, int]:
    """The tensor shape for ``batch`` frames in ``cfg.tensor_layout``."""
    c, h, w = cfg.infer_dims
    return (batch, c, h, w) if cfg.tensor_layout == "NCHW" else (batch, h, w, c)


def compute_mapping(frame_size: tuple[int, int], cfg: PreprocessConfig) -> MaskMapping:
    """How a ``(width, height)`` frame lands in the model input (stretch or letterbox).

    The scales are the ones the resize really applies (after rounding the picture's size
    to whole pixels), so ``frame_to_mask`` is exact for the tensor that is produced.
    """
    _, in_h, in_w = cfg.infer_dims
    if not cfg.maintain_aspect_ratio:
        return MaskMapping.stretch(frame_size, (in_w, in_h))
    w, h = frame_size
    scale = min(in_w / w, in_h / h)
    new_w = min(in_w, max(1, round(w * scale)))
    new_h = min(in_h, max(1, round(h * scale)))
    pad_x = (in_w - new_w) // 2 if cfg.symmetric_padding else 0
    pad_y = (in_h - new_h) // 2 if cfg.symmetric_padding else 0
    return MaskMapping((w, h), (in_w, in_h), new_w / w, new_h / h, float(pad_x), float(pad_y))


def _checked_out(out: np.ndarray, shape: tuple[int, int, int, int]) -> FloatArray:
    if out.dtype != np.float32 or not out.flags.c_contiguous:
        raise SegmenterError(
            f"preprocess output buffer must be C-contiguous float32, got dtype {out.dtype} "
            f"(contiguous: {out.flags.c_contiguous})"
        )
    if out.ndim != 4 or out.shape[1:] != shape[1:] or out.shape[0] < shape[0]:
        raise SegmenterError(
            f"preprocess output buffer has shape {out.shape}, need at least {shape} "
            "(allocate it with the configured infer_dims, tensor_layout and batch size)"
        )
    return out


def _check_image(i: int, image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SegmenterError(
            f"image {i} must be (H, W, 3) uint8 BGR, got shape {image.shape} dtype {image.dtype}"
        )


def _write_frame(
    image: np.ndarray, mapping: MaskMapping, cfg: PreprocessConfig, dst: FloatArray
) -> None:
    """Resize, reorder and normalise one BGR image into ``dst`` (one frame's slot)."""
    scale = np.float32(cfg.net_scale_factor)
    channels = cfg.infer_dims[0]
    offsets = np.broadcast_to(np.asarray(cfg.offsets, np.float32), (channels,))
    nchw = cfg.tensor_layout == "NCHW"
    in_w, in_h = mapping.mask_size
    new_w = round(mapping.scale_x * mapping.frame_size[0])
    new_h = round(mapping.scale_y * mapping.frame_size[1])
    x0, y0 = int(mapping.offset_x), int(mapping.offset_y)
    if (new_w, new_h) != (in_w, in_h):
        # Letterbox: the padding is a black picture (0) normalised like any other pixel.
        for c in range(channels):
            pad_value = scale * (np.float32(0.0) - offsets[c])
            if nchw:
                dst[c] = pad_value
            else:
                dst[..., c] = pad_value
    picture = image
    if (image.shape[1], image.shape[0]) != (new_w, new_h):
        picture = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if cfg.model_color_format == 2:
        gray = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
        region = (
            dst[0, y0 : y0 + new_h, x0 : x0 + new_w]
            if nchw
            else dst[y0 : y0 + new_h, x0 : x0 + new_w, 0]
        )
        np.subtract(gray, offsets[0], out=region, dtype=np.float32)
        np.multiply(region, scale, out=region)
        return
    order = _CHANNEL_ORDER[cfg.model_color_format]
    if nchw:
        for c, src in enumerate(order):
            plane = dst[c, y0 : y0 + new_h, x0 : x0 + new_w]
            np.subtract(picture[:, :, src], offsets[c], out=plane, dtype=np.float32)
            np.multiply(plane, scale, out=plane)
    else:
        region = dst[y0 : y0 + new_h, x0 : x0 + new_w, :]
        ordered = picture if order == (0, 1, 2) else cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
        np.subtract(ordered, offsets, out=region, dtype=np.float32)
        np.multiply(region, scale, out=region)


def prepare_batch(
    images: Sequence[np.ndarray], cfg: PreprocessConfig, out: np.ndarray | None = None
) -> PreparedBatch:
    """Turn BGR uint8 ``(H, W, 3)`` images into one model input tensor.

    When ``out`` is given (e.g. a page-locked host buffer of shape ``(max_batch, ...)``),
    the frames are written into ``out[:N]`` without allocating a new tensor and the
    returned ``tensor`` is a view of it. Raises ``SegmenterError`` for an image or buffer
    of the wrong shape or type.
    """
    shape = input_shape(cfg, len(images))
    if out is None:
        tensor: FloatArray = np.empty(shape, np.float32)
    else:
        tensor = _checked_out(out, shape)[: shape[0]]
    mappings: list[MaskMapping] = []
    for i, image in enumerate(images):
        _check_image(i, image)
        mapping = compute_mapping((int(image.shape[1]), int(image.shape[0])), cfg)
        _write_frame(image, mapping, cfg, tensor[i])
        mappings.append(mapping)
    return PreparedBatch(tensor, mappings)
