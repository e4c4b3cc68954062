"""What differs between the TensorRT versions edge-app runs on, and creating TensorRT's
runtime and builder with a clear error.

Supported: TensorRT 8.5/8.6 (JetPack 6.0 ships 8.6.2) and 10.x (JetPack 6.1 and 6.2 ship
10.3). All of them have the tensor-name API used here (``num_io_tensors``,
``set_input_shape``, ``execute_async_v3``: since 8.5). 8.x needs the explicit-batch flag
to create a network the ONNX parser accepts (without it the parser fails with a message
that hides the cause); 10.x knows only explicit batch. 10.x reports build progress (and
can be cancelled) through ``IProgressMonitor``; 8.x has none. TensorRT 11 drops the FP16
and INT8 builder flags and the INT8 calibrator (strongly typed networks instead), so it is
refused, as is anything before 8.5.

Without a usable GPU (no driver, a device in a bad state, or a TensorRT newer than the
Jetson's driver) the bindings log the reason through the logger and raise
``TypeError: pybind11::init(): factory function returned nullptr`` from ``trt.Runtime`` or
``trt.Builder``; ``create_runtime``/``create_builder`` turn that into a ``SegmenterError``
with the logged reason. (Some TensorRT builds crash instead, so the GPU check through
pycuda still comes first.)
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from edge_app.core.errors import SegmenterError

SUPPORTED = "TensorRT 8.6 (JetPack 6.0) or 10.x (JetPack 6.1 and 6.2)"
OLDEST = (8, 5)
FIRST_UNSUPPORTED_MAJOR = 11


def tensorrt_version(trt: ModuleType) -> tuple[int, int]:
    """``(major, minor)`` of the imported ``tensorrt`` module."""
    text = str(getattr(trt, "__version__", ""))
    match = re.match(r"(\d+)\.(\d+)", text)
    if match is None:
        raise SegmenterError(
            f"cannot tell the TensorRT version from {text!r}; edge-app needs {SUPPORTED}"
        )
    return int(match.group(1)), int(match.group(2))


def check_tensorrt(trt: ModuleType) -> tuple[int, int]:
    """The version, or a ``SegmenterError`` when edge-app cannot use it (see the module)."""
    version = tensorrt_version(trt)
    shown = str(trt.__version__)
    if version < OLDEST:
        raise SegmenterError(
            f"TensorRT {shown} is too old: edge-app needs {SUPPORTED} (the tensor-name API "
            "exists from 8.5). Upgrade JetPack, or use segmenter.runtime: onnxruntime"
        )
    if version[0] >= FIRST_UNSUPPORTED_MAJOR:
        raise SegmenterError(
            f"TensorRT {shown} is not supported yet: it has no FP16/INT8 builder flags and no "
            f"INT8 calibrator, which edge-app's engine builds use. Use {SUPPORTED}"
        )
    return version


def network_flags(trt: ModuleType) -> int:
    """``create_network`` flags for an ONNX model: explicit batch (needed before 10)."""
    if tensorrt_version(trt)[0] >= 10:
        return 0  # explicit batch is the only mode; the flag is deprecated
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def has_progress_monitor(trt: ModuleType) -> bool:
    """Whether builds report progress and can be cancelled (``IProgressMonitor``, 10.x)."""
    return hasattr(trt, "IProgressMonitor")


def _create(trt_class: Any, logger: Any, what: str) -> Any:
    try:
        return trt_class(logger)
    except TypeError as exc:
        reason = logger.take_errors() or str(exc)
        raise SegmenterError(
            f"TensorRT could not create its {what}: {reason}. TensorRT cannot use the GPU "
            "here: check the driver (nvidia-smi, or tegrastats on a Jetson), that no other "
            "process holds the device, and that this TensorRT matches the driver (on a "
            "Jetson, JetPack's own python3-libnvinfer)"
        ) from exc


def create_runtime(trt: ModuleType, logger: Any) -> Any:
    """``trt.Runtime(logger)``; ``SegmenterError`` with the logged reason when it fails."""
    return _create(trt.Runtime, logger, "runtime")


def create_builder(trt: ModuleType, logger: Any) -> Any:
    """``trt.Builder(logger)``; ``SegmenterError`` with the logged reason when it fails."""
    return _create(trt.Builder, logger, "builder")
