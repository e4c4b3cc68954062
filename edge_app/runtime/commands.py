"""The daemon's subcommands: ``run``, ``demo`` and ``install-service``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edge_app.config import load_config

log = logging.getLogger(__name__)

EXIT_STOPPED_UNCLEANLY = 1


def cmd_run(args: argparse.Namespace) -> int:
    from edge_app.runtime.daemon import run_app
    from edge_app.runtime.logs import configure_daemon_logging

    config = load_config(args.config)
    configure_daemon_logging("DEBUG" if getattr(args, "verbose", False) else config.log_level)
    app = run_app(
        config, drain_timeout_s=args.drain_timeout, pid_file=args.pid_file, stop_guard=True
    )
    return 0 if app.healthy_stop else EXIT_STOPPED_UNCLEANLY


def cmd_demo(args: argparse.Namespace) -> int:
    from edge_app.demo import run_demo

    return run_demo(
        duration_s=args.duration,
        live=not args.no_live,
        state_dir=args.state_dir,
        mqtt=None if args.mqtt == "off" else args.mqtt,
    )


def cmd_install_service(args: argparse.Namespace) -> int:
    from edge_app.runtime.service import (
        ETC_TEMPLATE,
        UNIT_TEMPLATE,
        InstallPlan,
        default_executable,
        install,
    )

    plan = InstallPlan(
        root=args.root,
        user=args.user,
        executable=args.executable or default_executable(),
        unit_template=args.unit or UNIT_TEMPLATE,
        etc_template=ETC_TEMPLATE,
    )
    install(plan, enable=args.enable, say=lambda line: print(line, flush=True))
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the configured cameras (the daemon)")
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

    p = sub.add_parser(
        "demo",
        help="the whole product on a built-in synthetic store camera, "
        "compared with its exact truth",
    )
    p.add_argument("--duration", type=float, default=90.0, help="seconds of store time")
    p.add_argument("--no-live", action="store_true", help="no live table, only the result")
    p.add_argument("--state-dir", type=Path, default=Path("var"), help="where the SQLite file goes")
    p.add_argument(
        "--mqtt",
        default="127.0.0.1:1883",
        metavar="HOST:PORT",
        help="the broker to publish to when it answers (default 127.0.0.1:1883); 'off': none",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "install-service",
        help="install the systemd unit, the edge-app user and /etc/edge-app (as root)",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        help="lay the files out under this folder instead (no user or systemctl "
        "changes, only printed)",
    )
    p.add_argument("--user", default="edge-app", help="the service user (created if missing)")
    p.add_argument(
        "--executable", type=Path, help="the edge-app to run (default: the one beside this Python)"
    )
    p.add_argument("--unit", type=Path, help="unit template (default: systemd/edge-app.service)")
    p.add_argument("--enable", action="store_true", help="also enable and start the service")
    p.set_defaults(func=cmd_install_service)
