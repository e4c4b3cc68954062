"""Reading DeepStream nvinfer configs: the model card's own file, NVIDIA's style, and errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_app.config import (
    OutputConfig,
    PreprocessConfig,
    TensorRTSegmenterConfig,
    parse_config,
)
from edge_app.core.errors import ConfigError
from edge_app.segmentation.tensorrt.nvinfer import read_labels, read_nvinfer_config
from edge_app.segmentation.tensorrt.nvinfer_resolve import apply_nvinfer
from tests.fakes.onnx_models import bright_person_model

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "configs" / "nvinfer_config.txt"


def _write(tmp_path: Path, body: str, labels: str | None = "background\nperson\n") -> Path:
    if labels is not None:
        (tmp_path / "labels.txt").write_text(labels)
    path = tmp_path / "nvinfer_config.txt"
    path.write_text(body)
    return path


def _card_config(tmp_path: Path) -> Path:
    """The shipped file with its onnx-file set to a stand-in of PeopleSemSegFormer."""
    (tmp_path / "labels.txt").write_text((REPO / "configs" / "labels.txt").read_text())
    model = bright_person_model(tmp_path / "peoplesemsegformer.onnx", size=(512, 512))
    path = tmp_path / "nvinfer_config.txt"
    path.write_text(SHIPPED.read_text().replace("/path/to/onnx-file", model.name))
    return path


# --- the model card's own config ------------------------------------------------------------


def test_the_shipped_model_card_config_gives_peoplesemsegformers_contract() -> None:
    model = read_nvinfer_config(SHIPPED)
    assert model.updates == {
        "onnx": Path("/path/to/onnx-file"),  # the card's placeholder, inline comment stripped
        "preprocess.net_scale_factor": 0.007843,
        "preprocess.offsets": (127.5, 127.5, 127.5),
        "preprocess.model_color_format": 0,
        "output.person_class": 1,
        "preprocess.infer_dims": (3, 512, 512),
        "batch_size": 1,
        "network_mode": 2,
    }
    assert model.labels == ("background", "person")


def test_the_shipped_config_warns_on_keys_that_do_not_apply() -> None:
    notes = {n.key: n for n in read_nvinfer_config(SHIPPED).notes}
    # The one warning docs/jetson.md promises: the card's 20 classes against its 2 labels.
    assert [key for key, note in notes.items() if note.warn] == ["num-detected-classes"]
    assert "does not match the 2 labels" in notes["num-detected-classes"].reason
    assert set(notes) == {
        "interval",
        "gie-unique-id",
        "cluster-mode",
        "network-type",
        "output-tensor-meta",
        "num-detected-classes",
        "segmentation-output-order",
        "roi-top-offset",
        "roi-bottom-offset",
        "detected-min-w",
        "detected-min-h",
        "detected-max-w",
        "detected-max-h",
    }


def test_shipped_labels_file() -> None:
    assert read_labels(REPO / "configs" / "labels.txt") == ("background", "person")


def test_apply_fills_the_model_section_and_logs_the_warnings(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    card = _card_config(tmp_path)
    cfg = TensorRTSegmenterConfig(nvinfer_config=card, batch_size=4, network_mode=0)
    with caplog.at_level(logging.INFO, logger="edge_app.segmentation.tensorrt.nvinfer"):
        resolved = apply_nvinfer(cfg)
    assert resolved.nvinfer_config is None
    assert resolved.onnx == tmp_path / "peoplesemsegformer.onnx"
    assert resolved.batch_size == 1 and resolved.network_mode == 2  # the file wins
    assert resolved.preprocess == PreprocessConfig()  # PeopleSemSegFormer's defaults
    assert resolved.output.person_class == 1
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "num-detected-classes=20: does not match" in warnings[0]


def test_a_yaml_config_can_name_the_nvinfer_file(tmp_path: Path) -> None:
    data = {
        "cameras": [{"id": "c1", "source": {"type": "file", "path": "v.mp4"}, "zones": "z.yaml"}],
        "segmenter": {"type": "tensorrt", "nvinfer_config": "nv/nvinfer_config.txt"},
    }
    config = parse_config(data, tmp_path / "edge-app.yaml")
    seg = config.segmenter
    assert isinstance(seg, TensorRTSegmenterConfig)
    assert seg.nvinfer_config == tmp_path / "nv" / "nvinfer_config.txt"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"onnx": "m.onnx"}, "either in nvinfer_config or with onnx/engine"),
        ({"engine": "m.engine"}, "either in nvinfer_config or with onnx/engine"),
    ],
)
def test_nvinfer_and_explicit_model_conflict(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TensorRTSegmenterConfig.model_validate({"nvinfer_config": "x.txt", **extra})


# --- NVIDIA's own style of file ------------------------------------------------------------


def test_citysemsegformer_style_file_with_relative_paths_and_inline_comments(
    tmp_path: Path,
) -> None:
    (tmp_path / "models").mkdir()
    bright_person_model(tmp_path / "models" / "seg.onnx", dynamic_size=True)
    path = _write(
        tmp_path,
        "[property]\n"
        "gpu-id=0\n"
        "net-scale-factor=0.01735207357279195\n"
        "offsets=123.675;116.28;103.53\n"
        "labelfile-path=     models/labels.txt\n"
        "model-engine-file=  models/seg.onnx_b1_gpu0_fp16.engine\n"
        "onnx-file=models/seg.onnx\n"
        "infer-dims=3;1024;1820\n"
        "model-color-format=1\n"
        "maintain-aspect-ratio=1\n"
        "symmetric-padding=1\n"
        "workspace-size=1048576\n"
        "int8-calib-file=calib.table\n"
        "network-type=100 # Skip nvinfer post-processing\n"
        "output-blob-names=output\n",
        labels=None,
    )
    (tmp_path / "models" / "labels.txt").write_text("background;person\n")
    model = read_nvinfer_config(path)
    u = model.updates
    assert u["onnx"] == tmp_path / "models" / "seg.onnx"
    assert u["engine"] == tmp_path / "models" / "seg.onnx_b1_gpu0_fp16.engine"
    assert u["calibration_cache"] == tmp_path / "calib.table"
    assert u["preprocess.infer_dims"] == (3, 1024, 1820)
    assert u["preprocess.offsets"] == (123.675, 116.28, 103.53)
    assert u["preprocess.model_color_format"] == 1
    assert u["preprocess.maintain_aspect_ratio"] is True
    assert u["preprocess.symmetric_padding"] is True
    assert u["workspace_mb"] == 1048576 and u["device_id"] == 0
    assert u["output.name"] == "output" and u["output.person_class"] == 1
    notes = {n.key: n for n in model.notes}
    assert set(notes) == {"network-type", "workspace-size"}
    assert not notes["network-type"].warn
    assert notes["workspace-size"].warn  # 1 TiB: capped at the GPU's memory when building

    resolved = apply_nvinfer(TensorRTSegmenterConfig(nvinfer_config=path))
    assert resolved.engine == tmp_path / "models" / "seg.onnx_b1_gpu0_fp16.engine"
    assert resolved.preprocess.maintain_aspect_ratio


def test_yaml_settings_not_in_the_file_are_kept(tmp_path: Path) -> None:
    bright_person_model(tmp_path / "m.onnx", output_name="probs")
    path = _write(tmp_path, "[property]\nonnx-file=m.onnx\nnetwork-mode=1\n", labels=None)
    cfg = TensorRTSegmenterConfig(
        nvinfer_config=path, batch_size=3, output=OutputConfig(name="probs", threshold=0.7)
    )
    resolved = apply_nvinfer(cfg)
    assert resolved.batch_size == 3 and resolved.network_mode == 1
    assert resolved.output.name == "probs" and resolved.output.threshold == 0.7


def test_unknown_keys_and_detector_groups_warn(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[property]\nonnx-file=m.onnx\nmystery-key=3\ninterval=2\n"
        "[class-attrs-all]\npre-cluster-threshold=0.4\n",
    )
    notes = {n.key: n for n in read_nvinfer_config(path).notes}
    assert (
        notes["mystery-key"].warn and "not a key this reader knows" in notes["mystery-key"].reason
    )
    assert notes["interval"].warn  # 2 would skip frames in DeepStream: worth a warning
    assert notes["[class-attrs-all]"].warn


def test_num_detected_classes_matching_the_labels_is_not_a_warning(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[property]\nonnx-file=m.onnx\nlabelfile-path=labels.txt\nnum-detected-classes=2\n",
    )
    notes = {n.key: n for n in read_nvinfer_config(path).notes}
    assert notes["num-detected-classes"].warn is False


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("[property]\nnet-scale-factor=abc\n", "net-scale-factor", "expected a number"),
        ("[property]\ninfer-dims=3;512\n", "infer-dims", "expected C;H;W"),
        ("[property]\nnetwork-mode=3\n", "network-mode", "'3' is not supported"),
        ("[property]\nbatch-size=two\n", "batch-size", "expected an integer"),
        ("[property]\nnetwork-input-order=2\n", "network-input-order", "must be 0 (NCHW)"),
        ("[property]\noutput-blob-names=a;b\n", "output-blob-names", "names 2 outputs"),
        ("[property]\njust a line\n", "line 2", "expected key=value"),
        ("onnx-file=m.onnx\n", "line 1", "key outside any [group]"),
    ],
)
def test_bad_values_name_the_file_and_key(
    tmp_path: Path, body: str, field: str, problem: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        read_nvinfer_config(path)
    assert err.value.file == str(path)
    assert err.value.field == field
    assert problem in err.value.problem


def test_missing_file_group_labels_and_person(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nvinfer config not found"):
        read_nvinfer_config(tmp_path / "nope.txt")
    with pytest.raises(ConfigError, match=r"no \[property\] group"):
        read_nvinfer_config(_write(tmp_path, "[other]\na=1\n"))
    with pytest.raises(ConfigError, match="cannot read the labels file"):
        read_nvinfer_config(_write(tmp_path, "[property]\nlabelfile-path=none.txt\n"))
    with pytest.raises(ConfigError, match="no 'person' label"):
        read_nvinfer_config(
            _write(tmp_path, "[property]\nlabelfile-path=labels.txt\n", labels="road\ncar\n")
        )


def test_apply_reports_invalid_combinations_against_the_nvinfer_file(tmp_path: Path) -> None:
    bright_person_model(tmp_path / "m.onnx")
    path = _write(tmp_path, "[property]\nonnx-file=m.onnx\nbatch-size=0\n")
    with pytest.raises(ConfigError) as err:
        apply_nvinfer(TensorRTSegmenterConfig(nvinfer_config=path))
    assert err.value.file == str(path) and err.value.field == "batch-size"
    gray = _write(tmp_path, "[property]\nonnx-file=m.onnx\nmodel-color-format=2\n")
    with pytest.raises(ConfigError, match="GRAY"):
        apply_nvinfer(TensorRTSegmenterConfig(nvinfer_config=gray))
    no_model = _write(tmp_path, "[property]\nbatch-size=1\n")
    with pytest.raises(ConfigError, match="neither onnx-file nor model-engine-file"):
        apply_nvinfer(TensorRTSegmenterConfig(nvinfer_config=no_model))


# --- segmentation-threshold, by its meaning ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "threshold", "score_type"),
    [
        ("0.0", 0.5, "logits"),  # NVIDIA's value: the plain argmax
        ("0.3", 0.5, "logits"),  # two classes: the top class always has >= 0.5
        ("0.5", 0.5, "logits"),
        ("0.7", 0.7, "probabilities"),  # person where its output reaches 0.7, as nvinfer
    ],
)
def test_segmentation_threshold_is_a_cut_on_the_top_class(
    tmp_path: Path, value: str, threshold: float, score_type: str
) -> None:
    bright_person_model(tmp_path / "m.onnx", output="scores")
    path = _write(tmp_path, f"[property]\nonnx-file=m.onnx\nsegmentation-threshold={value}\n")
    output = apply_nvinfer(TensorRTSegmenterConfig(nvinfer_config=path)).output
    assert (output.threshold, output.score_type) == (threshold, score_type)


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_a_threshold_no_pixel_can_pass_is_refused(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, f"[property]\nsegmentation-threshold={value}\n")
    with pytest.raises(ConfigError) as err:
        read_nvinfer_config(path)
    assert err.value.field == "segmentation-threshold"
    assert "leaves no pixel a class" in err.value.problem


# --- the YAML form (DeepStream >= 6.2) ----------------------------------------------------------


def test_the_yaml_form_reads_like_the_key_file(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("background\nperson\n")
    body = "onnx-file=m.onnx\nlabelfile-path=labels.txt\noffsets=1;2;3\nbatch-size=2\n"
    txt = tmp_path / "model.txt"
    txt.write_text("[property]\n" + body)
    yml = tmp_path / "model.yml"
    yml.write_text(
        "property:\n  onnx-file: m.onnx   # the model\n  labelfile-path: labels.txt\n"
        "  offsets: 1;2;3\n  batch-size: 2\nclass-attrs-all:\n  pre-cluster-threshold: 0\n"
    )
    from_txt, from_yml = read_nvinfer_config(txt), read_nvinfer_config(yml)
    assert from_txt.updates == from_yml.updates
    assert from_yml.updates["preprocess.offsets"] == (1.0, 2.0, 3.0)
    (group,) = [n for n in from_yml.notes if n.key == "[class-attrs-all]"]
    assert not group.warn and group.line == 7  # all zero: nothing DeepStream would do


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("property:\n  onnx-file:: m.onnx\n", "onnx-file:", "line 2: 'onnx-file:' is not"),
        ("property:\n  onnx-file:= m.onnx\n", "property", "line 2: expected a mapping of keys"),
        ("property:\n  offsets: {a: 1}\n", "offsets", "line 2: expected a value"),
        ("property: [\n", None, "not valid YAML"),
        ("- a\n- b\n", None, "expected a mapping of groups"),
        ("other:\n  a: 1\n", None, "has no [property] group"),
    ],
)
def test_yaml_errors_name_the_key_and_line(
    tmp_path: Path, body: str, field: str | None, problem: str
) -> None:
    path = tmp_path / "nvinfer.yml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        read_nvinfer_config(path)
    assert err.value.file == str(path) and err.value.field == field
    assert problem in err.value.problem


def test_a_near_miss_of_a_model_key_is_refused_and_other_unknown_keys_warn(
    tmp_path: Path,
) -> None:
    typo = _write(tmp_path, "[property]\nonnx-fle=m.onnx\n")
    with pytest.raises(ConfigError, match=r"onnx-fle: line 2: .*write onnx-file=m.onnx"):
        read_nvinfer_config(typo)
    known = _write(tmp_path, "[property]\noperate-on-gie-id=1\nfoo-bar=2\n")
    notes = {n.key: n for n in read_nvinfer_config(known).notes}
    assert set(notes) == {"operate-on-gie-id", "foo-bar"}
