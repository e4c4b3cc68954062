"""The Jetson install path, resolved by pip itself: on a Jetson, installing edge-app keeps
JetPack's OpenCV (built with GStreamer, on NumPy 1) and NumPy 1; elsewhere it brings PyPI's
OpenCV. pip evaluates the ``'tegra' in platform_release`` markers of pyproject.toml with
the kernel release a Jetson reports (``5.15.148-tegra`` on JetPack 6.2), set for its run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

JETSON = "5.15.148-tegra"
PC = "6.1.0-28-amd64"

PIP = """
import platform, runpy, sys
release = sys.argv[1]
platform.release = lambda: release
sys.argv = ["pip", *sys.argv[2:]]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


def _resolve(tmp_path: Path, release: str, target: str) -> dict[str, str]:
    """What ``pip install TARGET`` would install on a machine with that kernel release:
    ``{name: version}``. Skips when the package index cannot answer."""
    report = tmp_path / f"report-{release}.json"
    result = subprocess.run(
        [sys.executable, "-c", PIP, release, "install", "--dry-run", "--ignore-installed",
         "--quiet", "--report", str(report), target],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        if "ResolutionImpossible" in result.stderr or "conflict" in result.stderr.lower():
            pytest.fail(f"pip cannot resolve {target} for {release}: {result.stderr[-2000:]}")
        pytest.skip(f"the package index did not answer pip's resolver: {result.stderr[-500:]}")
    data = json.loads(report.read_text())
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in data["install"]}


@pytest.mark.parametrize("extras", ["", "[metrics]"])
def test_on_a_jetson_pip_keeps_jetpacks_opencv_and_numpy_1(tmp_path: Path, extras: str) -> None:
    chosen = _resolve(tmp_path, JETSON, f"{REPO}{extras}")
    assert "edge-app" in chosen
    assert not any(name.startswith("opencv") for name in chosen), chosen
    assert chosen["numpy"].split(".")[0] == "1", chosen["numpy"]


def test_elsewhere_pip_installs_opencv(tmp_path: Path) -> None:
    chosen = _resolve(tmp_path, PC, str(REPO))
    assert "opencv-python-headless" in chosen
    assert "numpy" in chosen


def test_without_opencv_the_command_says_where_to_get_it() -> None:
    code = (
        "import sys; sys.modules['cv2'] = None\n"  # as a Jetson without python3-opencv
        "from edge_app.cli import main\n"
        "sys.exit(main(['replay', '--help']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 1
    assert "OpenCV (the cv2 module) cannot be imported" in result.stderr
    assert "apt-get install python3-opencv" in result.stderr
    assert "Traceback" not in result.stderr
