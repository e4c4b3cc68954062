"""Rendering zone files: the text an installer's edits become.

``render_zone_file`` turns zone-file data (the dict ``edge_app.config.zones.parse_zones`` takes)
into YAML text. Given the file's current text, it edits that text in place instead of
writing a new one: values that changed are replaced where they stand, keys that went away
are removed with their lines, new keys and zones are appended in the file's indentation,
and every zone keeps the comment lines above it, wherever it moves. Comments that cannot
be kept (a file written in flow style, an edit the in-place route cannot express) make it
fall back to a fresh rendering that keeps only the file's opening comment block; the result
says so. Either way the rendered text is parsed back and compared with the data, so what
is written always means exactly what was asked. ``edge_app.config.zone_io`` writes the
text to the file.

Example::

    text = Path("zones/door.yaml").read_text()
    result = render_zone_file(data, text, sources=[0, None])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

ZONE_KEYS = (
    "id",
    "name",
    "polygon",
    "capacity",
    "dwell_alert_s",
    "enter_after_s",
    "exit_after_s",
)
"""The keys of one zone, in the order a fresh file lists them."""

_DEFAULT_DASH_INDENT = 2


@dataclass(frozen=True, slots=True)
class RenderedZoneFile:
    """YAML text for a zone file; ``comments_kept`` is false when it was rendered afresh."""

    text: str
    comments_kept: bool


class _Unsupported(Exception):
    """The text's layout is outside what the in-place editor handles (internal)."""


# --- values -----------------------------------------------------------------------------


def format_number(value: float) -> str:
    """``3`` for integral values, else the shortest text that reads back as ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_value(value: Any) -> str:
    """One-line YAML for a zone value: numbers, strings, ``[x, y]`` points and lists of them."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return format_number(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data as YAML reads it back: lists for tuples, no keys whose value is None."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items() if v is not None}
        return value

    out: dict[str, Any] = plain(data)
    return out


# --- fresh rendering ----------------------------------------------------------------------


def _zone_lines(zone: Mapping[str, Any], dash_indent: int) -> list[str]:
    keys = [k for k in ZONE_KEYS if zone.get(k) is not None]
    keys += [k for k in zone if k not in ZONE_KEYS and zone[k] is not None]
    pad = " " * dash_indent
    lines = []
    for i, key in enumerate(keys):
        lead = pad + ("- " if i == 0 else "  ")
        lines.append(f"{lead}{key}: {format_value(zone[key])}\n")
    return lines


def _leading_comment(text: str) -> list[str]:
    """The comment block that opens ``text`` (its first lines that are comments or blank)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            break
        lines.append(line if line.endswith("\n") else line + "\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def render_fresh(data: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """The canonical layout of a zone file, after the comment lines of ``header``."""
    lines = list(header)
    for key, value in data.items():
        if key == "zones" or value is None:
            continue
        lines.append(f"{key}: {format_value(value)}\n")
    zones = data.get("zones") or []
    if not zones:
        lines.append("zones: []\n")
    else:
        lines.append("zones:\n")
        for zone in zones:
            lines.extend(_zone_lines(zone, _DEFAULT_DASH_INDENT))
    return "".join(lines)


# --- editing the text in place ------------------------------------------------------------


def _compose(text: str) -> MappingNode:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _Unsupported("not parseable") from exc
    if not isinstance(root, MappingNode) or root.flow_style:
        raise _Unsupported("top level is not a block mapping")
    return root


def _key_of(pair: tuple[Node, Node]) -> str:
    key = pair[0]
    if not isinstance(key, ScalarNode):
        raise _Unsupported("non-scalar key")
    return str(key.value)


def _end_mark(node: Node) -> Any:
    """Where ``node``'s own text ends (a block collection's end mark lies past the comments
    that follow it, so it is taken from its last child instead)."""
    if isinstance(node, SequenceNode) and not node.flow_style and node.value:
        return _end_mark(node.value[-1])
    if isinstance(node, MappingNode) and not node.flow_style and node.value:
        return _end_mark(node.value[-1][1])
    return node.end_mark


def _end_line(node: Node) -> int:
    """The 0-based line holding the last character of ``node``."""
    end = _end_mark(node)
    return (
        int(end.line) - 1 if end.column == 0 and end.line > node.start_mark.line else int(end.line)
    )


def _construct(node: Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _replace_spans(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply ``(start, end, new)`` character replacements (non-overlapping)."""
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _edit_mapping_text(
    text: str,
    mapping: MappingNode,
    new: Mapping[str, Any],
    skip: tuple[str, ...] = (),
    insert_after: str | None = None,
) -> str:
    """Edit the block ``mapping`` inside ``text`` into ``new`` (keys in ``skip`` untouched).

    Changed values are replaced where they stand; keys missing from ``new`` lose their
    lines; keys only in ``new`` go after the ``insert_after`` key when it is there, else
    after the mapping's last line.
    """
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    first_line = int(mapping.start_mark.line)
    indent = int(mapping.start_mark.column)
    edits: list[tuple[int, int, str]] = []
    present = set()
    for pair in mapping.value:
        key = _key_of(pair)
        present.add(key)
        if key in skip:
            continue
        key_node, value_node = pair
        if new.get(key) is None:
            if key_node.start_mark.line == first_line or key_node.start_mark.column != indent:
                raise _Unsupported(f"cannot remove {key!r} from its shared line")
            begin = starts[key_node.start_mark.line]
            end = starts[_end_line(value_node) + 1]
            edits.append((begin, end, ""))
        elif _normalise({"v": _construct(value_node)}) != _normalise({"v": new[key]}):
            if isinstance(value_node, MappingNode) or (
                isinstance(value_node, ScalarNode) and value_node.style in ("|", ">")
            ):
                raise _Unsupported(f"{key!r} is a block value")
            start, text_value = int(value_node.start_mark.index), format_value(new[key])
            if value_node.start_mark.line != key_node.end_mark.line:
                # A block value below its key: the one-line value goes after the colon.
                start = text.index(":", key_node.end_mark.index) + 1
                text_value = " " + text_value
            edits.append((start, int(_end_mark(value_node).index), text_value))
    added = [k for k in ZONE_KEYS if k not in present and new.get(k) is not None]
    added += [k for k in new if k not in present and k not in ZONE_KEYS and new[k] is not None]
    if added:
        anchors = [p for p in mapping.value if _key_of(p) == insert_after]
        last_line = max(_end_line(p[1]) for p in (anchors or mapping.value))
        at = starts[min(last_line + 1, len(lines))]
        newline = "" if text[:at].endswith("\n") or at == 0 else "\n"
        block = "".join(f"{' ' * indent}{k}: {format_value(new[k])}\n" for k in added)
        edits.append((at, at, newline + block))
    return _replace_spans(text, edits)


