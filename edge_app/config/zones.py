"""Zone files: one per camera, loaded and checked once, before anything runs.

The file shape (other tools depend on it)::

    camera: entrance            # camera id this file belongs to
    frame_size: [1920, 1080]    # optional; when present, points are pixels of that frame
                                # size, when absent, points are normalised 0..1
    zones:
      - id: checkout-1          # slug: lowercase letters, digits, '-' and '_'
        name: Checkout lane 1
        polygon: [[192, 600], [672, 600], [768, 1030], [96, 1030]]
        # optional: capacity, dwell_alert_s, enter_after_s, exit_after_s

Geometry is checked with shapely (at least 3 points, a simple ring, non-zero area, inside
the frame, unique ids). Every problem becomes a ``ConfigError`` naming the file, the field
and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationError, field_validator
from shapely.geometry import LinearRing, Polygon
from shapely.validation import explain_validity

from edge_app.config import (
    LONGEST_S,
    SLUG_HELP,
    SLUG_PATTERN,
    AppConfig,
    StrictModel,
    read_yaml_checked,
    validation_problems,
)
from edge_app.core.domain import Points
from edge_app.core.errors import ConfigError, config_error


class _ZoneModel(StrictModel):
    id: str = Field(pattern=SLUG_PATTERN)
    name: str | None = None
    polygon: list[tuple[float, float]]
    capacity: int | None = Field(None, ge=1)
    dwell_alert_s: float | None = Field(None, gt=0, le=LONGEST_S)
    enter_after_s: float | None = Field(None, ge=0, le=LONGEST_S)
    exit_after_s: float | None = Field(None, ge=0, le=LONGEST_S)

    @field_validator("polygon")
    @classmethod
    def _finite(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not all(math.isfinite(v) for p in points for v in p):
            raise ValueError("points must be finite numbers")
        return points


class _ZoneFileModel(StrictModel):
    camera: str = Field(pattern=SLUG_PATTERN)
    frame_size: tuple[int, int] | None = None
    zones: list[Any]  # each one a _ZoneModel, validated on its own: every zone's problems

    @field_validator("frame_size")
    @classmethod
    def _positive(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and min(size) <= 0:
            raise ValueError("width and height must be > 0")
        return size


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone of a camera. ``polygon`` is in the file's units (pixels or normalised)."""

    id: str
    name: str
    polygon: tuple[tuple[float, float], ...]
    capacity: int | None = None
    dwell_alert_s: float | None = None
    enter_after_s: float | None = None
    exit_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class ZoneSet:
    """All zones of one camera, as loaded from its zone file ``path``."""

    camera: str
    frame_size: tuple[int, int] | None
    zones: tuple[Zone, ...]
    path: Path

    def polygons_px(self, frame_size: tuple[int, int]) -> list[Points]:
        """Each zone's polygon as an ``(N, 2)`` array in pixels of a ``frame_size`` frame.

        Normalised points are scaled to the frame; pixel points drawn on another frame
        size are scaled proportionally, so zones drawn on a snapshot still fit a camera
        that delivers a different resolution of the same view.
        """
        width, height = frame_size
        if self.frame_size is None:
            sx, sy = float(width), float(height)
        else:
            sx, sy = width / self.frame_size[0], height / self.frame_size[1]
        return [np.asarray(z.polygon, dtype=np.float64) * (sx, sy) for z in self.zones]

    def get(self, zone_id: str) -> Zone:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)


def _zone_field(index: int, name: str | None = None) -> str:
    return f"zones[{index}]" + (f".{name}" if name else "")


