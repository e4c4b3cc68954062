"""A fake ``tensorrt`` (TensorRT 10 Python API): exactly the surface edge_app uses.

Names, signatures and failure modes follow TensorRT 10: failures are reported through the
``ILogger`` and a ``None``/``False`` return, not exceptions. The "engine" is a JSON header
plus the ONNX model; running it executes the ONNX model with ONNX Runtime on the CPU,
reading inputs from and writing outputs to the fake pycuda device memory, so a whole
inference round trip (copy in, execute, copy out) is real data end to end.

Like the real runtime, constructing ``Builder``/``Runtime`` without a CUDA driver is fatal:
here it raises ``SimulatedCrash`` (a ``BaseException``, like a process dying), so tests can
prove no code path reaches TensorRT before the GPU check.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.fakes import pycuda_driver as cuda

__version__ = "10.3.0"

MAGIC = b"FAKETRT\x00"


class SimulatedCrash(BaseException):
    """What the real TensorRT does without a driver: the process dies."""


@dataclass
class _Record:
    """What the fake saw, for assertions."""

    builds: list[dict[str, Any]] = field(default_factory=list)
    runtimes: int = 0
    plugins_initialised: int = 0
    build_failure: str | None = None
    execute_failure: str | None = None
    driver_present: bool = True


RECORD = _Record()


def reset(driver_present: bool = True) -> None:
    global RECORD
    RECORD = _Record(driver_present=driver_present)


def _require_driver(what: str) -> None:
    if not RECORD.driver_present or not cuda.STATE.devices:
        raise SimulatedCrash(f"{what} without a CUDA driver: cudaError 35, then SIGSEGV")


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8
    INT4 = 9


float32 = DataType.FLOAT
float16 = DataType.HALF
int8 = DataType.INT8
int32 = DataType.INT32
int64 = DataType.INT64
uint8 = DataType.UINT8
bfloat16 = DataType.BF16

_NUMPY = {
    DataType.FLOAT: np.float32,
    DataType.HALF: np.float16,
    DataType.INT8: np.int8,
    DataType.INT32: np.int32,
    DataType.INT64: np.int64,
    DataType.BOOL: np.bool_,
    DataType.UINT8: np.uint8,
}
# ONNX TensorProto element types -> TensorRT types.
_FROM_ONNX = {
    1: DataType.FLOAT,
    10: DataType.HALF,
    3: DataType.INT8,
    6: DataType.INT32,
    7: DataType.INT64,
    9: DataType.BOOL,
    2: DataType.UINT8,
    16: DataType.BF16,
}


def nptype(trt_type: DataType) -> type:
    if trt_type not in _NUMPY:
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
    return _NUMPY[trt_type]


def volume(shape: Any) -> int:
    return math.prod(shape)


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0
    DLA_MANAGED_SRAM = 1
    DLA_LOCAL_DRAM = 2
    DLA_GLOBAL_DRAM = 3
    TACTIC_DRAM = 4
    TACTIC_SHARED_MEMORY = 5


class BuilderFlag(enum.Enum):
    FP16 = 0
    INT8 = 1
    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 4
    BF16 = 5


class Dims(tuple):  # type: ignore[type-arg]
    pass


class ILogger:
    class Severity(enum.Enum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    def __init__(self) -> None:
        pass

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        raise NotImplementedError


class Logger(ILogger):
    INTERNAL_ERROR = ILogger.Severity.INTERNAL_ERROR
    ERROR = ILogger.Severity.ERROR
    WARNING = ILogger.Severity.WARNING
    INFO = ILogger.Severity.INFO
    VERBOSE = ILogger.Severity.VERBOSE

    def __init__(self, min_severity: ILogger.Severity = ILogger.Severity.WARNING) -> None:
        super().__init__()
        self.messages: list[tuple[ILogger.Severity, str]] = []

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        self.messages.append((severity, msg))


def _error(logger: ILogger, msg: str) -> None:
    logger.log(ILogger.Severity.ERROR, msg)


def init_libnvinfer_plugins(logger: ILogger, namespace: str) -> bool:
    RECORD.plugins_initialised += 1
    return True


class IProgressMonitor:
    def __init__(self) -> None:
        pass


class IInt8Calibrator:
    def __init__(self) -> None:
        pass


class IInt8EntropyCalibrator2(IInt8Calibrator):
    pass


class IHostMemory(bytes):
    @property
    def nbytes(self) -> int:
        return len(self)


# --- network and parser ------------------------------------------------------------------


@dataclass
class ITensor:
    name: str
    shape: Dims
    dtype: DataType


class INetworkDefinition:
    def __init__(self) -> None:
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._onnx: bytes = b""

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, index: int) -> ITensor:
        return self._inputs[index]

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]


class ParserError:
    def __init__(self, desc: str) -> None:
        self._desc = desc

    def desc(self) -> str:
        return self._desc

    def code(self) -> int:
        return 1

    def __str__(self) -> str:
        return f"In node -1 with name:  and operator:  (parseGraph): {self._desc}"


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
        self._network = network
        self._logger = logger
        self._errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> ParserError:
        return self._errors[index]

    def clear_errors(self) -> None:
        self._errors.clear()

    def parse_from_file(self, model: str) -> bool:
        with open(model, "rb") as f:
            return self.parse(f.read(), model)

    def parse(self, model: bytes, path: str | None = None) -> bool:
        import onnx
        from google.protobuf.message import DecodeError

        try:
            proto = onnx.load_model_from_string(model)
            proto = onnx.shape_inference.infer_shapes(proto)
        except (DecodeError, ValueError, onnx.onnx_cpp2py_export.shape_inference.InferenceError):
            self._errors.append(ParserError("Failed to parse ONNX model."))
            return False
        if not proto.graph.node:
            self._errors.append(ParserError("Failed to parse ONNX model: empty graph."))
            return False
        initializers = {t.name for t in proto.graph.initializer}

        def tensor(value: Any) -> ITensor:
            ttype = value.type.tensor_type
            dims = Dims(d.dim_value if d.HasField("dim_value") else -1 for d in ttype.shape.dim)
            return ITensor(value.name, dims, _FROM_ONNX[ttype.elem_type])

        net = self._network
        net._inputs = [tensor(v) for v in proto.graph.input if v.name not in initializers]
        net._outputs = [tensor(v) for v in proto.graph.output]
        net._onnx = model
        return True


# --- builder -------------------------------------------------------------------------------


class IOptimizationProfile:
    def __init__(self) -> None:
        self._shapes: dict[str, list[Dims]] = {}

    def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:
        self._shapes[input] = [Dims(min), Dims(opt), Dims(max)]

    def get_shape(self, input: str) -> list[Dims]:
        return self._shapes.get(input, [])


class IBuilderConfig:
    def __init__(self) -> None:
        self._pools: dict[MemoryPoolType, int] = {}
        self._flags: set[BuilderFlag] = set()
        self._profiles: list[IOptimizationProfile] = []
        self._calibration_profile: IOptimizationProfile | None = None
        self.int8_calibrator: IInt8Calibrator | None = None
        self.progress_monitor: IProgressMonitor | None = None

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        self._pools[pool] = pool_size

    def get_memory_pool_limit(self, pool: MemoryPoolType) -> int:
        return self._pools.get(pool, 1 << 40)

    def set_flag(self, flag: BuilderFlag) -> None:
        self._flags.add(flag)

    def clear_flag(self, flag: BuilderFlag) -> None:
        self._flags.discard(flag)

    def get_flag(self, flag: BuilderFlag) -> bool:
        return flag in self._flags

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        for shapes in profile._shapes.values():
            lo, opt, hi = shapes
            if not (len(lo) == len(opt) == len(hi)) or any(
                not a <= b <= c for a, b, c in zip(lo, opt, hi, strict=True)
            ):
                return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    def set_calibration_profile(self, profile: IOptimizationProfile) -> bool:
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self) -> IOptimizationProfile | None:
        return self._calibration_profile


class Builder:
    def __init__(self, logger: ILogger) -> None:
        _require_driver("trt.Builder")
        self._logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition()

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(
        self, network: INetworkDefinition, config: IBuilderConfig
    ) -> IHostMemory | None:
        from tests.fakes.tensorrt_build import build

        return build(self._logger, network, config)


# --- runtime -------------------------------------------------------------------------------


class Runtime:
    def __init__(self, logger: ILogger) -> None:
        _require_driver("trt.Runtime")
        RECORD.runtimes += 1
        self._logger = logger

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        from tests.fakes.tensorrt_run import load_plan

        return load_plan(self._logger, bytes(memoryview(serialized_engine)))


from tests.fakes.tensorrt_run import ICudaEngine, IExecutionContext  # noqa: E402

__all__ = ["ICudaEngine", "IExecutionContext"]
