"""The tensorrt segmenter end to end: same masks as the ONNX backend, builds, INT8, ORT EPs."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.config import (
    OnnxSegmenterConfig,
    OutputConfig,
    PreprocessConfig,
    TensorRTSegmenterConfig,
)
from edge_app.core.domain import Frame
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.base import create_segmenter
from edge_app.segmentation.onnx import OnnxSegmenter
from edge_app.segmentation.tensorrt.build import LogProgress
from edge_app.segmentation.tensorrt.ort_gpu import provider_options
from edge_app.segmentation.tensorrt.segmenter import TensorRTSegmenter
from tests.fakes import FakeGpu, install_fake_gpu
from tests.fakes.onnx_models import bright_person_model
from tests.fakes.tensorrt_build import CALIBRATION_CACHE_HEADER

PRE = PreprocessConfig(infer_dims=(3, 16, 24), maintain_aspect_ratio=True, symmetric_padding=True)


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    return install_fake_gpu(monkeypatch)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return bright_person_model(tmp_path / "people.onnx", size=(16, 24))


def _config(tmp_path: Path, model: Path, **changes: object) -> TensorRTSegmenterConfig:
    fields: dict[str, object] = {
        "onnx": model,
        "engine_cache_dir": tmp_path / "engines",
        "preprocess": PRE,
        "batch_size": 2,
    }
    fields.update(changes)
    return TensorRTSegmenterConfig.model_validate(fields)


def _frames(n: int, seed: int = 1) -> list[Frame]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        image = np.zeros((90, 160, 3), np.uint8)
        x, y = rng.integers(0, 120), rng.integers(0, 40)
        image[y : y + 50, x : x + 30] = 230
        frames.append(Frame("cam", i, i / 10, datetime(2024, 5, 1, tzinfo=timezone.utc), image))
    return frames


class RecordingProgress:
    def __init__(self, interrupt_at: int | None = None) -> None:
        self.events: list[tuple[str, ...]] = []
        self._lock = threading.Lock()
        self._interrupt_at = interrupt_at

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        with self._lock:
            self.events.append(("start", phase, str(parent), str(steps)))

    def step(self, phase: str, step: int) -> None:
        with self._lock:
            self.events.append(("step", phase, str(step)))
            if self._interrupt_at is not None and len(self.events) >= self._interrupt_at:
                raise KeyboardInterrupt

    def phase_finish(self, phase: str) -> None:
        with self._lock:
            self.events.append(("finish", phase))


# --- one code path with the ONNX backend ------------------------------------------------------


def test_masks_and_mappings_equal_the_onnx_backend(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    frames = _frames(5)
    onnx = OnnxSegmenter(OnnxSegmenterConfig(model=model, preprocess=PRE, batch_size=2))
    trt = create_segmenter(_config(tmp_path, model))
    try:
        assert isinstance(trt, TensorRTSegmenter) and trt.batch_size == 2
        expected = onnx.segment(frames)
        got = trt.segment(frames)
    finally:
        trt.close()
        onnx.close()
    assert len(got) == 5
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.mapping == b.mapping
        assert b.mask.sum() > 0
    assert got[0].mapping.offset_y > 0  # letterboxed: 160x90 into 24x16


def test_score_outputs_are_decoded_by_the_shared_decoder(gpu: FakeGpu, tmp_path: Path) -> None:
    scores = bright_person_model(tmp_path / "scores.onnx", size=(16, 24), output="scores")
    seg = TensorRTSegmenter(_config(tmp_path, scores, output=OutputConfig(form="scores")))
    try:
        masks = seg.segment(_frames(2))
    finally:
        seg.close()
    assert all(m.mask.dtype == np.uint8 and m.mask.sum() > 0 for m in masks)


def test_nvinfer_config_end_to_end(gpu: FakeGpu, tmp_path: Path, model: Path) -> None:
    (tmp_path / "labels.txt").write_text("background\nperson\n")
    nv = tmp_path / "nvinfer_config.txt"
    nv.write_text(
        "[property]\nonnx-file=people.onnx\nnet-scale-factor=0.007843\n"
        "offsets=127.5;127.5;127.5\nmodel-color-format=0\nlabelfile-path=labels.txt\n"
        "infer-dims=3;16;24\nbatch-size=2\nnetwork-mode=2\nnum-detected-classes=20\n"
    )
    cfg = TensorRTSegmenterConfig(nvinfer_config=nv, engine_cache_dir=tmp_path / "engines")
    seg = TensorRTSegmenter(cfg)
    try:
        assert seg.config.onnx == model and seg.batch_size == 2
        masks = seg.segment(_frames(3))
    finally:
        seg.close()
    assert [m.mask.shape for m in masks] == [(16, 24)] * 3


# --- building ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "flags"), [(0, []), (2, ["FP16"]), (1, ["FP16", "INT8"])])
def test_precision_workspace_and_profile_reach_the_builder(
    gpu: FakeGpu, tmp_path: Path, model: Path, mode: int, flags: list[str]
) -> None:
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i, frame in enumerate(_frames(4)):
        cv2.imwrite(str(frames_dir / f"{i}.jpg"), frame.image)
    cfg = _config(
        tmp_path,
        model,
        network_mode=mode,
        workspace_mb=256,
        batch_size=3,
        calibration_dir=frames_dir,
    )
    TensorRTSegmenter(cfg).close()
    build = gpu.record.builds[-1]
    assert build["flags"] == flags
    assert build["workspace"] == 256 << 20
    assert build["profiles"] == {"input": [[1, 3, 16, 24], [3, 3, 16, 24], [3, 3, 16, 24]]}


def test_a_workspace_beyond_the_gpus_memory_is_capped_there(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    # CitySemSegFormer's nvinfer file asks for workspace-size=1048576 (MiB): 1 TiB.
    TensorRTSegmenter(_config(tmp_path, model, workspace_mb=1 << 20)).close()
    assert gpu.record.builds[-1]["workspace"] == 7 * 1024**3  # the fake Orin's 7 GiB


def test_int8_calibrates_on_store_frames_then_reuses_the_cache(
    gpu: FakeGpu, tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames_dir = tmp_path / "frames"
    (frames_dir / "cam1").mkdir(parents=True)
    for i, frame in enumerate(_frames(7)):
        cv2.imwrite(str(frames_dir / "cam1" / f"{i:03d}.png"), frame.image)
    (frames_dir / "cam1" / "broken.jpg").write_bytes(b"not a jpeg")
    cache = tmp_path / "calib" / "people.calib"
    cfg = _config(
        tmp_path, model, network_mode=1, calibration_dir=frames_dir, calibration_cache=cache
    )
    with caplog.at_level(logging.WARNING):
        TensorRTSegmenter(cfg).close()
    # 7 readable frames in batches of 2: 3 whole batches; the unreadable file is skipped.
    assert gpu.record.builds[-1]["calibration_batches"] == 3
    assert cache.read_bytes().startswith(CALIBRATION_CACHE_HEADER)
    assert any("broken.jpg" in r.message for r in caplog.records)

    for f in (frames_dir / "cam1").iterdir():
        f.unlink()  # the frames are gone; the cache is enough from now on
    TensorRTSegmenter(
        _config(
            tmp_path,
            model,
            network_mode=1,
            batch_size=1,
            calibration_dir=frames_dir,
            calibration_cache=cache,
        )
    ).close()
    assert gpu.record.builds[-1]["calibration_batches"] == 0


def test_int8_calibration_frames_are_spread_over_the_folder(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i, frame in enumerate(_frames(10)):
        cv2.imwrite(str(frames_dir / f"{i:02d}.png"), frame.image)
    cfg = _config(
        tmp_path, model, network_mode=1, calibration_dir=frames_dir, calibration_max_frames=4
    )
    TensorRTSegmenter(cfg).close()
    assert gpu.record.builds[-1]["calibration_batches"] == 2


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        (None, "needs calibration frames"),
        ("missing", "does not exist"),
        ("one", "fewer than one batch of 2"),
    ],
)
def test_int8_without_usable_frames_is_a_clear_error(
    gpu: FakeGpu, tmp_path: Path, model: Path, calibration: str | None, message: str
) -> None:
    directory = None
    if calibration is not None:
        directory = tmp_path / calibration
        if calibration == "one":
            directory.mkdir()
            cv2.imwrite(str(directory / "a.png"), _frames(1)[0].image)
    cfg = _config(tmp_path, model, network_mode=1, calibration_dir=directory)
    with pytest.raises(SegmenterError, match=message):
        TensorRTSegmenter(cfg)
    engines = tmp_path / "engines"
    assert not engines.exists() or not list(engines.glob("*.engine"))
    assert gpu.state.context_stack == []


def test_progress_reaches_the_display_with_nested_phases(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    progress = RecordingProgress()
    TensorRTSegmenter(_config(tmp_path, model), progress=progress).close()
    assert progress.events[0] == ("start", "Building engine", "None", "2")
    assert ("start", "Tactic selection", "Building engine", "3") in progress.events
    assert progress.events[-1] == ("finish", "Building engine")
    assert sum(e[0] == "step" for e in progress.events) == 5


def test_ctrl_c_in_the_progress_display_cancels_the_build(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    with pytest.raises(SegmenterError, match="cancelled"):
        TensorRTSegmenter(_config(tmp_path, model), progress=RecordingProgress(interrupt_at=3))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SegmenterError, match="cancelled"):
        TensorRTSegmenter(_config(tmp_path, model), progress=RecordingProgress(), cancel=cancel)
    assert not (tmp_path / "engines").exists() or not list((tmp_path / "engines").iterdir())


def test_build_out_of_memory_says_what_to_do_and_caches_nothing(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    gpu.record.build_failure = (
        "[virtualMemoryBuffer.cpp::resizePhysical::140] Error Code 2: OutOfMemory"
    )
    with pytest.raises(SegmenterError) as err:
        TensorRTSegmenter(_config(tmp_path, model))
    text = str(err.value)
    assert "OutOfMemory" in text and "workspace_mb" in text and "docs/jetson.md" in text
    assert not (tmp_path / "engines").exists()
    assert gpu.state.live_device_bytes() == 0 and gpu.state.context_stack == []


def test_unparsable_model_and_wrong_input_size_are_clear_errors(
    gpu: FakeGpu, tmp_path: Path, model: Path
) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage")
    with pytest.raises(SegmenterError, match="TensorRT cannot parse"):
        TensorRTSegmenter(_config(tmp_path, bad))
    wrong = _config(tmp_path, model, preprocess=PreprocessConfig(infer_dims=(3, 32, 32)))
    with pytest.raises(SegmenterError, match="infer_dims/tensor_layout"):
        TensorRTSegmenter(wrong)
    fixed = bright_person_model(tmp_path / "fixed.onnx", batch=1, size=(16, 24))
    with pytest.raises(SegmenterError, match="fixed batch of 1; set batch_size: 1"):
        TensorRTSegmenter(_config(tmp_path, fixed, batch_size=2))


def test_log_progress_logs_phases_and_a_heartbeat(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = LogProgress(every_s=30.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO):
        progress.phase_start("Building engine", None, 10)
        progress.phase_start("Tactic selection", "Building engine", 100)
        progress.step("Tactic selection", 0)  # too soon for a heartbeat
        now[0] = 31.0
        progress.step("Tactic selection", 41)
        progress.phase_finish("Tactic selection")
    messages = [r.message for r in caplog.records]
    assert messages == [
        "engine build: Building engine (10 steps)",
        "engine build: Tactic selection 42/100",
    ]


# --- ONNX Runtime's GPU providers ---------------------------------------------------------------


def test_onnxruntime_runtime_runs_the_same_pre_and_post_processing(
    tmp_path: Path, model: Path
) -> None:
    frames = _frames(3)
    cfg = _config(tmp_path, model, runtime="onnxruntime", ort_providers=("cpu",))
    seg = TensorRTSegmenter(cfg)
    onnx = OnnxSegmenter(OnnxSegmenterConfig(model=model, preprocess=PRE, batch_size=2))
    try:
        for a, b in zip(onnx.segment(frames), seg.segment(frames), strict=True):
            np.testing.assert_array_equal(a.mask, b.mask)
            assert a.mapping == b.mapping
    finally:
        seg.close()
        onnx.close()
    assert (tmp_path / "engines" / "onnxruntime").is_dir()


def test_onnxruntime_without_gpu_providers_names_what_is_missing(
    tmp_path: Path, model: Path
) -> None:
    cfg = _config(tmp_path, model, runtime="onnxruntime")
    with pytest.raises(
        SegmenterError,
        match=r"not \['TensorrtExecutionProvider', "
        r"'CUDAExecutionProvider'\]: install onnxruntime-gpu",
    ):
        TensorRTSegmenter(cfg)


def test_provider_options_carry_precision_cache_workspace_and_profile(
    tmp_path: Path, model: Path
) -> None:
    cfg = _config(
        tmp_path,
        model,
        runtime="onnxruntime",
        batch_size=4,
        workspace_mb=512,
        device_id=1,
        ort_providers=("tensorrt", "cuda", "cpu"),
    )
    (trt_name, trt), (cuda_name, cuda), (cpu_name, cpu) = provider_options(cfg, "input", True)
    assert (trt_name, cuda_name, cpu_name) == (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
    assert trt["trt_fp16_enable"] == "True" and trt["trt_int8_enable"] == "False"
    assert trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "engines" / "onnxruntime")
    assert trt["trt_max_workspace_size"] == str(512 << 20)
    assert trt["trt_profile_min_shapes"] == "input:1x3x16x24"
    assert trt["trt_profile_max_shapes"] == trt["trt_profile_opt_shapes"] == "input:4x3x16x24"
    assert trt["device_id"] == cuda["device_id"] == "1" and cpu == {}
    static = dict(provider_options(cfg, "input", False))["TensorrtExecutionProvider"]
    assert "trt_profile_min_shapes" not in static


def test_int8_on_onnxruntime_uses_the_native_calibration_cache(tmp_path: Path, model: Path) -> None:
    cfg = _config(tmp_path, model, runtime="onnxruntime", network_mode=1)
    with pytest.raises(SegmenterError, match="needs a TensorRT calibration cache"):
        provider_options(cfg, "input", True)
    with_cache = cfg.model_copy(update={"calibration_cache": tmp_path / "people.calib"})
    options = dict(provider_options(with_cache, "input", True))["TensorrtExecutionProvider"]
    assert options["trt_int8_enable"] == "True"
    assert options["trt_int8_calibration_table_name"] == "people.calib"
    assert options["trt_int8_use_native_calibration_table"] == "True"


def test_onnxruntime_runtime_with_a_fixed_batch_model_pads_the_last_batch(
    tmp_path: Path,
) -> None:
    fixed = bright_person_model(tmp_path / "fixed.onnx", batch=2, size=(16, 24))
    cfg = _config(tmp_path, fixed, runtime="onnxruntime", ort_providers=("cpu",), batch_size=4)
    seg = TensorRTSegmenter(cfg)
    try:
        assert seg.batch_size == 2
        masks = seg.segment(_frames(3))
    finally:
        seg.close()
    assert len(masks) == 3 and all(m.mask.sum() > 0 for m in masks)


def test_onnxruntime_runtime_config_and_model_errors(tmp_path: Path, model: Path) -> None:
    with pytest.raises(ValueError, match="runtime onnxruntime needs the onnx model"):
        TensorRTSegmenterConfig(engine=tmp_path / "x.engine", runtime="onnxruntime")
    missing = _config(
        tmp_path, tmp_path / "none.onnx", runtime="onnxruntime", ort_providers=("cpu",)
    )
    with pytest.raises(SegmenterError, match=r"none\.onnx not found"):
        TensorRTSegmenter(missing)
    wrong = _config(
        tmp_path,
        model,
        runtime="onnxruntime",
        ort_providers=("cpu",),
        preprocess=PreprocessConfig(infer_dims=(3, 32, 32)),
    )
    with pytest.raises(SegmenterError, match=r"is \['N', 3, 16, 24\]"):
        TensorRTSegmenter(wrong)
