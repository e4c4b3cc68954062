"""``edge-app check``: validate a config (and its zone files) or zone files, and summarise."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.config import load_config
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
    for path in args.zones or ():
        for line in describe_zones(load_zones(path)):
            print(line)
        print("  OK")
    return 0
