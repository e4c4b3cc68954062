"""GLib key files, the format of DeepStream's config files (nvinfer, nvdsanalytics).

``[group]`` headers, ``key=value`` lines, ``#`` comment lines; lists are ``;``-separated
and left as text here. NVIDIA's own files also put comments at the end of value lines
(``network-type=100 # Skip ...``), which are stripped. ``parse_key_file`` gives
``{group: {key: (value, line number)}}``.
"""

from __future__ import annotations

from pathlib import Path

from edge_app.core.errors import ConfigError

Groups = dict[str, dict[str, tuple[str, int]]]
"""``{group: {key: (value, line number)}}``."""


def strip_comment(value: str) -> str:
    # GLib has no end-of-line comments, but NVIDIA's sample files use "value # comment".
    for marker in (" #", "\t#"):
        if marker in value:
            value = value.split(marker, 1)[0]
    return value.strip()


def read_text(path: Path, what: str, setting: str) -> str:
    """The file's text, or a ``ConfigError`` naming ``what`` it is and the ``setting``
    that names it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, f"{what} not found", f"check {setting}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the {what}: {exc}",
            "check the file and its permissions",
        ) from exc


def parse_key_file(path: Path, text: str) -> Groups:
    """The groups of a GLib key file; ``ConfigError`` naming the line on bad syntax."""
    groups: Groups = {}
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
                "put the keys under a [group]",
            )
        current[key.strip()] = (strip_comment(value), number)
    return groups
