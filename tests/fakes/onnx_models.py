"""Tiny person-segmentation ONNX graphs for tests: "person" wherever a pixel is bright.

With PeopleSemSegFormer's normalisation (``0.007843 * (x - 127.5)``) the channel mean is
positive exactly where the pixel is brighter than mid-grey, so a white rectangle on a
black frame is a person-shaped blob whose mask the test knows in advance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import onnx
from onnx import TensorProto, helper


def bright_person_model(
    path: Path,
    *,
    batch: int | None = None,
    size: tuple[int, int] = (16, 16),
    output: Literal["class_map", "scores"] = "class_map",
    input_name: str = "input",
    output_name: str = "output",
    dynamic_size: bool = False,
) -> Path:
    """Write the model to ``path``: input ``[N,3,H,W]`` float, output a class map
    ``[N,1,H,W]`` int64 (1 = person) or 2-class scores ``[N,2,H,W]`` float.
    ``batch=None`` makes the batch dimension dynamic; ``size`` is ``(H, W)``, or dynamic
    ``H``/``W`` dimensions with ``dynamic_size``.
    """
    n: int | str = batch if batch is not None else "N"
    h, w = ("H", "W") if dynamic_size else size
    nodes = [helper.make_node("ReduceMean", [input_name], ["mean"], axes=[1], keepdims=1)]
    if output == "class_map":
        nodes += [
            helper.make_node(
                "Constant",
                [],
                ["zero"],
                value=helper.make_tensor("zero_v", TensorProto.FLOAT, [], [0.0]),
            ),
            helper.make_node("Greater", ["mean", "zero"], ["bright"]),
            helper.make_node("Cast", ["bright"], [output_name], to=TensorProto.INT64),
        ]
        out = helper.make_tensor_value_info(output_name, TensorProto.INT64, [n, 1, h, w])
    else:
        nodes += [
            helper.make_node("Neg", ["mean"], ["background"]),
            helper.make_node("Concat", ["background", "mean"], [output_name], axis=1),
        ]
        out = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [n, 2, h, w])
    graph = helper.make_graph(
        nodes,
        "bright_person",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [n, 3, h, w])],
        [out],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path
