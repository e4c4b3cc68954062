"""A segmentation model's output tensor to uint8 0/1 person masks.

Supported output forms (``OutputConfig.form``):

``class_map``
    an integer class id per pixel, ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, H, W, 1)``, any
    integer dtype; person is ``class id == person_class``.
``scores``
    2-class logits or probabilities, ``(N, 2, H, W)`` or ``(N, H, W, 2)``. With
    ``threshold == 0.5`` the two channels are compared (the argmax, ~3 us instead of ~229 us
    for ``np.argmax``), which is right for logits and for probabilities alike. With another
    threshold the person probability is ``softmax(scores)[person]``: for ``score_type:
    logits`` that is ``sigmoid(person - other) > t``, evaluated without exponentials as
    ``person - other > log(t / (1 - t))``; for ``score_type: probabilities`` it is
    ``person > t``.
``probability``
    one person probability per pixel in 0..1, ``(N, H, W)``, ``(N, 1, H, W)`` or
    ``(N, H, W, 1)``; person is ``p > threshold``.

``form: auto`` decides from the dtype and the shape, deterministically:

1. integer (or bool) dtype -> ``class_map``; floating dtype -> ``scores`` when the channel
   axis has 2 entries, ``probability`` when it has 1 or there is no channel axis.
2. The channel axis of a 4-D output is axis 1 when its size is 1 or 2, otherwise axis 3.
   So NCHW wins a tie such as ``(N, 2, H, 2)`` (nvinfer's and PeopleSemSegFormer's layout).
3. A 3-D output has no channel axis; a 2-D ``(H, W)`` output is one frame.

An explicit ``form`` skips step 1 and picks axis 1, else axis 3, by the size that form
needs (2 for ``scores``, 1 otherwise). A float class map is rounded to the nearest id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from edge_app.config import OutputConfig
from edge_app.core.domain import MaskMapping, PersonMask
from edge_app.core.errors import SegmenterError

Form = Literal["class_map", "scores", "probability"]
MaskBatch = npt.NDArray[np.uint8]


def _unsupported(output: np.ndarray, why: str) -> SegmenterError:
    return SegmenterError(
        f"unsupported segmentation output: shape {tuple(output.shape)} dtype {output.dtype}: "
        f"{why}. Supported: an integer class map (N,H,W)/(N,1,H,W)/(N,H,W,1), 2-class "
        "scores (N,2,H,W)/(N,H,W,2), or a probability (N,H,W)/(N,1,H,W)/(N,H,W,1); "
        "set segmenter.output.form to override detection"
    )


def resolve_form(output: np.ndarray, cfg: OutputConfig) -> tuple[Form, int | None]:
    """The output's form and its channel axis (``None`` when it has none).

    Raises ``SegmenterError`` naming the shape and dtype when the output is unsupported.
    """
    integer = output.dtype.kind in "iub"
    if output.dtype.kind not in "iubf":
        raise _unsupported(output, "the dtype is neither integer nor floating point")
    if output.ndim in (2, 3):
        if cfg.form == "scores":
            raise _unsupported(output, "form 'scores' needs a channel axis of 2")
        if cfg.form == "auto":
            return ("class_map" if integer else "probability"), None
        return cfg.form, None
    if output.ndim != 4:
        raise _unsupported(output, f"{output.ndim}-D output")
    if cfg.form == "auto":
        axis = 1 if output.shape[1] in (1, 2) else 3
        channels = output.shape[axis]
        if channels not in (1, 2):
            raise _unsupported(output, "no channel axis of size 1 or 2 at axis 1 or 3")
        if integer:
            if channels != 1:
                raise _unsupported(
                    output,
                    "an integer output must have 1 channel (set form: scores if "
                    "these are quantised 2-class scores)",
                )
            return "class_map", axis
        return ("scores" if channels == 2 else "probability"), axis
    need = 2 if cfg.form == "scores" else 1
    for axis in (1, 3):
        if output.shape[axis] == need:
            return cfg.form, axis
    raise _unsupported(output, f"form {cfg.form!r} needs a channel axis of size {need}")


def _channel(x: np.ndarray, axis: int | None, index: int) -> np.ndarray:
    if axis is None:
        return x
    return x[:, index] if axis == 1 else x[..., index]


def decode_masks(output: np.ndarray, cfg: OutputConfig, count: int) -> MaskBatch:
    """Decode the first ``count`` frames of ``output`` into ``(count, h, w)`` uint8 0/1.

    ``output`` is the raw model output (see the module docstring for the accepted forms);
    its batch may be larger than ``count`` (a padded fixed-batch engine). Raises
    ``SegmenterError`` naming the shape and dtype when it is not a supported form.
    """
    x = output[np.newaxis] if output.ndim == 2 else output
    form, axis = resolve_form(x, cfg)
    if x.shape[0] < count:
        raise SegmenterError(
            f"segmentation output has a batch of {x.shape[0]} (shape {tuple(output.shape)}) "
            f"but {count} frames were sent"
        )
    x = x[:count]
    if form == "class_map":
        ids = _channel(x, axis, 0)
        if ids.dtype.kind == "f":
            ids = np.rint(ids)
        mask = ids == cfg.person_class
    elif form == "probability":
        mask = _channel(x, axis, 0) > cfg.threshold
    else:
        if axis is None:  # unreachable: resolve_form gives scores a channel axis
            raise _unsupported(output, "scores without a channel axis")
        if cfg.person_class > 1:
            raise SegmenterError(
                f"output.person_class is {cfg.person_class} but a 2-class scores output "
                "only has channels 0 and 1"
            )
        person = _channel(x, axis, cfg.person_class)
        other = _channel(x, axis, 1 - cfg.person_class)
        if cfg.threshold == 0.5:
            mask = person > other
        elif cfg.score_type == "logits":
            mask = (person - other) > math.log(cfg.threshold / (1.0 - cfg.threshold))
        else:
            mask = person > cfg.threshold
    return np.ascontiguousarray(mask).view(np.uint8)


def to_person_masks(masks: np.ndarray, input_mappings: Sequence[MaskMapping]) -> list[PersonMask]:
    """Pair each ``(h, w)`` mask of a ``(N, h, w)`` batch with its mapping to the frame.

    ``input_mappings`` map frame pixels to model-input pixels; the output may be smaller
    than the input (SegFormer's is 1/4), so each is rescaled to the mask's own size.
    """
    if masks.ndim != 3 or masks.shape[0] != len(input_mappings):
        raise SegmenterError(
            f"expected {len(input_mappings)} masks of (h, w), got an array of shape "
            f"{tuple(masks.shape)}"
        )
    size = (int(masks.shape[2]), int(masks.shape[1]))
    return [
        PersonMask(masks[i], mapping if mapping.mask_size == size else mapping.resized(size))
        for i, mapping in enumerate(input_mappings)
    ]
