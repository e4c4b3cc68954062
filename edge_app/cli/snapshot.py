"""``edge-app snapshot``: one analysed frame of a video, drawn, as a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.cli.common import add_segmenter_args, segmenter_for
from edge_app.config import AnalyticsConfig, load_config
from edge_app.config.zones import load_zones
from edge_app.tools.overlay import snapshot


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path)
    p.add_argument("--zones", type=Path, required=True, help="zone file of the video's camera")
    p.add_argument("--out", type=Path, required=True, metavar="OUT.png")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--frame", type=int, help="0-based frame index (default: the last)")
    which.add_argument("--at", type=float, metavar="SECONDS", help="first frame at this time")
    add_segmenter_args(p)
    p.set_defaults(func=cmd_snapshot)


def cmd_snapshot(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    zones = load_zones(args.zones)
    result = snapshot(
        args.video,
        zones,
        args.out,
        segmenter_for(args, config),
        config.analytics if config else AnalyticsConfig(),
        frame_index=args.frame,
        at_s=args.at,
    )
    counts = ", ".join(f"{s.zone}={s.count}" for s in result.analysis.states)
    print(f"wrote {args.out}: frame {result.frame.index}, t={result.frame.t:.2f} s, {counts}")
    return 0
