"""ONNX Runtime's TensorRT and CUDA execution providers, as the tensorrt segmenter's runner.

Selected by ``segmenter.runtime: onnxruntime``. ONNX Runtime builds and caches its own
TensorRT engines (in ``engine_cache_dir/onnxruntime``, keyed by ONNX Runtime itself) and
runs what TensorRT cannot take on CUDA. The same precision, workspace and batch settings as
the native path are passed as provider options. Every requested provider must really be
active in the session: ONNX Runtime silently drops one whose libraries fail to load, which
here is an error rather than a quiet fall back to the CPU.
"""

from __future__ import annotations

import filecmp
import importlib
import logging
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edge_app.config import TensorRTSegmenterConfig
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.onnx import runtime_errors
from edge_app.segmentation.preprocess import input_shape

log = logging.getLogger(__name__)

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def ort_cache_dir(cfg: TensorRTSegmenterConfig) -> Path:
    return cfg.engine_cache_dir / "onnxruntime"


def _shape_text(name: str, shape: tuple[int, ...]) -> str:
    return f"{name}:{'x'.join(map(str, shape))}"


def provider_options(
    cfg: TensorRTSegmenterConfig, input_name: str, dynamic_batch: bool
) -> list[tuple[str, dict[str, str]]]:
    """``(provider name, options)`` in priority order for ``InferenceSession``.

    Option values are strings, as ONNX Runtime parses them. ``dynamic_batch`` adds an
    explicit optimisation profile for batches 1..batch_size to the TensorRT provider.
    """
    cache = ort_cache_dir(cfg)
    result: list[tuple[str, dict[str, str]]] = []
    for provider in cfg.ort_providers:
        options: dict[str, str] = {}
        if provider == "tensorrt":
            options = {
                "device_id": str(cfg.device_id),
                "trt_max_workspace_size": str(cfg.workspace_mb << 20),
                "trt_fp16_enable": str(cfg.network_mode in (1, 2)),
                "trt_int8_enable": str(cfg.network_mode == 1),
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": str(cache),
            }
            if cfg.network_mode == 1:
                if cfg.calibration_cache is None:
                    raise SegmenterError(
                        "INT8 on ONNX Runtime's TensorRT provider needs a TensorRT calibration "
                        "cache: build once with runtime: tensorrt and calibration_dir (which "
                        "writes calibration_cache), then set calibration_cache"
                    )
                options["trt_int8_calibration_table_name"] = cfg.calibration_cache.name
                options["trt_int8_use_native_calibration_table"] = "True"
            if dynamic_batch:
                frame = input_shape(cfg.preprocess, 1)[1:]
                options["trt_profile_min_shapes"] = _shape_text(input_name, (1, *frame))
                top = _shape_text(input_name, (cfg.batch_size, *frame))
                options["trt_profile_opt_shapes"] = top
                options["trt_profile_max_shapes"] = top
        elif provider == "cuda":
            options = {"device_id": str(cfg.device_id)}
        result.append((PROVIDERS[provider], options))
    return result


def _import_onnxruntime() -> ModuleType:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise SegmenterError(
            "runtime onnxruntime needs onnxruntime-gpu (JetPack's build on a Jetson): it is not "
            "installed; or set segmenter.runtime: tensorrt"
        ) from exc


