"""CUDA through pycuda: the GPU check, the context, and small owners of GPU resources.

Nothing here imports pycuda at module level. ``open_gpu`` is the one way in: it imports
``pycuda.driver``, initialises the driver and checks that the device exists, so a machine
without an NVIDIA driver gets a ``SegmenterError`` before anything touches TensorRT (whose
runtime crashes the process when constructed without a driver).

The pycuda context is the device's *primary* context, the one the CUDA runtime API (and so
TensorRT) uses too. It is made current only inside ``GpuSession.active()``, so the object
can be created on one thread and used from the runner's inference thread. Every buffer and
stream is a small class with ``free()``/``close()``; every pycuda failure becomes a
``SegmenterError`` that says what was being done.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_app.core.errors import SegmenterError

log = logging.getLogger(__name__)

# Where Linux on a Jetson (and other device-tree boards) names the board: every Orin module
# reports the same CUDA device name ("Orin"), so this tells a Nano from an AGX.
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


@dataclass(frozen=True)
class GpuInfo:
    """What an engine is specific to: the GPU, its compute capability and the board.

    ``total_memory_mb`` is the device memory in MiB (shared with the CPU on a Jetson).
    """

    name: str
    compute_capability: str
    multiprocessors: int
    total_memory_mb: int
    board: str

    def describe(self) -> str:
        board = f" on {self.board}" if self.board else ""
        return (
            f"{self.name} (compute {self.compute_capability}, {self.multiprocessors} SMs, "
            f"{self.total_memory_mb} MiB){board}"
        )


def read_board_model(path: Path | None = None) -> str:
    """The board's model string from the device tree, or "" where there is none (x86)."""
    try:
        return (
            (path or DEVICE_TREE_MODEL)
            .read_bytes()
            .rstrip(b"\x00\n")
            .decode("utf-8", "replace")
            .strip()
        )
    except OSError:
        return ""


def import_cuda_driver() -> ModuleType:
    """``pycuda.driver``, or a ``SegmenterError`` saying how to get a working one."""
    try:
        cuda = importlib.import_module("pycuda.driver")
    except (ImportError, OSError) as exc:
        raise SegmenterError(
            f"the tensorrt segmenter needs pycuda and an NVIDIA driver, and pycuda cannot be "
            f"imported here ({exc}). On a Jetson build pycuda against JetPack's CUDA "
            "(docs/jetson.md); on a machine without an NVIDIA GPU use segmenter type "
            "onnxruntime or background"
        ) from exc
    return cuda


@contextmanager
def cuda_errors(cuda: ModuleType, doing: str) -> Iterator[None]:
    """Turn pycuda's errors inside the block into ``SegmenterError("CUDA failed while ...")``."""
    try:
        yield
    except cuda.Error as exc:
        hint = ""
        if isinstance(exc, cuda.MemoryError):
            hint = (
                " (out of GPU memory: lower batch_size, or stop other GPU processes; on a "
                "Jetson the GPU shares the system RAM)"
            )
        raise SegmenterError(f"CUDA failed while {doing}: {exc}{hint}") from exc


