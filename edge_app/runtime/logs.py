"""Daemon logging: one line per event of interest, to stderr or the journal.

Under systemd, stderr is connected to journald (``$JOURNAL_STREAM`` names that stream):
each line then starts with its syslog priority (``<3>`` error ... ``<7>`` debug), which
journald turns into the entry's priority (``journalctl -p warning`` works), and carries no
timestamp of its own (the journal has one). In a terminal the usual
``time level logger: message`` format stays.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (levels between known ones round down)."""
    for level, priority in sorted(_PRIORITY.items(), reverse=True):
        if levelno >= level:
            return priority
    return 7


class JournalFormatter(logging.Formatter):
    """``<priority>logger: message``; every line of a traceback gets the same priority."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def stderr_is_journal(env: Mapping[str, str] | None = None) -> bool:
    """Whether stderr is the journal stream systemd connected (``$JOURNAL_STREAM``)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def configure_daemon_logging(level: str) -> None:
    """Set the root level and, under journald, the journal format on its handlers."""
    root = logging.getLogger()
    root.setLevel(level)
    if stderr_is_journal():
        for handler in root.handlers:
            handler.setFormatter(JournalFormatter())
