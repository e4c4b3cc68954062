"""The command line run in this process, as ``edge-app ARGS`` runs in a shell.

Commands whose process itself matters (the daemon's signals and exit codes, systemd, a
SIGKILL, a fresh interpreter's imports) are still started as subprocesses in their tests.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import pytest

from edge_app.cli import main


@dataclass(frozen=True, slots=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    """What the command printed on stderr, then its log lines (the CLI logs to stderr)."""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """``edge-app ARGS``: its exit status and what it printed (``capsys`` captures it)."""
    capsys.readouterr()  # only this command's output
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)  # main()'s logging.basicConfig then leaves the root alone
    root.setLevel(logging.DEBUG if {"-v", "--verbose"} & set(args) else logging.INFO)
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse: --help, or a usage error
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    out, err = capsys.readouterr()
    return CliResult(code, out, err + log.getvalue())
