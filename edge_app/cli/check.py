"""``edge-app check``: validate a config (and its zone files) or zone files, and summarise.

A ``tensorrt`` segmenter's model is resolved exactly as ``run`` resolves it (its DeepStream
nvinfer file read and checked, the model files it names looked at), and printed setting by
setting with where each came from; no GPU is needed for that.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.cli.common import resolve_segmenter_model
from edge_app.config import AppConfig, load_config
from edge_app.config.zones import describe_zones, load_camera_zones, load_zones
from edge_app.core.errors import ConfigError


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="daemon config (YAML)")
    p.add_argument("--zones", type=Path, action="append", help="zone file (repeatable)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    if not args.config and not args.zones:
        raise ConfigError(
            "(command line)", None, "nothing to check", "give --config FILE and/or --zones FILE"
        )
    if args.config:
        config = load_config(args.config)
        zones = load_camera_zones(config)
        model = _model_lines(config)
        print(f"{args.config}: OK")
        print(
            f"  device {config.device_id!r}, segmenter {config.segmenter.type!r}, "
            f"store {config.store.path}"
        )
        mqtt = config.mqtt
        print(
            f"  mqtt: {'off' if not mqtt.enabled else f'{mqtt.host}:{mqtt.port}'} "
            f"base topic {mqtt.base_topic.format(device_id=config.device_id)!r}"
        )
        for cam in config.cameras:
            print(
                f"  camera {cam.id!r}: {cam.source.type} source, "
                f"{len(zones[cam.id].zones)} zone(s) from {cam.zones}"
            )
        for line in model:
            print(f"  {line}")
    for path in args.zones or ():
        for line in describe_zones(load_zones(path)):
            print(line)
        print("  OK")
    return 0


def _model_lines(config: AppConfig) -> list[str]:
    """The tensorrt segmenter's resolved model; raises ``ConfigError`` as ``run`` would."""
    resolved = resolve_segmenter_model(config)
    if resolved is None:
        return []
    from edge_app.segmentation.tensorrt.nvinfer_resolve import describe_model

    lines = ["segmenter model:"]
    lines += [f"  {line}" for line in describe_model(resolved)]
    lines += [f"  warning: {w}" for w in [*resolved.warnings, *resolved.notes]]
    return lines
