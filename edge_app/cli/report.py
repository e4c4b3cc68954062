"""``edge-app report``: an HTML report from the central database or a device's SQLite."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import create_engine

from edge_app.core.errors import ConfigError
from edge_app.fleet.database import database_url, describe
from edge_app.fleet.report import day_arg, read_report, render_html


def register(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--database", help="the central PostgreSQL, postgresql://USER@HOST:PORT/DATABASE"
    )
    source.add_argument("--sqlite", type=Path, help="one device's store (edge-app.db)")
    p.add_argument("--day", type=day_arg, help="YYYY-MM-DD (UTC); default: the latest with data")
    p.add_argument("--device", help="only this store (device id)")
    p.add_argument("--out", type=Path, default=Path("edge-app-report.html"), help="HTML file")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    if args.sqlite is not None:
        if not args.sqlite.is_file():
            raise ConfigError(str(args.sqlite), None, "file not found", "give a device's store")
        # Read-only: a report never changes a running daemon's store.
        engine = create_engine(f"sqlite:///file:{args.sqlite.resolve()}?mode=ro&uri=true")
        source = str(args.sqlite)
    else:
        url = database_url(args.database)
        engine = create_engine(url)
        source = describe(url)
    try:
        with engine.connect() as conn:
            data = read_report(conn, source, args.day, args.device)
    finally:
        engine.dispose()
    args.out.write_text(render_html(data), encoding="utf-8")
    zones = sum(len(s.zones) for s in data.stores.values())
    print(f"wrote {args.out}: {len(data.stores)} store(s), {zones} zone(s), {data.day} (UTC)")
    return 0
