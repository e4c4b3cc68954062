"""End-to-end throughput against the work it cannot avoid, measured side by side.

- ``replay_ratio``: decoding a clip alone (``ffmpeg -f null`` when FFmpeg is installed,
  else OpenCV's decoder alone) against ``replay`` of the same clip with the ``background``
  segmenter; the ratio is decode-only time / replay time (1 would mean replay costs no more
  than decoding);
- ``model_scaling``: a model backend on N cameras through the stream runner (decode
  threads, batches across cameras, analytics) against the same segmenter alone on frames
  decoded beforehand, at the same batch (N): runner throughput / bare throughput.

Each pair runs back to back, ``repeats`` times; a figure is the median of the pairs'
ratios, with their range.
"""

from __future__ import annotations

import itertools
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge_app.config import AnalyticsConfig, BackgroundSegmenterConfig, OnnxSegmenterConfig
from edge_app.config.zones import ZoneSet, load_zones
from edge_app.core.domain import Frame
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.feed import SourceReader
from edge_app.pipeline.runner import RunnerCamera, StreamRunner
from edge_app.sources.file import FileSource
from edge_app.tools.bench.inputs import BenchVideo


class RepeatedFile:
    """A video file played ``passes`` times in a row, ``t`` still increasing (a longer
    clip without writing one)."""

    live = False

    def __init__(
        self, camera_id: str, path: Path, passes: int, decode_threads: int | None = None
    ) -> None:
        self.camera_id = camera_id
        self._file = FileSource(camera_id, path, loop=True, decode_threads=decode_threads)
        self.frames_per_pass = self._file.info.frame_count or sum(
            1 for _ in FileSource(camera_id, path).frames()
        )
        self.total = passes * self.frames_per_pass

    def frames(self) -> Iterator[Frame]:
        return itertools.islice(self._file.frames(), self.total)

    def close(self) -> None:
        self._file.close()


