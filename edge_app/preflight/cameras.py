"""Each camera: its source (video file, live camera settings and secrets), its zone file,
and whether the zones were drawn for the camera's picture."""

from __future__ import annotations

from edge_app.config import (
    CameraConfig,
    CsiSourceConfig,
    FileSourceConfig,
    RtspSourceConfig,
    SyntheticSourceConfig,
)
from edge_app.config.zones import camera_zones, frame_size_problem
from edge_app.core.errors import ConfigError, SourceError
from edge_app.preflight.base import LoadedConfig, secret_problems, unreadable


def _source(
    loaded: LoadedConfig, index: int, cam: CameraConfig
) -> tuple[tuple[int, int] | None, list[ConfigError]]:
    """The frame size the camera delivers when the config or the file tells (else
    ``None``), and the problems of its source."""
    field = f"cameras[{index}].source"
    src = cam.source
    if isinstance(src, FileSourceConfig):
        from edge_app.sources.file import probe

        try:
            info = probe(src.path)  # the container's header only; nothing is decoded
        except SourceError as exc:
            return None, [loaded.problem(f"{field}.path", str(exc))]
        return (info.width, info.height), []
    if isinstance(src, SyntheticSourceConfig):
        return (src.width, src.height), []
    problems: list[ConfigError] = []
    if isinstance(src, RtspSourceConfig):
        problems += secret_problems(loaded, f"{field}.username", src.username)
        problems += secret_problems(loaded, f"{field}.password", src.password)
    if not problems:
        from edge_app.sources.live import capture_target

        try:
            capture_target(cam)  # how the daemon will open it: the same checks, no opening
        except (SourceError, ConfigError) as exc:
            problems.append(loaded.problem(field, str(exc)))
    size = (src.width, src.height) if isinstance(src, CsiSourceConfig) else None
    return size, problems


def check_cameras(loaded: LoadedConfig) -> list[ConfigError]:
    """Sources, zone files (every problem of each), and zones drawn for another aspect
    ratio where the camera's frame size is known before it is opened: synthetic and CSI
    cameras (their configured size) and video files (their header)."""
    problems: list[ConfigError] = []
    for index, cam in enumerate(loaded.config.cameras):
        size, source_problems = _source(loaded, index, cam)
        problems += source_problems
        missing = unreadable(cam.zones, "zone file")
        if missing is not None:
            problems.append(
                loaded.problem(
                    f"cameras[{index}].zones",
                    missing,
                    "a relative path starts at the config file's folder; edge-app zones "
                    "edit draws a new one",
                )
            )
            continue
        try:
            zones = camera_zones(loaded.config, index)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if size is not None:
            mismatch = frame_size_problem(zones, size, cam.id)
            if mismatch is not None:
                problems.append(mismatch)
    return problems
