"""A stand-in segmentation model for ``edge-app bench`` where no real one is at hand.

A fresh clone has no model. The pipeline figure (how much of a replay's time is inference)
needs one whose cost is like a real one's, not its accuracy: four 3x3 convolutions with
fixed random weights (the first two at stride 2) and a 1x1 convolution to two classes, in
PeopleSemSegFormer's contract (``input`` NCHW float, 2-class scores ``output`` at 1/4 of
the input size). At 256x256 it costs about what MediaPipe's selfie model does on the CPU
(5.9 vs 6.0 ms a frame on the 2-core development machine, ONNX Runtime 1.32). Its masks
are not the frame's people: the computed scores are added faintly to six fixed
person-shaped blobs, so the analytics after it do the work of a shop with a few people.
It is written with the ``onnx`` package (``pip install 'edge-app[bench]'``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.config import OnnxSegmenterConfig, OutputConfig, PreprocessConfig

SIZE = 256
LAYERS = ((16, 3, 2), (32, 3, 2), (48, 3, 1), (48, 3, 1))
"""(output channels, kernel, stride) of each convolution before the classifier."""
NOISE = 1e-3
"""Weight of the computed scores against the fixed people (whose scores are +-4)."""
PEOPLE = ((8, 30), (20, 34), (27, 36), (40, 28), (52, 44), (58, 40))
"""(x, y) of the fixed people's feet in the 64x64 output: 4 wide, 11 tall each."""


def person_pattern() -> np.ndarray:
    """``(2, 64, 64)`` float32 scores: person (channel 1) in six upright person-sized
    rectangles, background elsewhere."""
    side = SIZE // 4
    person = np.full((side, side), -4.0, np.float32)
    for x, y in PEOPLE:
        person[y - 11 : y, x - 2 : x + 2] = 4.0
    return np.stack([np.zeros_like(person), person])


def onnx_missing() -> str | None:
    """Why the stand-in cannot be written here, or None."""
    try:
        importlib.import_module("onnx")
    except ImportError:
        return "the onnx package is not installed: pip install 'edge-app[bench]'"
    return None


def write_standin_model(path: Path, seed: int = 0) -> Path:
    """Write the stand-in to ``path`` (needs ``onnx``; see ``onnx_missing``)."""
    onnx: Any = importlib.import_module("onnx")
    helper, numpy_helper, tensor = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    previous, channels = "input", 3
    for i, (out, kernel, stride) in enumerate(LAYERS):
        fan_in = channels * kernel * kernel
        w = rng.standard_normal((out, channels, kernel, kernel)) * np.sqrt(2.0 / fan_in)
        weights += [
            numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(np.zeros(out, np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node(
                "Conv",
                [previous, f"w{i}", f"b{i}"],
                [f"conv{i}"],
                kernel_shape=[kernel, kernel],
                strides=[stride, stride],
                pads=[kernel // 2] * 4,
            ),
            helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]),
        ]
        previous, channels = f"relu{i}", out
    classify = rng.standard_normal((2, channels, 1, 1)) * np.sqrt(1.0 / channels)
    weights += [
        numpy_helper.from_array(classify.astype(np.float32), "classify"),
        numpy_helper.from_array(np.array(NOISE, np.float32), "noise"),
        numpy_helper.from_array(person_pattern()[np.newaxis], "pattern"),
    ]
    nodes += [
        helper.make_node("Conv", [previous, "classify"], ["scores"], kernel_shape=[1, 1]),
        # The computed scores, faint, on the fixed people: the cost is real, the masks sane.
        helper.make_node("Mul", ["scores", "noise"], ["faint"]),
        helper.make_node("Add", ["faint", "pattern"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "edge_app_bench_standin",
        [helper.make_tensor_value_info("input", tensor.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", tensor.FLOAT, ["N", 2, SIZE // 4, SIZE // 4])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def standin_config(model: Path, threads: int) -> OnnxSegmenterConfig:
    """The stand-in's segmenter settings (RGB in 0..1, 2-class scores)."""
    return OnnxSegmenterConfig(
        model=model,
        input_name="input",
        output=OutputConfig(name="output"),
        preprocess=PreprocessConfig(
            infer_dims=(3, SIZE, SIZE), net_scale_factor=1 / 255, offsets=(0.0,)
        ),
        intra_op_threads=threads,
    )
