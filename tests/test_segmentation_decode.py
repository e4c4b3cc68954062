"""Output decoding: every supported tensor form, tiny arrays, and the mapping to frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge_app.config import OutputConfig
from edge_app.core.domain import MaskMapping
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.decode import (
    decode_masks,
    resolve_form,
    to_person_masks,
)

# Two frames of 3x4 pixels: the person masks every form below encodes. (Not 2 or 1 rows:
# an NHWC tensor with H <= 2 is ambiguous and reads as NCHW, see the test further down.)
TRUTH = np.array(
    [[[1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1]], [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]]],
    np.uint8,
)
# Class ids with a third class (2) where there is no person, so "== 1" is really tested.
CLASSES = np.where(TRUTH == 1, 1, np.where(np.indices(TRUTH.shape).sum(axis=0) % 2, 2, 0))


def class_map(dtype: Any, layout: str) -> np.ndarray:
    ids = CLASSES.astype(dtype)
    return {"NHW": ids, "N1HW": ids[:, None], "NHW1": ids[..., None]}[layout]


def two_channel(person: np.ndarray, other: np.ndarray, layout: str, dtype: Any) -> np.ndarray:
    stacked = np.stack([other, person], axis=1 if layout == "NCHW" else -1)
    return stacked.astype(dtype)


# Logits whose person-minus-background margin is +1 on person pixels, -1 elsewhere.
LOGIT_PERSON = np.where(TRUTH == 1, 0.5, -0.5)
LOGITS = {
    layout: two_channel(LOGIT_PERSON, -LOGIT_PERSON, layout, np.float32)
    for layout in ("NCHW", "NHWC")
}
# Probabilities that sum to 1 per pixel: 0.7 person or 0.3.
PROB = np.where(TRUTH == 1, 0.7, 0.3)


@pytest.mark.parametrize("layout", ["NHW", "N1HW", "NHW1"])
@pytest.mark.parametrize(
    "dtype", [np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32]
)
def test_class_maps_of_any_integer_dtype_and_layout(dtype: Any, layout: str) -> None:
    masks = decode_masks(class_map(dtype, layout), OutputConfig(), 2)
    assert masks.dtype == np.uint8
    np.testing.assert_array_equal(masks, TRUTH)


def test_class_map_person_class_is_configurable() -> None:
    masks = decode_masks(class_map(np.int64, "NHW"), OutputConfig(person_class=2), 2)
    np.testing.assert_array_equal(masks, (CLASSES == 2).astype(np.uint8))


def test_bool_output_is_a_class_map() -> None:
    np.testing.assert_array_equal(decode_masks(TRUTH.astype(bool), OutputConfig(), 2), TRUTH)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_two_class_scores_compare_the_channels(layout: str, dtype: Any) -> None:
    scores = LOGITS[layout].astype(dtype)
    np.testing.assert_array_equal(decode_masks(scores, OutputConfig(), 2), TRUTH)
    probs = two_channel(PROB, 1 - PROB, layout, dtype)
    np.testing.assert_array_equal(decode_masks(probs, OutputConfig(), 2), TRUTH)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_person_class_zero_swaps_the_score_channels(layout: str) -> None:
    masks = decode_masks(LOGITS[layout], OutputConfig(person_class=0), 2)
    np.testing.assert_array_equal(masks, 1 - TRUTH)


@pytest.mark.parametrize(
    ("score_type", "threshold", "values", "expected"),
    [
        # logits margin +1: softmax person probability sigmoid(1) = 0.731
        ("logits", 0.7, (0.0, 1.0), 1),
        ("logits", 0.75, (0.0, 1.0), 0),
        ("logits", 0.25, (0.0, -1.0), 1),  # sigmoid(-1) = 0.269
        ("logits", 0.3, (0.0, -1.0), 0),
        # probabilities: compared as they are
        ("probabilities", 0.6, (0.35, 0.65), 1),
        ("probabilities", 0.7, (0.35, 0.65), 0),
        # the same numbers read as logits: margin 0.3 -> 0.574, under 0.6
        ("logits", 0.6, (0.35, 0.65), 0),
    ],
)
def test_score_threshold_other_than_half_needs_the_score_type(
    score_type: Any, threshold: float, values: tuple[float, float], expected: int
) -> None:
    scores = np.array(values, np.float32).reshape(1, 2, 1, 1)
    cfg = OutputConfig(threshold=threshold, score_type=score_type)
    assert decode_masks(scores, cfg, 1)[0, 0, 0] == expected


def test_logit_threshold_agrees_with_softmax() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2, 2, 8, 8)).astype(np.float32)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    person = exp[:, 1] / exp.sum(axis=1)
    for threshold in (0.1, 0.3, 0.5, 0.8, 0.95):
        masks = decode_masks(logits, OutputConfig(threshold=threshold), 2)
        np.testing.assert_array_equal(masks, (person > threshold).astype(np.uint8))


@pytest.mark.parametrize("layout", ["NHW", "N1HW", "NHW1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_single_channel_probability(layout: str, dtype: Any) -> None:
    p = PROB.astype(dtype)
    p = {"NHW": p, "N1HW": p[:, None], "NHW1": p[..., None]}[layout]
    np.testing.assert_array_equal(decode_masks(p, OutputConfig(), 2), TRUTH)
    assert not decode_masks(p, OutputConfig(threshold=0.75), 2).any()


def test_a_two_dimensional_output_is_one_frame() -> None:
    np.testing.assert_array_equal(decode_masks(CLASSES[0], OutputConfig(), 1), TRUTH[:1])


def test_only_the_first_count_frames_are_decoded() -> None:
    padded = np.concatenate([class_map(np.int32, "NHW"), np.ones((2, 3, 4), np.int32)])
    np.testing.assert_array_equal(decode_masks(padded, OutputConfig(), 2), TRUTH)


@pytest.mark.parametrize(
    ("shape", "dtype", "form", "axis"),
    [
        ((1, 2, 4, 2), np.float32, "scores", 1),  # both axes could be channels: NCHW wins
        ((1, 1, 4, 1), np.float32, "probability", 1),
        ((1, 1, 4, 2), np.float32, "probability", 1),  # axis 1 decides before axis 3
        ((1, 4, 4, 2), np.float32, "scores", 3),
        ((1, 4, 4, 1), np.int64, "class_map", 3),
        ((1, 4, 4), np.float32, "probability", None),
        ((1, 4, 4), np.int32, "class_map", None),
    ],
)
def test_auto_form_is_deterministic(
    shape: tuple[int, ...], dtype: Any, form: str, axis: int | None
) -> None:
    assert resolve_form(np.zeros(shape, dtype), OutputConfig()) == (form, axis)


def test_ambiguous_single_channel_shape_decodes_as_nchw() -> None:
    p = np.array([0.9, 0.1, 0.9, 0.9], np.float32).reshape(1, 1, 4, 1)
    masks = decode_masks(p, OutputConfig(), 1)
    assert masks.shape == (1, 4, 1)
    np.testing.assert_array_equal(masks[0, :, 0], [1, 0, 1, 1])


def test_explicit_form_overrides_detection() -> None:
    # A class map exported as float is rounded to the nearest id.
    ids = CLASSES.astype(np.float32) + 0.2
    np.testing.assert_array_equal(decode_masks(ids, OutputConfig(form="class_map"), 2), TRUTH)
    # Quantised 2-class scores in an integer tensor.
    quantised = two_channel(TRUTH * 100, 50 * np.ones_like(TRUTH), "NCHW", np.int8)
    np.testing.assert_array_equal(decode_masks(quantised, OutputConfig(form="scores"), 2), TRUTH)
    # A probability whose channel sits on axis 3 although axis 1 is 2 wide.
    p = np.array([0.9, 0.2, 0.8, 0.1], np.float32).reshape(1, 2, 2, 1)
    masks = decode_masks(p, OutputConfig(form="probability"), 1)
    np.testing.assert_array_equal(masks[0], [[1, 0], [1, 0]])


@pytest.mark.parametrize(
    ("shape", "dtype", "cfg", "count", "message"),
    [
        ((1, 3, 4, 4), np.float32, {}, 1, r"shape \(1, 3, 4, 4\) dtype float32"),
        ((1, 2, 4, 4), np.int64, {}, 1, r"dtype int64.*integer output must have 1"),
        ((1, 1, 1, 4, 4), np.float32, {}, 1, r"5-D output"),
        ((4,), np.float32, {}, 1, r"1-D output"),
        ((1, 4, 4), np.complex64, {}, 1, r"dtype complex64.*neither integer"),
        ((1, 4, 4), np.float32, {"form": "scores"}, 1, r"needs a channel axis of 2"),
        ((1, 2, 4, 4), np.float32, {"form": "probability"}, 1, r"size 1"),
        ((1, 2, 4, 4), np.float32, {"person_class": 2}, 1, r"person_class is 2"),
        ((1, 4, 4), np.int64, {}, 2, r"batch of 1 .* 2 frames"),
    ],
)
def test_unsupported_outputs_raise_naming_shape_and_dtype(
    shape: tuple[int, ...], dtype: Any, cfg: dict[str, Any], count: int, message: str
) -> None:
    with pytest.raises(SegmenterError, match=message):
        decode_masks(np.zeros(shape, dtype), OutputConfig(**cfg), count)


def test_person_masks_use_the_output_resolution() -> None:
    # SegFormer-like: 512x512 input, 128x128 output, letterboxed 1920x1080 frame.
    input_mapping = MaskMapping((1920, 1080), (512, 512), 512 / 1920, 288 / 1080, 0.0, 112.0)
    masks = np.zeros((1, 128, 128), np.uint8)
    (person,) = to_person_masks(masks, [input_mapping])
    assert person.mapping.mask_size == (128, 128)
    corners = person.mapping.frame_to_mask(np.array([[0.0, 0.0], [1920.0, 1080.0]]))
    np.testing.assert_allclose(corners, [[0, 28], [128, 100]])


def test_person_masks_count_must_match() -> None:
    mapping = MaskMapping.stretch((64, 48), (16, 16))
    with pytest.raises(SegmenterError, match=r"expected 2 masks .* shape \(1, 16, 16\)"):
        to_person_masks(np.zeros((1, 16, 16), np.uint8), [mapping, mapping])
