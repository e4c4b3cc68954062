"""The daemon's pid file, for tools that signal it (the zone editor sends SIGHUP).

The systemd unit runs ``edge-app run --pid-file /run/edge-app/edge-app.pid`` (its
``RuntimeDirectory=``); ``systemctl show -p MainPID edge-app`` gives the same pid. The file
is written atomically (rename) and removed at exit only if it still names this process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

from edge_app.core.atomic import PRIVATE, write_atomic
from edge_app.core.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PID_FILE = Path("/run/edge-app/edge-app.pid")


class PidFile:
    """Context manager writing ``os.getpid()`` to ``path`` (``None``: does nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def __enter__(self) -> PidFile:
        if self.path is None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, f"{os.getpid()}\n", PRIVATE)
        except OSError as exc:
            raise ConfigError(
                str(self.path),
                None,
                f"cannot write the pid file: {exc.strerror}",
                "give --pid-file a writable path (the unit uses /run/edge-app/)",
            ) from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.path is None:
            return
        try:
            if self.path.read_text(encoding="ascii").strip() == str(os.getpid()):
                self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            log.warning("pid file %s not removed: %s", self.path, err.strerror)


def read_pid(path: Path = DEFAULT_PID_FILE) -> int | None:
    """The pid in ``path`` when that process is alive, else ``None``."""
    try:
        pid = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by another user (the service user)
    return pid
