"""A tensorrt segmenter's model, resolved: the nvinfer file applied, its model files checked,
and what the file leaves out read from the ONNX model, as nvinfer does.

``resolve_model`` is the one place where a model given by a DeepStream file is accepted
or refused, so ``edge-app check`` and ``edge-app run`` refuse exactly the same files: a
model that cannot be had (only an encrypted ``.etlt``, a template's placeholder path, an
ONNX or engine file that does not exist, a misspelt ``onnx-file``), no person class, an
``infer-dims``, ``batch-size`` or ``output-blob-names`` the ONNX model contradicts. Each
refusal is a ``ConfigError`` naming the nvinfer file and the key. From the ONNX model it
takes the input size when the file gives no ``infer-dims`` (CitySemSegFormer's file), the
input's name, and the output's name when the file gives none and the model has one.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_app.config import TensorRTSegmenterConfig, validation_to_config_error
from edge_app.core.errors import ConfigError
from edge_app.segmentation.onnx_graph import OnnxGraph, OnnxTensor, read_onnx_graph
from edge_app.segmentation.tensorrt.nvinfer import NvinferModel, read_nvinfer_config
from edge_app.segmentation.tensorrt.nvinfer_keys import MODEL_KEYS

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"<[^>]*>|/path/to(/|$)", re.IGNORECASE)
"""What templates put where a path belongs: ``<PATH TO YOUR ENGINE>``, ``/path/to/x``."""

COLOUR_FORMATS = {0: "RGB", 1: "BGR", 2: "GRAY"}
PRECISION_NAMES = {0: "FP32", 1: "INT8", 2: "FP16"}


@dataclass(frozen=True)
class ResolvedModel:
    """``config`` is ready to run (no ``nvinfer_config`` left). ``origin`` says where each
    setting came from (an nvinfer key, ``the ONNX model``); ``graph`` is the ONNX model's
    signature when one is named; ``notes`` what was read from it and why."""

    config: TensorRTSegmenterConfig
    source: Path | None = None
    model: NvinferModel | None = None
    graph: OnnxGraph | None = None
    origin: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def warnings(self) -> list[str]:
        return self.model.warnings if self.model is not None else []


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    target = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value


def _refuse_placeholders(path: Path, data: dict[str, Any]) -> None:
    for setting, key, fix in (
        ("onnx", "onnx-file", "set it to the downloaded .onnx model"),
        (
            "engine",
            "model-engine-file",
            "give the engine's path, or remove the line: the engine built from onnx-file is "
            "cached in segmenter.engine_cache_dir",
        ),
    ):
        value = data[setting]
        if value is not None and PLACEHOLDER.search(str(value)):
            raise ConfigError(
                str(path), key, f"{value} is the template's placeholder, not a file", fix
            )


def _usable_model(path: Path, model: NvinferModel, data: dict[str, Any]) -> OnnxGraph | None:
    """The ONNX model's graph, ``None`` for a built engine; else the reason as an error."""
    onnx: Path | None = data["onnx"]
    engine: Path | None = data["engine"]
    if onnx is not None:
        try:
            return read_onnx_graph(onnx, key="onnx-file")
        except ConfigError as exc:
            raise ConfigError(str(path), "onnx-file", f"{onnx}: {exc.problem}", exc.fix) from exc
    if engine is not None and engine.is_file():
        return None
    if model.etlt is not None:
        missing = f" and model-engine-file {engine} does not exist" if engine else ""
        raise ConfigError(
            str(path),
            "tlt-encoded-model",
            f"{model.etlt.name} is an encrypted .etlt model, which cannot be read here{missing}",
            "download the model's ONNX version from NGC and set onnx-file=PATH (or give an "
            "engine built for this device as model-engine-file)",
        )
    if engine is None:
        raise ConfigError(
            str(path),
            "onnx-file",
            "names neither onnx-file nor model-engine-file",
            "add onnx-file=path/to/model.onnx",
        )
    raise ConfigError(
        str(path),
        "model-engine-file",
        f"{engine} not found, and there is no onnx-file to build it from",
        "give the engine's path, or add onnx-file=PATH",
    )


def _static_chw(tensor: OnnxTensor, layout: str) -> tuple[int, int, int] | None:
    """The input's (C, H, W) when the model fixes all three."""
    dims = tensor.dims
    if dims is None or len(dims) != 4:
        return None
    c, h, w = (dims[1], dims[2], dims[3]) if layout == "NCHW" else (dims[3], dims[1], dims[2])
    return (c, h, w) if min(c, h, w) > 0 else None


