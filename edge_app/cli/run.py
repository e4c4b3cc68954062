"""``edge-app run``: the daemon."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.preflight import load_checked_config
from edge_app.runtime.daemon import run_app
from edge_app.runtime.logs import configure_daemon_logging

EXIT_STOPPED_UNCLEANLY = 1


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the MQTT outbox to drain at the end",
    )
    p.add_argument(
        "--pid-file",
        type=Path,
        help="write the pid here (the unit uses /run/edge-app/edge-app.pid); "
        "SIGHUP to it reloads the zone files",
    )
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    # Exactly what ``edge-app check`` validates, before anything is opened.
    config = load_checked_config(args.config)
    configure_daemon_logging("DEBUG" if args.verbose else config.log_level)
    app = run_app(
        config, drain_timeout_s=args.drain_timeout, pid_file=args.pid_file, stop_guard=True
    )
    return 0 if app.healthy_stop else EXIT_STOPPED_UNCLEANLY
