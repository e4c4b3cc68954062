"""Reading an ONNX file's inputs and outputs without the onnx package (what nvinfer reads
from the model when its config leaves it out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_app.core.errors import ConfigError
from edge_app.segmentation.onnx_graph import OnnxTensor, read_onnx_graph
from tests.fakes.onnx_models import bright_person_model


def _conv_model(path: Path, *, weights_as_input: bool, external: bool) -> Path:
    weight = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 1024, 1024])]
    if weights_as_input:  # how older exporters listed weights
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3, 1, 1]))
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["image", "w"], ["logits"]),
            helper.make_node("ArgMax", ["logits"], ["argmax_1"], axis=1, keepdims=1),
        ],
        "conv",
        inputs,
        [helper.make_tensor_value_info("argmax_1", TensorProto.INT64, [1, 1, 1024, 1024])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        onnx.save_model(
            model, str(path), save_as_external_data=True, location="w.bin", size_threshold=0
        )
    else:
        onnx.save_model(model, str(path))
    return path


@pytest.mark.parametrize("weights_as_input", [False, True])
@pytest.mark.parametrize("external", [False, True])
def test_static_dims_names_and_types(
    tmp_path: Path, weights_as_input: bool, external: bool
) -> None:
    path = _conv_model(tmp_path / "m.onnx", weights_as_input=weights_as_input, external=external)
    graph = read_onnx_graph(path)
    assert graph.inputs == (OnnxTensor("image", "float32", (1, 3, 1024, 1024)),)
    assert graph.outputs == (OnnxTensor("argmax_1", "int64", (1, 1, 1024, 1024)),)
    assert graph.output("argmax_1") is graph.outputs[0] and graph.output("x") is None


def test_dynamic_axes_are_minus_one(tmp_path: Path) -> None:
    path = bright_person_model(tmp_path / "b.onnx", dynamic_size=True, output="scores")
    graph = read_onnx_graph(path)
    assert graph.inputs == (OnnxTensor("input", "float32", (-1, 3, -1, -1)),)
    assert graph.outputs == (OnnxTensor("output", "float32", (-1, 2, -1, -1)),)
    assert graph.inputs[0].describe() == "'input' float32 [N, 3, ?, ?]"


def test_agrees_with_the_onnx_package_on_a_real_sized_graph(tmp_path: Path) -> None:
    path = bright_person_model(tmp_path / "b.onnx", batch=4, size=(544, 960))
    proto = onnx.load(str(path))
    graph = read_onnx_graph(path)
    for ours, theirs in zip(
        graph.inputs + graph.outputs, [*proto.graph.input, *proto.graph.output], strict=True
    ):
        assert ours.name == theirs.name
        assert ours.dims == tuple(d.dim_value for d in theirs.type.tensor_type.shape.dim)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not a readable ONNX model"),
        (b"\x0f\xff\xfe encrypted etlt bytes", "not a readable ONNX model"),
        (b"\x08\x07", "not a readable ONNX model (no graph)"),
    ],
)
def test_not_an_onnx_file_names_the_key(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "model.etlt"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        read_onnx_graph(path, key="onnx-file")
    assert err.value.file == str(path) and err.value.field == "onnx-file"
    assert problem in err.value.problem


def test_a_missing_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="onnx-file: model file not found"):
        read_onnx_graph(tmp_path / "none.onnx", key="onnx-file")
