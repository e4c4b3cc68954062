"""Replacing a file atomically: readers see the old file or the new one, never half of one.

Every file edge-app writes for later (TensorRT engines and their sidecars, calibration
caches, zone files, the learned person sizes, the pid file) goes through ``write_atomic``.
The files the daemon writes are ``PRIVATE`` (0600), as its SQLite store is.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE = 0o600
"""The mode of every file the daemon writes: readable and writable by its user only."""


def write_atomic(
    path: Path,
    data: bytes | str,
    mode: int | None = None,
    *,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace ``path`` with ``data`` (``str`` is written as UTF-8, newlines untouched).

    The data goes to a temporary file in the same folder, is flushed and fsynced, then
    renamed over ``path``, and the folder is fsynced so that the rename survives a power
    cut. ``mode`` sets the new file's permission bits (``None``: what a new file gets, 0o666
    less the umask); ``owner`` is a ``(uid, gid)`` to give it (needs the privilege to).
    On any failure the temporary file is removed, ``path`` is left as it was and the
    ``OSError`` is raised. The folder must exist.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_atomic(folder / "state.json", '{"a": 1}\\n')
    >>> (folder / "state.json").read_text()
    '{"a": 1}\\n'
    >>> sorted(p.name for p in folder.iterdir())
    ['state.json']
    >>> import shutil; shutil.rmtree(folder)
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # O_EXCL on a random name: never another writer's temporary file, never a symlink.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            if owner is not None:
                os.fchown(f.fileno(), *owner)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some filesystems cannot)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some filesystems cannot open a directory; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass  # not supported for directories here; durability then rests on the filesystem
    finally:
        os.close(fd)
