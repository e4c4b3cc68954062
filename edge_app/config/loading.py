"""Reading a config file: YAML (a key given twice is an error, not a silent override),
validation reporting every problem of the file, paths resolved against the file's folder."""

from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

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
from edge_app.core.errors import ConfigError, config_error

# --- loading ---------------------------------------------------------------------------


def _scalar_key(node: Node) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) else None


def _duplicate_keys(path: Path, root: Node) -> list[ConfigError]:
    """Every key given twice in one mapping (YAML would silently keep the last)."""
    problems: list[tuple[int, ConfigError]] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen_nodes:  # an alias: checked where its anchor is
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                key = _scalar_key(key_node)
                if key is None or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                field = f"{where}.{key}" if where else key
                line = key_node.start_mark.line + 1
                if (key_node.tag, key) in first_line:
                    problems.append(
                        (
                            line,
                            ConfigError(
                                str(path),
                                field,
                                f"is given twice (lines {first_line[key_node.tag, key]} and "
                                f"{line}); YAML would silently keep only the last",
                                "keep one of them",
                            ),
                        )
                    )
                else:
                    first_line[key_node.tag, key] = line
                stack.append((value_node, field))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, f"{where}[{index}]"))
    return [problem for _, problem in sorted(problems, key=lambda item: item[0])]


def read_yaml_checked(path: Path) -> tuple[Any, list[ConfigError]]:
    """A YAML file's data and the keys it gives twice (each a ``ConfigError``).

    Raises ``ConfigError`` naming the file when it cannot be read or parsed at all. With
    duplicate keys the data is still returned (the last value wins, as in any YAML
    reader), so that the rest of the file can be checked too.
    """
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
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(path, node) if node is not None else []
        data = loader.construct_document(node) if node is not None else None
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
    finally:
        loader.dispose()
    return data, duplicates


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a ``ConfigError`` naming the file
    (a key given twice in a mapping is one too)."""
    data, duplicates = read_yaml_checked(path)
    if duplicates:
        raise config_error(duplicates)
    return data


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


def _close_key(unknown: str, missing: list[str]) -> str | None:
    close = difflib.get_close_matches(unknown, missing, n=1, cutoff=0.6)
    return close[0] if close else None


def _problem(path: Path, err: ErrorDetails, hint: str | None = None) -> ConfigError:
    field = format_loc(tuple(err["loc"]))
    kind = err["type"]
    msg = str(err["msg"])
    fix: str | None = None
    if kind == "extra_forbidden":
        msg, fix = "unknown key", "remove it or check its spelling"
        if hint is not None:
            msg, fix = f"unknown key (did you mean {hint}?)", f"rename it to {hint}"
    elif kind == "missing":
        msg, fix = "required key is missing", "add it"
    elif kind == "union_tag_invalid":
        fix = "set type: to one of the listed values"
    elif kind == "string_pattern_mismatch":
        fix = SLUG_HELP if "id" in field else "check the format"
    elif kind == "finite_number":
        msg, fix = "must be a finite number", "give a number; .inf and .nan are refused"
    elif kind in ("less_than", "less_than_equal"):
        fix = "give a smaller value"
    elif kind in ("greater_than", "greater_than_equal"):
        fix = "give a larger value"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        fix = "give a value of the expected type"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return ConfigError(str(path), field, msg, fix)


def validation_problems(
    path: Path, exc: ValidationError, within: tuple[int | str, ...] = ()
) -> list[ConfigError]:
    """Every validation problem, each with its field and a fix; ``within`` is where the
    validated value sits in the file (``("zones", 2)``).

    A misspelt key comes with a required key missing beside it (``polygn:`` for
    ``polygon:``): that is one problem, the unknown key, which names the key it resembles.
    """
    errors = exc.errors()
    for err in errors:
        err["loc"] = (*within, *err["loc"])
    missing: dict[tuple[int | str, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "missing" and err["loc"]:
            missing.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    explained: set[tuple[int | str, ...]] = set()
    hints: dict[int, str] = {}
    for index, err in enumerate(errors):
        if err["type"] != "extra_forbidden" or not err["loc"]:
            continue
        parent = tuple(err["loc"][:-1])
        candidates = [m for m in missing.get(parent, []) if (*parent, m) not in explained]
        close = _close_key(str(err["loc"][-1]), candidates)
        if close is not None:
            hints[index] = close
            explained.add((*parent, close))
    # A list whose item failed is also "too short" by the failed item: noise.
    failed_within = {tuple(err["loc"][:i]) for err in errors for i in range(len(err["loc"]))}
    return [
        _problem(path, err, hints.get(index))
        for index, err in enumerate(errors)
        if not (err["type"] == "missing" and tuple(err["loc"]) in explained)
        and not (err["type"] == "too_short" and tuple(err["loc"]) in failed_within)
    ]


def validation_to_config_error(path: Path, exc: ValidationError) -> ConfigError:
    """Every validation problem as one ``ConfigError`` (``ConfigErrors`` when several)."""
    return config_error(validation_problems(path, exc))


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


def check_config_data(
    data: Any, path: Path, base_dir: Path | None = None
) -> tuple[AppConfig | None, list[ConfigError]]:
    """Validate already-loaded YAML data: the config (``None`` when invalid) and every
    problem found; ``path`` names the file in the messages."""
    if data is None:
        return None, [ConfigError(str(path), None, "file is empty", "see configs/edge-app.yaml")]
    if not isinstance(data, dict):
        return None, [
            ConfigError(
                str(path), None, "top level must be a mapping of keys", "see configs/edge-app.yaml"
            )
        ]
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(path, exc)
    return _resolve_paths(config, base_dir if base_dir is not None else path.parent), []


def parse_config(data: Any, path: Path, base_dir: Path | None = None) -> AppConfig:
    """Validate already-loaded YAML data; ``path`` names the file in error messages."""
    config, problems = check_config_data(data, path, base_dir)
    if config is None or problems:
        raise config_error(problems)
    return config


def check_config_file(path: Path) -> tuple[AppConfig | None, list[ConfigError]]:
    """Read and validate a config file: the config (``None`` when its structure is
    invalid) and every problem found (keys given twice, bad values). Raises
    ``ConfigError`` only when the file cannot be read or parsed as YAML at all."""
    data, duplicates = read_yaml_checked(path)
    config, problems = check_config_data(data, path, path.resolve().parent)
    return config, [*duplicates, *problems]


def load_config(path: Path) -> AppConfig:
    """Load and validate a config file; relative paths in it are relative to its folder.

    Raises ``ConfigError`` with every problem of the file (``ConfigErrors`` when several).
    Files, secrets and the rest that ``edge-app check`` and ``run`` look at besides are
    checked by ``edge_app.preflight``.
    """
    config, problems = check_config_file(path)
    if config is None or problems:
        raise config_error(problems)
    return config
