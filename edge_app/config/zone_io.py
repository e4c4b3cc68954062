"""Writing zone files safely: atomically, with timestamped backups.

``write_zone_file`` replaces the file atomically (a temporary file in the same folder,
fsynced, then renamed over it) after copying the previous version to a timestamped backup
next to it. The text comes from ``edge_app.config.zone_render``.

Example::

    text = Path("zones/door.yaml").read_text()
    result = render_zone_file(data, text, sources=[0, None])
    write_zone_file(Path("zones/door.yaml"), result.text)
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from edge_app.core.atomic import write_atomic
from edge_app.core.errors import ConfigError

KEEP_BACKUPS = 5
"""How many backups of a zone file are kept next to it (the oldest go first)."""


def _backup_path(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    return candidate


def backups_of(path: Path) -> list[Path]:
    """The backups ``write_zone_file`` kept of ``path``, oldest first."""
    return sorted(path.parent.glob(f"{path.name}.*.bak"), key=lambda p: p.stat().st_mtime_ns)


def _write_error(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        str(path),
        None,
        f"cannot write: {exc.strerror or exc}",
        "check the folder exists and is writable by this user (or run as the file's owner)",
    )


def write_zone_file(
    path: Path, text: str, keep_backups: int = KEEP_BACKUPS, now: datetime | None = None
) -> Path | None:
    """Atomically replace ``path`` with ``text``; returns the backup of the old file.

    The previous file (if any) is copied to ``NAME.YYYYmmddTHHMMSSZ.bak`` beside it and only
    the newest ``keep_backups`` backups are kept. The new file keeps the old one's mode and,
    when running as root, its owner. Raises ``ConfigError`` when the folder is not writable.
    """
    backup = None
    old = None
    try:
        old = path.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        if old is not None:
            backup = _backup_path(path, now or datetime.now(timezone.utc))
            shutil.copy2(path, backup)
        write_atomic(
            path,
            text,
            (old.st_mode & 0o7777) if old is not None else 0o644,
            owner=(old.st_uid, old.st_gid) if old is not None and os.geteuid() == 0 else None,
        )
    except OSError as exc:
        raise _write_error(path, exc) from exc
    for stale in backups_of(path)[: max(0, len(backups_of(path)) - keep_backups)]:
        stale.unlink(missing_ok=True)
    return backup
