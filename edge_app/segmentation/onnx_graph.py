"""An ONNX model's inputs and outputs (names, element types, dimensions), read from the file.

What a DeepStream nvinfer file leaves out (``infer-dims``, the output's name) nvinfer reads
from the model itself; ``read_onnx_graph`` does the same here. It reads the protobuf wire
format directly, so it needs neither the ``onnx`` package nor ONNX Runtime (a Jetson has
neither), and it skips over the weights without copying them (the file is memory-mapped;
PeopleSemSegFormer's is 205 MB). Graph inputs that are initializers (older exports list
weights as inputs) are not model inputs and are left out.

Example::

    >>> graph = read_onnx_graph(Path("model.onnx"))  # doctest: +SKIP
    >>> graph.inputs[0]  # doctest: +SKIP
    OnnxTensor(name='input', elem_type='float32', dims=(-1, 3, 1024, 1024))
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_app.core.errors import ConfigError

# TensorProto.DataType numbers -> names (onnx.proto3).
ELEM_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
}

# Field numbers of the messages walked here (onnx.proto3).
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_TENSOR_NAME = 8
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_ELEM_TYPE, _TENSOR_SHAPE = 1, 2
_SHAPE_DIM = 1
_DIM_VALUE, _DIM_PARAM = 1, 2


@dataclass(frozen=True)
class OnnxTensor:
    """One graph input or output: ``dims`` has ``-1`` for a dynamic (named or unknown) axis;
    ``dims`` is ``None`` when the model gives no shape at all."""

    name: str
    elem_type: str
    dims: tuple[int, ...] | None

    def describe(self) -> str:
        """``'input' float32 [N, 3, 512, 512]`` (``N`` a dynamic batch, ``?`` other axes)."""
        if self.dims is None:
            return f"{self.name!r} {self.elem_type} ?"
        axes = ["?" if d < 0 else str(d) for d in self.dims]
        if axes and axes[0] == "?":
            axes[0] = "N"
        shape = "[" + ", ".join(axes) + "]"
        return f"{self.name!r} {self.elem_type} {shape}"


@dataclass(frozen=True)
class OnnxGraph:
    """The model inputs (initializers excluded) and outputs of an ONNX file."""

    path: Path
    inputs: tuple[OnnxTensor, ...]
    outputs: tuple[OnnxTensor, ...]

    def output(self, name: str) -> OnnxTensor | None:
        return next((t for t in self.outputs if t.name == name), None)


class _WireError(ValueError):
    pass


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise _WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint too long")


def _fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """``(field number, value)`` of a message: an int for varints, a view for bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _WireError("truncated field")
            yield number, data[pos : pos + size]
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _WireError(f"unsupported wire type {wire}")


def _text(value: int | memoryview) -> str:
    if not isinstance(value, memoryview):
        raise _WireError("expected a string")
    return bytes(value).decode("utf-8", "replace")


def _message(value: int | memoryview) -> memoryview:
    if not isinstance(value, memoryview):
        raise _WireError("expected a message")
    return value


def _dims(shape: memoryview) -> tuple[int, ...]:
    dims = []
    for number, value in _fields(shape):
        if number != _SHAPE_DIM:
            continue
        dim = -1
        for field, item in _fields(_message(value)):
            if field == _DIM_VALUE and isinstance(item, int):
                dim = item if item < 1 << 63 else item - (1 << 64)
        dims.append(dim if dim > 0 else -1)
    return tuple(dims)


def _value_info(data: memoryview) -> OnnxTensor:
    name, elem, dims = "", "undefined", None
    for number, value in _fields(data):
        if number == _VALUE_NAME:
            name = _text(value)
        elif number == _VALUE_TYPE:
            for field, item in _fields(_message(value)):
                if field != _TYPE_TENSOR:
                    continue
                for part, entry in _fields(_message(item)):
                    if part == _TENSOR_ELEM_TYPE and isinstance(entry, int):
                        elem = ELEM_TYPES.get(entry, f"type {entry}")
                    elif part == _TENSOR_SHAPE:
                        dims = _dims(_message(entry))
    return OnnxTensor(name, elem, dims)


def _initializer_name(data: memoryview) -> str:
    for number, value in _fields(data):
        if number == _TENSOR_NAME:
            return _text(value)
    return ""


def _graph(path: Path, data: memoryview) -> OnnxGraph:
    graph = None
    for number, value in _fields(data):
        if number == _MODEL_GRAPH:
            graph = _message(value)
    if graph is None:
        raise _WireError("no graph")
    inputs: list[OnnxTensor] = []
    outputs: list[OnnxTensor] = []
    initializers: set[str] = set()
    for number, value in _fields(graph):
        if number == _GRAPH_INPUT:
            inputs.append(_value_info(_message(value)))
        elif number == _GRAPH_OUTPUT:
            outputs.append(_value_info(_message(value)))
        elif number == _GRAPH_INITIALIZER:
            initializers.add(_initializer_name(_message(value)))
    if not outputs:
        raise _WireError("the graph has no outputs")
    return OnnxGraph(path, tuple(t for t in inputs if t.name not in initializers), tuple(outputs))


def read_onnx_graph(path: Path, key: str = "onnx") -> OnnxGraph:
    """The inputs and outputs of the ONNX model at ``path``.

    Raises ``ConfigError`` naming ``path`` and ``key`` (the setting that names the file)
    when the file is missing, unreadable or not an ONNX model.
    """
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return _graph(path, view)
            finally:
                view.release()
    except FileNotFoundError as exc:
        raise ConfigError(
            str(path), key, "model file not found", f"check {key}: it must name the .onnx file"
        ) from exc
    except (OSError, ValueError) as exc:
        # mmap of an empty file raises ValueError too.
        raise ConfigError(
            str(path),
            key,
            f"not a readable ONNX model ({exc})",
            "give the .onnx file itself (an encrypted .etlt or an engine is not an ONNX model)",
        ) from exc
