"""Reading a DeepStream ``nvinfer`` config file (and its labels file) as the model section.

An ``nvinfer_config.txt`` is a GLib key file: ``[property]`` holds ``key=value`` lines,
lists are ``;``-separated, ``#`` starts a comment. NVIDIA's own files also put comments at
the end of value lines (``network-type=100 # Skip ...``), which are stripped here. Relative
paths are relative to the file's folder, as in DeepStream.

The keys that describe the model are read (see ``MODEL_KEYS``); DeepStream pipeline keys
that have no meaning here are reported: at INFO when their value is neutral, as a warning
when it would change what DeepStream does (``num-detected-classes=20`` against a 2-label
file, ``interval=2``...). ``apply_nvinfer`` turns a ``TensorRTSegmenterConfig`` that names
an nvinfer file into one with the model settings filled in from it.

Example::

    >>> model = read_nvinfer_config(Path("configs/nvinfer_config.txt"))  # doctest: +SKIP
    >>> model.infer_dims, model.network_mode, model.person_class  # doctest: +SKIP
    ((3, 512, 512), 2, 1)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge_app.config import TensorRTSegmenterConfig, validation_to_config_error
from edge_app.core.errors import ConfigError

log = logging.getLogger(__name__)

MODEL_KEYS = {
    "onnx-file": "onnx",
    "model-engine-file": "engine",
    "net-scale-factor": "preprocess.net_scale_factor",
    "offsets": "preprocess.offsets",
    "model-color-format": "preprocess.model_color_format",
    "infer-dims": "preprocess.infer_dims",
    "maintain-aspect-ratio": "preprocess.maintain_aspect_ratio",
    "symmetric-padding": "preprocess.symmetric_padding",
    "network-input-order": "preprocess.tensor_layout",
    "batch-size": "batch_size",
    "network-mode": "network_mode",
    "workspace-size": "workspace_mb",
    "int8-calib-file": "calibration_cache",
    "output-blob-names": "output.name",
    "segmentation-threshold": "output.threshold",
    "gpu-id": "device_id",
    "labelfile-path": "output.person_class",
}
"""nvinfer keys read here -> the segmenter setting each one gives."""

# DeepStream keys with no meaning in this daemon: key -> (neutral values, why ignored).
# A neutral value does what this daemon does anyway, so it is reported at INFO only.
IGNORED_KEYS: dict[str, tuple[frozenset[str], str]] = {
    "interval": (frozenset({"0"}), "the processing rate is set per camera (cameras[].fps)"),
    "gie-unique-id": (frozenset(), "there is one model, no GIE ids"),
    "process-mode": (frozenset({"1"}), "the model always runs on full frames"),
    "network-type": (
        frozenset({"2", "100"}),
        "the output is always decoded as a person segmentation (segmenter.output)",
    ),
    "cluster-mode": (frozenset(), "detector clustering does not apply to segmentation"),
    "output-tensor-meta": (frozenset(), "outputs are always decoded here"),
    "segmentation-output-order": (
        frozenset(),
        "the output layout is detected from its shape (set segmenter.output.form to force it)",
    ),
    "num-detected-classes": (frozenset(), "the person class comes from the labels file"),
    "tlt-model-key": (frozenset(), "encrypted .etlt models are not supported; use the ONNX"),
    "tlt-encoded-model": (frozenset(), "encrypted .etlt models are not supported; use the ONNX"),
    "uff-input-blob-name": (frozenset(), "UFF models are not supported; use the ONNX"),
    "custom-lib-path": (frozenset(), "custom parsers do not apply"),
    "parse-bbox-func-name": (frozenset(), "detector parsers do not apply"),
    "scaling-filter": (frozenset({"0", "1"}), "frames are resized bilinearly"),
    "scaling-compute-hw": (frozenset(), "the VIC scaling is set by the source (decode: jetson)"),
    "enable-dla": (frozenset({"0"}), "DLA is not used; the model runs on the GPU"),
    "use-dla-core": (frozenset(), "DLA is not used; the model runs on the GPU"),
}
# Detector per-class keys (also valid in [property]): never meaningful for segmentation.
DETECTOR_KEYS = frozenset(
    {
        "roi-top-offset",
        "roi-bottom-offset",
        "detected-min-w",
        "detected-min-h",
        "detected-max-w",
        "detected-max-h",
        "pre-cluster-threshold",
        "post-cluster-threshold",
        "nms-iou-threshold",
        "topk",
        "eps",
        "group-threshold",
        "minBoxes",
    }
)
NETWORK_MODES = {"0": 0, "1": 1, "2": 2}


@dataclass(frozen=True)
class KeyNote:
    """A key that was not applied: where, its value, why, and whether it deserves a warning."""

    key: str
    value: str
    line: int
    reason: str
    warn: bool

    def text(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line else str(path)
        return f"{where}: {self.key}={self.value} is ignored: {self.reason}"


@dataclass(frozen=True)
class NvinferModel:
    """The model section read from an nvinfer config: ``updates`` in segmenter-config form.

    ``updates`` maps dotted segmenter settings (``preprocess.infer_dims``) to values; only
    keys present in the file appear. ``labels`` is the labels file's content, if named.
    """

    path: Path
    updates: dict[str, Any]
    labels: tuple[str, ...] = ()
    notes: tuple[KeyNote, ...] = field(default=())

    def log_notes(self) -> None:
        for note in self.notes:
            (log.warning if note.warn else log.info)("%s", note.text(self.path))


def _strip_comment(value: str) -> str:
    # GLib has no end-of-line comments, but NVIDIA's sample files use "value # comment".
    for marker in (" #", "\t#"):
        if marker in value:
            value = value.split(marker, 1)[0]
    return value.strip()


def parse_key_file(path: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """``{group: {key: (value, line)}}`` of a GLib key file; ``ConfigError`` on bad syntax."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            str(path), None, "nvinfer config not found", "check segmenter.nvinfer_config"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the nvinfer config: {exc}",
            "check the file and its permissions",
        ) from exc
    groups: dict[str, dict[str, tuple[str, int]]] = {}
    current: dict[str, tuple[str, int]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1].strip(), {})
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                str(path),
                f"line {number}",
                f"expected key=value, got {raw!r}",
                "fix or comment out the line",
            )
        if current is None:
            raise ConfigError(
                str(path),
                f"line {number}",
                "key outside any [group]",
                "put the model keys under [property]",
            )
        current[key.strip()] = (_strip_comment(value), number)
    return groups


