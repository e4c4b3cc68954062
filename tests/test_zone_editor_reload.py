"""Telling the daemon to reload: SIGHUP only to an edge-app process that handles it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_app.zone_editor.reload import catches_sighup, notify_daemon

# A stand-in daemon: the name edge_app in its command line, like the real one, and an
# optional SIGHUP handler that reports each reload on stdout. The handler writes with
# os.write, not print: the signal may arrive while print("ready") still holds stdout's
# buffer, and a buffered write from the handler would then raise "reentrant call".
CHILD = """
import os, signal, sys, time  # edge_app daemon stand-in
if sys.argv[1] == "handler":
    signal.signal(signal.SIGHUP, lambda s, f: os.write(1, b"reloaded\\n"))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def daemon(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, request.param],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)


@pytest.mark.parametrize("daemon", ["handler"], indirect=True)
def test_sighup_goes_to_a_daemon_that_handles_it(
    daemon: subprocess.Popen[str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "edge-app.pid"
    pid_file.write_text(f"{daemon.pid}\n")
    result = notify_daemon(pid_file=pid_file)
    assert result.signalled
    assert result.message == f"told edge-app (pid {daemon.pid}) to reload its zones (SIGHUP)"
    assert daemon.stdout is not None and daemon.stdout.readline() == "reloaded\n"
    assert daemon.poll() is None


@pytest.mark.parametrize("daemon", ["plain"], indirect=True)
def test_a_daemon_without_a_handler_is_not_killed(daemon: subprocess.Popen[str]) -> None:
    assert catches_sighup(daemon.pid) is False
    result = notify_daemon(pid=daemon.pid)
    assert not result.signalled
    assert "does not reload zones on SIGHUP" in result.message
    assert "systemctl restart edge-app" in result.message
    assert daemon.poll() is None


def test_a_pid_file_naming_another_program_is_stale(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = tmp_path / "edge-app.pid"
        pid_file.write_text(str(other.pid))
        result = notify_daemon(pid_file=pid_file)
        assert not result.signalled and "stale pid file" in result.message
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(timeout=10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist); if it runs as a service elsewhere, run: sudo systemctl reload"),
        ("not-a-pid", "holds no pid"),
        ("999999999", "stale pid file"),
    ],
)
def test_no_daemon_gives_the_command_to_run(
    tmp_path: Path, content: str | None, message: str
) -> None:
    pid_file = tmp_path / "edge-app.pid"
    if content is not None:
        pid_file.write_text(content)
    result = notify_daemon(pid_file=pid_file)
    assert not result.signalled and message in result.message
