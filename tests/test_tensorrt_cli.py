"""``edge-app engine build`` / ``engine info`` run in-process against the fake GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_app.cli import main
from edge_app.segmentation.tensorrt.cache import sidecar_path
from tests.fakes import FakeGpu, install_fake_gpu
from tests.fakes.onnx_models import bright_person_model


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    return install_fake_gpu(monkeypatch)


def test_the_main_command_line_offers_the_engine_commands(
    gpu: FakeGpu, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"junk")
    assert main(["engine", "info", str(engine)]) == 1
    assert "error: TensorRT 10.3.0 cannot deserialize" in capsys.readouterr().err


def _write_config(tmp_path: Path, segmenter: dict[str, object]) -> Path:
    bright_person_model(tmp_path / "people.onnx")
    path = tmp_path / "edge-app.yaml"
    data = {
        "cameras": [{"id": "c1", "source": {"type": "synthetic"}, "zones": "zones.yaml"}],
        "segmenter": segmenter,
    }
    path.write_text(yaml.safe_dump(data))
    return path


TRT = {
    "type": "tensorrt",
    "onnx": "people.onnx",
    "engine_cache_dir": "engines",
    "preprocess": {"infer_dims": [3, 16, 16]},
    "batch_size": 2,
}


def test_engine_build_builds_once_then_reports_up_to_date(
    gpu: FakeGpu, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path, TRT)
    assert main(["engine", "build", "--config", str(config)]) == 0  # with the live display
    out = capsys.readouterr().out
    engines = list((tmp_path / "engines").glob("*.engine"))
    assert len(engines) == 1
    assert f"engine {engines[0]}: built in" in out
    assert "input  'input': FLOAT [-1, 3, 16, 16]" in out

    assert main(["engine", "build", "--config", str(config), "-q"]) == 0
    assert "already up to date" in capsys.readouterr().out
    assert main(["engine", "build", "--config", str(config), "-q", "--force"]) == 0
    assert len(gpu.record.builds) == 2


def test_engine_info_prints_the_key_and_the_bindings(
    gpu: FakeGpu, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path, TRT)
    main(["engine", "build", "--config", str(config), "-q"])
    engine = next((tmp_path / "engines").glob("*.engine"))
    capsys.readouterr()
    assert main(["engine", "info", str(engine)]) == 0
    out = capsys.readouterr().out
    assert "built for: batch_size=2" in out and "tensorrt_version=10.3.0" in out
    assert "TensorRT 10.3.0, 1 optimisation profile(s)" in out
    assert "input  'input': FLOAT [-1, 3, 16, 16]  profile min [1, 3, 16, 16]" in out
    assert "output 'output': INT64 [-1, 1, 16, 16]" in out


def test_engine_info_on_a_corrupt_file_is_an_error_line(
    gpu: FakeGpu, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"junk")
    assert main(["engine", "info", str(engine)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: TensorRT 10.3.0 cannot deserialize")
    assert main(["engine", "info", str(tmp_path / "none.engine")]) == 1
    assert "not found" in capsys.readouterr().err


def test_engine_info_without_a_gpu_still_shows_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_fake_gpu(monkeypatch)
    config = _write_config(tmp_path, TRT)
    main(["engine", "build", "--config", str(config), "-q"])
    engine = next((tmp_path / "engines").glob("*.engine"))
    assert sidecar_path(engine).is_file()
    install_fake_gpu(monkeypatch, driver=False)
    capsys.readouterr()
    assert main(["engine", "info", str(engine)]) == 1
    captured = capsys.readouterr()
    assert "compute_capability=8.7" in captured.out
    assert "cannot list the engine's tensors without a GPU" in captured.err


@pytest.mark.parametrize(
    ("segmenter", "message"),
    [
        ({"type": "background"}, "segmenter.type: is 'background', not 'tensorrt'"),
        ({**TRT, "runtime": "onnxruntime"}, "segmenter.runtime: is onnxruntime"),
    ],
)
def test_engine_build_rejects_other_segmenters(
    gpu: FakeGpu,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    segmenter: dict[str, object],
    message: str,
) -> None:
    config = _write_config(tmp_path, segmenter)
    assert main(["engine", "build", "--config", str(config)]) == 1
    assert message in capsys.readouterr().err


def test_engine_build_without_a_gpu_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = install_fake_gpu(monkeypatch, driver=False)
    config = _write_config(tmp_path, TRT)
    assert main(["engine", "build", "--config", str(config)]) == 1
    assert "needs pycuda and an NVIDIA driver" in capsys.readouterr().err
    assert fake.record.runtimes == 0
