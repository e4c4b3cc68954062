"""``edge-app install-service``: the systemd unit, the service user and /etc/edge-app."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_app.runtime.service import (
    ETC_TEMPLATE,
    UNIT_TEMPLATE,
    InstallPlan,
    default_executable,
    install,
)


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        help="lay the files out under this folder instead (no user or systemctl "
        "changes, only printed)",
    )
    p.add_argument("--user", default="edge-app", help="the service user (created if missing)")
    p.add_argument(
        "--executable", type=Path, help="the edge-app to run (default: the one beside this Python)"
    )
    p.add_argument("--unit", type=Path, help="unit template (default: systemd/edge-app.service)")
    p.add_argument("--enable", action="store_true", help="also enable and start the service")
    p.set_defaults(func=cmd_install_service)


def cmd_install_service(args: argparse.Namespace) -> int:
    plan = InstallPlan(
        root=args.root,
        user=args.user,
        executable=args.executable or default_executable(),
        unit_template=args.unit or UNIT_TEMPLATE,
        etc_template=ETC_TEMPLATE,
    )
    install(plan, enable=args.enable, say=lambda line: print(line, flush=True))
    return 0