def _decode_only_s(clip: Path, passes: int) -> tuple[float, str]:
    """Seconds to decode ``passes`` plays of ``clip`` and nothing else, and with what."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is not None:
        command = [
            ffmpeg, "-v", "error", "-nostdin", "-stream_loop", str(passes - 1),
            "-i", str(clip), "-f", "null", "-",
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, timeout=600)
        return time.perf_counter() - start, "ffmpeg -f null"
    source = RepeatedFile("decode", clip, passes)
    start = time.perf_counter()
    for _ in source.frames():
        pass
    return time.perf_counter() - start, "OpenCV decode alone (no ffmpeg found)"


def replay_ratio(video: BenchVideo, passes: int, repeats: int) -> dict[str, Any]:
    """decode-only time / replay time over ``passes`` plays of the clip, with the
    ``background`` segmenter (the replay's own decoder thread included)."""
    from edge_app.tools.replay import replay_source

    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
        clip, what = video.path, video.what
        zones = load_zones(video.zones)
        frames = RepeatedFile(zones.camera, clip, passes).total
        decoder = ""
        for _ in range(repeats):
            decode_s, decoder = _decode_only_s(clip, passes)
            start = time.perf_counter()
            replay_source(
                RepeatedFile(zones.camera, clip, passes, decode_threads=1),
                zones,
                Path(tmp) / "replay",
                BackgroundSegmenterConfig(),
                AnalyticsConfig(),
            )
            pairs.append((decode_s, time.perf_counter() - start))
    ratios = sorted(d / r for d, r in pairs)
    return {
        "video": what,
        "frames": frames,
        "decoder": decoder,
        "decode_ms": min(d for d, _ in pairs) / frames * 1e3,
        "replay_ms": min(r for _, r in pairs) / frames * 1e3,
        "ratio": statistics.median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
    }


def _bare_fps(config: OnnxSegmenterConfig, frames: list[Frame], batch: int) -> float:
    """Frames per second of the segmenter alone at ``batch`` (first batch: warm-up)."""
    from edge_app.segmentation import create_segmenter

    segmenter = create_segmenter(config)
    try:
        batches = [frames[i : i + batch] for i in range(0, len(frames) - batch + 1, batch)]
        segmenter.segment(batches[0])
        start = time.perf_counter()
        for b in batches[1:]:
            segmenter.segment(b)
        return sum(len(b) for b in batches[1:]) / (time.perf_counter() - start)
    finally:
        segmenter.close()


def _runner_fps(config: OnnxSegmenterConfig, clip: Path, zones: ZoneSet, cameras: int) -> float:
    """Frames per second of ``cameras`` file cameras through the stream runner (the first
    batch, which pays for warm-up, left out)."""
    from edge_app.segmentation import create_segmenter

    segmenter = create_segmenter(config)
    readers = [SourceReader(RepeatedFile(f"cam{i}", clip, 1, 1)) for i in range(cameras)]
    stamper = EventStamper("bench")
    runner_cameras = {
        r.source.camera_id: RunnerCamera(
            r.feed, CameraAnalytics(r.source.camera_id, zones, AnalyticsConfig(), stamper)
        )
        for r in readers
    }
    stamps: list[float] = []
    lock = threading.Lock()

    def stamp(_: CameraResult) -> None:
        with lock:
            stamps.append(time.perf_counter())

    runner = StreamRunner(segmenter, runner_cameras, stamp)
    try:
        for reader in readers:
            reader.start()
        runner.start()
        runner.join()
        runner.raise_error()
    finally:
        runner.stop(drain=False)
        for reader in readers:
            reader.close()
        segmenter.close()
    skip = max(1, segmenter.batch_size)
    return (len(stamps) - skip) / (stamps[-1] - stamps[skip - 1])


def model_scaling(
    configs: dict[str, OnnxSegmenterConfig],
    video: BenchVideo,
    cameras: tuple[int, ...],
    repeats: int,
) -> dict[str, Any]:
    """For each config and camera count N: the runner with N cameras at batch N against
    the bare segmenter at batch N, in alternating pairs."""
    out: dict[str, Any] = {}
    clip = video.path
    zones = load_zones(video.zones)
    frames = list(FileSource(zones.camera, clip).frames())
    out["video"] = video.what
    out["frames_per_camera"] = len(frames)
    for name, base in configs.items():
        for n in cameras:
            config = base.model_copy(update={"batch_size": n})
            pairs = [
                (_bare_fps(config, frames, n), _runner_fps(config, clip, zones, n))
                for _ in range(repeats)
            ]
            ratios = sorted(run / bare for bare, run in pairs)
            out[f"{name}, {n} camera(s)"] = {
                "batch": n,
                "bare_fps": max(bare for bare, _ in pairs),
                "runner_fps": max(run for _, run in pairs),
                "ratio": statistics.median(ratios),
                "ratio_min": ratios[0],
                "ratio_max": ratios[-1],
            }
    return out


def print_replay_ratio(r: dict[str, Any]) -> None:
    print(
        f"replay ({r['video']}, {r['frames']} frames, background segmenter): decode-only / "
        f"replay {r['ratio']:.2f} (range {r['ratio_min']:.2f}-{r['ratio_max']:.2f}; target "
        f">= 0.5); best {r['decode_ms']:.2f} ms/frame decoding ({r['decoder']}), "
        f"{r['replay_ms']:.2f} ms/frame replay"
    )


def print_model_scaling(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"models: skipped ({result['skipped']})")
        return
    print(f"models ({result['video']}, {result['frames_per_camera']} frames per camera):")
    for key, r in result.items():
        if isinstance(r, dict):
            print(
                f"  {key}: runner / bare model {r['ratio']:.3f} at batch {r['batch']} (range "
                f"{r['ratio_min']:.3f}-{r['ratio_max']:.3f}; target >= 0.95); best "
                f"{r['runner_fps']:.1f} vs {r['bare_fps']:.1f} frames/s"
            )
