"""Telling a running daemon that its zone files changed.

The daemon reloads its zone files on SIGHUP and writes its pid to ``DEFAULT_PID_FILE``
(systemd: ``PIDFile=``, ``ExecReload=kill -HUP $MAINPID``). SIGHUP's default action ends
a process, so a signal is sent only to a process that has a SIGHUP handler installed (read
from ``/proc/PID/status``): an older daemon without one is left running and the installer
is told to restart it instead. When no daemon is found, the message gives the command to
run (``systemctl reload edge-app``), never an error: saving the file is what matters.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PID_FILE = Path("/run/edge-app/edge-app.pid")
"""Where the daemon writes its pid (``RuntimeDirectory=edge-app`` in its systemd unit)."""

SERVICE_RELOAD = "sudo systemctl reload edge-app"
SERVICE_RESTART = "sudo systemctl restart edge-app"


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What happened when asking the daemon to reload: ``signalled`` and a message for people."""

    signalled: bool
    message: str


def _proc_status(pid: int) -> dict[str, str] | None:
    """``/proc/PID/status`` as a dict; ``None`` when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def catches_sighup(pid: int) -> bool | None:
    """Whether process ``pid`` has a SIGHUP handler; ``None`` when it does not exist."""
    status = _proc_status(pid)
    if status is None:
        return None
    caught = int(status.get("SigCgt", "0"), 16)
    return bool(caught >> (int(signal.SIGHUP) - 1) & 1)


def _is_edge_app(pid: int) -> bool:
    """Whether ``pid`` runs edge-app (a recycled pid from a stale pid file must be left alone)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"edge-app" in cmdline or b"edge_app" in cmdline


def _read_pid(pid_file: Path) -> int | ReloadResult:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ReloadResult(
            False,
            f"no running edge-app found ({pid_file} does not exist); if it runs as a "
            f"service elsewhere, run: {SERVICE_RELOAD}",
        )
    except OSError as exc:
        return ReloadResult(
            False, f"cannot read {pid_file} ({exc.strerror}); to reload, run: {SERVICE_RELOAD}"
        )
    if not text.isdigit() or int(text) <= 0:
        return ReloadResult(
            False, f"{pid_file} holds no pid ({text[:20]!r}); to reload, run: {SERVICE_RELOAD}"
        )
    return int(text)


def notify_daemon(pid: int | None = None, pid_file: Path | None = None) -> ReloadResult:
    """Send SIGHUP to the daemon so it reloads its zones, when that is safe.

    ``pid`` given explicitly is trusted to be the daemon; otherwise it is read from
    ``pid_file`` (default ``DEFAULT_PID_FILE``) and must be an edge-app process.
    """
    if pid is None:
        file = pid_file or DEFAULT_PID_FILE
        read = _read_pid(file)
        if isinstance(read, ReloadResult):
            return read
        pid = read
        if catches_sighup(pid) is None or not _is_edge_app(pid):
            return ReloadResult(
                False,
                f"{file} names pid {pid}, which is not a running edge-app (a stale pid "
                f"file); if it runs as a service, run: {SERVICE_RELOAD}",
            )
    handled = catches_sighup(pid)
    if handled is None:
        return ReloadResult(False, f"no process {pid}; to reload, run: {SERVICE_RELOAD}")
    if not handled:
        return ReloadResult(
            False,
            f"edge-app (pid {pid}) does not reload zones on SIGHUP; restart it to use the "
            f"new zones: {SERVICE_RESTART}",
        )
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return ReloadResult(False, f"edge-app (pid {pid}) has just ended; nothing to reload")
    except PermissionError:
        return ReloadResult(
            False,
            f"not allowed to signal edge-app (pid {pid}) as this user; run: {SERVICE_RELOAD}",
        )
    return ReloadResult(True, f"told edge-app (pid {pid}) to reload its zones (SIGHUP)")
