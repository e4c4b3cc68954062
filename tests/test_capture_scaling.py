"""Cameras that scale while decoding deliver frames at the model's input size."""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from edge_app.config import CameraConfig, OnnxSegmenterConfig, load_config
from edge_app.config.zones import load_camera_zones
from edge_app.runtime.app import App
from edge_app.segmentation import stretched_input_size
from edge_app.sources import Source, create_source
from edge_app.sources.gstreamer import plan_csi, plan_rtsp
from edge_app.sources.live import capture_target
from tests.daemon_support import WHOLE_FRAME, make_video, write_config, write_zones


def camera(source: dict[str, Any]) -> CameraConfig:
    return CameraConfig.model_validate({"id": "door", "source": source, "zones": "z.yaml"})


@pytest.fixture
def jetson_gstreamer(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as a Jetson: OpenCV with GStreamer and every NVIDIA element present."""
    probes = {"has_gstreamer": lambda: True, "element_exists": lambda name: True}
    monkeypatch.setattr("edge_app.sources.live.plan_rtsp", functools.partial(plan_rtsp, **probes))
    monkeypatch.setattr("edge_app.sources.live.plan_csi", functools.partial(plan_csi, **probes))


@pytest.mark.usefixtures("jetson_gstreamer")
@pytest.mark.parametrize(
    "source",
    [
        {"type": "rtsp", "url": "rtsp://127.0.0.1:8554/cam", "decode": "jetson"},
        {"type": "csi", "width": 1920, "height": 1080},
    ],
)
def test_a_hardware_camera_is_scaled_on_the_vic_to_the_size_asked(source: dict[str, Any]) -> None:
    scaled = capture_target(camera(source), (960, 544))
    assert scaled.hardware and scaled.backend == "gstreamer"
    pipeline = str(scaled.target)
    vic = pipeline.index("nvvidconv")
    assert pipeline.index("width=960,height=544", vic) > vic  # scaled by the VIC, before BGR
    native = str(capture_target(camera(source), None).target)
    assert "width=960" not in native and "nvvidconv" in native


def preprocess_of(**settings: Any) -> SimpleNamespace:
    config = OnnxSegmenterConfig.model_validate({"model": "m.onnx", "preprocess": settings})
    return SimpleNamespace(name="onnxruntime", batch_size=1, config=config)


def test_stretched_input_size_is_the_models_width_and_height_unless_it_letterboxes() -> None:
    assert stretched_input_size(preprocess_of()) == (512, 512)  # PeopleSemSegFormer
    assert stretched_input_size(preprocess_of(infer_dims=[3, 544, 960])) == (960, 544)
    assert stretched_input_size(preprocess_of(maintain_aspect_ratio=True)) is None
    assert stretched_input_size(SimpleNamespace(name="background", batch_size=16)) is None


@pytest.mark.parametrize(("letterbox", "expected"), [(False, (16, 16)), (True, None)])
def test_the_daemon_opens_its_cameras_at_the_size_the_model_stretches_to(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    letterbox: bool,
    expected: tuple[int, int] | None,
) -> None:
    video = make_video(tmp_path / "v.avi", frames=6)
    zones = write_zones(tmp_path / "floor.yaml", "floor", {"all": WHOLE_FRAME})
    cams = [{"id": "floor", "source": {"type": "file", "path": str(video)}, "zones": str(zones)}]
    path = write_config(tmp_path, cams)
    data = yaml.safe_load(path.read_text())
    data["segmenter"]["preprocess"]["maintain_aspect_ratio"] = letterbox
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    asked: list[tuple[int, int] | None] = []

    def recording(
        cam: CameraConfig, read_timeout_s: float, scale_to: tuple[int, int] | None
    ) -> Source:
        asked.append(scale_to)
        return create_source(cam, read_timeout_s, scale_to)

    monkeypatch.setattr("edge_app.runtime.app.create_source", recording)
    app = App(config, load_camera_zones(config))
    try:
        app.start()
        app.run()
    finally:
        app.stop(5.0)
    assert asked == [expected]
