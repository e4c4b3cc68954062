"""The fake TensorRT builder's ``build_serialized_network`` (see tests/fakes/tensorrt.py).

It checks what the real builder checks for this kind of network (a profile for every
dynamic input, profile shapes that fit the input, a calibrator or cache for INT8, a
calibration profile when the input is dynamic), drives the progress monitor and the INT8
calibrator through TensorRT's callback protocol, and serializes a plan the fake runtime
can load.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tests.fakes import pycuda_driver as cuda
from tests.fakes import tensorrt as trt
from tests.fakes.tensorrt_run import pack_plan

CALIBRATION_CACHE_HEADER = b"TRT-1003-EntropyCalibration2\n"


def _profile_shapes(logger: Any, network: Any, config: Any) -> dict[str, list[list[int]]] | None:
    shapes: dict[str, list[list[int]]] = {}
    profile = config._profiles[0] if config._profiles else None
    for tensor in network._inputs:
        dynamic = any(d < 0 for d in tensor.shape)
        given = profile.get_shape(tensor.name) if profile is not None else []
        if dynamic and not given:
            trt._error(
                logger,
                "Network has dynamic or shape inputs, but no optimization "
                "profile has been defined.",
            )
            return None
        if given:
            for dims in given:
                if len(dims) != len(tensor.shape) or any(
                    d >= 0 and d != v for d, v in zip(tensor.shape, dims, strict=True)
                ):
                    trt._error(
                        logger,
                        f"IOptimizationProfile: dimensions {list(dims)} of "
                        f"{tensor.name} do not match the network input "
                        f"{list(tensor.shape)}",
                    )
                    return None
            shapes[tensor.name] = [list(d) for d in given]
    return shapes


def _monitor(monitor: Any) -> bool:
    """Drive the monitor like TensorRT: nested phases, steps; False when cancelled."""
    monitor.phase_start("Building engine", None, 2)
    monitor.phase_start("Tactic selection", "Building engine", 3)
    for step in range(3):
        if not monitor.step_complete("Tactic selection", step):
            monitor.phase_finish("Tactic selection")
            monitor.phase_finish("Building engine")
            return False
    monitor.phase_finish("Tactic selection")
    for step in range(2):
        if not monitor.step_complete("Building engine", step):
            monitor.phase_finish("Building engine")
            return False
    monitor.phase_finish("Building engine")
    return True


def _calibrate(logger: Any, network: Any, config: Any) -> int | None:
    """Run the calibrator protocol; the number of batches read (0 with a cache)."""
    calibrator = config.int8_calibrator
    if calibrator is None:
        trt._error(
            logger,
            "Calibration failure occurred with no scaling factors detected. "
            "This could be due to no int8 calibrator or insufficient custom scales "
            "for network layers.",
        )
        return None
    if calibrator.read_calibration_cache():
        return 0
    tensor = network._inputs[0]
    shape = list(tensor.shape)
    if any(d < 0 for d in shape):
        profile = config.get_calibration_profile()
        if profile is None:
            trt._error(
                logger,
                "Calibration profile must be set when calibrating a network with dynamic shapes.",
            )
            return None
        shape = list(profile.get_shape(tensor.name)[1])  # calibration runs at the opt shape
    dtype = np.dtype(trt.nptype(tensor.dtype))
    count = math.prod(shape)
    batches = 0
    while True:
        pointers = calibrator.get_batch([tensor.name])
        if not pointers:
            break
        try:
            memory, offset = cuda.resolve(int(pointers[0]), count * dtype.itemsize)
        except cuda.LogicError as exc:
            trt._error(logger, f"Calibration failure: {exc}")
            return None
        data = np.frombuffer(memory, dtype, count=count, offset=offset)
        if not np.isfinite(data).all():
            trt._error(logger, "Calibration failure: non-finite input values")
            return None
        batches += 1
    if batches == 0:
        trt._error(logger, "Calibration failure occurred with no scaling factors detected.")
        return None
    calibrator.write_calibration_cache(
        CALIBRATION_CACHE_HEADER + f"{tensor.name}: 3c010a14\n".encode()
    )
    return batches


def build(logger: Any, network: Any, config: Any) -> trt.IHostMemory | None:
    if not network._inputs:
        trt._error(logger, "Network must have at least one input.")
        return None
    shapes = _profile_shapes(logger, network, config)
    if shapes is None:
        return None
    if trt.RECORD.build_failure:
        trt._error(logger, trt.RECORD.build_failure)
        return None
    monitor = config._progress_monitor
    if monitor is not None and not _monitor(monitor):
        trt._error(logger, "Build was cancelled by the progress monitor.")
        return None
    calibration_batches = None
    if trt.BuilderFlag.INT8 in config._flags:
        calibration_batches = _calibrate(logger, network, config)
        if calibration_batches is None:
            return None
    device = cuda.current_device() or cuda.STATE.devices[0]
    trt.RECORD.builds.append(
        {
            "flags": sorted(f.name for f in config._flags),
            "workspace": config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE),
            "profiles": shapes,
            "calibration_batches": calibration_batches,
        }
    )

    def describe(tensor: Any) -> dict[str, Any]:
        return {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype.name}

    header = {
        "version": trt.__version__,
        "device": device.name,
        "compute": list(device.compute_capability),
        "inputs": [describe(t) for t in network._inputs],
        "outputs": [describe(t) for t in network._outputs],
        "profile": shapes,
        "flags": sorted(f.name for f in config._flags),
    }
    return trt.IHostMemory(pack_plan(header, network._onnx))
