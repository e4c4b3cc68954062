"""A deserialized TensorRT engine: its tensors, and running it with the TensorRT 10 API.

Tensors are walked by name (``num_io_tensors``/``get_tensor_name``/``get_tensor_mode``...),
never by binding index. ``TrtRunner`` owns the execution context, one page-locked host
buffer and one device buffer per tensor, and a CUDA stream; one ``infer`` is:
``set_input_shape`` -> host-to-device copy -> ``execute_async_v3`` -> device-to-host copy
of the output -> stream synchronise, all on the same stream. ``tensorrt`` is never imported
here: the caller passes the module in (it is imported after the GPU check).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from edge_app.core.errors import SegmenterError
from edge_app.segmentation.tensorrt.cuda_buffers import (
    CudaStream,
    DeviceBuffer,
    GpuSession,
    HostBuffer,
    cuda_errors,
)

log = logging.getLogger(__name__)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorSpec:
    """One engine input or output.

    ``shape`` has ``-1`` for dimensions fixed only at run time; ``profile`` is the
    ``(min, opt, max)`` shapes of optimisation profile 0 for a dynamic input. ``dtype`` is
    the NumPy dtype, ``None`` when NumPy has none (BF16, FP8...); ``trt_dtype`` its name.
    """

    name: str
    is_input: bool
    shape: Shape
    trt_dtype: str
    dtype: np.dtype[Any] | None
    profile: tuple[Shape, Shape, Shape] | None = None

    @property
    def dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)

    def describe(self) -> str:
        kind = "input " if self.is_input else "output"
        text = f"{kind} {self.name!r}: {self.trt_dtype} {list(self.shape)}"
        if self.profile:
            lo, opt, hi = self.profile
            text += f"  profile min {list(lo)} opt {list(opt)} max {list(hi)}"
        return text


@dataclass(frozen=True)
class EngineBindings:
    """All of an engine's I/O tensors, in the engine's order."""

    tensors: tuple[TensorSpec, ...]

    @property
    def inputs(self) -> list[TensorSpec]:
        return [t for t in self.tensors if t.is_input]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [t for t in self.tensors if not t.is_input]

    def describe(self) -> list[str]:
        return [t.describe() for t in self.tensors]

    def pick(self, name: str, *, is_input: bool) -> TensorSpec:
        """The tensor called ``name``, or the only one of its kind; else a clear error."""
        group = self.inputs if is_input else self.outputs
        kind = "input" if is_input else "output"
        for t in group:
            if t.name == name:
                return t
        if len(group) == 1:
            log.info(
                "engine has no %s named %r; using its only %s %r", kind, name, kind, group[0].name
            )
            return group[0]
        names = ", ".join(repr(t.name) for t in group)
        field = "input_name" if is_input else "output.name"
        raise SegmenterError(
            f"the engine has no {kind} named {name!r}; its {kind}s are {names} "
            f"(set segmenter.{field})"
        )


def _numpy_dtype(trt: ModuleType, trt_dtype: Any) -> np.dtype[Any] | None:
    try:
        dtype: np.dtype[Any] = np.dtype(trt.nptype(trt_dtype))
    except TypeError:
        return None
    return dtype


def discover_bindings(trt: ModuleType, engine: Any) -> EngineBindings:
    """Walk an ``ICudaEngine``'s I/O tensors by name (TensorRT 10 tensor API)."""
    tensors = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        trt_dtype = engine.get_tensor_dtype(name)
        profile = None
        if is_input and any(d < 0 for d in shape) and engine.num_optimization_profiles > 0:
            lo, opt, hi = engine.get_tensor_profile_shape(name, 0)
            profile = (tuple(map(int, lo)), tuple(map(int, opt)), tuple(map(int, hi)))
        tensors.append(
            TensorSpec(
                name,
                is_input,
                shape,
                getattr(trt_dtype, "name", str(trt_dtype)),
                _numpy_dtype(trt, trt_dtype),
                profile,
            )
        )
    return EngineBindings(tuple(tensors))


