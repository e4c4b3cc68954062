"""``edge-app install-service``: the systemd unit, the edge-app user and /etc/edge-app.

What it does, in order (each step is printed; ``--root DIR`` lays the files out under DIR
and only prints the user and systemctl steps, for packaging or a look first):

1. the ``edge-app`` system user (no login, home /var/lib/edge-app) in the ``video`` group
   (and ``render`` where it exists): cameras and the Jetson GPU;
2. /etc/edge-app with the example config and zone file (never overwritten), and
   /etc/edge-app/credentials (root only, 0700) for the secrets ``LoadCredential=`` loads;
3. /etc/systemd/system/edge-app.service from ``systemd/edge-app.service``, with ExecStart
   pointing at this installation's ``edge-app``; when that lives under /home or /root
   (hidden by ``ProtectHome=``), a drop-in binds it read-only into the sandbox;
4. ``systemctl daemon-reload`` (and ``enable --now`` with ``--enable``).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_app.core.errors import ConfigError, EdgeAppError

REPO = Path(__file__).resolve().parents[2]
UNIT_TEMPLATE = REPO / "systemd" / "edge-app.service"
ETC_TEMPLATE = REPO / "systemd" / "etc" / "edge-app"
TEMPLATE_EXEC = "/opt/edge-app/.venv/bin/edge-app"
UNIT_NAME = "edge-app.service"
HIDDEN_ROOTS = (Path("/home"), Path("/root"), Path("/run/user"))

Runner = Callable[[list[str]], None]


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """Where things go. ``root`` prefixes every path (``/`` for a real install)."""

    root: Path
    user: str
    executable: Path
    unit_template: Path = UNIT_TEMPLATE
    etc_template: Path = ETC_TEMPLATE

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


def default_executable() -> Path:
    """This installation's ``edge-app`` script (beside the running Python)."""
    return Path(sys.prefix) / "bin" / "edge-app"


def _hidden(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved == r or r in resolved.parents for r in HIDDEN_ROOTS)


def render_unit(template: str, executable: Path, user: str) -> str:
    """The unit text with ExecStart at ``executable`` and ``User``/``Group`` = ``user``."""
    if TEMPLATE_EXEC not in template:
        raise ConfigError(
            UNIT_TEMPLATE.name,
            "ExecStart",
            f"does not start {TEMPLATE_EXEC}",
            "restore systemd/edge-app.service from the source tree",
        )
    text = template.replace(TEMPLATE_EXEC, str(executable))
    return text.replace("User=edge-app", f"User={user}").replace("Group=edge-app", f"Group={user}")


def home_dropin(paths: list[Path]) -> str:
    """A drop-in that shows ``paths`` (read-only) inside ``ProtectHome=``'s sandbox."""
    binds = " ".join(str(p) for p in paths)
    return (
        "# Written by edge-app install-service: this installation lives under a home\n"
        "# folder, which ProtectHome= hides. Only these folders are shown, read-only.\n"
        "[Service]\nProtectHome=tmpfs\n"
        f"BindReadOnlyPaths={binds}\n"
    )


def _copy_tree_missing(src: Path, dst: Path, say: Callable[[str], None]) -> None:
    for item in sorted(src.rglob("*")):
        target = dst / item.relative_to(src)
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif target.exists():
            say(f"kept      {target} (already there)")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, target)
            target.chmod(0o644)
            say(f"wrote     {target}")


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def user_commands(user: str) -> list[list[str]]:
    """The commands that create ``user`` or add it to the device groups."""
    groups = ",".join(g for g in ("video", "render") if _group_exists(g)) or "video"
    try:
        pwd.getpwnam(user)
    except KeyError:
        nologin = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
        return [
            [
                "useradd",
                "--system",
                "--user-group",
                "--home-dir",
                "/var/lib/edge-app",
                "--no-create-home",
                "--shell",
                nologin,
                "--groups",
                groups,
                user,
            ]
        ]
    return [["usermod", "--append", "--groups", groups, user]]


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EdgeAppError(f"install-service: {' '.join(cmd)} failed: {exc}") from exc


def install(
    plan: InstallPlan,
    *,
    enable: bool = False,
    say: Callable[[str], None] = print,
    run: Runner = _run,
) -> None:
    """Lay out the service per ``plan``; commands run only for a real install (root /)."""
    real = plan.root == Path("/")
    if real and os.geteuid() != 0:
        raise EdgeAppError(
            "install-service needs root: sudo edge-app install-service "
            "(or --root DIR to lay the files out somewhere else)"
        )
    if not plan.executable.exists():
        raise ConfigError(
            str(plan.executable),
            None,
            "edge-app executable not found",
            "install edge-app into a venv first, or give --executable",
        )
    try:
        template = plan.unit_template.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(plan.unit_template),
            None,
            "unit template not readable",
            "run from the source checkout or give --unit",
        ) from exc
    for cmd in user_commands(plan.user):
        say(f"run       {' '.join(cmd)}")
        if real:
            run(cmd)

    etc = plan.path("/etc/edge-app")
    _copy_tree_missing(plan.etc_template, etc, say)
    credentials = etc / "credentials"
    credentials.mkdir(parents=True, exist_ok=True)
    credentials.chmod(0o700)
    say(f"ready     {credentials} (0700: one file per secret)")

    unit_dir = plan.path("/etc/systemd/system")
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit = unit_dir / UNIT_NAME
    unit.write_text(render_unit(template, plan.executable, plan.user), encoding="utf-8")
    unit.chmod(0o644)
    say(f"wrote     {unit}")
    hidden = sorted({p for p in (Path(sys.prefix), REPO) if _hidden(p)})
    dropin = unit_dir / f"{UNIT_NAME}.d" / "10-home.conf"
    if hidden:
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text(home_dropin(hidden), encoding="utf-8")
        say(
            f"wrote     {dropin} (the installation is under a home folder: "
            "/opt/edge-app is the better place)"
        )

    steps = [["systemctl", "daemon-reload"]]
    if enable:
        steps.append(["systemctl", "enable", "--now", "edge-app"])
    for cmd in steps:
        say(f"run       {' '.join(cmd)}")
        if real:
            run(cmd)
    say(
        "next      edit /etc/edge-app/edge-app.yaml and the zone files, then "
        + ("`systemctl restart edge-app`" if enable else "`systemctl enable --now edge-app`")
        + "; logs: journalctl -u edge-app -f"
    )
