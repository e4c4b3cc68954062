"""``edge-app check`` reads a tensorrt segmenter's nvinfer file and model as ``run`` does:
it prints what it resolved, and both refuse the same files with the same message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.nvinfer_fixtures import Layout, write_layout

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return write_layout(tmp_path_factory.mktemp("deepstream_tao_apps"))


def _app_config(tmp_path: Path, nvinfer: Path) -> Path:
    (tmp_path / "zones.yaml").write_text(
        "camera: c1\nzones:\n  - id: a\n    polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]\n"
    )
    data = {
        "cameras": [{"id": "c1", "source": {"type": "synthetic"}, "zones": "zones.yaml"}],
        "segmenter": {"type": "tensorrt", "nvinfer_config": str(nvinfer)},
        "store": {"path": str(tmp_path / "var" / "edge-app.db")},
        "mqtt": {"enabled": False},
    }
    path = tmp_path / "edge-app.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _edge_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_app", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )


def test_check_prints_the_resolved_model(layout: Layout, tmp_path: Path) -> None:
    config = _app_config(tmp_path, layout.configs["city-yml"])
    result = _edge_app("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{config}: OK" in out
    assert "segmenter model:" in out
    assert "C;H;W 3;1024;1024 (from the ONNX model: the file gives no infer-dims)" in out
    assert "scale y = 0.0173521 * (x - [123.675, 116.28, 103.53])" in out
    assert "output 'output': class map, HWC (from segmentation-output-order)" in out
    assert "person = class 11 ('person' in the labels file)" in out
    assert "precision FP16 (from network-mode), batch 1 (from batch-size)" in out
    assert "warning: " in out and "workspace-size=1048576" in out


@pytest.mark.parametrize("name", ["shuffle-txt", "vanilla-yml", "tlt-txt"])
def test_check_and_run_refuse_the_same_file_with_the_same_message(
    layout: Layout, tmp_path: Path, name: str
) -> None:
    config = _app_config(tmp_path, layout.configs[name])
    checked = _edge_app("check", "--config", str(config))
    ran = _edge_app("run", "--config", str(config))
    assert checked.returncode == ran.returncode == 1
    error = checked.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: {layout.configs[name]}: ")
    assert ran.stderr.strip().splitlines()[-1] == error
    assert not (tmp_path / "var").exists()  # run stopped before opening the store


def test_check_of_a_missing_nvinfer_file_fails(tmp_path: Path) -> None:
    config = _app_config(tmp_path, tmp_path / "none.txt")
    result = _edge_app("check", "--config", str(config))
    assert result.returncode == 1
    assert "none.txt: nvinfer config not found" in result.stderr
