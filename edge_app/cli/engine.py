"""``edge-app engine build`` and ``edge-app engine info``: TensorRT engines ahead of time.

``engine build --config FILE`` builds (or confirms) the engine the daemon would use for the
config's ``tensorrt`` segmenter, with a live display of TensorRT's build phases (10-15
minutes on an Orin), so the service starts in seconds afterwards. ``engine info ENGINE``
prints what the engine was built for and its input/output tensors.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from edge_app.config import TensorRTSegmenterConfig, load_config
from edge_app.core.errors import ConfigError, SegmenterError


class RichBuildProgress:
    """TensorRT's build phases as nested progress bars on stderr (thread-safe)."""

    def __init__(self, console: Console | None = None, disable: bool = False) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console or Console(stderr=True),
            disable=disable,
        )
        self._tasks: dict[str, TaskID] = {}
        self._depth: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichBuildProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase_start(self, phase: str, parent: str | None, steps: int) -> None:
        with self._lock:
            depth = self._depth.get(parent, -1) + 1 if parent else 0
            self._depth[phase] = depth
            self._tasks[phase] = self._progress.add_task("  " * depth + phase, total=steps)

    def step(self, phase: str, step: int) -> None:
        with self._lock:
            task = self._tasks.get(phase)
            if task is not None:
                self._progress.update(task, completed=step + 1)

    def phase_finish(self, phase: str) -> None:
        with self._lock:
            task = self._tasks.pop(phase, None)
            self._depth.pop(phase, None)
            if task is not None:
                self._progress.remove_task(task)


def _tensorrt_config(path: Path) -> TensorRTSegmenterConfig:
    config = load_config(path)
    seg = config.segmenter
    if not isinstance(seg, TensorRTSegmenterConfig):
        raise ConfigError(
            str(path),
            "segmenter.type",
            f"is {seg.type!r}, not 'tensorrt'",
            "engines are only built for the tensorrt segmenter",
        )
    return seg


def cmd_engine_build(args: argparse.Namespace) -> int:
    """Build the config's engine unless a matching one is cached (``--force`` rebuilds)."""
    from edge_app.segmentation.tensorrt.cuda_buffers import open_gpu
    from edge_app.segmentation.tensorrt.loader import open_engine
    from edge_app.segmentation.tensorrt.nvinfer_resolve import apply_nvinfer
    from edge_app.segmentation.tensorrt.segmenter import import_tensorrt

    cfg = apply_nvinfer(_tensorrt_config(args.config))
    if cfg.runtime != "tensorrt":
        raise ConfigError(
            str(args.config),
            "segmenter.runtime",
            "is onnxruntime",
            "ONNX Runtime builds its own engines on first start; "
            "engine build is for runtime: tensorrt",
        )
    gpu = open_gpu(cfg.device_id)  # the GPU check comes before anything touches TensorRT
    try:
        trt = import_tensorrt()
        started = time.monotonic()
        with RichBuildProgress(disable=args.quiet) as progress:
            loaded = open_engine(trt, gpu, cfg, progress=progress, rebuild=args.force)
        took = time.monotonic() - started
        verb = f"built in {took / 60:.1f} min" if loaded.built else "already up to date"
        print(f"engine {loaded.path}: {verb}", flush=True)
        for line in loaded.bindings.describe():
            print(f"  {line}", flush=True)
        with gpu.active():  # TensorRT's objects go while the context is current
            del loaded
    finally:
        gpu.close()
    return 0


def cmd_engine_info(args: argparse.Namespace) -> int:
    """Print an engine's sidecar key and its tensors."""
    from edge_app.segmentation.tensorrt.cache import read_sidecar
    from edge_app.segmentation.tensorrt.cuda_buffers import open_gpu
    from edge_app.segmentation.tensorrt.loader import describe_engine
    from edge_app.segmentation.tensorrt.segmenter import import_tensorrt

    path: Path = args.engine
    if not path.is_file():
        raise SegmenterError(f"engine {path} not found")
    try:
        gpu = open_gpu(args.device_id)
    except SegmenterError as exc:
        stored = read_sidecar(path)
        if stored:
            print(
                f"engine {path} (built for: "
                + ", ".join(f"{k}={v}" for k, v in sorted(stored.items()))
                + ")",
                flush=True,
            )
        raise SegmenterError(f"cannot list the engine's tensors without a GPU: {exc}") from exc
    try:
        for line in describe_engine(import_tensorrt(), gpu, path):
            print(line, flush=True)
    finally:
        gpu.close()
    return 0


def register(engine: argparse.ArgumentParser) -> None:
    """``engine build`` and ``engine info``."""
    commands = engine.add_subparsers(dest="engine_command", metavar="ACTION", required=True)

    p = commands.add_parser("build", help="build the config's TensorRT engine ahead of time")
    p.add_argument("--config", type=Path, required=True, help="daemon config (YAML)")
    p.add_argument("--force", action="store_true", help="rebuild even when one is cached")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_engine_build)

    p = commands.add_parser("info", help="print an engine's build key and tensors")
    p.add_argument("engine", type=Path)
    p.add_argument("--device-id", type=int, default=0, help="CUDA device (default 0)")
    p.set_defaults(func=cmd_engine_info)
