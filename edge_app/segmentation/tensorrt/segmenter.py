"""The ``tensorrt`` segmenter: PeopleSemSegFormer (or any person model) on an NVIDIA GPU.

Two runners sit behind it, chosen by ``segmenter.runtime``:

- ``tensorrt`` (default): TensorRT's Python API and pycuda. The engine comes from the cache
  or is built from the ONNX model (``trt_loader``); inference uses page-locked host buffers,
  device buffers and a CUDA stream (``trt_engine``).
- ``onnxruntime``: ONNX Runtime's TensorRT/CUDA execution providers (``ort_gpu``).

Either way the frames go through the same ``prepare_batch`` and the output through the same
``decode_masks`` as the ONNX backend: one code path for pre- and post-processing.
``tensorrt`` and ``pycuda`` are imported only once the GPU check has passed: without a usable
GPU TensorRT's runtime fails (the bindings raise ``TypeError``, turned into a clear error;
some builds crash the process instead). Its version is checked on import (8.6 or 10.x, see
``bindings``).

Example::

    segmenter = TensorRTSegmenter(TensorRTSegmenterConfig(
        nvinfer_config=Path("configs/nvinfer_config.txt")))
    masks = segmenter.segment(frames)   # one PersonMask per frame
    segmenter.close()
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from edge_app.config import TensorRTSegmenterConfig
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.decode import decode_masks, to_person_masks
from edge_app.segmentation.preprocess import prepare_batch
from edge_app.segmentation.tensorrt.bindings import check_tensorrt
from edge_app.segmentation.tensorrt.build import BuildProgress, LogProgress
from edge_app.segmentation.tensorrt.cuda_buffers import GpuSession, open_gpu
from edge_app.segmentation.tensorrt.engine import TrtRunner
from edge_app.segmentation.tensorrt.loader import LoadedEngine, frame_shape, open_engine
from edge_app.segmentation.tensorrt.nvinfer_resolve import apply_nvinfer

log = logging.getLogger(__name__)


class Runner(Protocol):
    """Runs the model on the first ``count`` rows of ``input_buffer``."""

    input_buffer: np.ndarray
    batch_size: int

    def infer(self, count: int) -> np.ndarray: ...

    def close(self) -> None: ...


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module (JetPack's python3-libnvinfer) of a supported version (8.6 or
    10.x), or a clear error."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise SegmenterError(
            f"the tensorrt segmenter needs TensorRT's Python package, which cannot be imported "
            f"({exc}): on a Jetson install python3-libnvinfer and make the venv with "
            "--system-site-packages (docs/jetson.md), or use segmenter.runtime: onnxruntime"
        ) from exc
    check_tensorrt(trt)
    return trt


class _NativeRunner:
    """``TrtRunner`` plus the GPU session it lives in (closed together)."""

    def __init__(
        self,
        cfg: TensorRTSegmenterConfig,
        progress: BuildProgress | None,
        cancel: threading.Event | None,
    ) -> None:
        self._gpu: GpuSession = open_gpu(cfg.device_id)  # the GPU check, before TensorRT
        self._runner: TrtRunner | None = None
        loaded: LoadedEngine | None = None
        try:
            trt = import_tensorrt()
            loaded = open_engine(
                trt, self._gpu, cfg, progress=progress or LogProgress(), cancel=cancel
            )
            self._runner = TrtRunner(
                self._gpu,
                loaded.engine,
                loaded.bindings,
                loaded.input_spec,
                loaded.output_spec,
                cfg.batch_size,
                frame_shape(cfg),
            )
            self._keep: Any = loaded  # runtime and logger must outlive the engine
        except BaseException:
            if loaded is not None:
                with self._gpu.active():  # the engine goes while the context is current
                    loaded = None
            self.close()
            raise
        self.input_buffer = self._runner.input_buffer
        self.batch_size = self._runner.batch_size
        log.info("TensorRT engine %s: %s", self._keep.path, "; ".join(loaded.bindings.describe()))

    def infer(self, count: int) -> np.ndarray:
        if self._runner is None:
            raise SegmenterError("the tensorrt segmenter is closed")
        return self._runner.infer(count)

    def close(self) -> None:
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                runner.close()
            keep, self._keep = getattr(self, "_keep", None), None
            if keep is not None:
                # The engine, runtime and logger go while the context is current.
                with self._gpu.active():
                    del keep
        finally:
            self._gpu.close()


class TensorRTSegmenter:
    """Person masks from a TensorRT engine (or ONNX Runtime's GPU providers).

    ``batch_size`` is the configured batch, capped by what the engine accepts. Raises
    ``SegmenterError`` (no GPU, no TensorRT, an engine that cannot be loaded or built) or
    ``ConfigError`` (a bad nvinfer config) with a message saying what to do.
    """

    name = "tensorrt"

    def __init__(
        self,
        config: TensorRTSegmenterConfig,
        *,
        progress: BuildProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.config = apply_nvinfer(config)
        cfg = self.config
        self._runner: Runner | None
        if cfg.runtime == "onnxruntime":
            from edge_app.segmentation.tensorrt.ort_gpu import OrtGpuRunner

            self._runner = OrtGpuRunner(cfg)
        else:
            self._runner = _NativeRunner(cfg, progress, cancel)
        self.batch_size = self._runner.batch_size

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        """One ``PersonMask`` per frame, in order (uint8 0/1 at the output resolution)."""
        runner = self._runner
        if runner is None:
            raise SegmenterError("the tensorrt segmenter is closed")
        masks: list[PersonMask] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = [f.image for f in frames[start : start + self.batch_size]]
            prepared = prepare_batch(chunk, self.config.preprocess, out=runner.input_buffer)
            output = runner.infer(len(chunk))
            decoded = decode_masks(output, self.config.output, len(chunk))
            masks.extend(to_person_masks(decoded, prepared.mappings))
        return masks

    def close(self) -> None:
        """Free the GPU buffers, the engine and the context; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()