def _check_geometry(path: Path, index: int, zone: _ZoneModel, bounds: tuple[float, float]) -> None:
    field = _zone_field(index, "polygon")
    where = f"zone {zone.id!r}"
    points = zone.polygon
    if len(points) < 3:
        raise ConfigError(
            str(path),
            field,
            f"{where} has {len(points)} points",
            "a polygon needs at least 3 points",
        )
    if len(points) > 3 and points[0] == points[-1]:
        points = points[:-1]  # an explicitly closed ring is fine
    if len(set(points)) < 3:
        raise ConfigError(
            str(path),
            field,
            f"{where} has fewer than 3 distinct points",
            "give at least 3 different corners",
        )
    ring = LinearRing(points)
    if ring.convex_hull.area <= 0:
        raise ConfigError(
            str(path),
            field,
            f"{where} has zero area",
            "its corners lie on one line; spread them out",
        )
    if not ring.is_simple:
        raise ConfigError(
            str(path),
            field,
            f"{where} crosses itself",
            "order the corners around the edge so no two sides cross",
        )
    poly = Polygon(ring)
    if not poly.is_valid:
        raise ConfigError(
            str(path),
            field,
            f"{where} is not a valid polygon: {explain_validity(poly)}",
            "redraw it as a simple outline",
        )
    if poly.area <= 0:
        raise ConfigError(
            str(path),
            field,
            f"{where} has zero area",
            "its corners lie on one line; spread them out",
        )
    width, height = bounds
    unit = "pixels" if bounds != (1.0, 1.0) else "normalised units"
    for k, (x, y) in enumerate(points):
        if not (0 <= x <= width and 0 <= y <= height):
            raise ConfigError(
                str(path),
                f"{field}[{k}]",
                f"{where} point ({x:g}, {y:g}) is outside the frame (0..{width:g}, "
                f"0..{height:g} {unit})",
                "move it inside, or fix frame_size"
                if unit == "pixels"
                else "normalised points lie in 0..1; add frame_size: [W, H] for pixels",
            )


def _zone_file_problems(
    path: Path, exc: ValidationError, within: tuple[int | str, ...] = ()
) -> list[ConfigError]:
    return [
        ConfigError(str(path), problem.field, "is not a valid id", SLUG_HELP)
        if problem.field and problem.field.endswith(".id") and "pattern" in problem.problem
        else problem
        for problem in validation_problems(path, exc, within)
    ]


def _zone_models(
    path: Path, data: dict[str, Any]
) -> tuple[list[tuple[int, _ZoneModel]], list[ConfigError]]:
    """The zones of a file that are valid on their own (with their index), and the
    problems of the others."""
    raw = data.get("zones")
    if not isinstance(raw, list):
        return [], []  # the file's own validation says so
    models, problems = [], []
    for index, item in enumerate(raw):
        try:
            models.append((index, _ZoneModel.model_validate(item)))
        except ValidationError as exc:
            problems += _zone_file_problems(path, exc, ("zones", index))
    return models, problems


def check_zone_data(data: Any, path: Path) -> tuple[ZoneSet | None, list[ConfigError]]:
    """Validate already-loaded zone-file data: the zones (``None`` when invalid) and every
    problem found; ``path`` names the file in the messages."""
    if data is None:
        return None, [ConfigError(str(path), None, "file is empty", "see zones/ for an example")]
    if not isinstance(data, dict):
        return None, [
            ConfigError(
                str(path),
                None,
                "top level must be a mapping with camera and zones",
                "see zones/ for an example",
            )
        ]
    zone_models, problems = _zone_models(path, data)
    try:
        model = _ZoneFileModel.model_validate(data)
    except ValidationError as exc:
        # Geometry needs the frame size: each zone's own problems are all there is to say.
        return None, [*_zone_file_problems(path, exc), *problems]
    if not model.zones:
        return None, [
            ConfigError(str(path), "zones", "the zone list is empty", "add at least one zone")
        ]
    bounds: tuple[float, float] = (
        (float(model.frame_size[0]), float(model.frame_size[1])) if model.frame_size else (1.0, 1.0)
    )
    seen: dict[str, int] = {}
    zones = []
    for i, z in zone_models:
        if z.id in seen:
            problems.append(
                ConfigError(
                    str(path),
                    _zone_field(i, "id"),
                    f"zone id {z.id!r} is already used by zones[{seen[z.id]}]",
                    "give every zone its own id",
                )
            )
        seen.setdefault(z.id, i)
        try:
            _check_geometry(path, i, z, bounds)
        except ConfigError as exc:
            problems.append(exc)
        zones.append(
            Zone(
                id=z.id,
                name=z.name or z.id,
                polygon=tuple((float(x), float(y)) for x, y in z.polygon),
                capacity=z.capacity,
                dwell_alert_s=z.dwell_alert_s,
                enter_after_s=z.enter_after_s,
                exit_after_s=z.exit_after_s,
            )
        )
    if problems:
        return None, problems
    return ZoneSet(model.camera, model.frame_size, tuple(zones), path), []


def parse_zones(data: Any, path: Path) -> ZoneSet:
    """Validate already-loaded zone-file data; ``path`` names the file in messages.

    Raises ``ConfigError`` with every problem found (``ConfigErrors`` when several)."""
    zones, problems = check_zone_data(data, path)
    if zones is None or problems:
        raise config_error(problems)
    return zones


