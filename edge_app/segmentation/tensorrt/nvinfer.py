"""Reading a DeepStream ``nvinfer`` config file (and its labels file) as the model section.

Both forms are read (``.txt`` key file, ``.yml`` of DeepStream >= 6.2: see
``nvinfer_file``). The keys that describe the model are read by their *meaning* in nvinfer
(``MODEL_KEYS``; ``segmentation-threshold`` is a cut on the top class's confidence, so
NVIDIA's ``0.0`` is the plain argmax); relative paths are relative to the file's folder, as
in DeepStream. Keys of the DeepStream pipeline are reported: at INFO when their value is
neutral, as a warning when it would change what DeepStream does (``num-detected-classes=20``
against a 2-label file, ``interval=2``...). A near miss of a model key (``onnx-file:=``) is
refused, naming the line. ``nvinfer_resolve`` turns the result into segmenter settings and
checks the model files it names.

Example::

    >>> model = read_nvinfer_config(Path("configs/nvinfer_config.txt"))  # doctest: +SKIP
    >>> model.updates["preprocess.infer_dims"], model.updates["network_mode"]  # doctest: +SKIP
    ((3, 512, 512), 2)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_app.core.errors import ConfigError
from edge_app.segmentation.tensorrt.nvinfer_file import (
    YAML_SUFFIXES,
    parse_nvinfer_file,
    read_labels,
)

__all__ = ["KeyNote", "NvinferModel", "read_labels", "read_nvinfer_config"]
from edge_app.segmentation.tensorrt.nvinfer_keys import (
    DETECTOR_KEYS,
    IGNORED_KEYS,
    MODEL_KEYS,
    PATH_KEYS,
    is_neutral,
    meant_model_key,
)

log = logging.getLogger(__name__)

NETWORK_MODES = {"0": 0, "1": 1, "2": 2}
MAX_WORKSPACE_MB = 65536
"""More TensorRT workspace than any Jetson has memory (nvinfer's unit is MiB)."""
PERSON_LABELS = ("person", "people", "persons")


@dataclass(frozen=True)
class KeyNote:
    """A key that was not applied as given: where, its value, why, and whether it deserves
    a warning."""

    key: str
    value: str
    line: int
    reason: str
    warn: bool

    def text(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line else str(path)
        return f"{where}: {self.key}={self.value}: {self.reason}"


@dataclass(frozen=True)
class NvinferModel:
    """The model section read from an nvinfer config.

    ``updates`` maps dotted segmenter settings (``preprocess.infer_dims``) to values; only
    keys present in the file appear. ``keys`` maps each setting back to the nvinfer key that
    gave it. ``labels`` is the labels file's content, if named; ``etlt`` the encrypted
    model of ``tlt-encoded-model``; ``output_order`` nvinfer's ``segmentation-output-order``
    (``CHW``/``HWC``), if given.
    """

    path: Path
    updates: dict[str, Any]
    keys: dict[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    notes: tuple[KeyNote, ...] = ()
    etlt: Path | None = None
    output_order: str | None = None

    def log_notes(self) -> None:
        for note in self.notes:
            (log.warning if note.warn else log.info)("%s", note.text(self.path))

    @property
    def warnings(self) -> list[str]:
        return [n.text(self.path) for n in self.notes if n.warn]


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


def _model_value(path: Path, key: str, value: str) -> Any:
    """The segmenter-config value of one model key (paths and labels by the caller)."""
    if key == "net-scale-factor":
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


def _threshold(path: Path, value: str, line: int) -> tuple[dict[str, Any], KeyNote]:
    """nvinfer's ``segmentation-threshold``, by its meaning.

    nvinfer gives a pixel its top class when that class's output is at least the
    threshold (else no class). With two classes the top class's probability is always
    >= 0.5, so any threshold up to 0.5 is the plain argmax; above it a pixel is person
    when the person output reaches it (compared as nvinfer does: the model's own values).
    """
    key = "segmentation-threshold"
    t = _number(path, key, value, float)
    if not 0.0 <= t < 1.0:
        raise ConfigError(
            str(path),
            key,
            f"{value} leaves no pixel a class (nvinfer cuts at the top class's confidence, "
            "which is 0..1)",
            "use 0.0 for the plain argmax, or a confidence below 1",
        )
    if t <= 0.5:
        note = KeyNote(
            key,
            value,
            line,
            "a cut on the top class's confidence: up to 0.5 it is the plain argmax",
            warn=False,
        )
        return {"output.threshold": 0.5}, note
    note = KeyNote(
        key, value, line, f"person where the person output is at least {t:g}", warn=False
    )
    return {"output.threshold": t, "output.score_type": "probabilities"}, note


def _person_class(path: Path, labels_path: Path, labels: tuple[str, ...]) -> int:
    for index, label in enumerate(labels):
        if label.lower() in PERSON_LABELS:
            return index
    raise ConfigError(
        str(path),
        "labelfile-path",
        f"no 'person' label among {list(labels)} in {labels_path}",
        "this daemon needs a model with a person class",
    )


def _unknown_key(path: Path, key: str, value: str, line: int) -> KeyNote:
    meant = meant_model_key(key)
    if meant is not None:
        separator = ": " if path.suffix.lower() in YAML_SUFFIXES else "="
        raise ConfigError(
            str(path),
            key,
            f"line {line}: {key!r} is not an nvinfer key, so nvinfer ignores it and the "
            f"{meant} it was meant to give is never set",
            f"write {meant}{separator}{value}",
        )
    return KeyNote(key, value, line, "not a key this reader knows; ignored", warn=True)


def _group_note(group: str, entries: dict[str, tuple[str, int]]) -> KeyNote:
    if group.startswith("class-attrs-"):
        active = {k: v for k, (v, _) in entries.items() if v not in ("", "0", "0.0")}
        return KeyNote(
            f"[{group}]",
            ", ".join(f"{k}={v}" for k, v in active.items()) or "0",
            min((line for _, line in entries.values()), default=0),
            "per-class detector settings do not apply to segmentation",
            warn=bool(active),
        )
    return KeyNote(f"[{group}]", "...", 0, "not part of nvinfer's model settings", warn=False)


def read_nvinfer_config(path: Path) -> NvinferModel:
    """Read the model section of an nvinfer config; ``ConfigError`` names file, key and fix."""
    groups = parse_nvinfer_file(path)
    if "property" not in groups:
        raise ConfigError(
            str(path),
            None,
            "has no [property] group (property: in YAML)",
            "is this a DeepStream nvinfer config file?",
        )
    base = path.parent
    updates: dict[str, Any] = {}
    keys: dict[str, str] = {}
    notes: list[KeyNote] = []
    labels: tuple[str, ...] = ()
    etlt: Path | None = None
    props = groups["property"]
    for key, (value, line) in props.items():
        if key == "segmentation-threshold":
            values, note = _threshold(path, value, line)
            updates.update(values)
            keys.update(dict.fromkeys(values, key))
            notes.append(note)
        elif key == "labelfile-path":
            resolved = (base / Path(value).expanduser()).resolve()
            labels = read_labels(resolved)
            updates[MODEL_KEYS[key]] = _person_class(path, resolved, labels)
            keys[MODEL_KEYS[key]] = key
        elif key in MODEL_KEYS:
            target = MODEL_KEYS[key]
            if key in PATH_KEYS:
                updates[target] = (base / Path(value).expanduser()).resolve()
            else:
                updates[target] = _model_value(path, key, value)
            keys[target] = key
            if key == "workspace-size" and updates[target] > MAX_WORKSPACE_MB:
                notes.append(
                    KeyNote(
                        key,
                        value,
                        line,
                        f"{updates[target] / 1024:g} GiB is more than this device can have "
                        "(nvinfer's unit is MiB): the build caps it at the GPU's memory",
                        warn=True,
                    )
                )
        elif key in IGNORED_KEYS:
            if key == "tlt-encoded-model":
                etlt = (base / Path(value).expanduser()).resolve()
            notes.append(
                KeyNote(key, value, line, IGNORED_KEYS[key][1], warn=not is_neutral(key, value))
            )
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
            notes.append(_unknown_key(path, key, value, line))
    if "num-detected-classes" in props:
        # Meaningless here either way; only a count that contradicts the labels file (the
        # model card's own 20 against its 2 labels) is worth a warning.
        value, line = props["num-detected-classes"]
        mismatch = bool(labels) and value != str(len(labels))
        reason = (
            f"does not match the {len(labels)} labels of the labels file, which give the "
            "person class"
            if mismatch
            else IGNORED_KEYS["num-detected-classes"][1]
        )
        notes = [n for n in notes if n.key != "num-detected-classes"]
        notes.append(KeyNote("num-detected-classes", value, line, reason, warn=mismatch))
    notes.extend(_group_note(g, entries) for g, entries in groups.items() if g != "property")
    order = props.get("segmentation-output-order", ("", 0))[0]
    return NvinferModel(
        path,
        updates,
        keys,
        labels,
        tuple(notes),
        etlt=etlt,
        output_order={"0": "CHW", "1": "HWC"}.get(order),
    )
