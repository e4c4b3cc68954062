"""INT8 calibration from a folder of the store's own camera frames.

TensorRT's entropy calibrator asks for batches of preprocessed input on the GPU. The frames
go through the very same ``prepare_batch`` as at run time (so calibration sees exactly
what inference will see), into a page-locked buffer, then to the GPU. The resulting scales
are kept in a calibration cache file, so a rebuild (new JetPack, other batch size) does not
need the frames again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from edge_app.config import PreprocessConfig
from edge_app.core.atomic import PRIVATE, write_atomic
from edge_app.core.errors import SegmenterError
from edge_app.segmentation.preprocess import input_shape, prepare_batch
from edge_app.segmentation.tensorrt.cuda_buffers import DeviceBuffer, HostBuffer

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


@dataclass(frozen=True)
class CalibrationSource:
    """The frames to calibrate with and how to preprocess them."""

    files: tuple[Path, ...]
    preprocess: PreprocessConfig

    @classmethod
    def from_dir(
        cls, directory: Path, preprocess: PreprocessConfig, max_frames: int, batch_size: int
    ) -> CalibrationSource:
        """Up to ``max_frames`` images from ``directory`` (recursively), spread evenly.

        Raises ``SegmenterError`` when the folder is missing or holds fewer images than one
        batch.
        """
        if not directory.is_dir():
            raise SegmenterError(
                f"calibration folder {directory} does not exist (set segmenter.calibration_dir "
                "to a folder of JPEG/PNG frames from this store's cameras)"
            )
        files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < batch_size:
            raise SegmenterError(
                f"calibration folder {directory} has {len(files)} image(s), fewer than one "
                f"batch of {batch_size}; add a few hundred frames of the store's cameras"
            )
        if len(files) > max_frames:
            # Spread the pick over the whole folder (time of day, cameras), not the first N.
            picks = np.linspace(0, len(files) - 1, max_frames).round().astype(int)
            files = [files[i] for i in picks]
        return cls(tuple(files), preprocess)

    def batches(self, batch_size: int) -> Iterator[list[np.ndarray]]:
        """Whole batches of BGR images; unreadable files are skipped with a warning."""
        batch: list[np.ndarray] = []
        for path in self.files:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("calibration: cannot read %s as an image; skipped", path)
                continue
            batch.append(image)
            if len(batch) == batch_size:
                yield batch
                batch = []


def write_cache(path: Path, data: bytes) -> None:
    """Write a calibration cache atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, PRIVATE)


def make_calibrator(
    trt: ModuleType,
    cuda: ModuleType,
    source: CalibrationSource | None,
    cache: Path | None,
    batch_size: int,
) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` over ``source``, reading/writing ``cache``.

    Exceptions cannot cross TensorRT's callbacks, so a failure inside one ends calibration
    and is kept in ``calibrator.error``; the caller raises it after the build.
    """

    class Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.error: Exception | None = None
            self.frames_used = 0
            self._host: HostBuffer | None = None
            self._device: DeviceBuffer | None = None
            self._batches: Iterator[list[np.ndarray]] = iter(())
            if source is not None:
                shape = input_shape(source.preprocess, batch_size)
                self._host = HostBuffer(cuda, shape, np.float32)
                self._device = DeviceBuffer(cuda, self._host.array.nbytes)
                self._batches = source.batches(batch_size)

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self._host is None or self._device is None or source is None:
                return None
            try:
                images = next(self._batches, None)
                if images is None:
                    log.info("calibration: %d frames used", self.frames_used)
                    return None
                prepare_batch(images, source.preprocess, out=self._host.array)
                cuda.memcpy_htod(self._device.allocation, self._host.array)
            except Exception as exc:  # reported after the build, see the docstring
                log.error("calibration failed: %s", exc)
                self.error = exc
                return None
            self.frames_used += len(images)
            if self.frames_used % (batch_size * 25) < batch_size:
                log.info("calibration: %d frames", self.frames_used)
            return [self._device.ptr]  # one image input, whatever TensorRT names it

        def read_calibration_cache(self) -> bytes | None:
            if cache is not None and cache.is_file():
                log.info("INT8 calibration cache %s is used (delete it to recalibrate)", cache)
                return cache.read_bytes()
            return None

        def write_calibration_cache(self, data: Any) -> None:
            if cache is None:
                return
            try:
                write_cache(cache, bytes(memoryview(data)))
            except OSError as exc:
                log.error("cannot write the calibration cache %s: %s", cache, exc)
                self.error = exc
                return
            log.info("INT8 calibration cache written to %s", cache)

        def free(self) -> None:
            for buffer in (self._host, self._device):
                if buffer is not None:
                    buffer.free()
            self._host = self._device = None

    return Calibrator()
