"""NVIDIA's own nvinfer configs, accepted or refused by what they mean (see
tests/nvinfer_fixtures.py for where they come from)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_app.config import TensorRTSegmenterConfig
from edge_app.core.errors import ConfigError
from edge_app.segmentation.tensorrt.nvinfer_resolve import describe_model, resolve_model
from tests.fakes.onnx_models import bright_person_model
from tests.nvinfer_fixtures import Layout, write_layout

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return write_layout(tmp_path_factory.mktemp("deepstream_tao_apps"))


def _resolve(path: Path) -> TensorRTSegmenterConfig:
    return resolve_model(TensorRTSegmenterConfig(nvinfer_config=path)).config


def test_shuffle_unet_yml_is_accepted_with_its_meaning(layout: Layout) -> None:
    resolved = resolve_model(TensorRTSegmenterConfig(nvinfer_config=layout.configs["shuffle-yml"]))
    cfg = resolved.config
    models = layout.root / "models" / "peopleSemSegNet_shuffle"
    assert cfg.onnx == models / "peoplesemsegnet_shuffleseg.onnx"
    assert cfg.engine == models / "peoplesemsegnet_shuffleseg.onnx_b1_gpu0_int8.engine"
    assert cfg.calibration_cache == models / "peoplesemsegnet_shuffleseg_cache.txt"
    assert cfg.preprocess.infer_dims == (3, 544, 960)
    assert cfg.preprocess.model_color_format == 1 and cfg.preprocess.net_scale_factor == 0.007843
    assert cfg.network_mode == 1 and cfg.batch_size == 1
    assert cfg.input_name == "input_1"  # read from the ONNX model, as nvinfer does
    assert cfg.output.name == "argmax_1" and cfg.output.person_class == 1
    # segmentation-threshold=0.0: nvinfer's plain argmax, not a person-probability cut of 0.
    assert cfg.output.threshold == 0.5
    assert resolved.warnings == [] and resolved.notes == ()
    text = "\n".join(describe_model(resolved))
    assert (
        "input 'input_1' (from the ONNX model): C;H;W 3;544;960 (from infer-dims), NCHW, BGR"
        in text
    )
    assert "output 'argmax_1' (from output-blob-names): class map, HWC" in text
    assert "person = class 1 ('person' in the labels file)" in text
    assert "precision INT8 (from network-mode), batch 1 (from batch-size)" in text


@pytest.mark.parametrize("form", ["txt", "yml"])
def test_citysemsegformer_takes_its_input_size_from_the_onnx_model(
    layout: Layout, form: str
) -> None:
    resolved = resolve_model(TensorRTSegmenterConfig(nvinfer_config=layout.configs[f"city-{form}"]))
    cfg = resolved.config
    assert cfg.preprocess.infer_dims == (3, 1024, 1024)  # not the 512x512 default
    assert (
        resolved.origin["preprocess.infer_dims"] == "the ONNX model: the file gives no infer-dims"
    )
    assert cfg.output.person_class == 11  # Cityscapes' 'person' of 19 classes
    assert cfg.preprocess.offsets == (123.675, 116.28, 103.53)
    assert cfg.output.name == "output" and cfg.network_mode == 2
    (warning,) = resolved.warnings  # 1048576 MiB of workspace, nothing else
    assert "workspace-size=1048576: 1024 GiB is more than this device can have" in warning


def test_both_forms_of_a_file_mean_the_same(layout: Layout) -> None:
    assert _resolve(layout.configs["city-txt"]) == _resolve(layout.configs["city-yml"])


@pytest.mark.parametrize(
    ("name", "key", "problem"),
    [
        ("shuffle-txt", "onnx-file:", "is not an nvinfer key, so nvinfer ignores it"),
        ("vanilla-txt", "onnx-file:", "is not an nvinfer key, so nvinfer ignores it"),
        ("vanilla-yml", "tlt-encoded-model", "is an encrypted .etlt model, which cannot be read"),
        ("tao-txt", "tlt-encoded-model", "is an encrypted .etlt model, which cannot be read"),
        ("tlt-txt", "model-engine-file", "<PATH TO YOUR ENGINE> is the template's placeholder"),
    ],
)
def test_what_cannot_work_is_refused_naming_file_and_key(
    layout: Layout, name: str, key: str, problem: str
) -> None:
    path = layout.configs[name]
    with pytest.raises(ConfigError) as err:
        resolve_model(TensorRTSegmenterConfig(nvinfer_config=path))
    assert err.value.file == str(path) and err.value.field == key
    assert problem in err.value.problem


def test_the_misspelt_key_says_how_to_write_it(layout: Layout) -> None:
    with pytest.raises(ConfigError) as err:
        _resolve(layout.configs["shuffle-txt"])
    assert err.value.problem.startswith("line 9: 'onnx-file:' is not an nvinfer key")
    assert err.value.fix == (
        "write onnx-file=../../../../models/peopleSemSegNet_shuffle/peoplesemsegnet_shuffleseg.onnx"
    )


def test_the_tlt_file_with_a_built_engine_runs_that_engine(layout: Layout, tmp_path: Path) -> None:
    folder = tmp_path / "tlt"
    shutil.copytree(layout.configs["tlt-txt"].parent, folder)
    config = folder / layout.configs["tlt-txt"].name
    engine = folder / "peoplesemsegnet_fp16.engine"
    engine.write_bytes(b"an engine built with tao-converter")
    config.write_text(
        config.read_text().replace("<PATH TO YOUR ENGINE>", engine.name), encoding="utf-8"
    )
    cfg = _resolve(config)
    assert cfg.engine == engine and cfg.onnx is None
    assert cfg.output.name == "softmax_1" and cfg.preprocess.infer_dims == (3, 544, 960)


def test_the_model_cards_file_needs_its_onnx_file_set(tmp_path: Path) -> None:
    shipped = REPO / "configs" / "nvinfer_config.txt"
    with pytest.raises(ConfigError) as err:
        _resolve(shipped)
    assert err.value.field == "onnx-file"
    assert "/path/to/onnx-file is the template's placeholder" in err.value.problem
    folder = tmp_path / "card"
    folder.mkdir()
    shutil.copy(REPO / "configs" / "labels.txt", folder)
    model = bright_person_model(folder / "peoplesemsegformer.onnx", size=(512, 512))
    config = folder / "nvinfer_config.txt"
    config.write_text(
        shipped.read_text().replace("/path/to/onnx-file", model.name), encoding="utf-8"
    )
    resolved = resolve_model(TensorRTSegmenterConfig(nvinfer_config=config))
    assert resolved.config.onnx == model
    assert resolved.config.preprocess.infer_dims == (3, 512, 512)
    (warning,) = resolved.warnings  # docs/jetson.md: the card's file gives one warning
    assert "num-detected-classes=20: does not match the 2 labels" in warning
