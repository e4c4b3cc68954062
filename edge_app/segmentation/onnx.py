"""The ``onnxruntime`` segmenter: any person-segmentation ONNX model on ONNX Runtime.

Preprocessing (``segmentation.preprocess``) and output decoding (``segmentation.decode``)
are configured like DeepStream nvinfer and default to PeopleSemSegFormer's contract. The
model is checked once at construction: the configured input and output tensors must exist
and the input shape must agree with ``infer_dims`` and ``tensor_layout``. ``onnxruntime``
is imported here only, so the package works without it.

Example (MediaPipe's landscape selfie model: NHWC, RGB in 0..1, a probability out)::

    segmenter = OnnxSegmenter(OnnxSegmenterConfig(
        model=Path("selfie_segmentation_landscape.onnx"),
        input_name="input_1",
        output=OutputConfig(name="segment_back"),
        preprocess=PreprocessConfig(infer_dims=(3, 144, 256), tensor_layout="NHWC",
                                    net_scale_factor=1 / 255, offsets=(0.0,)),
    ))
    masks = segmenter.segment(frames)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from edge_app.config import OnnxSegmenterConfig
from edge_app.core.domain import Frame, ImageU8, PersonMask
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.decode import decode_masks, to_person_masks
from edge_app.segmentation.preprocess import PreparedBatch, input_shape, prepare_batch

# ONNX element types of the outputs the decoder reads (for the construction-time check).
_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _import_onnxruntime() -> ModuleType:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise SegmenterError(
            "the onnxruntime segmenter needs the onnxruntime package, which is not installed: "
            "pip install 'edge-app[onnx]' (or onnxruntime-gpu on a CUDA machine), or use "
            "segmenter type: background"
        ) from exc


def runtime_errors(ort: ModuleType) -> tuple[type[BaseException], ...]:
    """ONNX Runtime's own exception classes (they do not share a base below Exception)."""
    state = getattr(getattr(ort, "capi", None), "onnxruntime_pybind11_state", None)
    found = [
        cls
        for name in (
            "Fail",
            "InvalidArgument",
            "NoSuchFile",
            "NoModel",
            "EngineError",
            "RuntimeException",
            "InvalidProtobuf",
            "ModelLoaded",
            "NotImplemented",
            "InvalidGraph",
            "EPFail",
        )
        if isinstance(cls := getattr(state, name, None), type) and issubclass(cls, Exception)
    ]
    return (RuntimeError, ValueError, OSError, *found)


@dataclass(frozen=True)
class PreparedFrames:
    """Frames made into model inputs by ``OnnxSegmenter.prepare``: one batch per run of
    the model (a fixed-batch model's last one padded with zero rows)."""

    chunks: tuple[PreparedBatch, ...]


def _describe(tensors: Sequence[Any]) -> str:
    return ", ".join(f"{t.name!r} {list(t.shape)} {t.type}" for t in tensors)