def _fill_from_graph(
    path: Path,
    config: TensorRTSegmenterConfig,
    model: NvinferModel,
    graph: OnnxGraph,
    data: dict[str, Any],
    origin: dict[str, str],
) -> list[str]:
    notes = []
    if len(graph.inputs) != 1:
        names = ", ".join(repr(t.name) for t in graph.inputs)
        raise ConfigError(
            str(path),
            "onnx-file",
            f"{graph.path} has {len(graph.inputs)} inputs ({names})",
            "segmentation models with exactly one image input are supported",
        )
    tensor = graph.inputs[0]
    if "input_name" not in config.model_fields_set:
        data["input_name"] = tensor.name
        origin["input_name"] = "the ONNX model"
    pre = data["preprocess"]
    static = _static_chw(tensor, pre["tensor_layout"])
    given = "preprocess.infer_dims" in model.updates or (
        "infer_dims" in config.preprocess.model_fields_set
    )
    if given and static is not None and tuple(pre["infer_dims"]) != static:
        raise ConfigError(
            str(path),
            "infer-dims",
            f"is {';'.join(map(str, pre['infer_dims']))} but the ONNX model's input "
            f"{tensor.describe()} takes {';'.join(map(str, static))}",
            "remove infer-dims (it is read from the model) or export the model for this size",
        )
    if not given:
        if static is not None:
            pre["infer_dims"] = static
            origin["preprocess.infer_dims"] = "the ONNX model: the file gives no infer-dims"
        else:
            notes.append(
                f"the ONNX input {tensor.describe()} has no fixed size and the file gives no "
                f"infer-dims: {';'.join(map(str, pre['infer_dims']))} is used"
            )
    if tensor.dims and tensor.dims[0] > 0 and tensor.dims[0] != data["batch_size"]:
        raise ConfigError(
            str(path),
            "batch-size",
            f"is {data['batch_size']} but the ONNX model has a fixed batch of {tensor.dims[0]}",
            f"set batch-size={tensor.dims[0]}, or export the model with a dynamic batch",
        )
    name = data["output"]["name"]
    names = ", ".join(repr(t.name) for t in graph.outputs)
    explicit = "output.name" in model.updates or "name" in config.output.model_fields_set
    if graph.output(name) is None:
        if explicit or len(graph.outputs) != 1:
            raise ConfigError(
                str(path),
                "output-blob-names",
                f"the ONNX model has no output {name!r}; its outputs are {names}",
                "set output-blob-names to the segmentation output",
            )
        data["output"]["name"] = graph.outputs[0].name
        origin["output.name"] = "the ONNX model: its only output"
    return notes


def _validated(path: Path, data: dict[str, Any]) -> TensorRTSegmenterConfig:
    try:
        return TensorRTSegmenterConfig.model_validate(data)
    except ValidationError as exc:
        error = validation_to_config_error(path, exc)
        # Name the nvinfer key the user wrote, not the setting it became.
        key = next((k for k, v in MODEL_KEYS.items() if v == error.field), error.field)
        raise ConfigError(error.file, key, error.problem, error.fix) from exc


def resolve_model(config: TensorRTSegmenterConfig) -> ResolvedModel:
    """The segmenter settings with its ``nvinfer_config`` applied and checked (see the module
    docstring); a config without one is returned as it is. Raises ``ConfigError``."""
    path = config.nvinfer_config
    if path is None:
        return ResolvedModel(config)
    model = read_nvinfer_config(path)
    data = config.model_dump()
    data["nvinfer_config"] = None
    origin: dict[str, str] = {}
    for dotted, value in model.updates.items():
        _set(data, dotted, value)
        origin[dotted] = model.keys.get(dotted, dotted)
    _refuse_placeholders(path, data)
    graph = _usable_model(path, model, data)
    notes = _fill_from_graph(path, config, model, graph, data, origin) if graph else []
    calibration: Path | None = data["calibration_cache"]
    engine: Path | None = data["engine"]
    if (
        data["network_mode"] == 1
        and data["calibration_dir"] is None
        and not (calibration is not None and calibration.is_file())
        and not (engine is not None and engine.is_file())
    ):
        notes.append(
            "network-mode=1 (INT8): building the engine needs the calibration cache "
            f"(int8-calib-file{f' {calibration} does not exist' if calibration else ''}) "
            "or frames in segmenter.calibration_dir"
        )
    return ResolvedModel(_validated(path, data), path, model, graph, origin, tuple(notes))


