"""The TensorRT runner against the fake TensorRT 10 / pycuda: bindings, shapes, copies, errors."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import PreprocessConfig, TensorRTSegmenterConfig
from edge_app.core.domain import Frame
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.tensorrt import cuda_buffers
from edge_app.segmentation.tensorrt.cuda_buffers import open_gpu
from edge_app.segmentation.tensorrt.engine import TensorSpec, batch_range, check_input
from edge_app.segmentation.tensorrt.segmenter import TensorRTSegmenter
from tests.fakes import FakeGpu, install_fake_gpu
from tests.fakes import pycuda_driver as fake_cuda
from tests.fakes.onnx_models import bright_person_model


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    return install_fake_gpu(monkeypatch)


def _config(tmp_path: Path, **changes: object) -> TensorRTSegmenterConfig:
    fields: dict[str, object] = {
        "onnx": tmp_path / "model.onnx",
        "engine_cache_dir": tmp_path / "engines",
        "preprocess": PreprocessConfig(infer_dims=(3, 16, 16)),
        "batch_size": 4,
    }
    fields.update(changes)
    onnx = fields["onnx"]
    assert isinstance(onnx, Path)
    if not onnx.exists():
        bright_person_model(onnx)
    return TensorRTSegmenterConfig.model_validate(fields)


def _frames(n: int, size: tuple[int, int] = (64, 48)) -> list[Frame]:
    w, h = size
    frames = []
    for i in range(n):
        image = np.zeros((h, w, 3), np.uint8)
        image[h // 4 : 3 * h // 4, (i * 8) % (w - 8) : (i * 8) % (w - 8) + 8] = 255
        frames.append(Frame("cam", i, i / 10, datetime(2024, 5, 1, tzinfo=timezone.utc), image))
    return frames


def _segmenter_ops(gpu: FakeGpu) -> list[tuple[object, ...]]:
    return [op for op in gpu.ops if op[0] in ("htod", "execute", "dtoh", "sync")]


# --- binding discovery ---------------------------------------------------------------------


def test_bindings_are_discovered_by_name_with_modes_shapes_dtypes_and_profile(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    seg = TensorRTSegmenter(_config(tmp_path, batch_size=3))
    try:
        bindings = seg._runner._runner.bindings  # type: ignore[union-attr]
        assert [(t.name, t.is_input, t.shape, t.trt_dtype) for t in bindings.tensors] == [
            ("input", True, (-1, 3, 16, 16), "FLOAT"),
            ("output", False, (-1, 1, 16, 16), "INT64"),
        ]
        assert bindings.inputs[0].profile == ((1, 3, 16, 16), (3, 3, 16, 16), (3, 3, 16, 16))
        assert bindings.outputs[0].dtype == np.dtype(np.int64)
        assert bindings.describe()[0].startswith("input  'input': FLOAT [-1, 3, 16, 16]")
    finally:
        seg.close()


def test_the_only_output_is_used_when_the_configured_name_is_absent(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    model = bright_person_model(tmp_path / "m.onnx", output_name="argmax_out")
    seg = TensorRTSegmenter(_config(tmp_path, onnx=model))
    try:
        masks = seg.segment(_frames(1))
        assert masks[0].mask.sum() > 0
    finally:
        seg.close()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            TensorSpec(
                "input",
                True,
                (-1, 3, 16, 16),
                "FLOAT",
                np.dtype(np.float32),
                ((1, 3, 16, 16), (4, 3, 16, 16), (4, 3, 16, 16)),
            ),
            None,
        ),
        (
            TensorSpec("input", True, (1, 3, 16, 16), "FLOAT", np.dtype(np.float32)),
            "takes at most 1 frame(s) per batch, batch_size is 4",
        ),
        (
            TensorSpec(
                "input",
                True,
                (-1, 3, 32, 32),
                "FLOAT",
                np.dtype(np.float32),
                ((1, 3, 32, 32), (4, 3, 32, 32), (4, 3, 32, 32)),
            ),
            "check infer_dims",
        ),
        (
            TensorSpec(
                "input",
                True,
                (-1, 16, 16, 3),
                "FLOAT",
                np.dtype(np.float32),
                ((1, 16, 16, 3), (4, 16, 16, 3), (4, 16, 16, 3)),
            ),
            "tensor_layout",
        ),
        (
            TensorSpec(
                "input",
                True,
                (-1, 3, 16, 16),
                "HALF",
                np.dtype(np.float16),
                ((1, 3, 16, 16), (4, 3, 16, 16), (4, 3, 16, 16)),
            ),
            "only FLOAT inputs",
        ),
        (
            TensorSpec("input", True, (-1, 3, 16, 16), "FLOAT", np.dtype(np.float32)),
            "no optimisation profile",
        ),
        (
            TensorSpec(
                "input",
                True,
                (-1, 3, -1, -1),
                "FLOAT",
                np.dtype(np.float32),
                ((1, 3, 8, 8), (4, 3, 32, 32), (4, 3, 32, 32)),
            ),
            "profile allows up to",
        ),
    ],
)
def test_check_input(spec: TensorSpec, problem: str | None) -> None:
    problems = check_input(spec, (3, 16, 16), batch_size=4)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_batch_range() -> None:
    fixed = TensorSpec("x", True, (2, 3, 8, 8), "FLOAT", np.dtype(np.float32))
    assert batch_range(fixed) == (2, 2)
    dyn = TensorSpec(
        "x",
        True,
        (-1, 3, 8, 8),
        "FLOAT",
        np.dtype(np.float32),
        ((1, 3, 8, 8), (3, 3, 8, 8), (5, 3, 8, 8)),
    )
    assert batch_range(dyn) == (1, 5)


# --- dynamic batch shapes and the copy order --------------------------------------------


def test_each_batch_sets_its_own_input_shape_and_copies_only_its_rows(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    seg = TensorRTSegmenter(_config(tmp_path, batch_size=4))
    try:
        gpu.ops.clear()
        masks = seg.segment(_frames(6))  # one batch of 4, then one of 2
        assert len(masks) == 6
        ops = _segmenter_ops(gpu)
        frame_bytes = 3 * 16 * 16 * 4
        out_bytes = 1 * 16 * 16 * 8
        assert [(op[0], op[2]) for op in ops if op[0] in ("htod", "dtoh")] == [
            ("htod", 4 * frame_bytes),
            ("dtoh", 4 * out_bytes),
            ("htod", 2 * frame_bytes),
            ("dtoh", 2 * out_bytes),
        ]
        assert all(m.mask.shape == (16, 16) for m in masks)
    finally:
        seg.close()


def test_copy_in_execute_copy_out_sync_on_one_stream_from_pinned_memory(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    seg = TensorRTSegmenter(_config(tmp_path, batch_size=2))
    try:
        gpu.ops.clear()
        seg.segment(_frames(2))
        ops = _segmenter_ops(gpu)
        assert [op[0] for op in ops] == ["htod", "execute", "dtoh", "sync"]
        streams = {ops[0][3], ops[1][1], ops[2][3], ops[3][1]}
        assert len(streams) == 1 and None not in streams  # all queued on one real stream
        assert ops[0][4] and ops[2][4]  # both host sides are page-locked
    finally:
        seg.close()


def test_masks_match_the_known_bright_regions(gpu: FakeGpu, tmp_path: Path) -> None:
    seg = TensorRTSegmenter(_config(tmp_path, batch_size=2))
    try:
        frames = _frames(3, size=(64, 64))
        masks = seg.segment(frames)
        for frame, person in zip(frames, masks, strict=True):
            expected = (frame.image[::4, ::4, 0] > 127).astype(np.uint8)
            np.testing.assert_array_equal(person.mask, expected)
            assert person.mapping.frame_size == (64, 64)
    finally:
        seg.close()


def test_fixed_batch_engine_runs_its_full_batch_with_zero_padding(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    model = bright_person_model(tmp_path / "fixed.onnx", batch=2)
    seg = TensorRTSegmenter(_config(tmp_path, onnx=model, batch_size=2))
    try:
        gpu.ops.clear()
        masks = seg.segment(_frames(3))
        assert len(masks) == 3
        sizes = [op[2] for op in _segmenter_ops(gpu) if op[0] == "htod"]
        assert sizes == [2 * 3 * 16 * 16 * 4] * 2  # the single last frame went as a pair
    finally:
        seg.close()


# --- errors and resources -------------------------------------------------------------------


def test_close_frees_every_buffer_and_leaves_no_context_current(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    seg = TensorRTSegmenter(_config(tmp_path))
    assert gpu.state.live_device_bytes() > 0 and gpu.state.live_host_allocations() == 2
    assert gpu.state.context_stack == []  # pushed only around CUDA work
    seg.segment(_frames(1))
    seg.close()
    seg.close()
    assert gpu.state.live_device_bytes() == 0
    assert gpu.state.live_host_allocations() == 0
    assert gpu.state.context_stack == []
    with pytest.raises(SegmenterError, match="closed"):
        seg.segment(_frames(1))


def test_execute_failure_is_a_clear_error(gpu: FakeGpu, tmp_path: Path) -> None:
    seg = TensorRTSegmenter(_config(tmp_path))
    try:
        gpu.record.execute_failure = "Error Code 1: Cuda Runtime (an illegal memory access)"
        with pytest.raises(SegmenterError, match="execute_async_v3 returned false"):
            seg.segment(_frames(1))
        assert gpu.state.context_stack == []
    finally:
        seg.close()


def test_cuda_copy_failure_is_a_clear_error(gpu: FakeGpu, tmp_path: Path) -> None:
    seg = TensorRTSegmenter(_config(tmp_path))
    try:
        gpu.state.fail_next["memcpy_htod"] = fake_cuda.LaunchError(
            "cuMemcpyHtoDAsync failed: unspecified launch failure"
        )
        with pytest.raises(
            SegmenterError, match="CUDA failed while running the engine: cuMemcpyHtoDAsync failed"
        ):
            seg.segment(_frames(1))
    finally:
        seg.close()


def test_out_of_gpu_memory_names_the_fix_and_frees_what_was_allocated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch)
    cfg = _config(tmp_path)
    TensorRTSegmenter(cfg).close()  # build the engine first
    gpu.state.fail_next["mem_alloc"] = fake_cuda.MemoryError("cuMemAlloc failed: out of memory")
    with pytest.raises(SegmenterError, match=r"out of memory.*lower batch_size"):
        TensorRTSegmenter(cfg)
    assert gpu.state.live_device_bytes() == 0 and gpu.state.live_host_allocations() == 0
    assert gpu.state.context_stack == []


def test_rejected_input_shape_is_a_clear_error(gpu: FakeGpu, tmp_path: Path) -> None:
    seg = TensorRTSegmenter(_config(tmp_path, batch_size=2))
    try:
        runner = seg._runner._runner  # type: ignore[union-attr]
        runner.batch_size = 3  # bypass the guard to reach TensorRT's own profile check
        with pytest.raises(SegmenterError, match=r"rejected input shape \[3, 3, 16, 16\].*1..2"):
            runner.infer(3)
    finally:
        seg.close()


# --- the GPU check comes first --------------------------------------------------------------


def test_without_a_driver_the_error_is_clear_and_tensorrt_is_never_touched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch, driver=False)
    with pytest.raises(SegmenterError, match="needs pycuda and an NVIDIA driver"):
        TensorRTSegmenter(_config(tmp_path))  # a SimulatedCrash would escape pytest.raises
    assert gpu.record.runtimes == 0 and gpu.record.builds == []


def test_a_driver_without_a_gpu_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gpu = install_fake_gpu(monkeypatch, devices=[])
    with pytest.raises(SegmenterError, match="no CUDA-capable device"):
        TensorRTSegmenter(_config(tmp_path))
    assert gpu.record.runtimes == 0


def test_device_id_out_of_range(gpu: FakeGpu, tmp_path: Path) -> None:
    with pytest.raises(SegmenterError, match="device_id is 1 but this machine has 1 GPU"):
        open_gpu(1)


def test_missing_tensorrt_package_is_a_clear_error(
    gpu: FakeGpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(SegmenterError, match="python3-libnvinfer"):
        TensorRTSegmenter(_config(tmp_path))
    assert gpu.state.context_stack == []


def test_gpu_info_reads_the_board_from_the_device_tree(
    gpu: FakeGpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    monkeypatch.setattr(cuda_buffers, "DEVICE_TREE_MODEL", model)
    session = open_gpu(0)
    try:
        assert session.info.board == "NVIDIA Jetson Orin Nano Developer Kit"
        assert (session.info.name, session.info.compute_capability) == ("Orin", "8.7")
        assert session.info.multiprocessors == 8
    finally:
        session.close()


def test_importing_the_backend_loads_no_native_runtime() -> None:
    import subprocess

    code = (
        "import sys, edge_app.segmentation.tensorrt.segmenter, edge_app.cli.engine, "
        "edge_app.sources.gstreamer; "
        "print(sorted(m for m in ('tensorrt', 'pycuda', 'pycuda.driver', 'gi') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.strip() == "[]"


def test_a_model_with_dynamic_height_and_width_runs_at_infer_dims(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    model = bright_person_model(tmp_path / "any_size.onnx", dynamic_size=True)
    seg = TensorRTSegmenter(_config(tmp_path, onnx=model, batch_size=2))
    try:
        assert gpu.record.builds[-1]["profiles"] == {
            "input": [[1, 3, 16, 16], [2, 3, 16, 16], [2, 3, 16, 16]]
        }
        masks = seg.segment(_frames(3))
    finally:
        seg.close()
    assert [m.mask.shape for m in masks] == [(16, 16)] * 3
