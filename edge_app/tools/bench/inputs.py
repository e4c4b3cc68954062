"""What the benchmarks run on: a video with its zones, and a model.

By default TUD-Stadtmitte and MediaPipe's selfie model from ``../shared/data``; on a fresh
clone, where those are absent, a clip of the synthetic shop written here and a stand-in
model of the selfie model's cost (``standin.py``), so every part runs anywhere.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_app.config import (
    OnnxSegmenterConfig,
    OutputConfig,
    PreprocessConfig,
    SyntheticSourceConfig,
)
from edge_app.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_VIDEO = SHARED / "tud_stadtmitte" / "tud_stadtmitte.mp4"
DEFAULT_MODEL = SHARED / "selfie_segmentation" / "selfie_segmentation.onnx"
DEFAULT_ZONES = REPO / "tests" / "zones" / "tud-stadtmitte.yaml"

SegmenterFactory = Callable[[int], OnnxSegmenterConfig]
"""ONNX Runtime intra-op threads (0: its own choice) -> the model's segmenter settings."""


def selfie_config(model: Path, threads: int) -> OnnxSegmenterConfig:
    """MediaPipe's selfie model (``../shared/data``): NHWC, RGB in 0..1, a probability."""
    return OnnxSegmenterConfig(
        model=model,
        input_name="input_1",
        output=OutputConfig(name="activation_10"),
        preprocess=PreprocessConfig(
            infer_dims=(3, 256, 256), tensor_layout="NHWC", net_scale_factor=1 / 255, offsets=(0.0,)
        ),
        intra_op_threads=threads,
    )


@dataclass(frozen=True, slots=True)
class BenchVideo:
    """A video, its camera's zone file, and what it is (printed with the figures)."""

    path: Path
    zones: Path
    what: str


def bench_video(video: Path | None, zones: Path | None, folder: Path) -> BenchVideo:
    """The given video (with its zones), else TUD-Stadtmitte from ``../shared/data``, else
    a clip of the synthetic shop written into ``folder``."""
    if video is not None:
        if zones is None:
            raise ConfigError("(command line)", "--zones", "--video needs its zone file", None)
        if not video.is_file():
            raise ConfigError(str(video), None, "video file not found", "check the path")
        return BenchVideo(video, zones, video.name)
    if DEFAULT_VIDEO.is_file():
        return BenchVideo(DEFAULT_VIDEO, zones or DEFAULT_ZONES, "TUD-Stadtmitte")
    from edge_app.config.zones import load_zones
    from edge_app.sources.synthetic.clip import write_clip
    from edge_app.sources.synthetic.scene import SyntheticSource
    from edge_app.tools.demo import demo_zones_path

    shop_zones = demo_zones_path()
    # TUD-Stadtmitte's length and width, so the figures compare; the shop's zones are drawn
    # on a 16:9 picture, so the clip is 16:9 too.
    scene = SyntheticSourceConfig(duration_s=18.0, fps=10.0, width=640, height=360)
    camera = load_zones(shop_zones).camera
    clip = write_clip(SyntheticSource(camera, scene), folder / "shop.avi")
    return BenchVideo(clip, shop_zones, "a clip of the synthetic shop (180 frames, 640x360)")


def bench_model(model: Path | None, folder: Path) -> tuple[SegmenterFactory, str] | str:
    """The model parts' segmenter settings per thread count and the model's description, or
    why those parts cannot run: the given model, else the selfie model from
    ``../shared/data``, else a stand-in of its cost written into ``folder``."""
    try:
        importlib.import_module("onnxruntime")
    except ImportError:
        return "onnxruntime is not installed: pip install 'edge-app[onnx]'"
    if model is not None or DEFAULT_MODEL.is_file():
        chosen = model or DEFAULT_MODEL
        if not chosen.is_file():
            raise ConfigError(str(chosen), None, "model not found", "give --model FILE.onnx")
        return (lambda threads: selfie_config(chosen, threads)), f"selfie model {chosen.name}"
    from edge_app.tools.bench.standin import onnx_missing, standin_config, write_standin_model

    missing = onnx_missing()
    if missing is not None:
        return (
            f"no model: give --model (MediaPipe's selfie segmentation ONNX), or let bench "
            f"write its stand-in, for which {missing}"
        )
    standin = write_standin_model(folder / "standin.onnx")
    return (lambda threads: standin_config(standin, threads)), "stand-in model (not people)"
