"""``edge-app events``: the newest events of a store, as JSON lines."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.tools.events import stored_events


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, required=True, help="the SQLite store (store.path)")
    p.add_argument("--limit", type=int, default=20, help="how many of the newest (default 20)")
    p.add_argument("--type", dest="event_type", help="only this event type, e.g. zone.exit")
    p.set_defaults(func=cmd_events)


def cmd_events(args: argparse.Namespace) -> int:
    for line in stored_events(args.store, args.limit, args.event_type):
        print(line)
    return 0
