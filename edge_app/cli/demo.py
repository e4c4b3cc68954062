"""``edge-app demo``: the whole product on the built-in synthetic store camera."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.tools.demo import run_demo


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=90.0, help="seconds of store time")
    p.add_argument("--no-live", action="store_true", help="no live table, only the result")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var"),
        help="each run writes a fresh SQLite store in STATE_DIR/demo (default var)",
    )
    p.add_argument(
        "--store",
        type=Path,
        help="continue this store instead (its unpublished events are published too)",
    )
    p.add_argument(
        "--mqtt",
        default="127.0.0.1:1883",
        metavar="HOST:PORT",
        help="the broker to publish to when it answers (default 127.0.0.1:1883); 'off': none",
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(
        duration_s=args.duration,
        live=not args.no_live,
        state_dir=args.state_dir,
        store=args.store,
        mqtt=None if args.mqtt == "off" else args.mqtt,
    )
