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
    channels_last: bool = False,
    class_type: int = TensorProto.INT64,
) -> Path:
    """Write the model to ``path``: input ``[N,3,H,W]`` float, output a class map
    ``[N,1,H,W]`` (``class_type``, int64 by default; 1 = person) or 2-class scores
    ``[N,2,H,W]`` float; ``channels_last`` gives the output as ``[N,H,W,C]`` (nvinfer's
    ``segmentation-output-order=1``). ``batch=None`` makes the batch dimension dynamic;
    ``size`` is ``(H, W)``, or dynamic ``H``/``W`` dimensions with ``dynamic_size``.
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
            helper.make_node("Cast", ["bright"], ["result"], to=class_type),
        ]
        elem, channels = class_type, 1
    else:
        nodes += [
            helper.make_node("Neg", ["mean"], ["background"]),
            helper.make_node("Concat", ["background", "mean"], ["result"], axis=1),
        ]
        elem, channels = TensorProto.FLOAT, 2
    if channels_last:
        nodes.append(helper.make_node("Transpose", ["result"], [output_name], perm=[0, 2, 3, 1]))
        out = helper.make_tensor_value_info(output_name, elem, [n, h, w, channels])
    else:
        nodes.append(helper.make_node("Identity", ["result"], [output_name]))
        out = helper.make_tensor_value_info(output_name, elem, [n, channels, h, w])
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
