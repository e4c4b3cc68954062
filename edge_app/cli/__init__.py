"""The command line: the only face of edge-app.

One module per command, imported only when that command runs, so ``edge-app --help``
answers at once. Every expected failure (bad config, missing file, unreachable camera...)
ends with ``error:`` lines on stderr (one per problem: a config with three bad values
gets three) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from edge_app import __version__

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "validate a config and/or zone files and summarise them"),
    "run": ("run", "run the configured cameras (the daemon)"),
    "demo": (
        "demo",
        "the whole product on a built-in synthetic store camera, compared with its exact truth",
    ),
    "replay": (
        "replay",
        "process a video file; write occupancy.csv, events.jsonl and summary.json",
    ),
    "snapshot": (
        "snapshot",
        "one analysed frame of a video as a PNG: mask, zones with counts, feet, track ids",
    ),
    "eval": (
        "eval",
        "replay footage with ground truth and report count, occupancy, visit and dwell "
        "accuracy per zone",
    ),
    "events": ("events", "print the newest events of a store as JSON lines"),
    "zones": (
        "zones",
        "draw and edit a camera's zones in a browser, or import them from nvdsanalytics",
    ),
    "bench": ("bench", "measure pipeline efficiency, analytics cost and memory"),
    "engine": ("engine", "build or inspect TensorRT engines (Jetson)"),
    "collect": (
        "collect",
        "the central collector: every device's events from MQTT into PostgreSQL, exactly once",
    ),
    "bridge-config": (
        "bridge_config",
        "print the mosquitto bridge a store's broker needs to forward this device to the "
        "central broker",
    ),
    "report": (
        "report",
        "an HTML report (occupancy, visits, dwell) from the central database or a device's SQLite",
    ),
    "install-service": (
        "service",
        "install the systemd unit, the edge-app user and /etc/edge-app (as root)",
    ),
}
"""Command name -> (module under ``edge_app.cli``, one-line help). Each module has
``register(parser)``, which adds the command's arguments and its handler as ``func``."""

Handler = Callable[[argparse.Namespace], int]


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``chosen`` command's module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="edge-app",
        description="Retail-analytics edge daemon: people per zone, dwell and events.",
    )
    parser.add_argument("--version", action="version", version=f"edge-app {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(f"edge_app.cli.{module}").register(p)
    return parser


NO_OPENCV = (
    "error: OpenCV (the cv2 module) cannot be imported. On a Jetson edge-app uses JetPack's "
    "own: apt-get install python3-opencv, in a venv made with --system-site-packages "
    "(docs/jetson.md); elsewhere: pip install opencv-python-headless"
)


NATIVE_LOG_LEVELS = {
    # OpenCV's own log: errors only (its warnings repeat on every reconnect attempt).
    "OPENCV_LOG_LEVEL": "ERROR",
    # FFmpeg's, as OpenCV passes it on: fatal only (8 = AV_LOG_FATAL).
    "OPENCV_FFMPEG_LOGLEVEL": "8",
}
"""OpenCV and FFmpeg write to stderr past Python's logging; while an RTSP camera is offline
they print a few lines on every attempt ("Connection refused", "can't be used to capture
by name") next to the daemon's own one-line reason. They are quieted unless ``-v`` is given
or these variables are set; both are read once, before the first capture, so here."""


def quiet_native_logs(words: Sequence[str]) -> None:
    """Set ``NATIVE_LOG_LEVELS`` as defaults of the environment, unless verbose."""
    if "-v" in words or "--verbose" in words:
        return
    for name, value in NATIVE_LOG_LEVELS.items():
        os.environ.setdefault(name, value)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    quiet_native_logs(words)
    try:
        parser = build_parser(_chosen_command(words))
    except ModuleNotFoundError as exc:
        if exc.name != "cv2":
            raise
        # On a Jetson OpenCV is not a pip dependency (see pyproject.toml): say where it is.
        print(NO_OPENCV, file=sys.stderr)
        return EXIT_ERROR
    args = parser.parse_args(words)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    handler: Handler = args.func
    from edge_app.core.errors import ConfigError, EdgeAppError

    try:
        return handler(args)
    except ConfigError as exc:
        for problem in exc.problems:  # every bad value, one line each
            print(f"error: {problem}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except EdgeAppError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