def load_zones(path: Path) -> ZoneSet:
    """Load and check a zone file; raises ``ConfigError`` with every problem of the file."""
    data, duplicates = read_yaml_checked(path)
    zones, problems = check_zone_data(data, path)
    if zones is None or duplicates or problems:
        raise config_error([*duplicates, *problems])
    return zones


def describe_zones(zones: ZoneSet) -> list[str]:
    size = (
        f"{zones.frame_size[0]}x{zones.frame_size[1]} px" if zones.frame_size else "normalised 0..1"
    )
    frame_area = (zones.frame_size[0] * zones.frame_size[1]) if zones.frame_size else 1.0
    lines = [f"{zones.path}: camera {zones.camera!r}, {len(zones.zones)} zone(s), points in {size}"]
    for z in zones.zones:
        share = Polygon(z.polygon).area / frame_area
        opts = [
            f"{k}={v:g}"
            for k, v in (
                ("capacity", z.capacity),
                ("dwell_alert_s", z.dwell_alert_s),
                ("enter_after_s", z.enter_after_s),
                ("exit_after_s", z.exit_after_s),
            )
            if v is not None
        ]
        lines.append(
            f"  - {z.id:<20} {z.name!r}: {len(z.polygon)} points, "
            f"{share:.1%} of the frame" + (f", {', '.join(opts)}" if opts else "")
        )
    return lines


def camera_zones(config: AppConfig, index: int) -> ZoneSet:
    """The zones of ``config.cameras[index]``, checked to belong to that camera."""
    cam = config.cameras[index]
    zones = load_zones(cam.zones)
    if zones.camera != cam.id:
        raise ConfigError(
            str(cam.zones),
            "camera",
            f"says {zones.camera!r} but cameras[{index}] is {cam.id!r}",
            "point the camera at its own zone file or fix the id",
        )
    return zones


def load_camera_zones(config: AppConfig) -> dict[str, ZoneSet]:
    """Each camera's zones, checked to belong to that camera; ``ConfigError`` with the
    problems of every zone file."""
    result = {}
    problems: list[ConfigError] = []
    for i, cam in enumerate(config.cameras):
        try:
            result[cam.id] = camera_zones(config, i)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise config_error(problems)
    return result


ASPECT_TOLERANCE = 0.01
"""How far (relative) a camera's frame aspect ratio may be from the one its zones were
drawn on: 1 % lets 1920x1088 (a stream padded to whole 16-pixel blocks) pass for 1920x1080,
while 4:3 against 16:9 (33 %) is an error."""


def frame_size_problem(
    zones: ZoneSet, frame_size: tuple[int, int], camera: str | None = None
) -> ConfigError | None:
    """Why ``zones`` do not fit frames of ``frame_size`` (width, height), or ``None``.

    Zones drawn in pixels of a picture with another aspect ratio would be stretched onto
    the camera's frames and mark other places than the ones drawn. Another resolution of
    the same view (1920x1080 zones on 960x540 frames) is fine and scaled. Normalised
    zones (no ``frame_size``) fit any frame.

    >>> zones = ZoneSet("door", (960, 540), (), Path("door.yaml"))
    >>> frame_size_problem(zones, (1920, 1080)) is None
    True
    >>> print(frame_size_problem(zones, (640, 480), "door"))  # doctest: +NORMALIZE_WHITESPACE
    door.yaml: frame_size: the zones were drawn on a 960x540 picture (aspect 1.778), but
    camera 'door' delivers 640x480 frames (aspect 1.333); stretched onto them they would mark
    other places (redraw the zones on this camera's picture with edge-app zones edit, or point
    the camera at the zone file drawn for it)
    """
    if zones.frame_size is None:
        return None
    drawn_w, drawn_h = zones.frame_size
    width, height = frame_size
    if width <= 0 or height <= 0:
        return None
    drawn, actual = drawn_w / drawn_h, width / height
    if abs(actual / drawn - 1.0) <= ASPECT_TOLERANCE:
        return None
    who = f"camera {camera!r}" if camera else "the camera"
    return ConfigError(
        str(zones.path),
        "frame_size",
        f"the zones were drawn on a {drawn_w}x{drawn_h} picture (aspect {drawn:.3f}), but "
        f"{who} delivers {width}x{height} frames (aspect {actual:.3f}); stretched onto them "
        "they would mark other places",
        "redraw the zones on this camera's picture with edge-app zones edit, or point the "
        "camera at the zone file drawn for it",
    )
