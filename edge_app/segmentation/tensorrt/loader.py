"""Getting a usable engine: reuse a cached one when it fits, else build (and cache) it.

The decision, in order:

1. The engine file is ``segmenter.engine`` when given, else a slot in ``engine_cache_dir``
   named after the ``EngineKey`` (model hash, TensorRT version, GPU, precision, batch,
   input size).
2. If the file exists, its sidecar must match the key; then TensorRT must deserialize it
   and its input/output tensors must fit the config.
3. Otherwise, with an ONNX model configured, the engine is rebuilt with one log line that
   says why (stale, corrupt, mismatched), and written atomically with its sidecar. Without
   an ONNX model the problem is an error that says how to fix it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from edge_app.config import TensorRTSegmenterConfig
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.preprocess import input_shape
from edge_app.segmentation.tensorrt.bindings import create_runtime
from edge_app.segmentation.tensorrt.build import (
    BuildProgress,
    BuildRequest,
    build_engine,
    make_logger,
)
from edge_app.segmentation.tensorrt.cache import (
    PRECISIONS,
    EngineKey,
    cache_path,
    read_sidecar,
    sha256_file,
    stale_reasons,
    store_engine,
)
from edge_app.segmentation.tensorrt.calibration import CalibrationSource
from edge_app.segmentation.tensorrt.cuda_buffers import GpuSession
from edge_app.segmentation.tensorrt.engine import (
    EngineBindings,
    TensorSpec,
    check_input,
    discover_bindings,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedEngine:
    """A deserialized engine with the tensors the segmenter uses.

    ``runtime`` and ``logger`` are kept because TensorRT needs them alive as long as the
    engine. ``built`` says whether it was built by this call.
    """

    path: Path
    engine: Any
    runtime: Any
    logger: Any
    bindings: EngineBindings
    input_spec: TensorSpec
    output_spec: TensorSpec
    built: bool


def frame_shape(cfg: TensorRTSegmenterConfig) -> tuple[int, ...]:
    """One frame's input tensor shape in the model's layout (no batch)."""
    return input_shape(cfg.preprocess, 1)[1:]


def engine_key(
    trt: ModuleType, gpu: GpuSession, cfg: TensorRTSegmenterConfig, model_sha256: str
) -> EngineKey:
    info = gpu.info
    return EngineKey(
        model_sha256=model_sha256,
        tensorrt_version=str(trt.__version__),
        gpu_name=info.name,
        compute_capability=info.compute_capability,
        multiprocessors=info.multiprocessors,
        board=info.board,
        precision=PRECISIONS[cfg.network_mode],
        batch_size=cfg.batch_size,
        input_shape=frame_shape(cfg),
    )


def engine_path(cfg: TensorRTSegmenterConfig, key: EngineKey) -> Path:
    """Where the engine for ``key`` lives (``segmenter.engine`` or a cache slot)."""
    if cfg.engine is not None:
        return cfg.engine
    if cfg.onnx is None:  # excluded by the config validator
        raise SegmenterError("segmenter needs onnx or engine")
    return cache_path(cfg.engine_cache_dir, cfg.onnx, key)


def _load(
    trt: ModuleType,
    gpu: GpuSession,
    path: Path,
    data: bytes,
    cfg: TensorRTSegmenterConfig,
    built: bool,
) -> LoadedEngine | list[str]:
    """Deserialize ``data`` and check its tensors against ``cfg``; else the problems.

    An engine that does not fit is released here, inside the GPU's context (TensorRT's
    objects must go while it is current).
    """
    logger = make_logger(trt)
    with gpu.active():
        runtime = create_runtime(trt, logger)
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            reason = logger.take_errors() or "TensorRT rejected the file"
            del runtime
            return [f"it cannot be deserialized ({reason})"]
        bindings = discover_bindings(trt, engine)
        try:
            input_spec = bindings.pick(cfg.input_name, is_input=True)
            output_spec = bindings.pick(cfg.output.name, is_input=False)
            problems = check_input(input_spec, frame_shape(cfg), cfg.batch_size)
        except SegmenterError as exc:
            problems = [str(exc)]
        if problems:
            del engine, runtime
            return problems
    return LoadedEngine(path, engine, runtime, logger, bindings, input_spec, output_spec, built)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SegmenterError(f"cannot read the engine {path}: {exc.strerror or exc}") from exc


def build_request(cfg: TensorRTSegmenterConfig) -> BuildRequest:
    """The build settings of a config (ONNX model, batch, precision, calibration)."""
    if cfg.onnx is None:
        raise SegmenterError(
            "building an engine needs the ONNX model: set segmenter.onnx (or onnx-file in "
            "the nvinfer config)"
        )
    calibration = None
    if cfg.network_mode == 1 and cfg.calibration_dir is not None:
        cache = cfg.calibration_cache
        if cache is None or not cache.is_file():
            calibration = CalibrationSource.from_dir(
                cfg.calibration_dir, cfg.preprocess, cfg.calibration_max_frames, cfg.batch_size
            )
    return BuildRequest(
        onnx=cfg.onnx,
        input_name=cfg.input_name,
        frame_shape=frame_shape(cfg),
        batch_size=cfg.batch_size,
        network_mode=cfg.network_mode,
        workspace_mb=cfg.workspace_mb,
        calibration=calibration,
        calibration_cache=cfg.calibration_cache,
    )


def open_engine(
    trt: ModuleType,
    gpu: GpuSession,
    cfg: TensorRTSegmenterConfig,
    *,
    progress: BuildProgress | None = None,
    rebuild: bool = False,
    cancel: threading.Event | None = None,
) -> LoadedEngine:
    """A usable engine for ``cfg`` on this GPU, from the cache or freshly built.

    ``rebuild`` forces a build even when a matching engine exists. Raises
    ``SegmenterError`` when no usable engine can be had, saying why and what to do.
    """
    model_sha = sha256_file(cfg.onnx) if cfg.onnx is not None else ""
    key = engine_key(trt, gpu, cfg, model_sha)
    path = engine_path(cfg, key)
    if path.is_file() and not rebuild:
        stale = stale_reasons(path, key, ignore_model=cfg.onnx is None)
        if stale and cfg.onnx is not None:
            log.warning(
                "engine %s was built for something else (%s): rebuilding it from %s",
                path,
                "; ".join(stale),
                cfg.onnx,
            )
        else:
            if stale:
                log.warning(
                    "engine %s was built for something else (%s); trying it anyway "
                    "(no ONNX model is configured to rebuild it)",
                    path,
                    "; ".join(stale),
                )
            loaded = _load(trt, gpu, path, _read(path), cfg, built=False)
            if isinstance(loaded, LoadedEngine):
                log.info("using TensorRT engine %s", path)
                return loaded
            if cfg.onnx is None:
                raise SegmenterError(
                    f"engine {path} cannot be used: {'; '.join(loaded)}. Rebuild it for this "
                    "device (set segmenter.onnx and run edge-app engine build)"
                )
            log.warning(
                "engine %s cannot be used (%s): rebuilding it from %s",
                path,
                "; ".join(loaded),
                cfg.onnx,
            )
    elif not path.is_file() and cfg.onnx is None:
        raise SegmenterError(
            f"engine {path} not found and no ONNX model is configured to build it "
            "(set segmenter.onnx, or fix segmenter.engine)"
        )
    request = build_request(cfg)
    log.info(
        "building a TensorRT %s engine from %s for %s, batch %d: this takes 10-15 "
        "minutes on an Orin (build it ahead with edge-app engine build)",
        key.precision.upper(),
        request.onnx,
        gpu.info.describe(),
        cfg.batch_size,
    )
    data = build_engine(trt, gpu, request, progress, cancel)
    store_engine(path, data, key, onnx=cfg.onnx)
    log.info("engine written to %s", path)
    loaded = _load(trt, gpu, path, data, cfg, built=True)
    if not isinstance(loaded, LoadedEngine):
        raise SegmenterError(f"the engine just built cannot be used: {'; '.join(loaded)}")
    return loaded


def describe_engine(trt: ModuleType, gpu: GpuSession, path: Path) -> list[str]:
    """Lines describing an engine file: its sidecar key (if any) and its tensors."""
    lines = [
        f"engine {path} ({path.stat().st_size / 2**20:.1f} MiB)"
        if path.is_file()
        else f"engine {path}"
    ]
    data = _read(path)
    stored = read_sidecar(path)
    if stored:
        lines.append(
            "  built for: "
            + ", ".join(f"{k}={v}" for k, v in sorted(stored.items()) if k != "model_sha256")
        )
        lines.append(f"  model sha256: {stored.get('model_sha256', '?')}")
    logger = make_logger(trt)
    with gpu.active():
        runtime = create_runtime(trt, logger)
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            del runtime
            raise SegmenterError(
                f"TensorRT {trt.__version__} cannot deserialize {path}: "
                f"{logger.take_errors() or 'rejected'} (corrupt, or built by another "
                "TensorRT version or for another GPU)"
            )
        bindings = discover_bindings(trt, engine)
        lines.append(
            f"  TensorRT {trt.__version__}, {engine.num_optimization_profiles} "
            "optimisation profile(s)"
        )
        lines.extend("  " + line for line in bindings.describe())
        del engine, runtime
    return lines
