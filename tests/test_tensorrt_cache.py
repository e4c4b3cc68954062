"""Engine cache keys and invalidation: a stale, corrupt or foreign engine is never used."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from edge_app.config import PreprocessConfig, TensorRTSegmenterConfig
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.tensorrt.cache import (
    EngineKey,
    cache_path,
    read_sidecar,
    sha256_file,
    sidecar_path,
    stale_reasons,
    store_engine,
)
from edge_app.segmentation.tensorrt.cuda_buffers import open_gpu
from edge_app.segmentation.tensorrt.loader import open_engine
from tests.fakes import FakeDeviceSpec, FakeGpu, install_fake_gpu
from tests.fakes.onnx_models import bright_person_model

KEY = EngineKey(
    model_sha256="ab" * 32,
    tensorrt_version="10.3.0",
    gpu_name="Orin",
    compute_capability="8.7",
    multiprocessors=8,
    board="NVIDIA Jetson Orin Nano Developer Kit",
    precision="fp16",
    batch_size=2,
    input_shape=(3, 512, 512),
)


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGpu:
    return install_fake_gpu(monkeypatch)


def _config(tmp_path: Path, **changes: object) -> TensorRTSegmenterConfig:
    model = tmp_path / "model.onnx"
    if not model.exists():
        bright_person_model(model)
    fields: dict[str, object] = {
        "onnx": model,
        "engine_cache_dir": tmp_path / "engines",
        "preprocess": PreprocessConfig(infer_dims=(3, 16, 16)),
        "batch_size": 2,
    }
    fields.update(changes)
    return TensorRTSegmenterConfig.model_validate(fields)


def _open(cfg: TensorRTSegmenterConfig, **kwargs: object) -> tuple[Path, bool]:
    from tests.fakes import tensorrt as trt

    session = open_gpu(cfg.device_id)
    try:
        loaded = open_engine(trt, session, cfg, **kwargs)  # type: ignore[arg-type]
        return loaded.path, loaded.built
    finally:
        session.close()


# --- the key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"model_sha256": "cd" * 32},
        {"tensorrt_version": "10.7.0"},
        {"gpu_name": "NVIDIA GeForce RTX 3060"},
        {"compute_capability": "8.6"},
        {"multiprocessors": 16},
        {"board": "NVIDIA Jetson AGX Orin Developer Kit"},
        {"precision": "int8"},
        {"batch_size": 4},
        {"input_shape": (3, 1024, 1820)},
    ],
)
def test_every_key_field_changes_the_digest_and_is_named(change: dict[str, object]) -> None:
    other = replace(KEY, **change)  # type: ignore[arg-type]
    assert other.digest() != KEY.digest()
    reasons = other.mismatches(KEY.to_json())
    assert len(reasons) == 1
    field = next(iter(change))
    assert (
        ("ONNX model changed" in reasons[0]) if field == "model_sha256" else (field in reasons[0])
    )


def test_the_digest_is_stable_and_the_key_round_trips_through_json() -> None:
    assert KEY.digest() == replace(KEY).digest()
    assert KEY.mismatches(json.loads(json.dumps(KEY.to_json()))) == []
    assert KEY.mismatches({**KEY.to_json(), "model_sha256": "x"}, ignore_model=True) == []


def test_cache_path_is_readable_and_keyed(tmp_path: Path) -> None:
    path = cache_path(tmp_path, Path("/models/peoplesemsegformer.onnx"), KEY)
    assert path.parent == tmp_path
    assert path.name.startswith("peoplesemsegformer_b2_fp16_")
    assert path.name.endswith(".engine")
    assert cache_path(tmp_path, Path("m.onnx"), replace(KEY, batch_size=4)) != cache_path(
        tmp_path, Path("m.onnx"), KEY
    )


def test_store_engine_writes_engine_and_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.engine"
    store_engine(path, b"plan-bytes", KEY, onnx=Path("/m.onnx"))
    assert path.read_bytes() == b"plan-bytes"
    assert read_sidecar(path) == KEY.to_json()
    assert stale_reasons(path, KEY) == []
    assert stale_reasons(path, replace(KEY, tensorrt_version="10.7.0")) == [
        "tensorrt_version '10.3.0' != '10.7.0' now"
    ]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files
    for written in (path, sidecar_path(path)):  # private, as the daemon's other files
        assert written.stat().st_mode & 0o777 == 0o600


def test_engine_without_or_with_a_broken_sidecar_is_not_judged_by_it(tmp_path: Path) -> None:
    path = tmp_path / "x.engine"
    path.write_bytes(b"plan")
    assert read_sidecar(path) is None and stale_reasons(path, KEY) == []
    sidecar_path(path).write_text("{not json")
    assert read_sidecar(path) is None
    sidecar_path(path).write_text('{"format": 1}')
    assert read_sidecar(path) is None


def test_sha256_file_and_unreadable_model(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(SegmenterError, match="cannot read the ONNX model"):
        sha256_file(tmp_path / "missing.onnx")


# --- invalidation through open_engine -------------------------------------------------------


def test_first_start_builds_and_the_next_one_reuses(gpu: FakeGpu, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    path, built = _open(cfg)
    assert built and path.is_file() and read_sidecar(path) is not None
    assert path.parent == tmp_path / "engines"
    path2, built2 = _open(cfg)
    assert (path2, built2) == (path, False)
    assert len(gpu.record.builds) == 1


def test_force_rebuilds(gpu: FakeGpu, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _open(cfg)
    _, built = _open(cfg, rebuild=True)
    assert built and len(gpu.record.builds) == 2


def test_tensorrt_upgrade_never_loads_the_old_engine(
    gpu: FakeGpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path)
    old, _ = _open(cfg)
    gpu.trt.use_version("10.7.0")
    new, built = _open(cfg)
    assert built and new != old  # another key, another slot: the old plan is not even read
    assert read_sidecar(new)["tensorrt_version"] == "10.7.0"  # type: ignore[index]


def test_another_device_gets_its_own_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_fake_gpu(monkeypatch)
    cfg = _config(tmp_path)
    orin, _ = _open(cfg)
    xavier = FakeDeviceSpec(name="Xavier", compute_capability=(7, 2), multiprocessors=6)
    fake = install_fake_gpu(monkeypatch, devices=[xavier])
    path, built = _open(cfg)
    assert built and path != orin and len(fake.record.builds) == 1


def test_changed_model_rebuilds(gpu: FakeGpu, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    first, _ = _open(cfg)
    bright_person_model(tmp_path / "model.onnx", output="scores")
    second, built = _open(cfg)
    assert built and second != first


def test_corrupt_cached_engine_is_rebuilt_with_a_clear_log_line(
    gpu: FakeGpu, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _config(tmp_path)
    path, _ = _open(cfg)
    path.write_bytes(b"\x00" * 64)  # e.g. a half-copied file
    with caplog.at_level(logging.WARNING):
        again, built = _open(cfg)
    assert built and again == path
    assert any(
        "cannot be used" in r.message
        and "rebuilding it from" in r.message
        and "cannot be deserialized" in r.message
        for r in caplog.records
    )
    assert len(gpu.record.builds) == 2


def test_explicit_engine_with_a_mismatched_sidecar_is_rebuilt_in_place(
    gpu: FakeGpu, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = tmp_path / "people.engine"
    cfg = _config(tmp_path, engine=engine)
    path, built = _open(cfg)
    assert (path, built) == (engine, True)
    meta = json.loads(sidecar_path(engine).read_text())
    meta["key"]["tensorrt_version"] = "8.6.2"  # as if built under JetPack 5
    sidecar_path(engine).write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        path, built = _open(cfg)
    assert (path, built) == (engine, True)
    assert any("tensorrt_version '8.6.2' != '10.3.0' now" in r.message for r in caplog.records)


def test_engine_from_another_tensorrt_without_sidecar_is_rebuilt(
    gpu: FakeGpu,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = tmp_path / "trtexec.engine"
    cfg = _config(tmp_path, engine=engine)
    gpu.trt.use_version("8.6.2")
    _open(cfg)
    sidecar_path(engine).unlink()  # an engine made by trtexec has none
    gpu.trt.use_version("10.3.0")
    with caplog.at_level(logging.WARNING):
        _, built = _open(cfg)
    assert built
    assert any("expecting library version 10.3.0 got 8.6.2" in r.message for r in caplog.records)


def test_unusable_engine_without_onnx_is_an_error_saying_how_to_fix(
    gpu: FakeGpu, tmp_path: Path
) -> None:
    engine = tmp_path / "people.engine"
    engine.write_bytes(b"garbage")
    cfg = TensorRTSegmenterConfig(
        engine=engine, preprocess=PreprocessConfig(infer_dims=(3, 16, 16))
    )
    with pytest.raises(SegmenterError, match=r"cannot be used.*set segmenter.onnx"):
        _open(cfg)
    missing = cfg.model_copy(update={"engine": tmp_path / "nope.engine"})
    with pytest.raises(SegmenterError, match="not found and no ONNX model"):
        _open(missing)


def test_engine_whose_input_does_not_fit_the_config_is_rebuilt(
    gpu: FakeGpu, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = tmp_path / "people.engine"
    _open(_config(tmp_path, engine=engine, batch_size=1))
    sidecar_path(engine).unlink()
    with caplog.at_level(logging.WARNING):
        _, built = _open(_config(tmp_path, engine=engine, batch_size=2))
    assert built
    assert any(
        "takes at most 1 frame(s) per batch, batch_size is 2" in r.message for r in caplog.records
    )
