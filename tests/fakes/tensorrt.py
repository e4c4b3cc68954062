"""A fake ``tensorrt``: the surface edge_app uses, as TensorRT 10.3's and 8.6's bindings have it.

Names, signatures and failure modes follow the real bindings (tests/test_tensorrt_surface.py
holds them against the real 10.3 module where it can be imported): failures are reported
through the ``ILogger`` and a ``None``/``False`` return, not exceptions; enums convert with
``int()`` but do not equal ints; ``Dims`` is tuple-like (``-1`` for a dynamic axis) but not a
tuple; ``IHostMemory`` is a buffer with ``nbytes`` and ``dtype``, not ``bytes``; the classes
take no attributes they do not have. The "engine" is a JSON header plus the ONNX model;
running it executes the ONNX model with ONNX Runtime on the CPU, reading inputs from and
writing outputs to the fake pycuda device memory, so a whole inference round trip (copy in,
execute, copy out) is real data end to end.

``reset(version=...)`` picks the TensorRT version: ``8.6.2`` (JetPack 6.0) has no
``IProgressMonitor`` and creates an implicit-batch network unless asked for explicit batch,
which its ONNX parser then refuses, with the message that hides the cause. Like the real
bindings, constructing ``Builder``/``Runtime`` without a usable GPU logs the reason and raises
``TypeError: pybind11::init(): factory function returned nullptr``; ``RECORD.unusable`` gives
that reason with a driver present (a TensorRT newer than the driver). The fake records
TensorRT objects destroyed while no CUDA context was current on the thread
(``RECORD.released_outside_context``).
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
NULLPTR = "pybind11::init(): factory function returned nullptr"


@dataclass
class _Record:
    """What the fake saw, for assertions."""

    builds: list[dict[str, Any]] = field(default_factory=list)
    runtimes: int = 0
    builders: int = 0
    plugins_initialised: int = 0
    plugins_ok: bool = True
    build_failure: str | None = None
    execute_failure: str | None = None
    driver_present: bool = True
    unusable: str | None = None
    reject_calibration_profile: bool = False
    released_outside_context: list[str] = field(default_factory=list)
    build_steps: int = 3


RECORD = _Record()


def major() -> int:
    return int(__version__.split(".")[0])


def reset(driver_present: bool = True, version: str = "10.3.0") -> None:
    global RECORD
    RECORD = _Record(driver_present=driver_present)
    use_version(version)


def use_version(version: str) -> None:
    """Become TensorRT ``version`` (what a JetPack upgrade does), keeping ``RECORD``."""
    global __version__
    __version__ = version
    if major() >= 10:
        globals().update(_SINCE_10)
    else:
        for name in _SINCE_10:
            globals().pop(name, None)


def _unusable_reason() -> str | None:
    if RECORD.unusable:
        return RECORD.unusable
    if not RECORD.driver_present or not cuda.STATE.devices:
        return "CUDA initialization failure with error: 35"
    return None


def _create(logger: ILogger, what: str) -> None:
    reason = _unusable_reason()
    if reason is not None:
        logger.log(ILogger.Severity.ERROR, f"[{what}.cpp::{what}::43] Error Code 6: {reason}")
        raise TypeError(NULLPTR)


class _Native:
    """Records TensorRT objects destroyed while no CUDA context is current on the thread,
    in the record of the test that made them (not of whichever test runs when a stray
    one is collected)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        made = super().__new__(cls)
        made._record = RECORD
        return made

    def __del__(self) -> None:
        if not cuda.STATE.context_stack:
            self._record.released_outside_context.append(type(self).__name__)


class _Enum(enum.Enum):
    """Like pybind11's enums: ``int()`` works, ``== 1`` does not."""

    def __int__(self) -> int:
        return int(self.value)


class DataType(_Enum):
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


def volume(iterable: Any) -> int:
    return math.prod(iterable)


class TensorIOMode(_Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class MemoryPoolType(_Enum):
    WORKSPACE = 0
    DLA_MANAGED_SRAM = 1
    DLA_LOCAL_DRAM = 2
    DLA_GLOBAL_DRAM = 3
    TACTIC_DRAM = 4
    TACTIC_SHARED_MEMORY = 5


class BuilderFlag(_Enum):
    FP16 = 0
    INT8 = 1
    DEBUG = 2
    GPU_FALLBACK = 3
    REFIT = 4
    BF16 = 17


class NetworkDefinitionCreationFlag(_Enum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class Dims:
    """Tuple-like, as the bindings' ``Dims``: length, indexing (slices give tuples),
    iteration, equality with tuples and lists; not hashable, no ``+``."""

    __slots__ = ("_dims",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any = ()) -> None:
        self._dims = tuple(int(d) for d in shape)

    def __len__(self) -> int:
        return len(self._dims)

    def __getitem__(self, index: Any) -> Any:
        return self._dims[index]

    def __iter__(self) -> Any:
        return iter(self._dims)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, list)):
            return self._dims == tuple(other)
        raise TypeError("__eq__(): incompatible function arguments")

    def __repr__(self) -> str:
        return repr(self._dims)