def batch_range(spec: TensorSpec) -> tuple[int, int]:
    """The smallest and largest batch an input accepts (its profile, or its fixed size)."""
    if spec.shape[0] >= 0:
        return spec.shape[0], spec.shape[0]
    if spec.profile is None:
        raise SegmenterError(
            f"engine input {spec.name!r} has a dynamic batch but no optimisation profile: "
            "rebuild the engine with a profile (edge-app engine build does)"
        )
    return spec.profile[0][0], spec.profile[2][0]


def check_input(spec: TensorSpec, frame_shape: Shape, batch_size: int) -> list[str]:
    """Why an engine input cannot take ``batch_size`` frames of ``frame_shape``; [] if it can.

    ``frame_shape`` is one frame's tensor shape without the batch, in the model's layout.
    """
    problems = []
    if len(spec.shape) != 1 + len(frame_shape):
        problems.append(
            f"input {spec.name!r} is {len(spec.shape)}-D, expected "
            f"{1 + len(frame_shape)}-D [N, {', '.join(map(str, frame_shape))}]"
        )
        return problems
    fixed = [d for d, e in zip(spec.shape[1:], frame_shape, strict=True) if d >= 0 and d != e]
    if fixed:
        problems.append(
            f"input {spec.name!r} is {list(spec.shape)} but the preprocessing makes "
            f"[N, {', '.join(map(str, frame_shape))}] (check infer_dims and "
            "tensor_layout)"
        )
    if spec.dtype != np.dtype(np.float32):
        problems.append(f"input {spec.name!r} is {spec.trt_dtype}, only FLOAT inputs are fed")
    if spec.shape[0] < 0 and spec.profile is None:
        problems.append(f"input {spec.name!r} has a dynamic batch but no optimisation profile")
    else:
        _, hi = batch_range(spec)
        if hi < batch_size:
            problems.append(
                f"input {spec.name!r} takes at most {hi} frame(s) per batch, "
                f"batch_size is {batch_size}"
            )
    if spec.profile is not None:
        _, _, hi_shape = spec.profile
        wrong = [d for d, e in zip(hi_shape[1:], frame_shape, strict=True) if d != e]
        if wrong:
            problems.append(
                f"input {spec.name!r} profile allows up to {list(hi_shape)}, not "
                f"[N, {', '.join(map(str, frame_shape))}]"
            )
    return problems


