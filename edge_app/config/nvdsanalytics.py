"""Zones from a DeepStream ``nvdsanalytics`` config: one stream's ROIs as a zone file.

nvdsanalytics counts an object in a region by the bottom centre of its box, which is the
foot point edge-app uses too, so its regions mean the same here:

- ``[property]`` ``config-width``/``config-height``: the frame size the points are in
  (the zone file's ``frame_size``);
- ``[roi-filtering-stream-N]`` ``roi-NAME=x1;y1;x2;y2;...``: one zone per ROI, ``NAME`` as
  its name and (made a slug) its id;
- ``[overcrowding-stream-N]`` ``roi-NAME=...`` with ``object-threshold`` (the count that is
  a crowd) and ``time-threshold`` (milliseconds it must last): a zone with
  ``capacity = object-threshold - 1`` (edge-app alerts above its capacity) and
  ``enter_after_s = time-threshold / 1000`` (which also delays the zone's occupancy and
  visits). An overcrowding ROI with the same points as a filtering one sets these on that
  zone instead of adding one.

What has no equivalent is reported, not guessed: ``inverse-roi=1`` (objects outside the
ROI), line crossing and direction detection, ``class-id`` other than all or person, a
disabled group. The result is zone-file data; ``parse_zones`` checks it like any zone file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_app.config.keyfile import Groups, parse_key_file, read_text
from edge_app.core.errors import ConfigError

MAX_ID = 63


@dataclass
class NvdsImport:
    """Zone-file data (``camera``, ``frame_size``, ``zones``) and what was left out."""

    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _int(path: Path, group: str, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(
            str(path), f"[{group}] {key}", f"expected an integer, got {value!r}", "fix the value"
        ) from exc


def _points(path: Path, group: str, key: str, value: str) -> list[list[int]]:
    numbers = [_int(path, group, key, v.strip()) for v in value.split(";") if v.strip()]
    if len(numbers) % 2:
        raise ConfigError(
            str(path),
            f"[{group}] {key}",
            f"has {len(numbers)} numbers, not x;y pairs",
            "give x1;y1;x2;y2;... in config-width x config-height pixels",
        )
    return [[numbers[i], numbers[i + 1]] for i in range(0, len(numbers), 2)]


def _key(polygon: list[list[int]]) -> tuple[tuple[int, int], ...]:
    return tuple((x, y) for x, y in polygon)


def _slug(label: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_-]+", "-", label.lower()).strip("-_")[:MAX_ID] or "zone"
    if not base[0].isalnum():
        base = f"z{base}"[:MAX_ID]
    slug, n = base, 2
    while slug in used:
        suffix = f"-{n}"
        slug, n = base[: MAX_ID - len(suffix)] + suffix, n + 1
    used.add(slug)
    return slug


def _frame_size(path: Path, groups: Groups) -> list[int]:
    props = groups.get("property", {})
    size = []
    for key in ("config-width", "config-height"):
        if key not in props:
            raise ConfigError(
                str(path),
                f"[property] {key}",
                "is missing: the ROI points are pixels of that frame size",
                "add config-width and config-height, as nvdsanalytics reads them",
            )
        size.append(_int(path, "property", key, props[key][0]))
    return size


def _enabled(group: str, entries: dict[str, tuple[str, int]], notes: list[str]) -> bool:
    if entries.get("enable", ("1", 0))[0].strip() == "0":
        notes.append(f"[{group}] is disabled (enable=0): left out")
        return False
    return True


def _class_note(group: str, entries: dict[str, tuple[str, int]], notes: list[str]) -> None:
    value = entries.get("class-id", ("-1", 0))[0].strip()
    if value not in ("-1", "0"):
        notes.append(
            f"[{group}] class-id={value}: edge-app counts people only; the zones count people"
        )


def _rois(group: str, entries: dict[str, tuple[str, int]]) -> list[tuple[str, str, str]]:
    """``(key, label, points)`` of the group's ``roi-LABEL`` keys, in file order."""
    return [
        (key, key[len("roi-") :], value)
        for key, (value, _) in entries.items()
        if key.startswith("roi-") and len(key) > len("roi-")
    ]


def zones_from_nvdsanalytics(path: Path, stream: int, camera: str) -> NvdsImport:
    """Stream ``stream``'s regions of the nvdsanalytics config at ``path`` as zone-file data
    for ``camera`` (see the module docstring). Raises ``ConfigError`` naming the file, the
    group and the key."""
    groups = parse_key_file(path, read_text(path, "nvdsanalytics config", "--nvdsanalytics"))
    result = NvdsImport({"camera": camera, "frame_size": _frame_size(path, groups), "zones": []})
    notes = result.notes
    zones: list[dict[str, Any]] = result.data["zones"]
    used: set[str] = set()
    by_points: dict[tuple[tuple[int, int], ...], dict[str, Any]] = {}
    filtering = f"roi-filtering-stream-{stream}"
    crowding = f"overcrowding-stream-{stream}"
    entries = groups.get(filtering)
    if entries is not None and _enabled(filtering, entries, notes):
        _class_note(filtering, entries, notes)
        if entries.get("inverse-roi", ("0", 0))[0].strip() == "1":
            notes.append(
                f"[{filtering}] inverse-roi=1 counts objects outside its ROIs, which no zone "
                "does: its ROIs are left out"
            )
        else:
            for key, label, value in _rois(filtering, entries):
                polygon = _points(path, filtering, key, value)
                zone: dict[str, Any] = {"id": _slug(label, used), "name": label}
                zone["polygon"] = polygon
                zones.append(zone)
                by_points[_key(polygon)] = zone
    entries = groups.get(crowding)
    if entries is not None and _enabled(crowding, entries, notes):
        _class_note(crowding, entries, notes)
        threshold = _int(
            path, crowding, "object-threshold", entries.get("object-threshold", ("0", 0))[0]
        )
        time_ms = entries.get("time-threshold")
        for key, label, value in _rois(crowding, entries):
            polygon = _points(path, crowding, key, value)
            found = by_points.get(_key(polygon))
            if found is None:
                found = {"id": _slug(label, used), "name": label, "polygon": polygon}
                zones.append(found)
            zone = found
            if threshold >= 2:
                zone["capacity"] = threshold - 1
            else:
                notes.append(
                    f"[{crowding}] object-threshold={threshold}: a crowd of {threshold} has no "
                    f"capacity (the smallest capacity is 1): zone {zone['id']!r} has none"
                )
            if time_ms is not None:
                zone["enter_after_s"] = _int(path, crowding, "time-threshold", time_ms[0]) / 1000
                notes.append(
                    f"zone {zone['id']!r}: time-threshold={time_ms[0]} ms became "
                    f"enter_after_s: {zone['enter_after_s']:g}, which also delays the zone's "
                    "occupancy and visits, not only its capacity alert"
                )
    for group in groups:
        if group.endswith(f"-stream-{stream}") and group not in (filtering, crowding):
            notes.append(f"[{group}] has no zone equivalent (edge-app has no lines): left out")
    if not zones:
        raise ConfigError(
            str(path),
            f"[{filtering}]",
            f"stream {stream} has no enabled roi-NAME=... in [{filtering}] or [{crowding}]",
            "check --stream, or the groups' enable and inverse-roi",
        )
    return result