class OrtGpuRunner:
    """An ONNX Runtime session on GPU providers, fed through ``input_buffer``.

    Same contract as ``TrtRunner``: write ``count`` rows into ``input_buffer``, call
    ``infer(count)``, get the output with a batch of ``count``.
    """

    def __init__(self, cfg: TensorRTSegmenterConfig) -> None:
        if cfg.onnx is None:
            raise SegmenterError("runtime onnxruntime needs segmenter.onnx")
        if not cfg.onnx.is_file():
            raise SegmenterError(f"ONNX model {cfg.onnx} not found (check segmenter.onnx)")
        ort = _import_onnxruntime()
        self._errors = runtime_errors(ort)
        available = list(ort.get_available_providers())
        wanted = [PROVIDERS[p] for p in cfg.ort_providers]
        missing = [p for p in wanted if p not in available]
        if missing:
            raise SegmenterError(
                f"ONNX Runtime here offers {available}, not {missing}: install onnxruntime-gpu "
                "(on a Jetson, the JetPack build) or change segmenter.ort_providers"
            )
        self._prepare_cache(cfg)
        options = ort.SessionOptions()
        quick = ort.SessionOptions()
        quick.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            # A first, unoptimised CPU session tells whether the input batch is dynamic,
            # which decides the TensorRT provider's profile options.
            probe = ort.InferenceSession(str(cfg.onnx), quick, providers=[PROVIDERS["cpu"]])
            self._input = self._pick(probe.get_inputs(), cfg.input_name, "input")
            self._output = self._pick(probe.get_outputs(), cfg.output.name, "output")
            del probe
            batch = self._input.shape[0]
            dynamic = not (isinstance(batch, int) and batch > 0)
            providers = provider_options(cfg, self._input.name, dynamic)
            self._session: Any = ort.InferenceSession(
                str(cfg.onnx),
                options,
                providers=[name for name, _ in providers],
                provider_options=[opts for _, opts in providers],
            )
        except self._errors as exc:
            raise SegmenterError(f"ONNX Runtime cannot load {cfg.onnx}: {exc}") from exc
        active = list(self._session.get_providers())
        dropped = [p for p in wanted if p not in active]
        if dropped:
            raise SegmenterError(
                f"ONNX Runtime could not start {dropped} (active: {active}); its log above "
                "names the missing library (CUDA, cuDNN or TensorRT)"
            )
        self.rows = cfg.batch_size if dynamic else int(batch)
        self.batch_size = cfg.batch_size if dynamic else min(cfg.batch_size, int(batch))
        self._check_frame(cfg)
        self.input_buffer: np.ndarray = np.zeros(input_shape(cfg.preprocess, self.rows), np.float32)
        self._fixed = not dynamic
        log.info("ONNX Runtime providers %s, engine cache %s", active, ort_cache_dir(cfg))

    @staticmethod
    def _pick(tensors: list[Any], name: str, kind: str) -> Any:
        for t in tensors:
            if t.name == name:
                return t
        if len(tensors) == 1:
            return tensors[0]
        names = ", ".join(repr(t.name) for t in tensors)
        field = "input_name" if kind == "input" else "output.name"
        raise SegmenterError(
            f"the model has no {kind} named {name!r}; it has {names} (set segmenter.{field})"
        )

    def _check_frame(self, cfg: TensorRTSegmenterConfig) -> None:
        shape = list(self._input.shape)
        frame = input_shape(cfg.preprocess, 1)[1:]
        if len(shape) != 4 or any(
            isinstance(d, int) and d != e for d, e in zip(shape[1:], frame, strict=True)
        ):
            raise SegmenterError(
                f"model input {self._input.name!r} is {shape}, but the "
                f"preprocessing makes [N, {', '.join(map(str, frame))}]"
            )

    @staticmethod
    def _prepare_cache(cfg: TensorRTSegmenterConfig) -> None:
        cache = ort_cache_dir(cfg)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            table = cfg.calibration_cache
            if cfg.network_mode == 1 and table is not None:
                # The provider looks its calibration table up in its engine cache folder.
                target = cache / table.name
                if not table.is_file():
                    raise SegmenterError(f"calibration cache {table} not found")
                if not target.is_file() or not filecmp.cmp(table, target, shallow=False):
                    shutil.copyfile(table, target)
        except OSError as exc:
            raise SegmenterError(f"cannot prepare the engine cache {cache}: {exc}") from exc

    def infer(self, count: int) -> np.ndarray:
        if self._session is None:
            raise SegmenterError("the tensorrt segmenter is closed")
        rows = self.rows if self._fixed else count
        if rows > count:
            self.input_buffer[count:rows] = 0.0
        try:
            (output,) = self._session.run(
                [self._output.name], {self._input.name: self.input_buffer[:rows]}
            )
        except self._errors as exc:
            raise SegmenterError(f"ONNX Runtime failed: {exc}") from exc
        return np.asarray(output)[:count]

    def describe(self) -> list[str]:
        return [
            f"input {self._input.name!r} {self._input.shape}",
            f"output {self._output.name!r} {self._output.shape}",
        ]

    def close(self) -> None:
        self._session = None
