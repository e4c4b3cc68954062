"""Fakes for hardware CI cannot have: ``tensorrt`` (10.3 or 8.6) and ``pycuda.driver``.

``install_fake_gpu(monkeypatch)`` puts them in ``sys.modules`` under the real names, so the
code under test imports them exactly as on a Jetson; ``tensorrt="8.6.2"`` gives JetPack
6.0's TensorRT instead of 6.1/6.2's 10.3. ``driver=False`` simulates a machine without an
NVIDIA driver: ``import pycuda.driver`` fails, and TensorRT's runtime and builder log the
reason and raise ``TypeError`` if anything constructs them, as the real bindings do.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from tests.fakes import pycuda_driver
from tests.fakes import tensorrt as fake_tensorrt

FakeDeviceSpec = pycuda_driver.FakeDeviceSpec


@dataclass
class FakeGpu:
    """Handles on the installed fakes and what they recorded."""

    cuda: ModuleType
    trt: ModuleType

    @property
    def ops(self) -> list[tuple[Any, ...]]:
        return pycuda_driver.STATE.ops

    @property
    def state(self) -> Any:
        return pycuda_driver.STATE

    @property
    def record(self) -> Any:
        return fake_tensorrt.RECORD


def install_fake_gpu(
    monkeypatch: pytest.MonkeyPatch,
    *,
    driver: bool = True,
    devices: list[FakeDeviceSpec] | None = None,
    tensorrt: str = "10.3.0",
) -> FakeGpu:
    pycuda_driver.reset(devices if driver else [])
    fake_tensorrt.reset(driver_present=driver, version=tensorrt)
    package = types.ModuleType("pycuda")
    if driver:
        package.driver = pycuda_driver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pycuda", package)
    # None in sys.modules makes "import pycuda.driver" raise ImportError, as when libcuda
    # cannot be loaded.
    monkeypatch.setitem(sys.modules, "pycuda.driver", pycuda_driver if driver else None)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    return FakeGpu(pycuda_driver, fake_tensorrt)