class ILogger:
    class Severity(_Enum):
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


def init_libnvinfer_plugins(logger: Any, namespace: str) -> bool:
    RECORD.plugins_initialised += 1
    if not RECORD.plugins_ok:
        _error(logger, "Could not load the plugin library: libnvinfer_plugin.so.10")
    return RECORD.plugins_ok


class IProgressMonitor:
    """TensorRT 10 only (not in 8.6)."""

    def __init__(self) -> None:
        pass


_SINCE_10 = {"IProgressMonitor": IProgressMonitor}


class IInt8Calibrator:
    def __init__(self) -> None:
        pass


class IInt8EntropyCalibrator2(IInt8Calibrator):
    pass


class IHostMemory(bytes):
    """A buffer (``memoryview``, ``bytes(...)``) with ``nbytes`` and ``dtype``; not a
    sequence and without ``bytes``' methods, as in the bindings."""

    _ALLOWED = frozenset({"nbytes", "dtype", "__class__"})

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") or name in IHostMemory._ALLOWED:
            return super().__getattribute__(name)
        raise AttributeError(f"'IHostMemory' object has no attribute {name!r}")

    @property
    def nbytes(self) -> int:
        return bytes.__len__(self)

    @property
    def dtype(self) -> DataType:
        return DataType.UINT8

    def __len__(self) -> int:
        raise TypeError("object of type 'IHostMemory' has no len()")

    def __getitem__(self, index: Any) -> Any:
        raise TypeError("'IHostMemory' object is not subscriptable")

    def __iter__(self) -> Any:
        raise TypeError("'IHostMemory' object is not iterable")

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __add__(self, other: Any) -> Any:
        return NotImplemented


# --- network and parser ------------------------------------------------------------------


@dataclass
class ITensor:
    name: str
    shape: Dims
    dtype: DataType


class INetworkDefinition:
    def __init__(self, implicit_batch: bool = False) -> None:
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._onnx: bytes = b""
        self._implicit_batch = implicit_batch

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

        if self._network._implicit_batch:
            # What TensorRT 8.6's parser says to a network made with create_network(0).
            self._errors.append(
                ParserError(
                    "Assertion failed: !mImporterCtx.network()->hasImplicitBatchDimension() && "
                    '"This version of the ONNX parser only supports TensorRT '
                    "INetworkDefinitions with an explicit batch dimension. Please ensure the "
                    'network was created using the EXPLICIT_BATCH NetworkDefinitionCreationFlag."'
                )
            )
            return False

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

    def _valid(self) -> bool:
        for lo, opt, hi in self._shapes.values():
            if not (len(lo) == len(opt) == len(hi)) or any(
                not a <= b <= c for a, b, c in zip(lo, opt, hi, strict=True)
            ):
                return False
        return True


class IBuilderConfig:
    __slots__ = (
        "_calibration_profile",
        "_flags",
        "_pools",
        "_profiles",
        "_progress_monitor",
        "int8_calibrator",
    )

    def __init__(self) -> None:
        self._pools: dict[MemoryPoolType, int] = {}
        self._flags: set[BuilderFlag] = set()
        self._profiles: list[IOptimizationProfile] = []
        self._calibration_profile: IOptimizationProfile | None = None
        self._progress_monitor: Any = None
        self.int8_calibrator: IInt8Calibrator | None = None

    @property
    def progress_monitor(self) -> Any:
        self._since_10()
        return self._progress_monitor

    @progress_monitor.setter
    def progress_monitor(self, monitor: Any) -> None:
        self._since_10()
        self._progress_monitor = monitor

    @staticmethod
    def _since_10() -> None:
        if major() < 10:
            raise AttributeError(
                "'tensorrt.IBuilderConfig' object has no attribute 'progress_monitor'"
            )

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
        if not profile._valid():
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    def set_calibration_profile(self, profile: IOptimizationProfile) -> bool:
        if RECORD.reject_calibration_profile or not profile._valid():
            return False
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self) -> IOptimizationProfile | None:
        return self._calibration_profile


class Builder(_Native):
    def __init__(self, logger: ILogger) -> None:
        RECORD.builders += 1
        _create(logger, "builder")
        self._logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        explicit = flags & (1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
        return INetworkDefinition(implicit_batch=major() < 10 and not explicit)

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


class Runtime(_Native):
    def __init__(self, logger: ILogger) -> None:
        RECORD.runtimes += 1
        _create(logger, "runtime")
        self._logger = logger

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        from tests.fakes.tensorrt_run import load_plan

        return load_plan(self._logger, bytes(memoryview(serialized_engine)))


from tests.fakes.tensorrt_run import ICudaEngine, IExecutionContext  # noqa: E402

__all__ = ["ICudaEngine", "IExecutionContext"]