class TrtRunner:
    """Runs one engine on batches written into ``input_buffer``.

    ``input_buffer`` is page-locked, shaped ``(rows, *frame_shape)`` float32 (one frame's
    tensor shape in the model's layout, which also fixes any dynamic H/W); write the
    first ``count`` rows (``prepare_batch(..., out=runner.input_buffer)``), then call
    ``infer(count)``. The output is returned as a view of a page-locked buffer, valid until
    the next ``infer``. A fixed-batch engine always runs its full batch (unused rows zero).
    """

    def __init__(
        self,
        gpu: GpuSession,
        engine: Any,
        bindings: EngineBindings,
        input_spec: TensorSpec,
        output_spec: TensorSpec,
        batch_size: int,
        frame_shape: Shape,
    ) -> None:
        self._gpu = gpu
        self.frame_shape = frame_shape
        self._engine = engine
        self.bindings = bindings
        self.input_spec = input_spec
        self.output_spec = output_spec
        self.min_batch, max_batch = batch_range(input_spec)
        self.rows = max(batch_size, self.min_batch)
        self.batch_size = min(batch_size, max_batch)
        if output_spec.dtype is None:
            raise SegmenterError(
                f"engine output {output_spec.name!r} is {output_spec.trt_dtype}, which NumPy "
                "cannot hold; export the model with an integer or float32/float16 output"
            )
        self._host: dict[str, HostBuffer] = {}
        self._device: dict[str, DeviceBuffer] = {}
        self._stream: CudaStream | None = None
        self._context: Any = None
        try:
            with gpu.active():
                self._allocate()
        except BaseException:
            self.close()
            raise

    def _allocate(self) -> None:
        cuda = self._gpu.cuda
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise SegmenterError(
                "TensorRT could not create an execution context (out of GPU memory?)"
            )
        self._stream = CudaStream(cuda)
        # Output sizes are known only once the input shape is: size everything for the
        # largest batch this runner will ever send.
        self._set_input_shape(self.rows)
        for spec in self.bindings.tensors:
            if spec.is_input and spec.name != self.input_spec.name:
                raise SegmenterError(
                    f"the engine has a second input {spec.name!r}; only single-input "
                    "segmentation models are supported"
                )
            shape = (self.rows, *self.frame_shape) if spec.is_input else self._output_shape(spec)
            dtype = spec.dtype if spec.dtype is not None else np.dtype(np.uint8)
            nbytes = math.prod(shape) * dtype.itemsize
            self._device[spec.name] = DeviceBuffer(cuda, max(nbytes, 1))
            if spec.name in (self.input_spec.name, self.output_spec.name):
                self._host[spec.name] = HostBuffer(cuda, shape, dtype)
            if not self._context.set_tensor_address(spec.name, self._device[spec.name].ptr):
                raise SegmenterError(f"TensorRT rejected the address of tensor {spec.name!r}")
        self.input_buffer: np.ndarray = self._host[self.input_spec.name].array
        self.input_buffer.fill(0.0)

    def _set_input_shape(self, rows: int) -> None:
        shape = (rows, *self.frame_shape)
        if not self._context.set_input_shape(self.input_spec.name, shape):
            lo, hi = batch_range(self.input_spec)
            raise SegmenterError(
                f"TensorRT rejected input shape {list(shape)} for {self.input_spec.name!r} "
                f"(the engine accepts batches of {lo}..{hi})"
            )

    def _output_shape(self, spec: TensorSpec) -> Shape:
        shape = tuple(int(d) for d in self._context.get_tensor_shape(spec.name))
        if any(d < 0 for d in shape):
            raise SegmenterError(
                f"TensorRT cannot tell the shape of output {spec.name!r} ({list(shape)}) from "
                "the input shape; data-dependent output shapes are not supported"
            )
        return shape

    def infer(self, count: int) -> np.ndarray:
        """Run the first ``count`` rows of ``input_buffer``; the output batch has ``count``.

        Raises ``SegmenterError`` on any TensorRT or CUDA failure.
        """
        if self._context is None or self._stream is None:
            raise SegmenterError("the tensorrt segmenter is closed")
        if not 1 <= count <= self.batch_size:
            raise SegmenterError(f"batch of {count} frames, this engine runs 1..{self.batch_size}")
        cuda = self._gpu.cuda
        rows = max(count, self.min_batch)
        if rows > count:
            self.input_buffer[count:rows] = 0.0
        stream = self._stream
        with self._gpu.active(), cuda_errors(cuda, "running the engine"):
            self._set_input_shape(rows)
            out_shape = self._output_shape(self.output_spec)
            host_out = self._host[self.output_spec.name].array
            out_view = host_out.reshape(-1)[: math.prod(out_shape)].reshape(out_shape)
            cuda.memcpy_htod_async(
                self._device[self.input_spec.name].allocation,
                self.input_buffer[:rows],
                stream.stream,
            )
            if not self._context.execute_async_v3(stream.handle):
                raise SegmenterError(
                    "TensorRT failed to run the engine (execute_async_v3 returned false; "
                    "see the TensorRT log lines above)"
                )
            cuda.memcpy_dtoh_async(
                out_view, self._device[self.output_spec.name].allocation, stream.stream
            )
            stream.synchronize()
        return out_view[:count]

    def close(self) -> None:
        """Free the buffers, the stream and the context; safe to call twice."""
        if not self._host and not self._device and self._context is None and self._engine is None:
            return
        with self._gpu.active():
            for buffer in self._host.values():
                buffer.free()
            for device in self._device.values():
                device.free()
            self._host.clear()
            self._device.clear()
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            # Dropping the last reference destroys the TensorRT objects, which must happen
            # while the context is current.
            self._context = None
            self._engine = None
