"""A fake ``pycuda.driver``: the API surface edge_app uses, with pycuda's names and semantics.

Device memory is a dict of ``bytearray`` keyed by fake device addresses; page-locked host
arrays are NumPy arrays whose ``base`` is a ``PagelockedHostAllocation`` with ``free()``,
as in pycuda. As in CUDA, each thread has its own context stack. Memory functions need a
current context (pycuda raises ``LogicError`` "invalid device context" otherwise). Every
copy, kernel launch and synchronisation is appended to ``STATE.ops`` so tests can check the
order of work on a stream.

Errors carry pycuda's messages: "<CUDA function> failed: <the driver's text>" where the
driver refuses, and pycuda's own wording where pycuda refuses before calling it (a stream
without a current context, popping an empty stack, freeing twice), from pycuda's
``src/cpp/cuda.hpp``. ``tests/test_pycuda_surface.py`` holds this module against the real
``pycuda.driver``.
"""

from __future__ import annotations

import enum
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# pycuda's exception hierarchy (pycuda._driver): Error and its subclasses.


class Error(Exception):
    pass


class LogicError(Error):
    pass


class LaunchError(Error):
    pass


class RuntimeError(Error):
    pass


class MemoryError(Error):
    pass


class device_attribute(enum.IntEnum):
    """pycuda's ``device_attribute``: an ``int`` enum of CUDA's ``CUdevice_attribute`` values."""

    MULTIPROCESSOR_COUNT = 16


@dataclass(frozen=True)
class FakeDeviceSpec:
    name: str = "Orin"
    compute_capability: tuple[int, int] = (8, 7)
    multiprocessors: int = 8
    total_memory: int = 7 * 1024**3


@dataclass
class _State:
    devices: list[FakeDeviceSpec] = field(default_factory=list)
    initialised: bool = False
    stacks: dict[int, list[Context]] = field(default_factory=dict)
    device_memory: dict[int, bytearray] = field(default_factory=dict)
    host_allocations: list[PagelockedHostAllocation] = field(default_factory=list)
    ops: list[tuple[Any, ...]] = field(default_factory=list)
    fail_next: dict[str, Error] = field(default_factory=dict)
    addresses: Any = field(default_factory=lambda: itertools.count(0x7F00_0000_0000, 1 << 20))
    stream_handles: Any = field(default_factory=lambda: itertools.count(0x5000, 16))

    @property
    def context_stack(self) -> list[Context]:
        """The calling thread's context stack (CUDA's are per thread)."""
        return self.stacks.setdefault(threading.get_ident(), [])

    def contexts_left_current(self) -> int:
        """Contexts still pushed on any thread."""
        return sum(len(stack) for stack in self.stacks.values())

    def live_device_bytes(self) -> int:
        return sum(len(b) for b in self.device_memory.values())

    def live_host_allocations(self) -> int:
        return sum(1 for a in self.host_allocations if not a.freed)


STATE = _State()


def reset(devices: list[FakeDeviceSpec] | None = None) -> None:
    """A fresh fake driver with ``devices`` (default: one Orin)."""
    global STATE
    STATE = _State(devices=list(devices) if devices is not None else [FakeDeviceSpec()])


def _maybe_fail(op: str) -> None:
    error = STATE.fail_next.pop(op, None)
    if error is not None:
        raise error


def _require_context(call: str) -> None:
    if not STATE.initialised:
        raise LogicError(f"{call} failed: initialization error")
    if not STATE.context_stack:
        raise LogicError(f"{call} failed: invalid device context")


def current_device() -> FakeDeviceSpec | None:
    return STATE.context_stack[-1].device.spec if STATE.context_stack else None


def init(flags: int = 0) -> None:
    if not STATE.devices:
        raise RuntimeError("cuInit failed: no CUDA-capable device is detected")
    STATE.initialised = True


class Device:
    def __init__(self, number: int) -> None:
        if not STATE.initialised:
            raise LogicError("cuDeviceGet failed: initialization error")
        if not 0 <= number < len(STATE.devices):
            raise LogicError("cuDeviceGet failed: invalid device ordinal")
        self.number = number
        self.spec = STATE.devices[number]

    @staticmethod
    def count() -> int:
        if not STATE.initialised:
            raise LogicError("cuDeviceGetCount failed: initialization error")
        return len(STATE.devices)

    def name(self) -> str:
        return self.spec.name

    def compute_capability(self) -> tuple[int, int]:
        return self.spec.compute_capability

    def total_memory(self) -> int:
        return self.spec.total_memory

    def get_attribute(self, attr: str) -> int:
        if attr == device_attribute.MULTIPROCESSOR_COUNT:
            return self.spec.multiprocessors
        raise LogicError(f"cuDeviceGetAttribute failed: invalid value ({attr})")

    def retain_primary_context(self) -> Context:
        return Context(self)

    def make_context(self, flags: int = 0) -> Context:
        context = Context(self)
        context.push()
        return context


class Context:
    def __init__(self, device: Device) -> None:
        self.device = device
        self.detached = False

    def push(self) -> None:
        if self.detached:
            raise LogicError("cuCtxPushCurrent failed: invalid device context")
        STATE.context_stack.append(self)

    @staticmethod
    def pop() -> None:
        if not STATE.context_stack:
            raise LogicError(
                "context::pop failed: invalid device context - cannot pop non-current context"
            )
        STATE.context_stack.pop()

    def detach(self) -> None:
        if self.detached:
            raise LogicError(
                "context::detach failed: invalid device context - cannot detach from invalid "
                "context"
            )
        self.detached = True

    @staticmethod
    def synchronize() -> None:
        _require_context("cuCtxSynchronize")


