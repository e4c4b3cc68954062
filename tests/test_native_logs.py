"""OpenCV's and FFmpeg's own messages while an RTSP camera is offline: quiet unless -v.

They go to stderr past Python's logging, a few lines on every reconnect attempt, next to
the daemon's own one-line reason; ``edge-app`` sets their levels before the first capture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.mqtt_broker import free_port

NATIVE = ("[tcp @", "[ WARN:", "Connection refused")


def _offline_camera_run(tmp_path: Path, *flags: str) -> str:
    """stderr of ``edge-app [flags] run`` with one RTSP camera nobody serves, for 4 s."""
    (tmp_path / "zones.yaml").write_text(
        "camera: door\nzones:\n  - id: a\n    polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]\n"
    )
    config = tmp_path / "edge-app.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cameras": [
                    {
                        "id": "door",
                        "source": {"type": "rtsp", "url": f"rtsp://127.0.0.1:{free_port()}/s"},
                        "zones": "zones.yaml",
                    }
                ],
                "store": {"path": str(tmp_path / "edge-app.db")},
                "mqtt": {"enabled": False},
                "daemon": {"stall_timeout_s": 1.0, "reconnect_min_s": 0.2, "reconnect_max_s": 0.4},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_app", *flags, "run", "--config", str(config)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4.0)  # several reconnect attempts
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    return err


@pytest.mark.slow
def test_an_offline_camera_logs_its_reason_without_native_noise(tmp_path: Path) -> None:
    err = _offline_camera_run(tmp_path)
    assert "camera door: offline" in err
    assert not [line for line in err.splitlines() if any(n in line for n in NATIVE)], err


@pytest.mark.slow
def test_verbose_keeps_the_native_messages(tmp_path: Path) -> None:
    err = _offline_camera_run(tmp_path, "-v")
    assert any(n in err for n in NATIVE), err