def _number(path: Path, key: str, value: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except ValueError as exc:
        raise ConfigError(
            str(path),
            key,
            f"expected {'an integer' if kind is int else 'a number'}, got {value!r}",
            "fix the value",
        ) from exc


def _list(path: Path, key: str, value: str, kind: type[int] | type[float]) -> tuple[Any, ...]:
    return tuple(_number(path, key, v.strip(), kind) for v in value.split(";") if v.strip())


def read_labels(path: Path) -> tuple[str, ...]:
    """Labels one per line, or ``;``-separated on one line (both occur in DeepStream)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the labels file: {exc}",
            "fix labelfile-path in the nvinfer config",
        ) from exc
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1 and ";" in lines[0]:
        lines = [part.strip() for part in lines[0].split(";") if part.strip()]
    return tuple(lines)


def _model_value(path: Path, key: str, value: str) -> Any:
    """The segmenter-config value of one model key (paths resolved by the caller)."""
    if key in ("net-scale-factor", "segmentation-threshold"):
        return _number(path, key, value, float)
    if key == "offsets":
        return _list(path, key, value, float)
    if key == "infer-dims":
        dims = _list(path, key, value, int)
        if len(dims) != 3:
            raise ConfigError(str(path), key, f"expected C;H;W, got {value!r}", "e.g. 3;512;512")
        return dims
    if key in ("maintain-aspect-ratio", "symmetric-padding"):
        return _number(path, key, value, int) != 0
    if key == "network-input-order":
        order = _number(path, key, value, int)
        if order not in (0, 1):
            raise ConfigError(str(path), key, f"must be 0 (NCHW) or 1 (NHWC), got {value}")
        return "NCHW" if order == 0 else "NHWC"
    if key == "network-mode":
        if value not in NETWORK_MODES:
            raise ConfigError(
                str(path),
                key,
                f"{value!r} is not supported here",
                "use 0 (FP32), 1 (INT8) or 2 (FP16)",
            )
        return NETWORK_MODES[value]
    if key == "output-blob-names":
        names = [n.strip() for n in value.split(";") if n.strip()]
        if len(names) != 1:
            raise ConfigError(
                str(path), key, f"names {len(names)} outputs", "name the one segmentation output"
            )
        return names[0]
    if key in ("model-color-format", "batch-size", "workspace-size", "gpu-id"):
        return _number(path, key, value, int)
    return value


def read_nvinfer_config(path: Path) -> NvinferModel:
    """Read the model section of an nvinfer config; ``ConfigError`` names file, key and fix."""
    groups = parse_key_file(path)
    if "property" not in groups:
        raise ConfigError(
            str(path), None, "has no [property] group", "is this a DeepStream nvinfer config file?"
        )
    base = path.parent
    updates: dict[str, Any] = {}
    notes: list[KeyNote] = []
    labels: tuple[str, ...] = ()
    props = groups["property"]
    for key, (value, line) in props.items():
        if key in MODEL_KEYS:
            if key in ("onnx-file", "model-engine-file", "int8-calib-file", "labelfile-path"):
                resolved = (base / Path(value).expanduser()).resolve()
                if key == "labelfile-path":
                    labels = read_labels(resolved)
                    updates[MODEL_KEYS[key]] = _person_class(path, resolved, labels)
                else:
                    updates[MODEL_KEYS[key]] = resolved
            else:
                updates[MODEL_KEYS[key]] = _model_value(path, key, value)
        elif key in IGNORED_KEYS:
            neutral, reason = IGNORED_KEYS[key]
            notes.append(KeyNote(key, value, line, reason, warn=value not in neutral))
        elif key in DETECTOR_KEYS:
            notes.append(
                KeyNote(
                    key,
                    value,
                    line,
                    "a detector setting; this is a segmentation model",
                    warn=value not in ("0", "0.0"),
                )
            )
        else:
            notes.append(KeyNote(key, value, line, "not a key this reader knows", warn=True))
    if "num-detected-classes" in props:
        # Meaningless here either way; only a count that contradicts the labels file (the
        # model card's own 20 against its 2 labels) is worth a warning.
        value, line = props["num-detected-classes"]
        mismatch = bool(labels) and value != str(len(labels))
        reason = (
            f"it does not match the {len(labels)} labels of the labels file, which give "
            "the person class"
            if mismatch
            else IGNORED_KEYS["num-detected-classes"][1]
        )
        notes = [n for n in notes if n.key != "num-detected-classes"]
        notes.append(KeyNote("num-detected-classes", value, line, reason, warn=mismatch))
    for group in groups:
        if group != "property":
            notes.append(
                KeyNote(
                    f"[{group}]",
                    "...",
                    0,
                    "per-class detector settings do not apply to segmentation",
                    warn=True,
                )
            )
    return NvinferModel(path, updates, labels, tuple(notes))


def _person_class(path: Path, labels_path: Path, labels: tuple[str, ...]) -> int:
    for index, label in enumerate(labels):
        if label.lower() in ("person", "people", "persons"):
            return index
    raise ConfigError(
        str(labels_path),
        None,
        f"no 'person' label among {list(labels)} (named by {path})",
        "this daemon needs a model with a person class",
    )


def apply_nvinfer(config: TensorRTSegmenterConfig) -> TensorRTSegmenterConfig:
    """``config`` with its model settings taken from its ``nvinfer_config`` (if any).

    Keys present in the nvinfer file win over the YAML; the rest keep their YAML values.
    Warnings for keys that do not apply are logged. Raises ``ConfigError`` naming the file.
    """
    if config.nvinfer_config is None:
        return config
    model = read_nvinfer_config(config.nvinfer_config)
    model.log_notes()
    data = config.model_dump()
    data["nvinfer_config"] = None
    for dotted, value in model.updates.items():
        target = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
    if data["onnx"] is None and data["engine"] is None:
        raise ConfigError(
            str(config.nvinfer_config),
            "onnx-file",
            "names neither onnx-file nor model-engine-file",
            "add onnx-file=path/to/model.onnx",
        )
    try:
        resolved = TensorRTSegmenterConfig.model_validate(data)
    except ValidationError as exc:
        error = validation_to_config_error(config.nvinfer_config, exc)
        # Name the nvinfer key the user wrote, not the setting it became.
        key = next((k for k, v in MODEL_KEYS.items() if v == error.field), error.field)
        raise ConfigError(error.file, key, error.problem, error.fix) from exc
    log.info("model settings from %s: %s", config.nvinfer_config, ", ".join(sorted(model.updates)))
    return resolved
