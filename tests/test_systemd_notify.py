"""sd_notify over $NOTIFY_SOCKET, the watchdog settings, the pid file, journal logging."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_app.core.errors import ConfigError
from edge_app.runtime.health import WatchdogGate
from edge_app.runtime.logs import JournalFormatter, stderr_is_journal, syslog_priority
from edge_app.runtime.pidfile import PidFile, read_pid
from edge_app.runtime.systemd import Notifier, watchdog_interval_s
from tests.daemon_support import NotifySocket, wait_until


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


def test_messages_arrive_as_key_value_lines(notify: NotifySocket) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": notify.path})
    assert notifier.enabled
    assert notifier.ready("2/2 cameras up")
    assert notifier.watchdog()
    assert notifier.status("line one\nline two")
    assert notifier.stopping()
    assert wait_until(lambda: len(notify.snapshot()) == 4, 5)
    ready, ping, status, stopping = notify.snapshot()
    assert ready["READY"] == "1" and ready["MAINPID"] == str(os.getpid())
    assert ready["STATUS"] == "2/2 cameras up"
    assert ping["WATCHDOG"] == "1"
    assert status["STATUS"] == "line one line two"  # a newline would start a bogus field
    assert stopping["STOPPING"] == "1"
    notifier.close()


def test_abstract_namespace_sockets_are_supported() -> None:
    name = f"edge-app-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(b"\0" + name.encode())
        server.settimeout(5)
        notifier = Notifier(f"@{name}")
        assert notifier.watchdog()
        assert server.recv(100) == b"WATCHDOG=1"
        notifier.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False and notifier.watchdog() is False


def test_a_vanished_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False
    assert caplog.text.count("systemd notify socket") == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval_from_the_environment(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval_s(env) == expected


def test_watchdog_gate_pings_at_half_the_interval_only_while_healthy(
    notify: NotifySocket,
) -> None:
    gate = WatchdogGate(Notifier(notify.path), interval_s=2.0, hang_timeout_s=5.0)
    # (now, seconds the current batch has run, worker alive) -> pinged?
    steps = [
        ((0.0, 0.0, True), True),
        ((0.5, 0.0, True), False),  # too soon
        ((1.0, 0.0, True), True),
        ((2.5, 4.9, True), True),  # a slow batch, not yet a hung one
        ((4.0, 6.0, True), False),  # stuck longer than hang_timeout_s
        ((6.0, 8.0, True), False),
        ((8.0, 0.0, True), True),  # progress again
        ((10.0, 0.0, False), False),  # the worker died
    ]
    for (now, busy, alive), pinged in steps:
        assert gate.tick(now, busy, alive) is pinged, (now, busy, alive)
    assert gate.pings == 4 and not gate.healthy


def test_pid_file_holds_our_pid_and_is_removed_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "run" / "edge-app.pid"
    with PidFile(path):
        assert path.read_text() == f"{os.getpid()}\n"
        assert read_pid(path) == os.getpid()
    assert not path.exists()
    assert read_pid(path) is None


def test_pid_file_in_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="pid file"), PidFile(blocker / "edge-app.pid"):
        pass


@pytest.mark.parametrize(
    ("level", "priority"),
    [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3),
     (logging.CRITICAL, 2), (25, 6)],
)  # fmt: skip
def test_syslog_priorities(level: int, priority: int) -> None:
    assert syslog_priority(level) == priority


def test_journal_lines_carry_their_priority_on_every_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "edge_app.runtime.app", logging.ERROR, __file__, 1, "camera %s: offline", ("door",),
            sys.exc_info(),
        )  # fmt: skip
    lines = JournalFormatter().format(record).splitlines()
    assert lines[0] == "<3>edge_app.runtime.app: camera door: offline"
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)


def test_journal_stream_is_recognised_only_when_it_is_stderr() -> None:
    st = os.fstat(2)
    assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
    assert not stderr_is_journal({})
