"""``edge-app replay``: every frame of a video through the pipeline, three files out."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from edge_app.cli.common import (
    add_cold_start_args,
    add_segmenter_args,
    cold_start_kwargs,
    segmenter_for,
)
from edge_app.config import AnalyticsConfig, load_config
from edge_app.config.zones import load_zones
from edge_app.core.errors import ConfigError
from edge_app.tools.overlay import OverlayWriter
from edge_app.tools.progress import ReplayProgress
from edge_app.tools.replay import run_replay


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path)
    p.add_argument("--zones", type=Path, required=True, help="zone file of the video's camera")
    p.add_argument("--out-dir", type=Path, required=True)
    add_segmenter_args(p)
    add_cold_start_args(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--overlay",
        type=Path,
        metavar="OUT.mp4",
        help="also write a video of the analysis: mask, zones with counts, feet, track ids",
    )
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    zones = load_zones(args.zones)
    segmenter = segmenter_for(args, config)
    analytics = config.analytics if config else AnalyticsConfig()
    cold = cold_start_kwargs(args)
    if not args.video.is_file():
        raise ConfigError(str(args.video), None, "video file not found", "check the path")
    with contextlib.ExitStack() as stack:
        overlay = OverlayWriter(args.overlay, zones) if args.overlay is not None else None
        sinks = [stack.enter_context(overlay)] if overlay is not None else []
        progress = stack.enter_context(ReplayProgress(args.video, quiet=args.quiet))
        summary = run_replay(
            args.video,
            zones,
            args.out_dir,
            segmenter,
            analytics,
            device_id=config.device_id if config else "replay",
            on_result=progress.update,
            extra_sinks=sinks,
            cold_at=() if cold["cold_at"] is None else (cold["cold_at"],),
            resegment=cold["resegment"],
        )
    progress.print_summary(summary, args.out_dir)
    if args.overlay is not None:
        print(f"overlay video: {args.overlay}", flush=True)
    return 0
