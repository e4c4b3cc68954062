"""One editing session of one camera's zone file: load, check, save.

The page sends its drawing as a *draft* (JSON: the zones with their points in the file's
units, and for each the index of the zone in the file it was edited from). Checking and
saving turn the draft into the file's text first (``edge_app.config.zone_render``), read that text
back as YAML and validate it with ``parse_zones``: the exact code ``edge-app check`` runs,
so the page shows the same messages and a saved file always passes ``check``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_app.config.zone_io import write_zone_file
from edge_app.config.zone_render import ZONE_KEYS, render_zone_file
from edge_app.config.zones import ZoneSet, describe_zones, parse_zones
from edge_app.core.errors import ConfigError, EdgeAppError
from edge_app.zone_editor.reload import ReloadResult

OPTION_KEYS = ("capacity", "dwell_alert_s", "enter_after_s", "exit_after_s")
_ZONE_INDEX = re.compile(r"^zones\[(\d+)\]")


class DraftError(ValueError):
    """The page sent a draft that is not shaped like one (a bug or a forged request)."""


class ConflictError(EdgeAppError):
    """The zone file changed on disk after the editor loaded it."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of validating a draft: ``message`` is ``check``'s own text.

    ``zone_index`` is the zone the problem is in (``None`` when it is not about one zone);
    ``summary`` the lines ``edge-app check --zones`` prints for a valid file.
    """

    ok: bool
    message: str
    field: str | None = None
    zone_index: int | None = None
    summary: tuple[str, ...] = ()

    @classmethod
    def failed(cls, exc: ConfigError) -> CheckResult:
        match = _ZONE_INDEX.match(exc.field or "")
        return cls(False, str(exc), exc.field, int(match.group(1)) if match else None)


@dataclass(frozen=True, slots=True)
class SaveResult:
    """A saved zone file: ``backup`` of the previous version, and what the daemon was told."""

    path: Path
    backup: Path | None
    comments_kept: bool
    zones: ZoneSet
    reload: ReloadResult
    summary: tuple[str, ...] = field(default=())


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _lenient_zones(data: Any) -> list[dict[str, Any]]:
    """The zones of possibly invalid file data, as far as they can be drawn."""
    items = data.get("zones") if isinstance(data, dict) else None
    zones = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        points = []
        for point in item.get("polygon") or []:
            if isinstance(point, (list, tuple)) and len(point) == 2:
                x, y = _number(point[0]), _number(point[1])
                if x is not None and y is not None:
                    points.append([x, y])
        zone: dict[str, Any] = {
            "source": i,
            "id": str(item.get("id", "")),
            "name": item["name"] if isinstance(item.get("name"), str) else "",
            "polygon": points,
        }
        zone.update({k: _number(item.get(k)) for k in OPTION_KEYS})
        zones.append(zone)
    return zones


def _file_units(data: Any) -> tuple[int, int] | None:
    size = data.get("frame_size") if isinstance(data, dict) else None
    if (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        return int(size[0]), int(size[1])
    return None


class EditorSession:
    """Loads, checks and saves the zone file ``path`` of camera ``camera_id``.

    ``image_size`` is the ``(width, height)`` of the picture the zones are drawn on: a new
    file gets it as its ``frame_size``. ``reloader`` tells a running daemon after a save.
    Thread-safe: the web server calls it from several threads.
    """

    def __init__(
        self,
        camera_id: str,
        path: Path,
        image_size: tuple[int, int],
        reloader: Callable[[], ReloadResult],
    ) -> None:
        self.camera_id = camera_id
        self.path = path
        self.image_size = image_size
        self._reloader = reloader
        self._lock = threading.Lock()
        self._base_text = self._read_text()

    def _read_text(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                str(self.path), None, f"cannot read: {exc}", "check the path and permissions"
            ) from exc

    def _units(self, data: Any) -> tuple[int, int] | None:
        """The file's point units: its frame_size, ``None`` for normalised 0..1 points."""
        if self._base_text is None or not isinstance(data, dict):
            return self.image_size
        if "frame_size" not in data:
            return None
        return _file_units(data) or self.image_size

    def _base_data(self) -> tuple[Any, ConfigError | None]:
        if self._base_text is None:
            return None, None
        try:
            return yaml.safe_load(self._base_text), None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
            problem = getattr(exc, "problem", None) or "invalid YAML"
            return None, ConfigError(str(self.path), where, f"YAML syntax error: {problem}")

    def state(self) -> dict[str, Any]:
        """What the page needs to start: the file's zones and how the file checks now."""
        with self._lock:
            data, syntax_error = self._base_data()
            units = self._units(data)
            check: CheckResult | None = None
            if syntax_error is not None:
                check = CheckResult.failed(syntax_error)
            elif self._base_text is not None:
                check = self._check_data(data)
            return {
                "camera": self.camera_id,
                "zones_file": str(self.path),
                "exists": self._base_text is not None,
                "units": {
                    "width": units[0] if units else 1,
                    "height": units[1] if units else 1,
                    "pixels": units is not None,
                },
                "image": {"width": self.image_size[0], "height": self.image_size[1]},
                "zones": _lenient_zones(data),
                "check": None if check is None else check_json(check),
            }

    def _check_data(self, data: Any) -> CheckResult:
        try:
            zones = parse_zones(data, self.path)
            if zones.camera != self.camera_id:
                raise ConfigError(
                    str(self.path),
                    "camera",
                    f"says {zones.camera!r} but this is camera {self.camera_id!r}",
                    "saving from the editor writes this camera's id",
                )
        except ConfigError as exc:
            return CheckResult.failed(exc)
        return CheckResult(True, f"{self.path}: OK", summary=tuple(describe_zones(zones)))

    def draft_data(self, draft: Any) -> tuple[dict[str, Any], list[int | None]]:
        """Zone-file data from a page draft, and each zone's index in the loaded file.

        Raises ``DraftError`` when the draft is not shaped like one.
        """
        if not isinstance(draft, Mapping) or not isinstance(draft.get("zones"), list):
            raise DraftError("a draft is an object with a list of zones")
        data, _ = self._base_data()
        units = self._units(data)
        zones: list[dict[str, Any]] = []
        sources: list[int | None] = []
        for k, item in enumerate(draft["zones"]):
            zones.append(_draft_zone(item, k))
            source = item.get("source")
            sources.append(source if isinstance(source, int) and source >= 0 else None)
        out: dict[str, Any] = {"camera": self.camera_id}
        if units is not None:
            out["frame_size"] = [units[0], units[1]]
        out["zones"] = zones
        return out, sources

    def _render(self, draft: Any) -> tuple[str, bool, ZoneSet]:
        data, sources = self.draft_data(draft)
        base = self._base_text
        rendered = render_zone_file(data, base, sources if base is not None else ())
        # Validate exactly the text that will be written, as `edge-app check` reads it.
        zones = parse_zones(yaml.safe_load(rendered.text), self.path)
        return rendered.text, rendered.comments_kept, zones

    def check(self, draft: Any) -> CheckResult:
        """Validate a draft as ``edge-app check`` would validate the file it becomes."""
        with self._lock:
            try:
                _, _, zones = self._render(draft)
            except ConfigError as exc:
                return CheckResult.failed(exc)
        return CheckResult(True, f"{self.path}: OK", summary=tuple(describe_zones(zones)))

    def draft_zones(self, draft: Any) -> ZoneSet:
        """The draft as a ``ZoneSet`` (for the live preview); raises ``ConfigError``."""
        data, _ = self.draft_data(draft)
        return parse_zones(data, self.path)

    def save(self, draft: Any) -> SaveResult | CheckResult:
        """Validate and write the draft; a ``CheckResult`` (nothing written) when invalid.

        Raises ``ConflictError`` when the file changed on disk since it was loaded, and
        ``ConfigError`` when it cannot be written.
        """
        with self._lock:
            if self._read_text() != self._base_text:
                raise ConflictError(
                    f"{self.path} was changed by something else after the editor loaded it; "
                    "reload the page to edit the new version (unsaved drawing is lost)"
                )
            try:
                text, comments_kept, zones = self._render(draft)
            except ConfigError as exc:
                return CheckResult.failed(exc)
            backup = write_zone_file(self.path, text)
            self._base_text = text
        reload = self._reloader()
        return SaveResult(
            self.path, backup, comments_kept, zones, reload, tuple(describe_zones(zones))
        )


def _draft_zone(item: Any, k: int) -> dict[str, Any]:
    """One zone of a draft as zone-file data; values pass through for the loader to judge."""
    if not isinstance(item, Mapping):
        raise DraftError(f"zone {k} of the draft is not an object")
    unknown = set(item) - {*ZONE_KEYS, "source"}
    if unknown:
        raise DraftError(f"zone {k} of the draft has unknown keys {sorted(unknown)}")
    polygon = item.get("polygon")
    if not isinstance(polygon, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(_number(v) is not None for v in p)
        for p in polygon
    ):
        raise DraftError(f"zone {k} of the draft: polygon must be a list of [x, y] numbers")
    zone: dict[str, Any] = {"id": item.get("id"), "polygon": [[p[0], p[1]] for p in polygon]}
    name = item.get("name")
    if isinstance(name, str) and name.strip():
        zone["name"] = name.strip()
    for key in OPTION_KEYS:
        if item.get(key) is not None:
            zone[key] = item[key]
    return zone


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "message": result.message,
        "field": result.field,
        "zone_index": result.zone_index,
        "summary": list(result.summary),
    }