class DeviceAllocation:
    def __init__(self, address: int) -> None:
        self._address = address

    def __int__(self) -> int:
        return self._address

    def __index__(self) -> int:
        return self._address

    def free(self) -> None:
        if self._address not in STATE.device_memory:
            raise LogicError("device_allocation::free failed: invalid resource handle")
        del STATE.device_memory[self._address]


def mem_alloc(nbytes: int) -> DeviceAllocation:
    _require_context("cuMemAlloc")
    _maybe_fail("mem_alloc")
    spec = current_device()
    if spec is not None and STATE.live_device_bytes() + nbytes > spec.total_memory:
        raise MemoryError("cuMemAlloc failed: out of memory")
    address = next(STATE.addresses)
    STATE.device_memory[address] = bytearray(nbytes)
    return DeviceAllocation(address)


class PagelockedHostAllocation(bytearray):
    """Owns a page-locked array's memory (pycuda: the array's ``base``)."""

    freed = False

    def free(self) -> None:
        if self.freed:
            raise LogicError("pagelocked_host_allocation::free failed: invalid resource handle")
        self.freed = True


def pagelocked_empty(shape: Any, dtype: Any, order: str = "C", mem_flags: int = 0) -> np.ndarray:
    _require_context("cuMemHostAlloc")
    _maybe_fail("pagelocked_empty")
    dt = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    holder = PagelockedHostAllocation(count * dt.itemsize)
    STATE.host_allocations.append(holder)
    return np.ndarray(shape, dt, buffer=holder, order=order)


def _is_pagelocked(array: Any) -> bool:
    if not isinstance(array, np.ndarray):
        return False
    start = array.__array_interface__["data"][0]
    for holder in STATE.host_allocations:
        if holder.freed or not len(holder):
            continue
        base = np.frombuffer(holder, np.uint8).__array_interface__["data"][0]
        if base <= start < base + len(holder):
            return True
    return False


def resolve(pointer: int, nbytes: int) -> tuple[bytearray, int]:
    """The device allocation holding ``[pointer, pointer + nbytes)`` and the offset in it."""
    for address, memory in STATE.device_memory.items():
        if address <= pointer and pointer + nbytes <= address + len(memory):
            return memory, pointer - address
    raise LogicError("cuMemcpy failed: invalid argument (not an allocated device range)")


def _host_bytes(buffer: Any, *, writable: bool) -> memoryview:
    """The bytes of a contiguous host buffer, in memory order, refused as pycuda refuses them.

    pycuda asks for a contiguous buffer (C or Fortran order), writable for a destination:
    NumPy refuses others with ``ValueError``; a non-buffer is a ``TypeError``.
    """
    view = memoryview(buffer)
    if not view.contiguous:
        raise ValueError("ndarray is not contiguous")
    if writable and view.readonly:
        raise ValueError("buffer source array is read-only")
    if not view.c_contiguous:  # Fortran order: the same bytes, as they lie in memory
        view = memoryview(np.asarray(buffer).ravel(order="K"))
    return view.cast("B")


def _stream_handle(stream: Stream | None) -> int | None:
    if stream is not None and not isinstance(stream, Stream):
        # Boost.Python's ArgumentError, a TypeError, in pycuda.
        raise TypeError(f"expected a pycuda Stream or None, got {type(stream).__name__}")
    return None if stream is None else stream.handle


def _htod(call: str, dest: Any, src: Any, stream: Stream | None) -> None:
    handle = _stream_handle(stream)
    data = _host_bytes(src, writable=False)
    _require_context(call)
    _maybe_fail("memcpy_htod")
    memory, offset = resolve(int(dest), len(data))
    memory[offset : offset + len(data)] = data
    STATE.ops.append(("htod", int(dest), len(data), handle, _is_pagelocked(src)))


def _dtoh(call: str, dest: Any, src: Any, stream: Stream | None) -> None:
    handle = _stream_handle(stream)
    target = _host_bytes(dest, writable=True)
    _require_context(call)
    _maybe_fail("memcpy_dtoh")
    memory, offset = resolve(int(src), len(target))
    target[:] = memory[offset : offset + len(target)]
    STATE.ops.append(("dtoh", int(src), len(target), handle, _is_pagelocked(dest)))


def memcpy_htod(dest: Any, src: Any) -> None:
    _htod("cuMemcpyHtoD", dest, src, None)


def memcpy_htod_async(dest: Any, src: Any, stream: Stream | None = None) -> None:
    _htod("cuMemcpyHtoDAsync", dest, src, stream)


def memcpy_dtoh(dest: Any, src: Any) -> None:
    _dtoh("cuMemcpyDtoH", dest, src, None)


def memcpy_dtoh_async(dest: Any, src: Any, stream: Stream | None = None) -> None:
    _dtoh("cuMemcpyDtoHAsync", dest, src, stream)


class Stream:
    def __init__(self, flags: int = 0) -> None:
        # pycuda checks its own context stack before it calls cuStreamCreate.
        if not STATE.context_stack:
            raise LogicError(
                "explicit_context_dependent failed: invalid device context - no currently "
                "active context?"
            )
        _require_context("cuStreamCreate")
        self.handle = next(STATE.stream_handles)

    def synchronize(self) -> None:
        _require_context("cuStreamSynchronize")
        _maybe_fail("synchronize")
        STATE.ops.append(("sync", self.handle))

    def is_done(self) -> bool:
        return True
