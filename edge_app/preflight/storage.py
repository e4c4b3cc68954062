"""The event store's file: not a folder, an SQLite database if it exists, and a folder
the daemon can create files in (the database's -wal and -shm files live beside it)."""

from __future__ import annotations

import os
from pathlib import Path

from edge_app.core.errors import ConfigError
from edge_app.preflight.base import LoadedConfig

_SQLITE_HEADER = b"SQLite format 3\x00"
_ELSEWHERE = "set store.path to a writable place, or make the folder writable by the service user"


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_store(loaded: LoadedConfig) -> list[ConfigError]:
    """``store.path``: nothing is created or opened for writing here."""
    path = loaded.config.store.path
    field = "store.path"
    if path.is_dir():
        return [
            loaded.problem(
                field, f"{path} is a folder", f"give a file in it, e.g. {path / 'edge-app.db'}"
            )
        ]
    problems: list[ConfigError] = []
    if path.exists():
        if not path.is_file():
            return [loaded.problem(field, f"{path} is not a regular file", "give a file path")]
        try:
            with path.open("rb") as handle:
                header = handle.read(len(_SQLITE_HEADER))
        except OSError as exc:
            return [loaded.problem(field, f"{path} cannot be read: {exc.strerror}", _ELSEWHERE)]
        if header and header != _SQLITE_HEADER:
            problems.append(
                loaded.problem(
                    field,
                    f"{path} is not an SQLite database",
                    "move that file away, or set store.path to a new file",
                )
            )
        elif not os.access(path, os.R_OK | os.W_OK):
            problems.append(loaded.problem(field, f"{path} is not writable", _ELSEWHERE))
    folder = _existing_ancestor(path.parent)
    if not folder.is_dir():
        problems.append(
            loaded.problem(
                field,
                f"its folder {path.parent} cannot be created: {folder} is a file",
                "set store.path to a file in a folder",
            )
        )
    elif not os.access(folder, os.W_OK | os.X_OK):
        why = "is on a read-only filesystem" if _read_only(folder) else "is not writable"
        missing = "" if folder == path.parent else f" (so {path.parent} cannot be created)"
        problems.append(loaded.problem(field, f"the folder {folder} {why}{missing}", _ELSEWHERE))
    return problems
