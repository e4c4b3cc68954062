"""The collector's systemd unit and example config: what the service needs,
``systemd-analyze verify`` clean, exposure within the daemon's target; the CLI's checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge_app.cli import main
from edge_app.fleet.config import load_collector_config
from edge_app.runtime.service import ETC_TEMPLATE, render_unit
from tests.test_systemd_unit import (
    EXECUTABLE,
    EXPOSURE_TARGET,
    exposure,
    systemd_analyze,
    unit_settings,
)

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "edge-app-collect.service"


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    path = tmp_path / "edge-app-collect.service"
    path.write_text(render_unit(UNIT.read_text(), EXECUTABLE, "edge-app"))
    return path


def test_the_unit_has_what_the_collector_needs() -> None:
    s = unit_settings(UNIT.read_text())
    assert s["Type"] == ["notify"] and s["Restart"] == ["always"]
    assert s["WatchdogSec"] and s["TimeoutStopSec"]
    assert s["ExecStart"][0].endswith(
        "collect --config /etc/edge-app/central.yaml --drain-timeout 10"
    )
    assert s["LoadCredential"] == ["edge-app:/etc/edge-app/credentials"]
    assert s["PrivateDevices"] == ["yes"]


def test_systemd_analyze_verify_and_exposure(rendered: Path) -> None:
    tool = systemd_analyze()
    result = subprocess.run(
        [tool, "verify", str(rendered)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    assert exposure(tool, rendered) <= EXPOSURE_TARGET


def test_the_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    path = ETC_TEMPLATE / "central.yaml"
    config = load_collector_config(path)
    assert config.mqtt.device_topic == "edge-app/{device_id}"
    assert main(["collect", "--config", str(path), "--check"]) == 0
    assert "ok (collector collector-1)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("database: {url: mysql://x/y}", "database.url: must start with postgresql://"),
        ("mqtt: {device_topic: edge-app/all}", "must contain {device_id} once"),
        ("ingest: {batch_max: 0}", "ingest.batch_max"),
        ("colector_id: x", "colector_id: unknown key"),
    ],
)
def test_a_bad_config_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "central.yaml"
    path.write_text(text + "\n")
    assert main(["collect", "--config", str(path), "--check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and message in err, err
