"""The live preview: mask overlay geometry, and a real segmenter counting on a real video."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.config import (
    AnalyticsConfig,
    BackgroundSegmenterConfig,
    OnnxSegmenterConfig,
    OutputConfig,
    PreprocessConfig,
    SegmenterConfig,
)
from edge_app.config.zones import load_zones
from edge_app.core.domain import MaskMapping, PersonMask
from edge_app.segmentation.masks import mask_in_frame
from edge_app.sources.file import FileSource
from edge_app.zone_editor.preview import LivePreview, render_overlay
from tests.conftest import shared_data

REPO = Path(__file__).resolve().parent.parent


def test_the_preview_tints_exactly_the_frame_pixels_the_mask_maps_to() -> None:
    # A 1280x720 camera seen through a 320x180 mask: each mask pixel covers 4x4 frame
    # pixels, and the picture must put the person where the analytics count them.
    mapping = MaskMapping.stretch((1280, 720), (320, 180))
    mask = np.zeros((180, 320), np.uint8)
    mask[40:90, 100:131] = 1
    person = PersonMask(mask, mapping)
    image = np.full((720, 1280, 3), 100, np.uint8)
    out = render_overlay(image, person, np.zeros((0, 2)))
    tinted = np.any(out != 100, axis=2)
    np.testing.assert_array_equal(tinted, mask_in_frame(person).astype(bool))
    assert tinted[160:360, 400:524].all() and tinted.sum() == 200 * 124


def test_overlay_tints_people_and_marks_feet() -> None:
    image = np.full((100, 200, 3), 100, np.uint8)
    mask = np.zeros((100, 200), np.uint8)
    mask[10:30, 10:30] = 1
    out = render_overlay(
        image,
        PersonMask(mask, MaskMapping.stretch((200, 100), (200, 100))),
        np.array([[150.0, 80.0]]),
    )
    assert out[20, 20].tolist() != [100, 100, 100]  # tinted
    assert out[60, 60].tolist() == [100, 100, 100]  # background untouched
    assert out[80, 150].tolist() == [0, 255, 255]  # foot dot
    assert image[20, 20].tolist() == [100, 100, 100]  # input not modified


def selfie_model() -> SegmenterConfig:
    model = shared_data("selfie_segmentation", "selfie_segmentation_landscape.onnx")
    pytest.importorskip("onnxruntime")
    return OnnxSegmenterConfig(
        model=model,
        input_name="input_1",
        output=OutputConfig(name="segment_back"),
        preprocess=PreprocessConfig(
            infer_dims=(3, 144, 256), tensor_layout="NHWC", net_scale_factor=1 / 255, offsets=(0.0,)
        ),
    )


@pytest.mark.parametrize(
    "segmenter", [selfie_model, BackgroundSegmenterConfig], ids=["onnxruntime", "background"]
)
def test_preview_runs_a_real_segmenter_on_a_real_video(
    segmenter: Callable[[], SegmenterConfig],
) -> None:
    video = shared_data("tud_stadtmitte", "tud_stadtmitte.mp4")
    from edge_app.segmentation import create_segmenter

    config = segmenter()
    zones = load_zones(REPO / "tests" / "zones" / "tud-stadtmitte.yaml")
    preview = LivePreview(
        "tud",
        lambda: FileSource("tud", video, loop=True, realtime=False),
        lambda: create_segmenter(config),
        AnalyticsConfig(),
        config.type,
    )
    preview.set_zones(zones)
    preview.start()
    try:
        deadline = time.monotonic() + 60  # a guard against hanging, not a speed check
        status = preview.status()
        while time.monotonic() < deadline:
            status = preview.status()
            frame = status["frame"]
            if status["error"] or (frame and frame["index"] >= 40 and frame["people"] > 0):
                break
            time.sleep(0.05)
        assert status["error"] is None
        frame = status["frame"]
        assert frame is not None and frame["index"] >= 40 and frame["people"] > 0
        assert [c["zone"] for c in frame["counts"]] == ["window-left", "doorway", "window-right"]
        assert sum(c["count"] for c in frame["counts"]) <= frame["people"]
        latest = preview.latest()
        assert latest is not None
        picture = cv2.imdecode(np.frombuffer(latest.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (480, 640, 3)
    finally:
        preview.stop()
    assert not preview.running


def test_preview_reports_a_segmenter_that_cannot_start(tmp_path: Path) -> None:
    from edge_app.segmentation import create_segmenter

    config = OnnxSegmenterConfig(model=tmp_path / "missing.onnx")
    preview = LivePreview(
        "cam",
        lambda: FileSource("cam", tmp_path / "none.mp4"),
        lambda: create_segmenter(config),
        AnalyticsConfig(),
        "onnxruntime",
    )
    preview.start()
    deadline = time.monotonic() + 30
    while preview.running and time.monotonic() < deadline:
        time.sleep(0.02)
    status = preview.status()
    assert not status["running"]
    assert status["error"] and "missing.onnx" in status["error"]
