"""The two forms of a DeepStream ``nvinfer`` config file, read into one shape.

``.txt`` is a GLib key file: ``[property]`` holds ``key=value`` lines, lists are
``;``-separated, ``#`` starts a comment; NVIDIA's own files also put comments at the end of
value lines (``network-type=100 # Skip ...``), which are stripped. ``.yml``/``.yaml``
(DeepStream >= 6.2) is a YAML mapping with the same groups and keys (``property:``,
``class-attrs-all:``). Either way ``parse_nvinfer_file`` gives
``{group: {key: (value text, line)}}``, every value as the text nvinfer would see.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from edge_app.config.keyfile import Groups, parse_key_file, read_text
from edge_app.core.errors import ConfigError

__all__ = ["YAML_SUFFIXES", "Groups", "parse_key_file", "parse_nvinfer_file", "read_labels"]

YAML_SUFFIXES = frozenset({".yml", ".yaml"})


def _scalar_text(path: Path, key: str, node: Node) -> str:
    if isinstance(node, ScalarNode):
        return "" if node.tag.endswith(":null") else str(node.value).strip()
    if isinstance(node, SequenceNode) and all(isinstance(n, ScalarNode) for n in node.value):
        return ";".join(str(n.value).strip() for n in node.value)
    raise ConfigError(
        str(path),
        key,
        f"line {node.start_mark.line + 1}: expected a value, got a nested mapping",
        "give the value as text, e.g. offsets: 127.5;127.5;127.5",
    )


def parse_yaml_file(path: Path, text: str) -> Groups:
    """The groups of a DeepStream YAML config (``property:`` and the other top keys)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            str(path), None, f"not valid YAML: {exc}", "fix the syntax at the place named"
        ) from exc
    if root is None:
        return {}
    if not isinstance(root, MappingNode):
        raise ConfigError(
            str(path),
            None,
            "expected a mapping of groups (property: ...)",
            "see DeepStream's nvinfer YAML format",
        )
    groups: Groups = {}
    for group_node, body in root.value:
        group = str(group_node.value)
        entries: dict[str, tuple[str, int]] = {}
        if isinstance(body, ScalarNode) and body.tag.endswith(":null"):
            groups[group] = entries
            continue
        if not isinstance(body, MappingNode):
            raise ConfigError(
                str(path),
                group,
                f"line {body.start_mark.line + 1}: expected a mapping of keys",
                "indent the keys under the group, one 'key: value' a line",
            )
        for key_node, value_node in body.value:
            key = str(key_node.value)
            entries[key] = (_scalar_text(path, key, value_node), key_node.start_mark.line + 1)
        groups[group] = entries
    return groups


def parse_nvinfer_file(path: Path) -> Groups:
    """``{group: {key: (value, line)}}`` of an nvinfer config in either form; the form
    comes from the suffix (``.yml``/``.yaml`` YAML, anything else a GLib key file)."""
    text = read_text(path, "nvinfer config", "segmenter.nvinfer_config")
    if path.suffix.lower() in YAML_SUFFIXES:
        return parse_yaml_file(path, text)
    return parse_key_file(path, text)


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
