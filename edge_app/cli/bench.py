"""``edge-app bench``: the speed figures of docs/benchmarks.md, as ratios measured in one run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_app.tools.bench.run import DEFAULT_PARTS, BenchOptions, print_results, run_bench


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--only",
        action="append",
        choices=[*DEFAULT_PARTS, "fleet", "soak"],
        help="run only these parts (repeatable; default all but fleet and soak)",
    )
    p.add_argument(
        "--video",
        type=Path,
        help="video of the video parts (default: TUD-Stadtmitte from ../shared/data, "
        "else a clip of the synthetic shop)",
    )
    p.add_argument("--zones", type=Path, help="its zone file (needed with --video)")
    p.add_argument(
        "--cameras",
        type=int,
        action="append",
        help="camera counts for the cameras part (repeatable; default 1 2 4 8)",
    )
    p.add_argument("--window", type=float, default=6.0, help="seconds timed per camera count")
    p.add_argument("--passes", type=int, default=20, help="plays of the video for replay")
    p.add_argument(
        "--model-cameras",
        type=int,
        action="append",
        help="camera counts (= batch) for the models part (repeatable; default 1 4)",
    )
    p.add_argument(
        "--model",
        type=Path,
        help="MediaPipe selfie-segmentation ONNX model (default: ../shared/data's, else a "
        "stand-in of the same cost that bench writes itself)",
    )
    p.add_argument(
        "--threads",
        type=int,
        action="append",
        help="ONNX Runtime intra-op threads to try (repeatable; 0 = its own choice)",
    )
    p.add_argument("--frames", type=int, default=300, help="synthetic masks for analytics/peer")
    p.add_argument("--repeats", type=int, default=5, help="timed passes; the best counts")
    p.add_argument("--minutes", type=float, default=30.0, help="video minutes for memory")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate for memory")
    p.add_argument("--fleet-devices", type=int, default=1000, help="simulated stores (fleet)")
    p.add_argument("--fleet-events", type=int, default=20, help="events per store (fleet)")
    p.add_argument("--soak-runs", type=int, default=12, help="daemon runs (soak)")
    p.add_argument(
        "--soak-minutes", type=float, default=10.0, help="store minutes per daemon run (soak)"
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    p.set_defaults(func=cmd_bench, threads=None)


def cmd_bench(args: argparse.Namespace) -> int:
    results = run_bench(
        BenchOptions(
            parts=frozenset(args.only or DEFAULT_PARTS),
            video=args.video,
            zones=args.zones,
            model=args.model,
            threads=tuple(args.threads or (0, 1)),
            frames=args.frames,
            repeats=args.repeats,
            minutes=args.minutes,
            fps=args.fps,
            fleet_devices=args.fleet_devices,
            fleet_events=args.fleet_events,
            camera_counts=tuple(args.cameras or (1, 2, 4, 8)),
            window_s=args.window,
            replay_passes=args.passes,
            model_cameras=tuple(args.model_cameras or (1, 4)),
            soak_runs=args.soak_runs,
            soak_minutes=args.soak_minutes,
        )
    )
    print_results(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