class GpuSession:
    """The CUDA driver, one device's primary context, and what the device is.

    Use ``with session.active():`` around every CUDA or TensorRT call; ``close()`` releases
    the context (call it after freeing everything allocated in it).
    """

    def __init__(self, cuda: ModuleType, device_id: int = 0) -> None:
        self.cuda = cuda
        self._context: Any = None
        with cuda_errors(cuda, "initialising the driver"):
            cuda.init()
            count = int(cuda.Device.count())
        if count == 0:
            raise SegmenterError(
                "the CUDA driver reports no GPU: check that the NVIDIA driver is loaded "
                "(nvidia-smi, or tegrastats on a Jetson) and that this user may use it "
                "(the video and render groups)"
            )
        if device_id >= count:
            raise SegmenterError(
                f"segmenter.device_id is {device_id} but this machine has {count} GPU(s) "
                f"(use 0..{count - 1})"
            )
        with cuda_errors(cuda, f"opening GPU {device_id}"):
            device = cuda.Device(device_id)
            major, minor = device.compute_capability()
            self.info = GpuInfo(
                name=str(device.name()),
                compute_capability=f"{major}.{minor}",
                multiprocessors=int(
                    device.get_attribute(cuda.device_attribute.MULTIPROCESSOR_COUNT)
                ),
                total_memory_mb=int(device.total_memory()) // (1 << 20),
                board=read_board_model(),
            )
            # retain_primary_context() makes nothing current; active() pushes it when used.
            self._context = device.retain_primary_context()
        log.info("GPU %d: %s", device_id, self.info.describe())

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the context current on this thread for the block (pycuda needs it)."""
        if self._context is None:
            raise SegmenterError("the GPU session is closed")
        with cuda_errors(self.cuda, "activating the CUDA context"):
            self._context.push()
        try:
            yield
        finally:
            with cuda_errors(self.cuda, "deactivating the CUDA context"):
                self.cuda.Context.pop()

    def close(self) -> None:
        """Release the context; safe to call twice."""
        context, self._context = self._context, None
        if context is not None:
            with cuda_errors(self.cuda, "releasing the CUDA context"):
                context.detach()


def open_gpu(device_id: int = 0) -> GpuSession:
    """Import pycuda, start the driver and check the device: the GPU check before TensorRT."""
    return GpuSession(import_cuda_driver(), device_id)


class HostBuffer:
    """A page-locked host array (fast, asynchronous copies to and from the GPU).

    ``array`` has the given shape and dtype; ``free()`` releases the pinned memory, after
    which the array must not be used.
    """

    def __init__(self, cuda: ModuleType, shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
        self._cuda = cuda
        with cuda_errors(cuda, f"allocating page-locked host memory {shape} {np.dtype(dtype)}"):
            self.array: np.ndarray = cuda.pagelocked_empty(shape, dtype)

    def free(self) -> None:
        array = getattr(self, "array", None)
        if array is not None:
            del self.array
            with cuda_errors(self._cuda, "freeing page-locked host memory"):
                array.base.free()


class DeviceBuffer:
    """``nbytes`` of GPU memory; ``ptr`` is its device address for TensorRT."""

    def __init__(self, cuda: ModuleType, nbytes: int) -> None:
        self._cuda = cuda
        self.nbytes = nbytes
        with cuda_errors(cuda, f"allocating {nbytes / (1 << 20):.1f} MiB of GPU memory"):
            self._allocation: Any = cuda.mem_alloc(nbytes)
            self.ptr = int(self._allocation)

    @property
    def allocation(self) -> Any:
        """The pycuda ``DeviceAllocation`` (what pycuda's copy functions take)."""
        if self._allocation is None:
            raise SegmenterError("GPU buffer used after it was freed")
        return self._allocation

    def free(self) -> None:
        allocation, self._allocation = self._allocation, None
        if allocation is not None:
            with cuda_errors(self._cuda, "freeing GPU memory"):
                allocation.free()


class CudaStream:
    """A CUDA stream: copies and inference queued on it run in order."""

    def __init__(self, cuda: ModuleType) -> None:
        self._cuda = cuda
        with cuda_errors(cuda, "creating a CUDA stream"):
            self._stream: Any = cuda.Stream()

    @property
    def stream(self) -> Any:
        if self._stream is None:
            raise SegmenterError("CUDA stream used after it was closed")
        return self._stream

    @property
    def handle(self) -> int:
        """The raw ``cudaStream_t`` value TensorRT's ``execute_async_v3`` takes."""
        return int(self.stream.handle)

    def synchronize(self) -> None:
        with cuda_errors(self._cuda, "waiting for the GPU"):
            self.stream.synchronize()

    def close(self) -> None:
        # pycuda destroys the stream when the last reference goes.
        self._stream = None
