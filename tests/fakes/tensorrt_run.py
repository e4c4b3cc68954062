"""The fake TensorRT runtime side: plan files, ``ICudaEngine``, ``IExecutionContext``.

``execute_async_v3`` checks what TensorRT 10 checks before enqueueing (every input shape
set and inside the profile, every I/O tensor address set), then runs the ONNX model with
ONNX Runtime on the input read from fake device memory and writes the outputs back to
device memory, logging ``("execute", stream)`` in the fake driver's op list.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from tests.fakes import pycuda_driver as cuda
from tests.fakes import tensorrt as trt


def pack_plan(header: dict[str, Any], onnx: bytes) -> bytes:
    text = json.dumps(header).encode("utf-8")
    return trt.MAGIC + struct.pack("<Q", len(text)) + text + onnx


def _serialization_error(logger: Any, detail: str) -> None:
    trt._error(
        logger,
        "1: [stdArchiveReader.cpp::StdArchiveReaderInitCommon::46] Error Code 1: "
        f"Serialization (Serialization assertion failed. {detail})",
    )


def load_plan(logger: Any, data: bytes) -> ICudaEngine | None:
    if not data.startswith(trt.MAGIC) or len(data) < len(trt.MAGIC) + 8:
        _serialization_error(logger, "Magic tag does not match")
        return None
    (size,) = struct.unpack_from("<Q", data, len(trt.MAGIC))
    start = len(trt.MAGIC) + 8
    try:
        header = json.loads(data[start : start + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        _serialization_error(logger, "Truncated or corrupt plan")
        return None
    if header.get("version") != trt.__version__:
        trt._error(
            logger,
            "The engine plan file is not compatible with this version of "
            f"TensorRT, expecting library version {trt.__version__} got "
            f"{header.get('version')}, please rebuild.",
        )
        return None
    device = cuda.current_device() or cuda.STATE.devices[0]
    if tuple(header["compute"]) != device.compute_capability:
        want = ".".join(map(str, device.compute_capability))
        got = ".".join(map(str, header["compute"]))
        trt._error(
            logger,
            "The engine plan file is generated on an incompatible device, "
            f"expecting compute {want} got compute {got}, please rebuild.",
        )
        return None
    if header["device"] != device.name:
        logger.log(
            trt.ILogger.Severity.WARNING,
            "Using an engine plan file across different "
            "models of devices is not recommended and is likely to affect performance "
            "or even cause errors.",
        )
    return ICudaEngine(header, data[start + size :], data)


class ICudaEngine(trt._Native):
    def __init__(self, header: dict[str, Any], onnx: bytes, plan: bytes) -> None:
        self._inputs = {t["name"]: t for t in header["inputs"]}
        self._outputs = {t["name"]: t for t in header["outputs"]}
        self._order = [*self._inputs, *self._outputs]
        self._profile = header["profile"]
        self._onnx = onnx
        self._plan = plan
        self._session: Any = None

    @property
    def num_io_tensors(self) -> int:
        return len(self._order)

    @property
    def num_optimization_profiles(self) -> int:
        return 1

    def get_tensor_name(self, index: int) -> str:
        return self._order[index]

    def _tensor(self, name: str) -> dict[str, Any]:
        return self._inputs.get(name) or self._outputs[name]

    def get_tensor_mode(self, name: str) -> trt.TensorIOMode:
        if name in self._inputs:
            return trt.TensorIOMode.INPUT
        if name in self._outputs:
            return trt.TensorIOMode.OUTPUT
        return trt.TensorIOMode.NONE

    def get_tensor_shape(self, name: str) -> trt.Dims:
        return trt.Dims(self._tensor(name)["shape"])

    def get_tensor_dtype(self, name: str) -> trt.DataType:
        return trt.DataType[self._tensor(name)["dtype"]]

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[trt.Dims]:
        if profile_index != 0 or name not in self._inputs:
            raise ValueError(f"no profile shape for {name!r} in profile {profile_index}")
        shapes = self._profile.get(name) or [self._inputs[name]["shape"]] * 3
        return [trt.Dims(s) for s in shapes]

    def create_execution_context(self, strategy: Any = None) -> IExecutionContext:
        return IExecutionContext(self)

    def serialize(self) -> trt.IHostMemory:
        return trt.IHostMemory(self._plan)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import onnxruntime

        if self._session is None:
            self._session = onnxruntime.InferenceSession(
                self._onnx, providers=["CPUExecutionProvider"]
            )
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(None, feeds), strict=True))


class IExecutionContext(trt._Native):
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._addresses: dict[str, int] = {}
        self._logger = trt.Logger()

    def set_input_shape(self, name: str, shape: Any) -> bool:
        spec = self.engine._inputs.get(name)
        shape = tuple(int(d) for d in shape)
        if spec is None:
            trt._error(self._logger, f"setInputShape: {name} is not an input tensor")
            return False
        declared = spec["shape"]
        lo, _, hi = self.engine._profile.get(name) or [declared] * 3
        fits = len(shape) == len(declared) and all(
            (d == s if d >= 0 else a <= s <= b)
            for d, s, a, b in zip(declared, shape, lo, hi, strict=True)
        )
        if not fits:
            trt._error(
                self._logger,
                "IExecutionContext::setInputShape: Error Code 3: API Usage "
                f"Error (Set dimension {list(shape)} for tensor {name} does not satisfy "
                "any optimization profiles.)",
            )
            return False
        self._shapes[name] = shape
        return True

    def get_tensor_shape(self, name: str) -> trt.Dims:
        if name in self.engine._inputs:
            return trt.Dims(self._shapes.get(name, self.engine._inputs[name]["shape"]))
        declared = list(self.engine._outputs[name]["shape"])
        if all(d >= 0 for d in declared):
            return trt.Dims(declared)
        if set(self._shapes) != set(self.engine._inputs):
            return trt.Dims(declared)  # unknown until every input shape is set, as in TRT
        # TensorRT infers output shapes from the input shapes; the fake asks the model.
        feeds = {
            n: np.zeros(self._shapes[n], trt.nptype(trt.DataType[spec["dtype"]]))
            for n, spec in self.engine._inputs.items()
        }
        return trt.Dims(self.engine.run(feeds)[name].shape)

    def set_tensor_address(self, name: str, memory: int) -> bool:
        if name not in self.engine._order:
            trt._error(self._logger, f"setTensorAddress: {name} is not an I/O tensor")
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def execute_async_v3(self, stream_handle: int) -> bool:
        for name, spec in self.engine._inputs.items():
            if any(d < 0 for d in spec["shape"]) and name not in self._shapes:
                trt._error(
                    self._logger,
                    f"Error Code 3: API Usage Error (input {name} has "
                    "dynamic dimensions and no input shape was set)",
                )
                return False
        for name in self.engine._order:
            if name not in self._addresses:
                trt._error(
                    self._logger,
                    "Error Code 3: API Usage Error (Address is not set "
                    f"for tensor {name}. Call setTensorAddress before enqueue/execute.)",
                )
                return False
        if trt.RECORD.execute_failure:
            trt._error(self._logger, trt.RECORD.execute_failure)
            return False
        feeds = {}
        for name, spec in self.engine._inputs.items():
            shape = self._shapes.get(name, tuple(spec["shape"]))
            dtype = np.dtype(trt.nptype(trt.DataType[spec["dtype"]]))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            memory, offset = cuda.resolve(self._addresses[name], nbytes)
            feeds[name] = np.frombuffer(memory, dtype, int(np.prod(shape)), offset).reshape(shape)
        outputs = self.engine.run(feeds)
        for name in self.engine._outputs:
            value = np.ascontiguousarray(outputs[name])
            if tuple(value.shape) != tuple(self.get_tensor_shape(name)):
                trt._error(self._logger, f"output {name} shape mismatch")
                return False
            memory, offset = cuda.resolve(self._addresses[name], value.nbytes)
            memory[offset : offset + value.nbytes] = value.tobytes()
        cuda.STATE.ops.append(("execute", stream_handle))
        return True
