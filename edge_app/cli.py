"""The command line: the only face of edge-app.

Every expected failure (bad config, missing file, unreachable camera...) ends with one
``error:`` line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from shapely.geometry import Polygon

from edge_app import __version__
from edge_app.config import (
    AnalyticsConfig,
    AppConfig,
    BackgroundSegmenterConfig,
    OnnxSegmenterConfig,
    SegmenterConfig,
    load_config,
)
from edge_app.errors import ConfigError, EdgeAppError
from edge_app.zones import ZoneSet, load_zones

EXIT_USAGE = 2
EXIT_ERROR = 1

Handler = Callable[[argparse.Namespace], int]


def _print(text: str = "") -> None:
    print(text, flush=True)


# --- check ---------------------------------------------------------------------------


def describe_zones(zones: ZoneSet) -> list[str]:
    size = (
        f"{zones.frame_size[0]}x{zones.frame_size[1]} px" if zones.frame_size else "normalised 0..1"
    )
    frame_area = (zones.frame_size[0] * zones.frame_size[1]) if zones.frame_size else 1.0
    lines = [f"{zones.path}: camera {zones.camera!r}, {len(zones.zones)} zone(s), points in {size}"]
    for z in zones.zones:
        share = Polygon(z.polygon).area / frame_area
        opts = [
            f"{k}={v:g}"
            for k, v in (
                ("capacity", z.capacity),
                ("dwell_alert_s", z.dwell_alert_s),
                ("enter_after_s", z.enter_after_s),
                ("exit_after_s", z.exit_after_s),
            )
            if v is not None
        ]
        lines.append(
            f"  - {z.id:<20} {z.name!r}: {len(z.polygon)} points, "
            f"{share:.1%} of the frame" + (f", {', '.join(opts)}" if opts else "")
        )
    return lines


def load_camera_zones(config: AppConfig) -> dict[str, ZoneSet]:
    """Each camera's zones, checked to belong to that camera."""
    result = {}
    for i, cam in enumerate(config.cameras):
        zones = load_zones(cam.zones)
        if zones.camera != cam.id:
            raise ConfigError(
                str(cam.zones),
                "camera",
                f"says {zones.camera!r} but cameras[{i}] is {cam.id!r}",
                "point the camera at its own zone file or fix the id",
            )
        result[cam.id] = zones
    return result


def cmd_check(args: argparse.Namespace) -> int:
    if not args.config and not args.zones:
        raise ConfigError(
            "(command line)", None, "nothing to check", "give --config FILE and/or --zones FILE"
        )
    if args.config:
        config = load_config(args.config)
        zones = load_camera_zones(config)
        _print(f"{args.config}: OK")
        _print(
            f"  device {config.device_id!r}, segmenter {config.segmenter.type!r}, "
            f"store {config.store.path}"
        )
        mqtt = config.mqtt
        _print(
            f"  mqtt: {'off' if not mqtt.enabled else f'{mqtt.host}:{mqtt.port}'} "
            f"base topic {mqtt.base_topic.format(device_id=config.device_id)!r}"
        )
        for cam in config.cameras:
            _print(
                f"  camera {cam.id!r}: {cam.source.type} source, "
                f"{len(zones[cam.id].zones)} zone(s) from {cam.zones}"
            )
    for path in args.zones or ():
        for line in describe_zones(load_zones(path)):
            _print(line)
        _print("  OK")
    return 0


# --- replay --------------------------------------------------------------------------


def _segmenter_for(args: argparse.Namespace, config: AppConfig | None) -> SegmenterConfig:
    configured = config.segmenter if config else None
    choice = args.segmenter or (configured.type if configured else "background")
    if configured is not None and configured.type == choice:
        if args.model and isinstance(configured, OnnxSegmenterConfig):
            return configured.model_copy(update={"model": args.model.resolve()})
        return configured
    if choice == "background":
        return BackgroundSegmenterConfig()
    if choice == "onnxruntime":
        if not args.model:
            raise ConfigError(
                "(command line)",
                "--model",
                "the onnxruntime segmenter needs a model",
                "give --model FILE.onnx or a --config with segmenter.model",
            )
        return OnnxSegmenterConfig(model=args.model.resolve())
    raise ConfigError(
        "(command line)",
        "--segmenter",
        f"{choice!r} cannot be used for replay",
        "use background or onnxruntime",
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from edge_app.progress import ReplayProgress
    from edge_app.replay import run_replay

    config = load_config(args.config) if args.config else None
    zones = load_zones(args.zones)
    segmenter = _segmenter_for(args, config)
    analytics = config.analytics if config else AnalyticsConfig()
    if not args.video.is_file():
        raise ConfigError(str(args.video), None, "video file not found", "check the path")
    with contextlib.ExitStack() as stack:
        from edge_app.overlay import OverlayWriter

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
        )
    progress.print_summary(summary, args.out_dir)
    if args.overlay is not None:
        _print(f"overlay video: {args.overlay}")
    return 0


# --- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-app",
        description="Retail-analytics edge daemon: people per zone, dwell and events.",
    )
    parser.add_argument("--version", action="version", version=f"edge-app {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="validate a config and/or zone files and summarise them")
    p.add_argument("--config", type=Path, help="daemon config (YAML)")
    p.add_argument("--zones", type=Path, action="append", help="zone file (repeatable)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "replay", help="process a video file; write occupancy.csv, events.jsonl and summary.json"
    )
    p.add_argument("video", type=Path)
    p.add_argument("--zones", type=Path, required=True, help="zone file of the video's camera")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--config", type=Path, help="take segmenter and analytics settings from here")
    p.add_argument("--segmenter", choices=["background", "onnxruntime"])
    p.add_argument("--model", type=Path, help="ONNX model for --segmenter onnxruntime")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--overlay",
        type=Path,
        metavar="OUT.mp4",
        help="also write a video of the analysis: mask, zones with counts, feet, track ids",
    )
    p.set_defaults(func=cmd_replay)

    for register in _extra_commands():
        register(sub)
    return parser


Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _extra_commands() -> list[Register]:
    """Subcommands that live in their own modules (kept out of here to keep this small)."""
    from edge_app.app import add_run_commands
    from edge_app.bench import add_bench_command
    from edge_app.evaluation import add_eval_commands
    from edge_app.overlay import add_snapshot_command
    from edge_app.zone_editor.cli import add_zone_commands

    commands: list[Register] = [
        add_run_commands,
        add_eval_commands,
        add_bench_command,
        add_snapshot_command,
        add_zone_commands,
    ]
    try:
        from edge_app.engine_cli import add_engine_commands
    except ImportError:  # pragma: no cover - the engine tools ship with the Jetson backend
        pass
    else:
        commands.append(add_engine_commands)
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    handler: Handler = args.func
    try:
        return handler(args)
    except EdgeAppError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
