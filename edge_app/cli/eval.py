"""``edge-app eval``: replay footage with known truth; accuracy per zone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_app.cli.common import (
    add_cold_start_args,
    add_segmenter_args,
    cold_start_kwargs,
    segmenter_for,
)
from edge_app.config import AnalyticsConfig, SyntheticSourceConfig, load_config
from edge_app.config.zones import load_zones
from edge_app.core.errors import ConfigError
from edge_app.tools.demo import demo_zones_path
from edge_app.tools.evaluation.evaluate import evaluate_synthetic, evaluate_video
from edge_app.tools.evaluation.report import render_text


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, nargs="?", help="video file (with --gt)")
    p.add_argument("--zones", type=Path, help="zone file of the video's camera")
    p.add_argument("--gt", type=Path, help="ground truth in MOT format (gt.txt)")
    p.add_argument("--out-dir", type=Path, help="keep replay outputs and eval.json/eval.txt here")
    add_segmenter_args(p)
    p.add_argument(
        "--visit-iou", type=float, default=0.5, help="time overlap that matches two visits"
    )
    p.add_argument(
        "--warm-up",
        type=int,
        default=0,
        metavar="PASSES",
        help="play the video this many times before the measured pass (a camera that has "
        "been running: background and person size learned); default 0, a cold start",
    )
    p.add_argument(
        "--masks-from-truth",
        action="store_true",
        help="no segmenter: person masks drawn from the true boxes, to measure the counting "
        "alone (people who overlap still merge into one blob)",
    )
    add_cold_start_args(p)
    p.add_argument("--json", action="store_true", help="print the JSON report instead")
    g = p.add_argument_group("synthetic shop camera (exact truth)")
    g.add_argument("--synthetic", action="store_true", help="evaluate on the synthetic camera")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--duration", type=float, default=90.0, help="seconds of store time")
    g.add_argument("--people", type=int, default=8, help="people visiting during the run")
    g.add_argument("--fps", type=float, default=10.0)
    g.add_argument(
        "--start",
        type=float,
        default=0.0,
        metavar="S",
        help="shop time at the first frame: people already in view (a cold start while open)",
    )
    g.add_argument(
        "--standers", type=int, default=0, help="people standing at the shelves from the start"
    )
    g.add_argument("--dim-at", type=float, metavar="S", help="the lights change at S seconds")
    g.add_argument(
        "--dim-to", type=float, default=0.7, help="brightness after --dim-at (share of before)"
    )
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    segmenter = None if args.masks_from_truth else segmenter_for(args, config)
    analytics = config.analytics if config else AnalyticsConfig()
    cold = cold_start_kwargs(args)
    if args.synthetic:
        zones = load_zones(args.zones or demo_zones_path())
        scene = SyntheticSourceConfig(
            seed=args.seed,
            duration_s=args.duration,
            people=args.people,
            fps=args.fps,
            start_s=args.start,
            standers=args.standers,
            dim_at_s=args.dim_at,
            dim_to=args.dim_to,
        )
        report = evaluate_synthetic(
            scene, zones, segmenter, analytics, args.out_dir, visit_iou=args.visit_iou, **cold
        )
    else:
        if args.video is None or args.gt is None or args.zones is None:
            raise ConfigError(
                "(command line)",
                None,
                "eval needs VIDEO --zones ZONES.yaml --gt GT.txt",
                "or --synthetic for the built-in shop camera",
            )
        zones = load_zones(args.zones)
        report = evaluate_video(
            args.video,
            args.gt,
            zones,
            segmenter,
            analytics,
            args.out_dir,
            args.visit_iou,
            warm_up=args.warm_up,
            **cold,
        )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), flush=True)
    else:
        print(render_text(report), end="", flush=True)
        if args.out_dir is not None:
            print(f"wrote {args.out_dir / 'eval.json'} and {args.out_dir / 'eval.txt'}")
    return 0
