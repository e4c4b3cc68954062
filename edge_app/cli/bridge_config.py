"""``edge-app bridge-config``: the mosquitto bridge of a store's broker (docs/fleet.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edge_app.config import load_config
from edge_app.core.errors import ConfigError
from edge_app.fleet.bridge import render_bridge


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="the device's edge-app.yaml")
    p.add_argument(
        "--out",
        type=Path,
        help="write it here (mode 0600: it may hold the bridge's password) instead of stdout",
    )
    p.set_defaults(func=cmd_bridge_config)


def cmd_bridge_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    text = render_bridge(config, str(args.config))
    if args.out is None:
        print(text, end="")
        return 0
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ConfigError(
            str(args.out), None, f"cannot write: {exc.strerror}", "check the folder"
        ) from exc
    print(f"wrote {args.out}")
    return 0
