"""What each DeepStream ``nvinfer`` key means here: read, ignored (and why), or unknown.

``MODEL_KEYS`` are read into the segmenter settings. ``IGNORED_KEYS`` mean something only
inside a DeepStream pipeline; a value that does what this daemon does anyway is reported at
INFO, any other value as a warning (it would change what DeepStream does). ``OTHER_KEYS``
are further keys nvinfer knows, so that a key outside every table can be told apart: when
it is a near miss of a model key (``onnx-file:=`` in one of NVIDIA's own files) the file
is refused, since the model setting it was meant to give would silently be lost.
"""

from __future__ import annotations

import difflib

MODEL_KEYS = {
    "onnx-file": "onnx",
    "model-engine-file": "engine",
    "net-scale-factor": "preprocess.net_scale_factor",
    "offsets": "preprocess.offsets",
    "model-color-format": "preprocess.model_color_format",
    "infer-dims": "preprocess.infer_dims",
    "maintain-aspect-ratio": "preprocess.maintain_aspect_ratio",
    "symmetric-padding": "preprocess.symmetric_padding",
    "network-input-order": "preprocess.tensor_layout",
    "batch-size": "batch_size",
    "network-mode": "network_mode",
    "workspace-size": "workspace_mb",
    "int8-calib-file": "calibration_cache",
    "output-blob-names": "output.name",
    "segmentation-threshold": "output.threshold",
    "gpu-id": "device_id",
    "labelfile-path": "output.person_class",
}
"""nvinfer keys read here -> the segmenter setting each one gives."""

PATH_KEYS = frozenset({"onnx-file", "model-engine-file", "int8-calib-file", "labelfile-path"})
"""Model keys whose value is a path (relative to the nvinfer file's folder)."""

IGNORED_KEYS: dict[str, tuple[frozenset[str], str]] = {
    "interval": (frozenset({"0"}), "the processing rate is set per camera (cameras[].fps)"),
    "gie-unique-id": (frozenset({"*"}), "there is one model, no GIE ids"),
    "process-mode": (frozenset({"1"}), "the model always runs on full frames"),
    "network-type": (
        frozenset({"2", "100"}),
        "the output is always decoded as a person segmentation (segmenter.output)",
    ),
    "cluster-mode": (frozenset({"*"}), "detector clustering does not apply to segmentation"),
    "output-tensor-meta": (frozenset({"*"}), "outputs are always decoded here"),
    "segmentation-output-order": (
        frozenset({"*"}),
        "the output layout is detected from its shape (set segmenter.output.form to force it)",
    ),
    "num-detected-classes": (frozenset({"*"}), "the person class comes from the labels file"),
    "tlt-model-key": (frozenset({"*"}), "encrypted .etlt models cannot be read here"),
    "tlt-encoded-model": (
        frozenset({"*"}),
        "encrypted .etlt models cannot be read here; onnx-file is used",
    ),
    "uff-input-blob-name": (frozenset(), "UFF models are not supported; use the ONNX"),
    "custom-lib-path": (frozenset(), "custom parsers do not apply"),
    "parse-bbox-func-name": (frozenset(), "detector parsers do not apply"),
    "scaling-filter": (frozenset({"0", "1"}), "frames are resized bilinearly"),
    "scaling-compute-hw": (frozenset(), "the VIC scaling is set by the source (decode: jetson)"),
    "enable-dla": (frozenset({"0"}), "DLA is not used; the model runs on the GPU"),
    "use-dla-core": (frozenset(), "DLA is not used; the model runs on the GPU"),
}
"""key -> (values that are neutral here, ``*`` for any; why it is ignored)."""

DETECTOR_KEYS = frozenset(
    {
        "roi-top-offset",
        "roi-bottom-offset",
        "detected-min-w",
        "detected-min-h",
        "detected-max-w",
        "detected-max-h",
        "pre-cluster-threshold",
        "post-cluster-threshold",
        "nms-iou-threshold",
        "topk",
        "eps",
        "group-threshold",
        "minBoxes",
        "dbscan-min-score",
        "threshold",
    }
)
"""Detector per-class keys (also valid in ``[property]``): never meaningful for segmentation."""

OTHER_KEYS = frozenset(
    {
        "model-file",
        "proto-file",
        "uff-file",
        "uff-input-dims",
        "uff-input-order",
        "input-dims",
        "custom-network-config",
        "engine-create-func-name",
        "parse-classifier-func-name",
        "parse-func",
        "classifier-threshold",
        "classifier-async-mode",
        "classifier-type",
        "operate-on-gie-id",
        "operate-on-class-ids",
        "filter-out-class-ids",
        "input-object-min-width",
        "input-object-min-height",
        "input-object-max-width",
        "input-object-max-height",
        "secondary-reinfer-interval",
        "output-io-formats",
        "layer-device-precision",
        "crop-objects-to-roi-boundary",
        "input-tensor-from-meta",
        "disable-output-host-copy",
        "tensor-meta-pool-size",
        "mean-file",
        "is-classifier",
        "dump-input-tensor",
        "dump-output-tensor",
        "overwrite-input-tensor",
        "clip-object-outside-roi",
        "num-classes",
    }
)
"""Further keys nvinfer knows, which do not apply to this daemon."""

KNOWN_KEYS = frozenset(MODEL_KEYS) | frozenset(IGNORED_KEYS) | DETECTOR_KEYS | OTHER_KEYS


def is_neutral(key: str, value: str) -> bool:
    """Whether an ignored key's value does what this daemon does anyway."""
    neutral, _ = IGNORED_KEYS[key]
    return "*" in neutral or value in neutral


def meant_model_key(key: str) -> str | None:
    """The model key an unknown ``key`` was surely meant to be (a stray ``:``, a typo), or
    ``None``. Known keys are never near misses."""
    if key in KNOWN_KEYS:
        return None
    stripped = key.strip(":= \t")
    if stripped in MODEL_KEYS:
        return stripped
    close = difflib.get_close_matches(stripped, list(MODEL_KEYS), n=1, cutoff=0.85)
    return close[0] if close else None
