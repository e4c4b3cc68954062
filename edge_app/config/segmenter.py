"""Segmenter settings: ``background``, ``onnxruntime`` and ``tensorrt`` (a discriminated
``type:``), with the DeepStream nvinfer-style preprocessing they share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from edge_app.config.base import (
    LONGEST_S,
    StrictModel,
)

# --- segmentation --------------------------------------------------------------------


class PreprocessConfig(StrictModel):
    """Input preprocessing, named and defaulted like DeepStream nvinfer for PeopleSemSegFormer.

    ``y = net_scale_factor * (x - offsets)`` per channel, ``x`` the 0..255 pixel value
    in ``model_color_format`` order (0 RGB, 1 BGR, 2 GRAY).
    """

    infer_dims: tuple[int, int, int] = Field((3, 512, 512), description="C;H;W")
    net_scale_factor: float = Field(0.007843, gt=0, le=1e6)
    offsets: tuple[float, ...] = (127.5, 127.5, 127.5)
    model_color_format: Literal[0, 1, 2] = 0
    maintain_aspect_ratio: bool = Field(False, description="letterbox instead of stretching")
    symmetric_padding: bool = Field(False, description="centre the letterboxed picture")
    tensor_layout: Literal["NCHW", "NHWC"] = "NCHW"

    @model_validator(mode="after")
    def _channels_agree(self) -> PreprocessConfig:
        c = self.infer_dims[0]
        if c not in (1, 3):
            raise ValueError(f"infer_dims channels must be 1 or 3, got {c}")
        if (c == 1) != (self.model_color_format == 2):
            raise ValueError("model_color_format 2 (GRAY) goes with 1 channel, 0/1 with 3")
        if len(self.offsets) not in (1, c):
            raise ValueError(f"offsets needs 1 or {c} values, got {len(self.offsets)}")
        if min(self.infer_dims[1:]) < 8 or max(self.infer_dims[1:]) > 8192:
            raise ValueError(f"infer_dims H and W must be 8..8192, got {self.infer_dims[1:]}")
        return self


class OutputConfig(StrictModel):
    """How to read the model's output tensor (see ``segmentation.decode``)."""

    name: str = "output"
    form: Literal["auto", "class_map", "scores", "probability"] = "auto"
    person_class: int = Field(1, ge=0)
    threshold: float = Field(
        0.5, gt=0, lt=1, description="person probability cut for probability/score outputs"
    )
    score_type: Literal["logits", "probabilities"] = Field(
        "logits",
        description="what a 2-channel 'scores' output holds; matters only when threshold != 0.5",
    )


class BackgroundSegmenterConfig(StrictModel):
    """No model: background subtraction for static cameras and machines without accelerator."""

    type: Literal["background"] = "background"
    mask_max_side: int = Field(320, ge=64, le=1920, description="mask resolution (long side)")
    history_s: float = Field(
        30.0, gt=0, le=LONGEST_S, description="how fast the background model adapts"
    )
    bootstrap_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description=(
            "at a cold start, the empty scene is the median of this many seconds of video;"
            " until then counts are marked warming_up"
        ),
    )
    var_threshold: float = Field(
        16.0,
        gt=0,
        le=1e6,
        description="a pixel is foreground when its squared colour distance to the scene"
        " exceeds this many times its noise variance (16: four standard deviations)",
    )
    detect_shadows: bool = True
    shadow_threshold: float = Field(
        0.6,
        gt=0,
        lt=1,
        description=(
            "a shadow keeps at least this share of the floor's brightness; anything darker"
            " is foreground (dark shoes on a light floor). Indoor shadows are soft"
        ),
    )
    still_person_hold_s: float = Field(
        600.0,
        ge=0,
        le=LONGEST_S,
        description="keep a person who stands still in the mask this long",
    )


class OnnxSegmenterConfig(StrictModel):
    """ONNX Runtime on the CPU (or its CUDA/TensorRT providers on a GPU machine)."""

    type: Literal["onnxruntime"] = "onnxruntime"
    model: Path
    input_name: str = "input"
    output: OutputConfig = OutputConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    batch_size: int = Field(1, ge=1, le=64)
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = Field(0, ge=0, description="0 lets ONNX Runtime choose")


class TensorRTSegmenterConfig(StrictModel):
    """TensorRT engine on an NVIDIA GPU (Jetson); see docs/jetson.md.

    The model is given by ``onnx`` and/or ``engine``, or by a DeepStream ``nvinfer_config``
    (whose keys then override the model settings here). ``runtime: onnxruntime`` runs the
    ONNX model on ONNX Runtime's TensorRT/CUDA execution providers instead of TensorRT's
    own Python API.
    """

    type: Literal["tensorrt"] = "tensorrt"
    onnx: Path | None = None
    engine: Path | None = Field(
        None, description="serialized engine; rebuilt here from onnx when stale or corrupt"
    )
    engine_cache_dir: Path = Path("engines")
    nvinfer_config: Path | None = Field(
        None, description="DeepStream nvinfer config (+ its labels file) giving the model"
    )
    runtime: Literal["tensorrt", "onnxruntime"] = "tensorrt"
    ort_providers: tuple[Literal["tensorrt", "cuda", "cpu"], ...] = Field(
        ("tensorrt", "cuda"),
        min_length=1,
        description="ONNX Runtime execution providers in priority order (runtime: onnxruntime)",
    )
    device_id: int = Field(0, ge=0, description="CUDA device index")
    input_name: str = "input"
    output: OutputConfig = OutputConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    batch_size: int = Field(1, ge=1, le=64)
    network_mode: Literal[0, 1, 2] = Field(2, description="0 FP32, 1 INT8, 2 FP16 (as nvinfer)")
    workspace_mb: int = Field(2048, ge=64, le=1_048_576)
    calibration_dir: Path | None = Field(None, description="store frames for INT8 calibration")
    calibration_cache: Path | None = Field(
        None, description="INT8 calibration cache (read when present, written after calibrating)"
    )
    calibration_max_frames: int = Field(500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _model_given(self) -> TensorRTSegmenterConfig:
        if self.nvinfer_config is not None:
            if self.onnx is not None or self.engine is not None:
                raise ValueError(
                    "give the model either in nvinfer_config or with onnx/engine, not both"
                )
        elif self.onnx is None and self.engine is None:
            raise ValueError(
                "give onnx (to build an engine), engine (a serialized one) or nvinfer_config"
            )
        if self.runtime == "onnxruntime" and self.onnx is None and self.nvinfer_config is None:
            raise ValueError("runtime onnxruntime needs the onnx model, not only an engine")
        return self


SegmenterConfig = Annotated[
    BackgroundSegmenterConfig | OnnxSegmenterConfig | TensorRTSegmenterConfig,
    Field(discriminator="type"),
]