def _top_level(text: str, data: Mapping[str, Any]) -> str:
    """Edit every top-level key but ``zones``; returns the new text."""
    root = _compose(text)
    return _edit_mapping_text(text, root, data, skip=("zones",), insert_after="camera")


def _zones_node(root: MappingNode) -> tuple[Node, Node]:
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "zones":
            return key, value
    raise _Unsupported("no zones key")


def _zone_chunks(text: str) -> tuple[str, list[tuple[str, MappingNode]], str, int]:
    """Split ``text`` into the part before the zone items, each item's lines (with the
    comment lines above it), and the rest; plus the column of the items' dashes."""
    root = _compose(text)
    key_node, seq = _zones_node(root)
    if not isinstance(seq, SequenceNode) or seq.flow_style or not seq.value:
        raise _Unsupported("zones is not a block sequence")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    first = int(key_node.end_mark.line) + 1
    head = "".join(lines[:first])
    chunks: list[tuple[str, MappingNode]] = []
    for item in seq.value:
        if not isinstance(item, MappingNode) or item.flow_style or not item.value:
            raise _Unsupported("a zone is not a block mapping")
        last = max(_end_line(p[1]) for p in item.value)
        chunk = "".join(lines[first : last + 1])
        chunks.append((chunk, _chunk_node(chunk)))
        first = last + 1
    dash = lines[int(seq.value[0].start_mark.line)].find("-")
    return head, chunks, "".join(lines[first:]), max(dash, 0)


def _chunk_node(chunk: str) -> MappingNode:
    """The mapping node of one zone item, composed from the item's own text."""
    node = yaml.compose(chunk, Loader=yaml.SafeLoader)
    if not isinstance(node, SequenceNode) or len(node.value) != 1:
        raise _Unsupported("zone item does not stand alone")
    item = node.value[0]
    if not isinstance(item, MappingNode):
        raise _Unsupported("zone item is not a mapping")
    return item


def _render_in_place(data: Mapping[str, Any], original: str, sources: Sequence[int | None]) -> str:
    text = _top_level(original, data)
    head, chunks, tail, dash = _zone_chunks(text)
    # New zones follow the file's habit of a blank line between zones, if it has one.
    gap = "\n" if any(c.startswith(("\n", "\r\n")) for c, _ in chunks[1:]) else ""
    out = [head]
    for zone, source in zip(data["zones"], sources, strict=True):
        if source is None:
            out.append((gap if len(out) > 1 else "") + "".join(_zone_lines(zone, dash)))
            continue
        if not 0 <= source < len(chunks):
            raise _Unsupported(f"no zone item {source}")
        chunk, node = chunks[source]
        out.append(_edit_mapping_text(chunk, node, zone))
    if not data["zones"]:
        raise _Unsupported("an empty zone list has no block form")
    return "".join(out) + tail


def render_zone_file(
    data: Mapping[str, Any], original: str | None = None, sources: Sequence[int | None] = ()
) -> RenderedZoneFile:
    """YAML text for zone-file ``data``, editing ``original`` (the file's text) in place.

    ``sources[i]`` is the index, in ``original``'s zone list, of the zone that
    ``data["zones"][i]`` was edited from (``None`` for a new zone), so renamed and moved
    zones keep their comments. Raises ``ValueError`` when ``sources`` does not match.
    """
    zones = data.get("zones")
    if not isinstance(zones, list):
        raise ValueError("data['zones'] must be a list")
    if original is not None and len(sources) != len(zones):
        raise ValueError(f"sources has {len(sources)} entries for {len(zones)} zones")
    expected = _normalise(data)
    if original is not None and original.strip():
        try:
            text = _render_in_place(data, original, sources)
            if yaml.safe_load(text) == expected:
                return RenderedZoneFile(text, comments_kept=True)
        except (_Unsupported, yaml.YAMLError):
            pass  # the fresh rendering below keeps what it can (the opening comments)
    header = _leading_comment(original) if original else []
    text = render_fresh(data, header)
    if yaml.safe_load(text) != expected:
        raise ValueError(f"zone data cannot be written as YAML faithfully: {expected!r}")
    return RenderedZoneFile(text, comments_kept=not (original and original.strip()))
