"""``edge-app check``: validate a config (and everything it names) or zone files, and
summarise them.

A config is checked by ``edge_app.preflight``, exactly as ``edge-app run`` checks it
before it opens anything; every problem is reported, one ``error:`` line each. A
``tensorrt`` segmenter's model is printed setting by setting as the daemon resolves it
(its DeepStream nvinfer file applied, what it leaves out read from the ONNX model), with
where each setting came from; no GPU is needed for that.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.config import AppConfig, TensorRTSegmenterConfig
from edge_app.config.zones import describe_zones, load_camera_zones, load_zones
from edge_app.core.errors import ConfigError, config_error
from edge_app.preflight import load_checked_config


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="daemon config (YAML)")
    p.add_argument("--zones", type=Path, action="append", help="zone file (repeatable)")
    p.set_defaults(func=cmd_check)


def _check_config(path: Path) -> None:
    config = load_checked_config(path)
    zones = load_camera_zones(config)
    print(f"{path}: OK")
    print(
        f"  device {config.device_id!r}, segmenter {config.segmenter.type!r}, "
        f"store {config.store.path}"
    )
    mqtt = config.mqtt
    base = mqtt.base_topic.replace("{device_id}", config.device_id)
    print(
        f"  mqtt: {'off' if not mqtt.enabled else f'{mqtt.host}:{mqtt.port}'} base topic {base!r}"
    )
    for cam in config.cameras:
        print(
            f"  camera {cam.id!r}: {cam.source.type} source, "
            f"{len(zones[cam.id].zones)} zone(s) from {cam.zones}"
        )
    for line in _model_lines(config):
        print(f"  {line}")


def _model_lines(config: AppConfig) -> list[str]:
    """A tensorrt segmenter's model as the daemon resolves it (already checked)."""
    if not isinstance(config.segmenter, TensorRTSegmenterConfig):
        return []
    from edge_app.segmentation.tensorrt.nvinfer_resolve import describe_model, resolve_model

    resolved = resolve_model(config.segmenter)
    lines = ["segmenter model:"]
    lines += [f"  {line}" for line in describe_model(resolved)]
    lines += [f"  warning: {w}" for w in [*resolved.warnings, *resolved.notes]]
    return lines


def cmd_check(args: argparse.Namespace) -> int:
    if not args.config and not args.zones:
        raise ConfigError(
            "(command line)", None, "nothing to check", "give --config FILE and/or --zones FILE"
        )
    problems: list[ConfigError] = []
    if args.config:
        try:
            _check_config(args.config)
        except ConfigError as exc:
            problems += exc.problems
    for path in args.zones or ():
        try:
            zones = load_zones(path)
        except ConfigError as exc:
            problems += exc.problems
            continue
        for line in describe_zones(zones):
            print(line)
        print("  OK")
    if problems:
        raise config_error(problems)
    return 0
