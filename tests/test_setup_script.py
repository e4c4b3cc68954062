"""scripts/setup.sh on systems it cannot serve: it stops at once and says what to use.

The script is run from a copy in a temporary folder (so no .venv is made in the
repository), with a PATH holding only stand-ins for the system's commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

TOOLS = ("dirname", "id", "awk", "env")


def _fake_system(tmp_path: Path, python_version: str, apt_candidate: str) -> dict[str, str]:
    """A copy of the scripts and a bin folder: python3 of ``python_version``, apt-cache
    offering ``apt_candidate``, an apt-get that only records its calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (bin_dir / tool).symlink_to(found)
    major, minor = (int(v) for v in python_version.split(".")[:2])
    scripts = {
        "python3": f"""#!/bin/bash
case "$1" in
    --version) echo "Python {python_version}" ;;
    -c) exit {int((major, minor) < (3, 10))} ;;
esac
""",
        "apt-cache": f"""#!/bin/bash
printf 'python3:\\n  Installed: (none)\\n  Candidate: {apt_candidate}\\n'
""",
        "apt-get": f"""#!/bin/bash
echo "$@" >> {tmp_path / "apt-get.calls"}
""",
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def _ensure_venv(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run(
        [bash, "-c", f"source {tmp_path / 'scripts' / 'setup.sh'}; ensure_venv dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_3_9_stops_at_once_naming_the_supported_versions(tmp_path: Path) -> None:
    env = _fake_system(tmp_path, "3.9.2", "3.9.2-3")
    result = _ensure_venv(tmp_path, env)
    assert result.returncode == 1
    assert "edge-app needs Python >= 3.10: Debian 12 (3.11), Ubuntu 22.04" in result.stderr
    assert "(this system has Python 3.9.2)" in result.stderr
    assert "install Python 3.10 or newer" in result.stderr
    assert not (tmp_path / "apt-get.calls").exists()  # Python 3.9 is not installed first
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs only as root or with sudo")
def test_a_new_enough_python_from_apt_is_installed(tmp_path: Path) -> None:
    env = _fake_system(tmp_path, "3.9.2", "3.11.2-1+b1")
    result = _ensure_venv(tmp_path, env)
    calls = (tmp_path / "apt-get.calls").read_text().splitlines()
    assert "install -y -qq python3 python3-venv" in calls
    # The stand-in apt-get installs nothing, so the script still finds no Python >= 3.10.
    assert result.returncode == 1
    assert "edge-app needs Python >= 3.10" in result.stderr
