"""Preprocessing against a hand-written numpy reference, per nvinfer-style setting."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from edge_app.config import PreprocessConfig
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.preprocess import compute_mapping, input_shape, prepare_batch


def picture(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A BGR image whose three channels hold different values everywhere."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[..., 0] //= 3  # blue low, red high: a swapped colour order cannot pass
    image[..., 2] = 170 + image[..., 2] // 3
    return image


def reference(image: np.ndarray, cfg: PreprocessConfig, geometry: tuple[int, ...]) -> np.ndarray:
    """The tensor of one frame, computed the slow, obvious way from a known geometry."""
    new_w, new_h, pad_x, pad_y = geometry
    c, in_h, in_w = cfg.infer_dims
    canvas = np.zeros((in_h, in_w, 3), np.uint8)  # black padding, as nvinfer
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
    )
    if cfg.model_color_format == 2:
        values = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)[..., None].astype(np.float64)
    elif cfg.model_color_format == 0:
        values = canvas[..., ::-1].astype(np.float64)
    else:
        values = canvas.astype(np.float64)
    offsets = np.broadcast_to(np.array(cfg.offsets, np.float64), (c,))
    out = cfg.net_scale_factor * (values - offsets)
    return out.transpose(2, 0, 1) if cfg.tensor_layout == "NCHW" else out


# (config, frame size (w, h), expected geometry: resized w, h and padding x, y)
CASES: list[tuple[dict[str, Any], tuple[int, int], tuple[int, int, int, int]]] = [
    ({}, (1280, 720), (512, 512, 0, 0)),  # PeopleSemSegFormer defaults: RGB, -1..1
    ({"model_color_format": 1}, (64, 48), (512, 512, 0, 0)),  # BGR
    ({"tensor_layout": "NHWC"}, (64, 48), (512, 512, 0, 0)),
    (  # ImageNet-style per-channel offsets
        {"offsets": (123.675, 116.28, 103.53), "net_scale_factor": 0.017},
        (40, 30),
        (512, 512, 0, 0),
    ),
    (  # MediaPipe selfie: NHWC, RGB in 0..1
        {
            "infer_dims": (3, 144, 256),
            "tensor_layout": "NHWC",
            "net_scale_factor": 1 / 255,
            "offsets": (0.0,),
        },
        (640, 427),
        (256, 144, 0, 0),
    ),
    (
        {"infer_dims": (1, 32, 48), "model_color_format": 2, "offsets": (100.0,)},
        (96, 64),
        (48, 32, 0, 0),
    ),
    (
        {
            "infer_dims": (1, 32, 48),
            "model_color_format": 2,
            "offsets": (100.0,),
            "tensor_layout": "NHWC",
        },
        (96, 64),
        (48, 32, 0, 0),
    ),
    # Letterbox: scale = min(W_in / w, H_in / h); padding right/bottom, or centred.
    ({"maintain_aspect_ratio": True}, (1920, 1080), (512, 288, 0, 0)),
    ({"maintain_aspect_ratio": True, "symmetric_padding": True}, (1920, 1080), (512, 288, 0, 112)),
    (
        {
            "maintain_aspect_ratio": True,
            "symmetric_padding": True,
            "infer_dims": (3, 144, 256),
            "tensor_layout": "NHWC",
        },
        (640, 427),
        (216, 144, 20, 0),  # 640 * 144 / 427 = 215.8
    ),
    (
        {"maintain_aspect_ratio": True, "symmetric_padding": True, "infer_dims": (3, 64, 64)},
        (100, 300),
        (21, 64, 21, 0),  # portrait: 100 * 64 / 300 = 21.3; (64 - 21) // 2 = 21
    ),
    ({"maintain_aspect_ratio": True, "infer_dims": (3, 64, 64)}, (100, 300), (21, 64, 0, 0)),
    (
        {
            "maintain_aspect_ratio": True,
            "infer_dims": (1, 64, 64),
            "model_color_format": 2,
            "offsets": (0.0,),
            "symmetric_padding": True,
        },
        (80, 40),
        (64, 32, 0, 16),
    ),
]


@pytest.mark.parametrize(("kwargs", "frame_size", "geometry"), CASES)
def test_matches_the_reference(
    kwargs: dict[str, Any], frame_size: tuple[int, int], geometry: tuple[int, int, int, int]
) -> None:
    cfg = PreprocessConfig(**kwargs)
    image = picture(*frame_size)
    batch = prepare_batch([image], cfg)
    assert batch.tensor.shape == input_shape(cfg, 1)
    assert batch.tensor.dtype == np.float32
    assert batch.tensor.flags.c_contiguous
    np.testing.assert_allclose(batch.tensor[0], reference(image, cfg, geometry), atol=1e-4)
    new_w, new_h, pad_x, pad_y = geometry
    mapping = batch.mappings[0]
    assert mapping.frame_size == frame_size
    assert mapping.mask_size == (cfg.infer_dims[2], cfg.infer_dims[1])
    assert (mapping.offset_x, mapping.offset_y) == (pad_x, pad_y)
    assert mapping.scale_x == pytest.approx(new_w / frame_size[0])
    assert mapping.scale_y == pytest.approx(new_h / frame_size[1])


def test_default_normalisation_is_the_model_cards() -> None:
    # No resize (the frame is already 512x512), so the values are exact: y = 0.007843 (x - 127.5)
    image = np.zeros((512, 512, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 127, 255  # B, G, R
    tensor = prepare_batch([image], PreprocessConfig()).tensor
    np.testing.assert_allclose(
        tensor[0, :, 0, 0],
        [0.007843 * (255 - 127.5), 0.007843 * (127 - 127.5), 0.007843 * (10 - 127.5)],
        rtol=1e-6,
    )


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("frame_size", [(1920, 1080), (300, 100), (100, 300), (333, 333)])
def test_letterbox_mapping_round_trip_and_geometry(
    symmetric: bool, frame_size: tuple[int, int]
) -> None:
    cfg = PreprocessConfig(
        infer_dims=(3, 96, 128), maintain_aspect_ratio=True, symmetric_padding=symmetric
    )
    mapping = compute_mapping(frame_size, cfg)
    w, h = frame_size
    corners = np.array([[0.0, 0.0], [w, h], [w / 3, h / 2]])
    inside = mapping.frame_to_mask(corners)
    np.testing.assert_allclose(mapping.mask_to_frame(inside), corners, atol=1e-9)
    # The picture fills one axis exactly and fits inside the other.
    (x0, y0), (x1, y1) = inside[0], inside[1]
    assert x0 >= 0 and y0 >= 0 and x1 <= 128 + 1e-9 and y1 <= 96 + 1e-9
    assert x1 - x0 == pytest.approx(128) or y1 - y0 == pytest.approx(96)
    if symmetric:
        assert x0 + x1 == pytest.approx(128, abs=1) and y0 + y1 == pytest.approx(96, abs=1)
    else:
        assert (x0, y0) == (0, 0)


def test_a_bright_square_lands_where_the_mapping_says() -> None:
    cfg = PreprocessConfig(
        infer_dims=(1, 64, 64),
        model_color_format=2,
        offsets=(0.0,),
        net_scale_factor=1 / 255,
        maintain_aspect_ratio=True,
        symmetric_padding=True,
    )
    frame = np.zeros((200, 400, 3), np.uint8)
    frame[100:180, 240:360] = 255
    batch = prepare_batch([frame], cfg)
    (x0, y0), (x1, y1) = batch.mappings[0].frame_to_mask(np.array([[240.0, 100.0], [360, 180]]))
    bright = np.argwhere(batch.tensor[0, 0] > 0.5)
    assert bright.min(axis=0).tolist() == [round(y0), round(x0)]
    assert (bright.max(axis=0) + 1).tolist() == [round(y1), round(x1)]


def test_batch_of_different_frame_sizes() -> None:
    cfg = PreprocessConfig(infer_dims=(3, 32, 32), maintain_aspect_ratio=True)
    images = [picture(64, 32, seed=1), picture(20, 40, seed=2), picture(32, 32, seed=3)]
    batch = prepare_batch(images, cfg)
    assert batch.tensor.shape == (3, 3, 32, 32)
    assert [m.frame_size for m in batch.mappings] == [(64, 32), (20, 40), (32, 32)]
    for i, image in enumerate(images):
        alone = prepare_batch([image], cfg).tensor[0]
        np.testing.assert_array_equal(batch.tensor[i], alone)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_writes_into_a_given_buffer_without_a_new_tensor(layout: Any) -> None:
    cfg = PreprocessConfig(infer_dims=(3, 16, 16), tensor_layout=layout)
    out = np.full(input_shape(cfg, 4), 7.0, np.float32)
    images = [picture(32, 24, seed=1), picture(48, 16, seed=2)]
    batch = prepare_batch(images, cfg, out=out)
    assert batch.tensor.shape == input_shape(cfg, 2)
    assert batch.tensor.base is out or np.shares_memory(batch.tensor, out)
    assert batch.tensor.flags.c_contiguous
    np.testing.assert_array_equal(batch.tensor, prepare_batch(images, cfg).tensor)
    assert (out[2:] == 7.0).all(), "rows past the batch are left alone"


def test_letterbox_into_a_reused_buffer_repaints_the_padding() -> None:
    cfg = PreprocessConfig(infer_dims=(3, 16, 16), maintain_aspect_ratio=True)
    out = np.full(input_shape(cfg, 1), 99.0, np.float32)
    batch = prepare_batch([picture(32, 8)], cfg, out=out)
    np.testing.assert_allclose(batch.tensor[0, :, 4:, :], 0.007843 * (0 - 127.5), rtol=1e-6)


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (np.zeros((1, 3, 16, 16), np.float32), r"shape \(1, 3, 16, 16\), need at least \(2,"),
        (np.zeros((4, 16, 16, 3), np.float32), r"need at least \(2, 3, 16, 16\)"),
        (np.zeros((4, 3, 16, 16), np.float64), r"float32, got dtype float64"),
        (np.zeros((4, 3, 16, 32), np.float32)[..., ::2], r"C-contiguous"),
    ],
)
def test_bad_buffers_are_refused(out: np.ndarray, message: str) -> None:
    cfg = PreprocessConfig(infer_dims=(3, 16, 16))
    with pytest.raises(SegmenterError, match=message):
        prepare_batch([picture(8, 8), picture(8, 8)], cfg, out=out)


@pytest.mark.parametrize(
    "image",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.float32)],
)
def test_bad_images_are_refused(image: np.ndarray) -> None:
    with pytest.raises(SegmenterError, match=r"image 1 must be \(H, W, 3\) uint8 BGR"):
        prepare_batch([picture(8, 8), image], PreprocessConfig(infer_dims=(3, 16, 16)))


def test_an_empty_batch_is_an_empty_tensor() -> None:
    batch = prepare_batch([], PreprocessConfig(infer_dims=(3, 16, 16)))
    assert batch.tensor.shape == (0, 3, 16, 16)
    assert batch.mappings == []
