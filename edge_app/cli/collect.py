"""``edge-app collect``: the central collector (docs/fleet.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from edge_app.fleet.collector import Collector
from edge_app.fleet.config import load_collector_config
from edge_app.runtime.logs import configure_daemon_logging
from edge_app.runtime.systemd import Notifier

log = logging.getLogger(__name__)

EXIT_STOPPED_UNCLEANLY = 1


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="the collector's YAML file")
    p.add_argument(
        "--check", action="store_true", help="validate the config and exit (nothing connects)"
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="seconds to commit what was received at a stop",
    )
    p.set_defaults(func=cmd_collect)


def cmd_collect(args: argparse.Namespace) -> int:
    config = load_collector_config(args.config)
    if args.check:
        print(f"{args.config}: ok (collector {config.collector_id})")
        return 0
    configure_daemon_logging("DEBUG" if args.verbose else config.log_level)
    collector = Collector(config, notifier=Notifier.from_environment())

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        collector.request_stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
    try:
        collector.start()
        if not collector.stop_event.is_set():
            collector.run()
    finally:
        clean = collector.stop(args.drain_timeout)
    return 0 if clean else EXIT_STOPPED_UNCLEANLY
