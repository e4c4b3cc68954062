"""The systemd unit: settings the product needs, ``systemd-analyze verify`` clean, exposure
at most 2.5 by ``systemd-analyze security --offline=yes``; and ``install-service``."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_app.cli import main
from edge_app.config import load_config
from edge_app.config.zones import load_camera_zones
from edge_app.runtime.service import (
    ETC_TEMPLATE,
    TEMPLATE_EXEC,
    UNIT_TEMPLATE,
    home_dropin,
    render_unit,
)

EXPOSURE_TARGET = 2.5
EXECUTABLE = Path(sys.prefix) / "bin" / "edge-app"


def unit_settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit's [Service] section, repeated keys kept in order."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    values: dict[str, list[str]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd)")
    return tool


@pytest.fixture
def rendered_unit(tmp_path: Path) -> Path:
    """The unit as install-service writes it (ExecStart must name an existing file)."""
    text = render_unit(UNIT_TEMPLATE.read_text(), EXECUTABLE, "edge-app")
    path = tmp_path / "edge-app.service"
    path.write_text(text)
    return path


def test_the_unit_has_what_the_service_needs() -> None:
    s = unit_settings(UNIT_TEMPLATE.read_text())
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"]
    assert s["WatchdogSec"] and s["TimeoutStopSec"]
    assert s["User"] == ["edge-app"] and s["SupplementaryGroups"] == ["video"]
    assert s["StateDirectory"] == ["edge-app"] and s["ConfigurationDirectory"] == ["edge-app"]
    assert s["LoadCredential"] == ["edge-app:/etc/edge-app/credentials"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    exec_start = s["ExecStart"][0]
    assert exec_start.startswith(TEMPLATE_EXEC + " run --config /etc/edge-app/edge-app.yaml")
    assert "--pid-file /run/edge-app/edge-app.pid" in exec_start
    assert s["RuntimeDirectory"] == ["edge-app"]
    # Cameras and the GPU stay usable: devices are not hidden, only restricted.
    assert s["PrivateDevices"] == ["no"] and s["DevicePolicy"] == ["closed"]
    assert "char-video4linux rw" in s["DeviceAllow"]
    assert any(d.startswith("char-nvhost") for d in s["DeviceAllow"])


def test_the_stop_fits_inside_the_stop_timeout() -> None:
    from edge_app.runtime.daemon import STOP_BUDGET_S

    s = unit_settings(UNIT_TEMPLATE.read_text())
    drain = float(re.search(r"--drain-timeout (\d+)", s["ExecStart"][0]).group(1))  # type: ignore[union-attr]
    stop_timeout = float(s["TimeoutStopSec"][0].removesuffix("s"))
    assert drain + STOP_BUDGET_S < stop_timeout


def test_systemd_analyze_verify_is_clean(rendered_unit: Path) -> None:
    tool = systemd_analyze()
    result = subprocess.run(
        [tool, "verify", str(rendered_unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def exposure(tool: str, unit: Path) -> float:
    result = subprocess.run(
        [tool, "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0 and "offline" in result.stderr:
        pytest.skip(f"this systemd-analyze has no security --offline: {result.stderr.strip()}")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


def test_exposure_meets_the_target(rendered_unit: Path) -> None:
    tool = systemd_analyze()
    score = exposure(tool, rendered_unit)
    print(f"systemd-analyze security --offline=yes: exposure {score}")
    assert score <= EXPOSURE_TARGET


def test_the_home_folder_dropin_keeps_the_target(rendered_unit: Path) -> None:
    tool = systemd_analyze()
    dropin_dir = rendered_unit.parent / "edge-app.service.d"
    dropin_dir.mkdir()
    (dropin_dir / "10-home.conf").write_text(home_dropin([Path(sys.prefix)]))
    result = subprocess.run(
        [tool, "verify", str(rendered_unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert exposure(tool, rendered_unit) <= EXPOSURE_TARGET


def test_the_config_template_is_valid() -> None:
    config = load_config(ETC_TEMPLATE / "edge-app.yaml")
    assert set(load_camera_zones(config)) == {c.id for c in config.cameras}
    assert str(config.store.path).startswith("/var/lib/edge-app/")


def test_install_service_lays_out_etc_and_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    assert main(["install-service", "--root", str(root), "--executable", str(EXECUTABLE)]) == 0
    out = capsys.readouterr().out
    unit = root / "etc/systemd/system/edge-app.service"
    settings = unit_settings(unit.read_text())
    assert settings["ExecStart"][0].startswith(f"{EXECUTABLE} run ")
    config = root / "etc/edge-app/edge-app.yaml"
    assert config.read_text() == (ETC_TEMPLATE / "edge-app.yaml").read_text()
    assert (root / "etc/edge-app/zones/entrance.yaml").exists()
    credentials = root / "etc/edge-app/credentials"
    assert credentials.is_dir() and credentials.stat().st_mode & 0o777 == 0o700
    # Only printed under --root: the user and systemctl steps.
    assert re.search(r"run\s+(useradd|usermod) .*edge-app", out)
    assert "run       systemctl daemon-reload" in out

    config.write_text(config.read_text() + "\n# local edit\n")
    assert main(["install-service", "--root", str(root), "--executable", str(EXECUTABLE)]) == 0
    assert config.read_text().endswith("# local edit\n")  # never overwritten
    assert "kept" in capsys.readouterr().out


def test_install_service_refuses_a_missing_executable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["install-service", "--root", str(tmp_path), "--executable", "/nonexistent/x"])
    assert code == 1
    assert "edge-app executable not found" in capsys.readouterr().err
