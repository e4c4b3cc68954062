"""Reading a config file: YAML, validation into one ``ConfigError`` per file, paths
resolved against the file's folder."""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from edge_app.config.app import (
    AppConfig,
    TlsConfig,
)
from edge_app.config.base import (
    SLUG_HELP,
)
from edge_app.config.segmenter import (
    OnnxSegmenterConfig,
    SegmenterConfig,
    TensorRTSegmenterConfig,
)
from edge_app.config.sources import (
    FileSourceConfig,
    SourceConfig,
)
from edge_app.core.errors import ConfigError

# --- loading ---------------------------------------------------------------------------


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a ``ConfigError`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, "file not found", "check the path") from exc
    except IsADirectoryError as exc:
        raise ConfigError(str(path), None, "is a directory", "give a YAML file") from exc
    except OSError as exc:
        raise ConfigError(
            str(path), None, f"cannot read: {exc.strerror}", "check its permissions"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, "is not UTF-8 text", "save it as UTF-8") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            str(path),
            where,
            f"YAML syntax error: {problem}",
            "fix the indentation or quoting there",
        ) from exc


def _type_tags(union: object) -> frozenset[str]:
    """The ``type:`` values of an ``Annotated[A | B | ..., Field(discriminator="type")]``."""
    models = typing.get_args(typing.get_args(union)[0])
    return frozenset(
        tag for model in models for tag in typing.get_args(model.model_fields["type"].annotation)
    )


_TYPE_TAGS = {"source": _type_tags(SourceConfig), "segmenter": _type_tags(SegmenterConfig)}
"""For each field holding a discriminated union, the tags pydantic puts after it in an
error's location (``cameras.0.source.file.path``)."""


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``('cameras', 0, 'source', 'file', 'path')`` -> ``cameras[0].source.path``."""
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(previous, str) and part in _TYPE_TAGS.get(previous, ()):
            pass  # the discriminator's branch name is noise to a user
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top level)"


def validation_to_config_error(path: Path, exc: ValidationError) -> ConfigError:
    """The first validation problem as one message with the field and a fix."""
    err = exc.errors()[0]
    field = format_loc(tuple(err["loc"]))
    kind = err["type"]
    msg = str(err["msg"])
    fix: str | None = None
    if kind == "extra_forbidden":
        msg, fix = "unknown key", "remove it or check its spelling"
    elif kind == "missing":
        msg, fix = "required key is missing", "add it"
    elif kind == "union_tag_invalid":
        fix = "set type: to one of the listed values"
    elif kind == "string_pattern_mismatch":
        fix = SLUG_HELP if "id" in field else "check the format"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        fix = "give a value of the expected type"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return ConfigError(str(path), field, msg, fix)


def _resolve_paths(config: AppConfig, base: Path) -> AppConfig:
    def absolute(p: Path) -> Path:
        p = p.expanduser()
        # Lexically normalised, so logs say /srv/var/x.db rather than /srv/configs/../var/x.db.
        return Path(os.path.normpath(p if p.is_absolute() else base / p))

    cameras = []
    for cam in config.cameras:
        source = cam.source
        if isinstance(source, FileSourceConfig):
            source = source.model_copy(update={"path": absolute(source.path)})
        cameras.append(cam.model_copy(update={"zones": absolute(cam.zones), "source": source}))
    seg = config.segmenter
    if isinstance(seg, OnnxSegmenterConfig):
        seg = seg.model_copy(update={"model": absolute(seg.model)})
    elif isinstance(seg, TensorRTSegmenterConfig):
        seg = seg.model_copy(
            update={
                "onnx": absolute(seg.onnx) if seg.onnx else None,
                "engine": absolute(seg.engine) if seg.engine else None,
                "engine_cache_dir": absolute(seg.engine_cache_dir),
                "calibration_dir": absolute(seg.calibration_dir) if seg.calibration_dir else None,
                "calibration_cache": (
                    absolute(seg.calibration_cache) if seg.calibration_cache else None
                ),
                "nvinfer_config": absolute(seg.nvinfer_config) if seg.nvinfer_config else None,
            }
        )
    store = config.store.model_copy(update={"path": absolute(config.store.path)})

    def tls_paths(tls: TlsConfig) -> TlsConfig:
        return tls.model_copy(
            update={
                "ca_file": absolute(tls.ca_file) if tls.ca_file else None,
                "cert_file": absolute(tls.cert_file) if tls.cert_file else None,
                "key_file": absolute(tls.key_file) if tls.key_file else None,
            }
        )

    mqtt = config.mqtt
    if mqtt.tls is not None:
        mqtt = mqtt.model_copy(update={"tls": tls_paths(mqtt.tls)})
    bridge = config.bridge
    if bridge is not None and bridge.tls is not None:
        bridge = bridge.model_copy(update={"tls": tls_paths(bridge.tls)})
    return config.model_copy(
        update={
            "cameras": tuple(cameras),
            "segmenter": seg,
            "store": store,
            "mqtt": mqtt,
            "bridge": bridge,
        }
    )


def parse_config(data: Any, path: Path, base_dir: Path | None = None) -> AppConfig:
    """Validate already-loaded YAML data; ``path`` names the file in error messages."""
    if data is None:
        raise ConfigError(str(path), None, "file is empty", "see configs/edge-app.yaml")
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), None, "top level must be a mapping of keys", "see configs/edge-app.yaml"
        )
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(path, exc) from exc
    return _resolve_paths(config, base_dir if base_dir is not None else path.parent)


def load_config(path: Path) -> AppConfig:
    """Load and validate a config file; relative paths in it are relative to its folder."""
    return parse_config(read_yaml(path), path, path.resolve().parent)
