"""``edge-app bench``: the speed figures of docs/benchmarks.md, as ratios measured in one run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_app.tools.bench.run import (
    DEFAULT_VIDEO,
    DEFAULT_ZONES,
    BenchOptions,
    print_results,
    run_bench,
)


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--only",
        action="append",
        choices=["pipeline", "analytics", "peer", "memory", "fleet", "soak"],
        help="run only these parts (repeatable; default all but fleet and soak)",
    )
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video for the pipeline part")
    p.add_argument("--zones", type=Path, default=DEFAULT_ZONES, help="its zone file")
    p.add_argument("--model", type=Path, help="selfie-segmentation ONNX model (default: shared)")
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
            parts=frozenset(args.only or ("pipeline", "analytics", "peer", "memory")),
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
            soak_runs=args.soak_runs,
            soak_minutes=args.soak_minutes,
        )
    )
    print_results(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
