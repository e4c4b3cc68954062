"""NVIDIA's published nvinfer configs, as a DeepStream user has them on disk.

The configs below carry the same keys and values as NVIDIA's own files (deepstream_tao_apps
``configs/``: PeopleSemSegNet shuffle and vanilla UNet in both forms, the older tao and tlt
PeopleSemSegNet files, CitySemSegFormer in both forms; the PeopleSemSegFormer model card's
file ships as configs/nvinfer_config.txt), comments left out. ``write_layout`` lays them out
with deepstream_tao_apps' folders, so their relative paths (``../../../../models/...``)
point where they do there, and puts stand-ins at those model paths: ONNX graphs with the
real models' tensor names, types and shapes (see ``tests.fakes.onnx_models``), and bytes
where NVIDIA ships an encrypted ``.etlt`` or a calibration cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onnx import TensorProto

from tests.fakes.onnx_models import bright_person_model

SHUFFLE_DIR = "configs/nvinfer/peopleSemSegNet_tao/shuffle"
VANILLA_DIR = "configs/nvinfer/peopleSemSegNet_tao/vanilla"
CITY_DIR = "configs/nvinfer/citysemsegformer_tao"

SHUFFLE_PROPERTY = {
    "gpu-id": "0",
    "net-scale-factor": "0.007843",
    "model-color-format": "1",
    "offsets": "127.5;127.5;127.5",
    "labelfile-path": "./peopleSemSegShuffleUnet_labels.txt",
    "model-engine-file": "../../../../models/peopleSemSegNet_shuffle/"
    "peoplesemsegnet_shuffleseg.onnx_b1_gpu0_int8.engine",
    "int8-calib-file": "../../../../models/peopleSemSegNet_shuffle/"
    "peoplesemsegnet_shuffleseg_cache.txt",
    "onnx-file": "../../../../models/peopleSemSegNet_shuffle/peoplesemsegnet_shuffleseg.onnx",
    "infer-dims": "3;544;960",
    "batch-size": "1",
    "network-mode": "1",
    "num-detected-classes": "2",
    "interval": "0",
    "gie-unique-id": "1",
    "network-type": "100",
    "output-blob-names": "argmax_1",
    "segmentation-threshold": "0.0",
    "output-tensor-meta": "1",
    "segmentation-output-order": "1",
}
CLASS_ATTRS = {
    "roi-top-offset": "0",
    "roi-bottom-offset": "0",
    "detected-min-w": "0",
    "detected-min-h": "0",
    "detected-max-w": "0",
    "detected-max-h": "0",
}
VANILLA_ONNX = "../../../../models/peopleSemSegNet_vanilla/" + (
    "peoplesemsegnet_vanilla_unet_dynamic_etlt_int8_fp16.onnx"
)
VANILLA_PROPERTY = {
    **SHUFFLE_PROPERTY,
    "labelfile-path": "./peopleSemSegVanillaUnet_labels.txt",
    "model-engine-file": "../../../../models/peopleSemSegNet_vanilla/"
    "peoplesemsegnet_vanilla_unet_dynamic_etlt_int8_fp16.onnx_b1_gpu0_in8.engine",
    "int8-calib-file": "../../../../models/peopleSemSegNet_vanilla/"
    "peoplesemsegnet_vanilla_unet_dynamic_etlt_int8.cache",
    "onnx-file": VANILLA_ONNX,
}
# The vanilla .yml still names the encrypted model (and an FP16 engine nobody has built).
VANILLA_YML_PROPERTY = {
    key: value
    for key, value in {
        **VANILLA_PROPERTY,
        "model-engine-file": "../../../../models/peopleSemSegNet_vanilla/"
        "peoplesemsegnet_vanilla_unet_dynamic_etlt_int8_fp16.etlt_b1_gpu0_fp16.engine",
        "tlt-encoded-model": "../../../../models/peopleSemSegNet_vanilla/"
        "peoplesemsegnet_vanilla_unet_dynamic_etlt_int8_fp16.etlt",
        "tlt-model-key": "tlt_encode",
        "network-mode": "2",
    }.items()
    if key != "onnx-file"
}
TAO_PROPERTY = {
    "gpu-id": "0",
    "net-scale-factor": "0.007843",
    "model-color-format": "0",
    "offsets": "127.5;127.5;127.5",
    "labelfile-path": "./peopleSemSegNet_labels.txt",
    "model-engine-file": "../../models/peopleSemSegNet/peoplesemsegnet.etlt_b1_gpu0_fp16.engine",
    "tlt-encoded-model": "../../models/peopleSemSegNet/peoplesemsegnet.etlt",
    "int8-calib-file": "../../models/peopleSemSegNet/peoplesemsegnet_int8.txt",
    "tlt-model-key": "tlt_encode",
    "infer-dims": "3;544;960",
    "batch-size": "1",
    "network-mode": "1",
    "num-detected-classes": "2",
    "interval": "0",
    "gie-unique-id": "1",
    "network-type": "2",
    "output-blob-names": "softmax_1",
    "segmentation-threshold": "0.0",
    "segmentation-output-order": "1",
}
TLT_PROPERTY = {
    key: value
    for key, value in {
        **TAO_PROPERTY,
        "model-engine-file": "<PATH TO YOUR ENGINE>",
        "network-mode": "2",
    }.items()
    if key not in ("tlt-encoded-model", "tlt-model-key", "int8-calib-file")
}
CITY_PROPERTY = {
    "gpu-id": "0",
    "net-scale-factor": "0.01735207357279195",
    "offsets": "123.675;116.28;103.53",
    "labelfile-path": "../../../models/citysemsegformer/labels.txt",
    "model-engine-file": "../../../models/citysemsegformer/"
    "citysemsegformer.onnx_b1_gpu0_fp16.engine",
    "onnx-file": "../../../models/citysemsegformer/citysemsegformer.onnx",
    "model-color-format": "0",
    "batch-size": "1",
    "network-mode": "2",
    "workspace-size": "1048576",
    "interval": "0",
    "gie-unique-id": "1",
    "cluster-mode": "2",
    "network-type": "100",
    "num-detected-classes": "19",
    "output-tensor-meta": "1",
    "segmentation-output-order": "1",
}
CITYSCAPES_LABELS = [
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic_light",
    "traffic_sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
]


def key_file(groups: dict[str, dict[str, str]], typo: dict[str, str] | None = None) -> str:
    """The ``.txt`` form; ``typo`` renames keys as written (``onnx-file`` -> ``onnx-file:``)."""
    lines = []
    for group, entries in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{(typo or {}).get(k, k)}={v}" for k, v in entries.items()]
        lines.append("")
    return "\n".join(lines)


def yaml_file(groups: dict[str, dict[str, str]], extra: str = "") -> str:
    """The ``.yml`` form of DeepStream >= 6.2 (``offsets`` and ``infer-dims`` stay text)."""
    lines = []
    for group, entries in groups.items():
        lines.append(f"{group}:")
        lines += [f"  {k}: {v}" for k, v in entries.items()]
        lines.append("")
    return "\n".join(lines) + extra


@dataclass(frozen=True)
class Layout:
    """Config files by name, in a deepstream_tao_apps-like tree under ``root``."""

    root: Path
    configs: dict[str, Path]


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_layout(root: Path) -> Layout:
    """Every config, its labels and stand-in models; see the module docstring."""
    models = root / "models"
    for onnx in (
        models / "peopleSemSegNet_shuffle" / "peoplesemsegnet_shuffleseg.onnx",
        models / "peopleSemSegNet_vanilla" / Path(VANILLA_ONNX).name,
    ):
        onnx.parent.mkdir(parents=True, exist_ok=True)
        bright_person_model(
            onnx,
            size=(544, 960),
            channels_last=True,
            class_type=TensorProto.INT32,
            input_name="input_1",
            output_name="argmax_1",
        )
    _write(models / "peopleSemSegNet_shuffle" / "peoplesemsegnet_shuffleseg_cache.txt", b"cal")
    etlt = "peoplesemsegnet_vanilla_unet_dynamic_etlt_int8_fp16.etlt"
    _write(models / "peopleSemSegNet_vanilla" / etlt, b"\x0f\xfe encrypted")
    _write(models / "peopleSemSegNet" / "peoplesemsegnet.etlt", b"\x0f\xfe encrypted")
    (models / "citysemsegformer").mkdir(parents=True)
    bright_person_model(
        models / "citysemsegformer" / "citysemsegformer.onnx", size=(1024, 1024), channels_last=True
    )
    _write(models / "citysemsegformer" / "labels.txt", "\n".join(CITYSCAPES_LABELS) + "\n")
    people = "background\nperson\n"
    _write(root / SHUFFLE_DIR / "peopleSemSegShuffleUnet_labels.txt", people)
    _write(root / VANILLA_DIR / "peopleSemSegVanillaUnet_labels.txt", people)
    _write(root / "configs/peopleSemSegNet_tao/peopleSemSegNet_labels.txt", people)
    _write(root / "configs/peopleSemSegNet_tlt/peopleSemSegNet_labels.txt", people)
    shuffle = {"property": SHUFFLE_PROPERTY, "class-attrs-all": CLASS_ATTRS}
    vanilla = {"property": VANILLA_PROPERTY, "class-attrs-all": CLASS_ATTRS}
    misspelt = {"onnx-file": "onnx-file:"}
    configs = {
        "shuffle-txt": _write(
            root / SHUFFLE_DIR / "pgie_peopleSemSegShuffleUnet_tao_config.txt",
            key_file(shuffle, misspelt),
        ),
        "shuffle-yml": _write(
            root / SHUFFLE_DIR / "pgie_peopleSemSegShuffleUnet_tao_config.yml", yaml_file(shuffle)
        ),
        "vanilla-txt": _write(
            root / VANILLA_DIR / "pgie_peopleSemSegVanillaUnet_tao_config.txt",
            key_file(vanilla, misspelt),
        ),
        "vanilla-yml": _write(
            root / VANILLA_DIR / "pgie_peopleSemSegVanillaUnet_tao_config.yml",
            yaml_file({"property": VANILLA_YML_PROPERTY, "class-attrs-all": CLASS_ATTRS}),
        ),
        "tao-txt": _write(
            root / "configs/peopleSemSegNet_tao/pgie_peopleSemSegNet_tao_config.txt",
            key_file({"property": TAO_PROPERTY, "class-attrs-all": CLASS_ATTRS}),
        ),
        "tlt-txt": _write(
            root / "configs/peopleSemSegNet_tlt/pgie_peopleSemSegNet_tlt_config.txt",
            key_file({"property": TLT_PROPERTY, "class-attrs-all": CLASS_ATTRS}),
        ),
        "city-txt": _write(
            root / CITY_DIR / "pgie_citysemsegformer_tao_config.txt",
            key_file({"property": CITY_PROPERTY}),
        ),
        "city-yml": _write(
            root / CITY_DIR / "pgie_citysemsegformer_tao_config.yml",
            yaml_file(
                {"property": CITY_PROPERTY},
                "source-list:\n  list: file:///opt/nvidia/deepstream/deepstream/samples/"
                "streams/sample_1080p_h264.mp4\n",
            ),
        ),
    }
    return Layout(root, configs)
