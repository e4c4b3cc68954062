"""Building a TensorRT engine from the ONNX model (TensorRT 8.6 and 10.x builder API).

``build_engine`` parses the ONNX file, adds an optimisation profile for the batch size,
sets the precision (nvinfer's ``network-mode``: 0 FP32, 1 INT8, 2 FP16), the workspace
limit, an INT8 calibrator reading the store's own frames when asked, and a progress monitor
(TensorRT 10), then returns the serialized engine. Builds take 10-15 minutes on an Orin, so
progress goes to a ``BuildProgress`` (a live display in the CLI, periodic log lines in the
daemon).

Stopping a build: TensorRT runs it in native code with the GIL released and swallows
exceptions raised in its callbacks, so a Ctrl-C cannot cross it. The build therefore runs
in a worker thread while the calling thread waits in Python, where Ctrl-C (or setting
``cancel``) arrives at once: with TensorRT 10 the progress monitor then stops the build at
its next step and ``KeyboardInterrupt`` is raised when it has; TensorRT 8.x has no monitor,
so the build runs to its end. A second Ctrl-C leaves at once, abandoning the build thread
(for a command that is about to exit).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from edge_app.core.errors import SegmenterError
from edge_app.segmentation.tensorrt.bindings import (
    create_builder,
    has_progress_monitor,
    network_flags,
)
from edge_app.segmentation.tensorrt.calibration import CalibrationSource, make_calibrator
from edge_app.segmentation.tensorrt.cuda_buffers import GpuSession

log = logging.getLogger(__name__)

OOM_HINT = (
    "if it ran out of memory, lower segmenter.workspace_mb or batch_size, stop other GPU "
    "users (a desktop session, DeepStream) and add swap; see docs/jetson.md"
)


class BuildProgress(Protocol):
    """Receives TensorRT's build phases. Called from TensorRT's threads."""

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None: ...

    def step(self, phase: str, step: int) -> None: ...

    def phase_finish(self, phase: str) -> None: ...


class LogProgress:
    """Build progress as log lines: every top-level phase, and a heartbeat every ``every_s``."""

    def __init__(self, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()
        self._steps: dict[str, tuple[int, int]] = {}

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        with self._lock:
            self._steps[phase] = (0, steps)
            if parent is None:
                log.info("engine build: %s (%d steps)", phase, steps)

    def step(self, phase: str, step: int) -> None:
        with self._lock:
            total = self._steps.get(phase, (0, 0))[1]
            self._steps[phase] = (step + 1, total)
            now = self._clock()
            if now - self._last >= self._every_s:
                self._last = now
                log.info("engine build: %s %d/%d", phase, step + 1, total)

    def phase_finish(self, phase: str) -> None:
        with self._lock:
            self._steps.pop(phase, None)


class _Silent:
    """No progress display: the monitor is still there, for cancelling."""

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        pass

    def step(self, phase: str, step: int) -> None:
        pass

    def phase_finish(self, phase: str) -> None:
        pass


def _monitor(trt: ModuleType, progress: BuildProgress, cancel: threading.Event) -> Any:
    """A ``trt.IProgressMonitor`` forwarding to ``progress``; ``cancel`` stops the build."""

    class Monitor(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            progress.phase_start(phase_name, parent_phase, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            try:
                progress.step(phase_name, step)
            except KeyboardInterrupt:
                # TensorRT cannot take an exception through its callback: cancel instead.
                cancel.set()
            return not cancel.is_set()

        def phase_finish(self, phase_name: str) -> None:
            progress.phase_finish(phase_name)

    return Monitor()


def make_logger(trt: ModuleType) -> Any:
    """A ``trt.ILogger`` sending TensorRT's messages to logging and keeping the errors."""

    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: logging.ERROR,
        severity.ERROR: logging.ERROR,
        severity.WARNING: logging.WARNING,
        severity.INFO: logging.DEBUG,
        severity.VERBOSE: logging.DEBUG,
    }
    trt_log = logging.getLogger("edge_app.tensorrt")

    class Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, sev: Any, msg: str) -> None:
            level = levels.get(sev, logging.INFO)
            if level >= logging.ERROR:
                self.errors.append(msg)
            trt_log.log(level, "TensorRT: %s", msg)

        def take_errors(self) -> str:
            text = "; ".join(self.errors[-3:])
            self.errors.clear()
            return text

    return Logger()


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the model, the batch, the precision and the limits.

    ``frame_shape`` is one frame's input tensor shape in the model's layout (no batch);
    ``network_mode`` is 0 FP32, 1 INT8, 2 FP16; ``workspace_mb`` caps TensorRT's scratch
    memory (MiB). INT8 needs ``calibration`` frames or an existing ``calibration_cache``.
    """

    onnx: Path
    input_name: str
    frame_shape: tuple[int, ...]
    batch_size: int
    network_mode: int
    workspace_mb: int
    calibration: CalibrationSource | None = None
    calibration_cache: Path | None = None


def _parse_onnx(trt: ModuleType, builder: Any, logger: Any, onnx: Path) -> Any:
    if not onnx.is_file():
        raise SegmenterError(f"ONNX model {onnx} not found (check segmenter.onnx or onnx-file)")
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise SegmenterError(
            f"TensorRT cannot parse {onnx}: {'; '.join(errors) or logger.take_errors()} "
            "(is it a complete ONNX file for this TensorRT version?)"
        )
    return network, parser


def _network_input(network: Any, name: str) -> Any:
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if len(inputs) != 1:
        names = ", ".join(repr(t.name) for t in inputs)
        raise SegmenterError(
            f"the model has {len(inputs)} inputs ({names}); segmentation "
            "models with exactly one image input are supported"
        )
    if inputs[0].name != name:
        log.info("model input is %r (segmenter.input_name says %r); using it", inputs[0].name, name)
    return inputs[0]


def _profile(builder: Any, tensor: Any, request: BuildRequest) -> Any | None:
    """The optimisation profile for batches 1..batch_size, or None for a fixed input."""
    shape = tuple(int(d) for d in tensor.shape)
    frame = request.frame_shape
    if len(shape) != 1 + len(frame):
        raise SegmenterError(
            f"model input {tensor.name!r} is {list(shape)}, expected "
            f"[N, {', '.join(map(str, frame))}]"
        )
    for d, want in zip(shape[1:], frame, strict=True):
        if d >= 0 and d != want:
            raise SegmenterError(
                f"model input {tensor.name!r} is {list(shape)} but infer_dims/tensor_layout "
                f"make [N, {', '.join(map(str, frame))}]: fix segmenter.preprocess"
            )
    if all(d >= 0 for d in shape):
        if shape[0] != request.batch_size:
            raise SegmenterError(
                f"the model has a fixed batch of {shape[0]}; set batch_size: {shape[0]} or "
                "export the ONNX model with a dynamic batch dimension"
            )
        return None
    profile = builder.create_optimization_profile()
    hi = (request.batch_size, *frame)
    lo = (1 if shape[0] < 0 else shape[0], *frame)
    # opt = max: the daemon batches across cameras up to batch_size, the common case.
    profile.set_shape(tensor.name, lo, hi, hi)
    return profile


def _setup_int8(
    trt: ModuleType,
    gpu: GpuSession,
    config: Any,
    profile: Any | None,
    request: BuildRequest,
    logger: Any,
) -> Any | None:
    """Turn on INT8 with a calibrator when asked; returns the calibrator (to free after)."""
    if request.network_mode != 1:
        return None
    cache = request.calibration_cache
    if request.calibration is None and (cache is None or not cache.is_file()):
        raise SegmenterError(
            "network_mode 1 (INT8) needs calibration frames: set segmenter.calibration_dir "
            "to a folder of this store's camera frames (or give an existing calibration_cache)"
        )
    config.set_flag(trt.BuilderFlag.INT8)
    calibrator = make_calibrator(trt, gpu.cuda, request.calibration, cache, request.batch_size)
    config.int8_calibrator = calibrator
    # With a dynamic batch, calibration runs at the profile's opt shape (batch_size).
    if profile is not None and not config.set_calibration_profile(profile):
        calibrator.free()
        raise SegmenterError(
            "TensorRT rejected the calibration profile for batch "
            f"{request.batch_size}: {logger.take_errors() or 'no reason given'}"
        )
    return calibrator


def _build(
    trt: ModuleType,
    gpu: GpuSession,
    request: BuildRequest,
    progress: BuildProgress | None,
    cancel: threading.Event,
) -> bytes:
    """The build itself (in the worker thread, inside the GPU's context)."""
    logger = make_logger(trt)
    with gpu.active():
        if not trt.init_libnvinfer_plugins(logger, ""):
            log.warning(
                "TensorRT's plugin library could not be initialised (%s): a model that needs "
                "its plugins will not parse",
                logger.take_errors() or "no reason given",
            )
        builder = create_builder(trt, logger)
        network, _parser = _parse_onnx(trt, builder, logger, request.onnx)
        tensor = _network_input(network, request.input_name)
        config = builder.create_builder_config()
        workspace_mb = min(request.workspace_mb, gpu.info.total_memory_mb)
        if workspace_mb < request.workspace_mb:
            log.info(
                "workspace of %d MiB capped at the GPU's %d MiB",
                request.workspace_mb,
                workspace_mb,
            )
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
        profile = _profile(builder, tensor, request)
        if profile is not None and config.add_optimization_profile(profile) < 0:
            raise SegmenterError(
                f"TensorRT rejected the optimisation profile for batch "
                f"1..{request.batch_size}: {logger.take_errors()}"
            )
        if request.network_mode in (1, 2):
            # INT8 builds keep FP16 on too, for the layers that cannot be quantised.
            config.set_flag(trt.BuilderFlag.FP16)
        if has_progress_monitor(trt):
            config.progress_monitor = _monitor(trt, progress or _Silent(), cancel)
        else:
            log.info(
                "TensorRT %s reports no build progress: the build runs without progress "
                "lines and cannot be stopped before its end",
                trt.__version__,
            )
        calibrator = _setup_int8(trt, gpu, config, profile, request, logger)
        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            if calibrator is not None:
                calibrator.free()
        if calibrator is not None and calibrator.error is not None:
            raise SegmenterError(f"INT8 calibration failed: {calibrator.error}") from (
                calibrator.error
            )
        if serialized is None:
            if cancel.is_set():
                raise SegmenterError("the engine build was cancelled")
            raise SegmenterError(
                f"TensorRT could not build an engine from {request.onnx}: "
                f"{logger.take_errors() or 'no reason given'} ({OOM_HINT})"
            )
        data = bytes(memoryview(serialized))
        # TensorRT's objects go while the context is current.
        del serialized, config, tensor, network, _parser, builder, profile, calibrator
    return data


def _run_and_wait(thread: threading.Thread, cancel: threading.Event, stoppable: bool) -> bool:
    """Start the build thread and wait for its end; True when Ctrl-C was pressed.

    In the main thread, SIGINT is taken over while the build runs: the first Ctrl-C sets
    ``cancel`` (TensorRT 10 stops at its next step), the second raises ``KeyboardInterrupt``
    at once. Elsewhere there is no Ctrl-C to take; ``cancel`` still works.
    """
    interrupted = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if interrupted.is_set():
            log.warning("engine build abandoned")
            raise KeyboardInterrupt
        interrupted.set()
        cancel.set()
        log.warning(
            "%s (Ctrl-C again to leave at once)",
            "stopping the engine build at TensorRT's next step"
            if stoppable
            else "this TensorRT cannot stop a build: waiting for its end",
        )

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return interrupted.is_set()


def build_engine(
    trt: ModuleType,
    gpu: GpuSession,
    request: BuildRequest,
    progress: BuildProgress | None = None,
    cancel: threading.Event | None = None,
) -> bytes:
    """Build and serialize an engine; raises ``SegmenterError`` with TensorRT's reason.

    Setting ``cancel`` (or Ctrl-C in the calling thread) stops the build at TensorRT's next
    step where TensorRT can stop it (10.x, with a progress monitor); a Ctrl-C then ends in
    ``KeyboardInterrupt`` once the build has stopped. See the module docstring.
    """
    cancel = cancel or threading.Event()
    started = time.monotonic()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["data"] = _build(trt, gpu, request, progress, cancel)
        except BaseException as exc:  # handed to the waiting thread below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="engine-build", daemon=True)
    if _run_and_wait(thread, cancel, has_progress_monitor(trt)):
        raise KeyboardInterrupt
    if "error" in outcome:
        raise outcome["error"]
    data: bytes = outcome["data"]
    log.info("engine built in %.0f s (%.1f MiB)", time.monotonic() - started, len(data) / 2**20)
    return data
