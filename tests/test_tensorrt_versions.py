"""TensorRT 8.6 (JetPack 6.0) and 10.x (JetPack 6.1/6.2) against the fakes of both; the
version check; TensorRT's refusals as clear errors; objects released in the CUDA context;
Ctrl-C during a build."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import PreprocessConfig, TensorRTSegmenterConfig
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.tensorrt.segmenter import TensorRTSegmenter
from tests.fakes import install_fake_gpu
from tests.fakes.onnx_models import bright_person_model
from tests.test_tensorrt_segmenter import _frames


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return bright_person_model(tmp_path / "people.onnx", size=(16, 24))


def _config(tmp_path: Path, model: Path, **changes: object) -> TensorRTSegmenterConfig:
    fields: dict[str, object] = {
        "onnx": model,
        "engine_cache_dir": tmp_path / "engines",
        "preprocess": PreprocessConfig(infer_dims=(3, 16, 24)),
        "batch_size": 2,
        **changes,
    }
    return TensorRTSegmenterConfig.model_validate(fields)


def _segment_once(tmp_path: Path, model: Path) -> list[np.ndarray]:
    seg = TensorRTSegmenter(_config(tmp_path, model))
    try:
        return [m.mask for m in seg.segment(_frames(3))]
    finally:
        seg.close()


@pytest.mark.parametrize("version", ["8.6.2", "10.3.0"])
def test_both_jetpack_6_tensorrt_versions_build_and_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, version: str
) -> None:
    gpu = install_fake_gpu(monkeypatch, tensorrt=version)
    masks = _segment_once(tmp_path, model)
    assert len(masks) == 3 and all(m.any() for m in masks)
    assert len(gpu.record.builds) == 1
    # On 8.6 the network is made with the explicit-batch flag: the fake's 8.6 ONNX parser,
    # like the real one, refuses an implicit-batch network.
    assert gpu.state.contexts_left_current() == 0


def test_on_8_6_the_build_says_it_reports_no_progress(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_fake_gpu(monkeypatch, tensorrt="8.6.2")
    with caplog.at_level(logging.INFO, logger="edge_app.segmentation.tensorrt.build"):
        _segment_once(tmp_path, model)
    assert any("TensorRT 8.6.2 reports no build progress" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("8.4.3", "TensorRT 8.4.3 is too old: edge-app needs TensorRT 8.6 (JetPack 6.0) or 10.x"),
        ("7.1.3", "TensorRT 7.1.3 is too old"),
        ("11.0.0", "TensorRT 11.0.0 is not supported yet: it has no FP16/INT8 builder flags"),
    ],
)
def test_unsupported_versions_are_refused_before_any_tensorrt_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, version: str, message: str
) -> None:
    gpu = install_fake_gpu(monkeypatch, tensorrt=version)
    with pytest.raises(SegmenterError, match=re.escape(message)):
        TensorRTSegmenter(_config(tmp_path, model))
    assert gpu.record.runtimes == gpu.record.builders == 0
    assert gpu.state.contexts_left_current() == 0


@pytest.mark.parametrize("version", ["8.5.3", "10.0.1", "10.7.0"])
def test_other_supported_versions_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path, version: str
) -> None:
    install_fake_gpu(monkeypatch, tensorrt=version)
    assert len(_segment_once(tmp_path, model)) == 3


def test_tensorrt_that_cannot_use_the_gpu_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    # What a TensorRT newer than the Jetson's driver logs before its TypeError.
    gpu.record.unusable = "CUDA driver version is insufficient for CUDA runtime version"
    with pytest.raises(SegmenterError) as err:
        TensorRTSegmenter(_config(tmp_path, model))
    text = str(err.value)
    assert text.startswith("TensorRT could not create its builder: ")
    assert "CUDA driver version is insufficient for CUDA runtime version" in text
    assert "this TensorRT matches the driver" in text
    assert isinstance(err.value.__cause__, TypeError)
    assert "factory function returned nullptr" in str(err.value.__cause__)
    assert gpu.state.contexts_left_current() == 0


def test_a_cached_engine_with_an_unusable_runtime_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    _segment_once(tmp_path, model)  # builds and caches the engine
    gpu.record.unusable = "CUDA initialization failure with error: 999"
    with pytest.raises(SegmenterError, match=r"could not create its runtime: .*error: 999"):
        TensorRTSegmenter(_config(tmp_path, model))


def test_plugins_that_do_not_load_are_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    gpu.record.plugins_ok = False
    with caplog.at_level(logging.WARNING):
        assert len(_segment_once(tmp_path, model)) == 3
    assert any(
        "plugin library could not be initialised (Could not load the plugin library" in r.message
        for r in caplog.records
    )


def test_a_rejected_calibration_profile_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    gpu.record.reject_calibration_profile = True
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"TRT-1003-EntropyCalibration2\n")
    cfg = _config(tmp_path, model, network_mode=1, calibration_cache=cache)
    with pytest.raises(SegmenterError, match="rejected the calibration profile for batch 2"):
        TensorRTSegmenter(cfg)
    assert gpu.record.builds == []
    assert gpu.state.live_device_bytes() == 0 and gpu.state.contexts_left_current() == 0


def test_tensorrt_objects_are_released_inside_the_cuda_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    _segment_once(tmp_path, model)  # build, run, close
    _segment_once(tmp_path, model)  # load the cached engine, run, close
    wrong = _config(tmp_path, model, preprocess=PreprocessConfig(infer_dims=(3, 32, 32)))
    wrong = wrong.model_copy(update={"engine": next((tmp_path / "engines").glob("*.engine"))})
    wrong = wrong.model_copy(update={"onnx": None})
    with pytest.raises(SegmenterError, match="cannot be used"):
        TensorRTSegmenter(wrong)  # an engine that does not fit is dropped
    assert gpu.record.runtimes >= 3
    assert gpu.record.released_outside_context == []


def test_ctrl_c_during_a_build_stops_it_at_tensorrts_next_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    cancel = threading.Event()

    class CtrlC:
        """Presses Ctrl-C at the first step, then holds the build until it is cancelled."""

        def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
            pass

        def step(self, phase: str, step: int) -> None:
            if step == 0:
                os.kill(os.getpid(), signal.SIGINT)
                assert cancel.wait(10)

        def phase_finish(self, phase: str) -> None:
            pass

    with pytest.raises(KeyboardInterrupt):
        TensorRTSegmenter(_config(tmp_path, model), progress=CtrlC(), cancel=cancel)
    assert gpu.record.builds == []  # stopped, not built to the end
    assert not list((tmp_path / "engines").glob("*.engine"))
    assert gpu.state.contexts_left_current() == 0 and gpu.state.live_device_bytes() == 0