def apply_nvinfer(config: TensorRTSegmenterConfig) -> TensorRTSegmenterConfig:
    """``config`` with its model settings taken from its ``nvinfer_config`` (if any).

    Keys present in the nvinfer file win over the YAML; the rest keep their YAML values or
    come from the ONNX model. Notes on keys that do not apply are logged. Raises
    ``ConfigError`` naming the file and key (see ``resolve_model``).
    """
    resolved = resolve_model(config)
    if resolved.model is not None:
        resolved.model.log_notes()
    for note in resolved.notes:
        log.warning("%s: %s", resolved.source, note)
    return resolved.config


def _from(resolved: ResolvedModel, setting: str) -> str:
    where = resolved.origin.get(setting)
    return f" (from {where})" if where else ""


def _output_form(tensor: OnnxTensor | None, order: str | None) -> str:
    if tensor is None or tensor.dims is None or len(tensor.dims) != 4:
        return "form detected from its shape at run time"
    integer = not tensor.elem_type.startswith(("float", "bfloat"))
    layout = order or ("CHW" if tensor.dims[1] in (1, 2) else "HWC")
    channels = tensor.dims[1] if layout == "CHW" else tensor.dims[3]
    forms = {True: "class map", False: "2-class scores" if channels == 2 else "probability"}
    form = forms[integer]
    how = "segmentation-output-order" if order else "its shape"
    return f"{form}, {layout} (from {how})"


def describe_model(resolved: ResolvedModel) -> list[str]:
    """What the segmenter will run, one setting per line, with where each came from."""
    cfg = resolved.config
    pre = cfg.preprocess
    lines = []
    if resolved.source is not None:
        lines.append(f"nvinfer config {resolved.source}")
    if cfg.onnx is not None:
        lines.append(f"model {cfg.onnx}{_from(resolved, 'onnx')}")
    if resolved.graph is not None:
        inputs = "; ".join(t.describe() for t in resolved.graph.inputs)
        outputs = "; ".join(t.describe() for t in resolved.graph.outputs)
        lines.append(f"  ONNX input {inputs}; output {outputs}")
    if cfg.engine is not None:
        state = "exists" if cfg.engine.is_file() else "to be built there from the ONNX model"
        lines.append(f"engine {cfg.engine}{_from(resolved, 'engine')}: {state}")
    else:
        lines.append(f"engine built from the ONNX model and cached in {cfg.engine_cache_dir}")
    c, h, w = pre.infer_dims
    fit = "letterboxed" if pre.maintain_aspect_ratio else "stretched"
    lines.append(
        f"input {cfg.input_name!r}{_from(resolved, 'input_name')}: C;H;W {c};{h};{w}"
        f"{_from(resolved, 'preprocess.infer_dims')}, {pre.tensor_layout}, "
        f"{COLOUR_FORMATS[pre.model_color_format]}"
        f"{_from(resolved, 'preprocess.model_color_format')}, frames {fit} to fit"
    )
    offsets = ", ".join(f"{v:g}" for v in pre.offsets)
    lines.append(
        f"scale y = {pre.net_scale_factor:g} * (x - [{offsets}])"
        f"{_from(resolved, 'preprocess.net_scale_factor')}"
    )
    out = cfg.output
    tensor = resolved.graph.output(out.name) if resolved.graph is not None else None
    order = resolved.model.output_order if resolved.model is not None else None
    labels = resolved.model.labels if resolved.model is not None else ()
    person = f" ({labels[out.person_class]!r} in the labels file)" if labels else ""
    lines.append(
        f"output {out.name!r}{_from(resolved, 'output.name')}: {_output_form(tensor, order)}; "
        f"person = class {out.person_class}{person}"
    )
    if tensor is None or not tensor.elem_type.startswith(("int", "uint")):
        cut = (
            "argmax"
            if out.threshold == 0.5
            else f"person where its {out.score_type} reach {out.threshold:g}"
        )
        lines.append(f"  decision: {cut}{_from(resolved, 'output.threshold')}")
    lines.append(
        f"precision {PRECISION_NAMES[cfg.network_mode]}{_from(resolved, 'network_mode')}, "
        f"batch {cfg.batch_size}{_from(resolved, 'batch_size')}, workspace {cfg.workspace_mb} "
        f"MiB, GPU {cfg.device_id}, runtime {cfg.runtime}"
    )
    if cfg.network_mode == 1 and cfg.calibration_cache is not None:
        lines.append(f"INT8 calibration cache {cfg.calibration_cache}")
    return lines
