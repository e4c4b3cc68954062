"""Talking to systemd: ``sd_notify`` over ``$NOTIFY_SOCKET`` and the watchdog settings.

A unit with ``Type=notify`` waits for ``READY=1`` before it counts the service as started;
``WatchdogSec=`` makes systemd restart the service when ``WATCHDOG=1`` stops arriving;
``STATUS=`` is the one line ``systemctl status`` shows; ``STOPPING=1`` says a stop began.
The protocol is one datagram per message on an ``AF_UNIX`` socket, so it is implemented
here in a few lines rather than with a library. Outside systemd (no ``$NOTIFY_SOCKET``)
every call does nothing, so the daemon runs the same from a terminal.

Example::

    notifier = Notifier.from_environment()
    notifier.ready("2/2 cameras up")
    interval = watchdog_interval_s()      # None when no watchdog is configured
    notifier.watchdog()
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _socket_address(raw: str) -> str | bytes:
    # A leading '@' names a socket in the abstract namespace (a NUL byte on the wire).
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


class Notifier:
    """Sends ``sd_notify`` messages; a no-op when ``address`` is ``None``.

    Failures to send are logged once and otherwise ignored: losing a status line must never
    stop the daemon (a lost watchdog ping is what the watchdog is for).
    """

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._warned = False
        if address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier for ``$NOTIFY_SOCKET`` (absent: a no-op notifier)."""
        environ = os.environ if env is None else env
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (keys upper-cased); True when the datagram went out."""
        if self._sock is None or self.address is None:
            return False
        # STATUS is free text: a newline in it would start a bogus field.
        text = "\n".join(
            f"{key.upper()}={str(value).replace(chr(10), ' ')}" for key, value in fields.items()
        )
        try:
            self._sock.sendto(text.encode(), _socket_address(self.address))
        except OSError as exc:
            if not self._warned:
                log.warning("systemd notify socket %s: %s", self.address, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The service is up: cameras opened, model warm (``READY=1``)."""
        if status is None:
            return self.notify(ready=1, mainpid=os.getpid())
        return self.notify(ready=1, mainpid=os.getpid(), status=status)

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def watchdog(self) -> bool:
        """One keep-alive ping (``WATCHDOG=1``); send only while really making progress."""
        return self.notify(watchdog=1)

    def stopping(self, status: str | None = None) -> bool:
        if status is None:
            return self.notify(stopping=1)
        return self.notify(stopping=1, status=status)

    def reloading(self, status: str) -> bool:
        return self.notify(reloading=1, status=status)

    def reloaded(self, status: str) -> bool:
        """A reload finished (systemd expects ``READY=1`` after ``RELOADING=1``)."""
        return self.notify(ready=1, status=status)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to finish starting or stopping (``EXTEND_TIMEOUT_USEC``)."""
        return self.notify(extend_timeout_usec=int(seconds * 1_000_000))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """systemd's watchdog timeout for this process in seconds, or ``None`` when off.

    ``$WATCHDOG_USEC`` is set by ``WatchdogSec=``; ``$WATCHDOG_PID``, when set, must be
    this process (otherwise the variable was inherited from a parent and is not ours).
    Ping at half this interval, as sd_watchdog_enabled(3) advises.
    """
    environ = os.environ if env is None else env
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
    return value / 1_000_000 if value > 0 else None