class OnnxSegmenter:
    """Person masks from an ONNX model run by ONNX Runtime.

    ``batch_size`` comes from the config; a model whose input has a fixed batch runs in
    chunks of exactly that batch (one frame at a time for a batch of 1, the last chunk
    padded). Masks are at the model's output resolution with the mapping to frame pixels.
    Raises ``SegmenterError`` for a missing model, a missing runtime or a model that does
    not match the config, naming the model's real tensors.
    """

    name = "onnxruntime"

    def __init__(self, config: OnnxSegmenterConfig) -> None:
        self.config = config
        self.batch_size = config.batch_size
        # Preparing frames in another thread pays when ONNX Runtime leaves a core free; with
        # its default (0: a thread per core), work beside its operators only delays them.
        threads = config.intra_op_threads
        self.prepare_apart = 0 < threads < (os.cpu_count() or 1)
        ort = _import_onnxruntime()
        self._errors = runtime_errors(ort)
        if not config.model.is_file():
            raise SegmenterError(
                f"ONNX model {config.model} not found: set segmenter.model to the .onnx file "
                "(relative paths are relative to the config file)"
            )
        available = set(ort.get_available_providers())
        missing = [p for p in config.providers if p not in available]
        if missing:
            raise SegmenterError(
                f"ONNX Runtime providers {missing} are not available here; available: "
                f"{sorted(available)} (fix segmenter.providers)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.intra_op_threads
        try:
            self._session: Any = ort.InferenceSession(
                str(config.model), sess_options=options, providers=list(config.providers)
            )
        except self._errors as exc:
            raise SegmenterError(
                f"ONNX Runtime cannot load {config.model}: {exc} (is it a valid ONNX model?)"
            ) from exc
        self._run_batch = self._check_input()
        self._check_output()
        rows = self._run_batch or config.batch_size
        self._buffer = np.zeros(input_shape(config.preprocess, rows), np.float32)

    def _check_input(self) -> int | None:
        """Validate the input tensor; return its fixed batch size (``None`` when dynamic)."""
        cfg = self.config
        inputs = self._session.get_inputs()
        found = [t for t in inputs if t.name == cfg.input_name]
        if not found:
            raise SegmenterError(
                f"{cfg.model}: no input named {cfg.input_name!r}; the model's inputs are "
                f"{_describe(inputs)} (set segmenter.input_name)"
            )
        tensor = found[0]
        if tensor.type != "tensor(float)":
            raise SegmenterError(
                f"{cfg.model}: input {tensor.name!r} is {tensor.type}; only float32 inputs "
                "are supported (export the model with a float input)"
            )
        shape = list(tensor.shape)
        expected = input_shape(cfg.preprocess, 0)[1:]
        dims_ok = len(shape) == 4 and all(
            not isinstance(d, int) or d == e for d, e in zip(shape[1:], expected, strict=True)
        )
        if not dims_ok:
            raise SegmenterError(
                f"{cfg.model}: input {tensor.name!r} has shape {shape}, but infer_dims "
                f"{list(cfg.preprocess.infer_dims)} with tensor_layout "
                f"{cfg.preprocess.tensor_layout} make [N, {', '.join(map(str, expected))}]"
                f"{_layout_hint(shape)}; the model's inputs are {_describe(inputs)}"
            )
        batch = shape[0]
        return batch if isinstance(batch, int) and batch > 0 else None

    def _check_output(self) -> None:
        """Validate the output tensor, and its form too when its shape is fully static."""
        cfg = self.config
        outputs = self._session.get_outputs()
        found = [t for t in outputs if t.name == cfg.output.name]
        if not found:
            raise SegmenterError(
                f"{cfg.model}: no output named {cfg.output.name!r}; the model's outputs are "
                f"{_describe(outputs)} (set segmenter.output.name)"
            )
        tensor = found[0]
        dtype = _ONNX_DTYPES.get(tensor.type)
        if dtype is None:
            raise SegmenterError(
                f"{cfg.model}: output {tensor.name!r} is {tensor.type}, which the mask decoder "
                "cannot read (it needs an integer or floating point tensor)"
            )
        shape = list(tensor.shape)
        if len(shape) >= 3 and all(isinstance(d, int) and d > 0 for d in shape[1:]):
            # Decoding a zero tensor of the declared shape raises the decoder's own error now,
            # at start-up, instead of on the first frame.
            probe: np.ndarray = np.zeros([1, *shape[1:]], dtype)
            decode_masks(probe, cfg.output, 1)

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        """One ``PersonMask`` per frame, in order (uint8 0/1 at the output resolution)."""
        self._check_open()
        masks: list[PersonMask] = []
        for images in self._image_chunks(frames):
            masks.extend(self._run(self._prepare_chunk(images, self._buffer)))
        return masks

    def prepare(self, frames: Sequence[Frame]) -> PreparedFrames:
        """The first half of ``segment``: the frames as model inputs, in new buffers.

        Safe to call from another thread while ``infer`` runs (a pipeline prepares the next
        frames beside the inference of the current ones); ``infer(prepare(frames))`` gives
        exactly the masks of ``segment(frames)``."""
        chunks = []
        for images in self._image_chunks(frames):
            rows = self._run_batch or len(images)
            buffer = np.empty(input_shape(self.config.preprocess, rows), np.float32)
            chunks.append(self._prepare_chunk(images, buffer))
        return PreparedFrames(tuple(chunks))

    def infer(self, prepared: PreparedFrames) -> list[PersonMask]:
        """The second half of ``segment``: the model on prepared frames, one mask each."""
        self._check_open()
        masks: list[PersonMask] = []
        for chunk in prepared.chunks:
            masks.extend(self._run(chunk))
        return masks

    def _image_chunks(self, frames: Sequence[Frame]) -> Iterator[list[ImageU8]]:
        """The frames' images in runs of the model: its fixed batch, or the config's."""
        step = self._run_batch or self.config.batch_size
        for start in range(0, len(frames), step):
            yield [f.image for f in frames[start : start + step]]

    def _check_open(self) -> None:
        if self._session is None:
            raise SegmenterError("the onnxruntime segmenter is closed")

    def _prepare_chunk(self, images: list[np.ndarray], buffer: np.ndarray) -> PreparedBatch:
        prepared = prepare_batch(images, self.config.preprocess, out=buffer)
        if self._run_batch is not None and len(images) < self._run_batch:
            # A fixed-batch model gets the whole buffer; the unused rows hold zeros.
            buffer[len(images) :] = 0.0
            return PreparedBatch(buffer, prepared.mappings)
        return prepared

    def _run(self, prepared: PreparedBatch) -> list[PersonMask]:
        """The model on one chunk; ``prepared.mappings`` are its real frames (no padding)."""
        try:
            (output,) = self._session.run(
                [self.config.output.name], {self.config.input_name: prepared.tensor}
            )
        except self._errors as exc:
            raise SegmenterError(f"ONNX Runtime failed on {self.config.model}: {exc}") from exc
        masks = decode_masks(np.asarray(output), self.config.output, len(prepared.mappings))
        return to_person_masks(masks, prepared.mappings)

    def close(self) -> None:
        """Release the session; ``segment`` fails afterwards, ``close`` may be repeated."""
        self._session = None


def _layout_hint(shape: list[Any]) -> str:
    """A suggested ``infer_dims``/``tensor_layout`` for a static 4-D model input."""
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        return ""
    if shape[1] in (1, 3):
        return f" (set infer_dims: [{shape[1]}, {shape[2]}, {shape[3]}], tensor_layout: NCHW)"
    if shape[3] in (1, 3):
        return f" (set infer_dims: [{shape[3]}, {shape[1]}, {shape[2]}], tensor_layout: NHWC)"
    return ""
