"""N file cameras through the real daemon: total throughput and memory per added camera.

Each camera count runs in a fresh process (``python -m edge_app.tools.bench.cameras``),
so its memory is its own: the daemon (``runtime.app.App``) with N file cameras that all
loop the same video, the ``background`` segmenter, the analytics and the SQLite sinks
(MQTT off). After a warm-up that lasts until every camera is past its cold start, the
frames analysed in a fixed window give the throughput, the process's CPU time over the
same window how many cores were busy (and so the frames per CPU-second, which the
machine's other work does not change), its peak resident memory (``VmHWM``, the cold
starts of every camera at once included) and its resident memory at the end of the
window (``VmRSS``, the cameras past their cold start) the memory. ``camera_scaling`` runs
the counts in turn, ``repeats`` times, so every count sees the same load on the machine;
the ratio of each count's throughput to one camera's is taken within each round.

The video is ``inputs.bench_video``'s (TUD-Stadtmitte, else a clip of the synthetic shop).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from edge_app.core.errors import ConfigError
from edge_app.tools.bench.inputs import BenchVideo


def _status_mb(field: str) -> float:
    """A memory figure of this process in MB from Linux's ``/proc/self/status`` (``VmHWM``:
    peak resident, ``VmRSS``: resident now); 0 elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError):
        pass
    return 0.0


_BOOTSTRAP_WAIT_S = 120.0
"""Longest wait for every camera's cold start to end before the window is timed anyway."""


def run_cameras(
    cameras: int, video: Path, zones_path: Path, warm_up_s: float, window_s: float
) -> dict[str, float]:
    """The daemon with ``cameras`` looping file cameras of ``video``; figures of the window."""
    from edge_app.config import (
        AppConfig,
        BackgroundSegmenterConfig,
        CameraConfig,
        FileSourceConfig,
        MqttConfig,
        StoreConfig,
    )
    from edge_app.config.zones import load_camera_zones
    from edge_app.pipeline.camera import CameraResult
    from edge_app.runtime.app import App

    with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
        folder = Path(tmp)
        zone_data = yaml.safe_load(zones_path.read_text(encoding="utf-8"))
        cams = []
        for i in range(1, cameras + 1):
            zone_file = folder / f"cam{i}.yaml"
            zone_file.write_text(yaml.safe_dump({**zone_data, "camera": f"cam{i}"}))
            source = FileSourceConfig(path=video, loop=True)
            cams.append(CameraConfig(id=f"cam{i}", source=source, zones=zone_file))
        config = AppConfig(
            device_id="bench",
            cameras=tuple(cams),
            segmenter=BackgroundSegmenterConfig(),
            store=StoreConfig(path=folder / "edge-app.db"),
            mqtt=MqttConfig(enabled=False),
        )
        analysed = [0]
        warming: set[str] = {cam.id for cam in cams}
        warmed = threading.Event()

        def count(result: CameraResult) -> None:
            analysed[0] += 1
            if warming and not result.mask.warming_up:
                warming.discard(result.frame.camera_id)
                if not warming:
                    warmed.set()

        app = App(config, load_camera_zones(config), on_result=count)
        app.start()
        supervisor = threading.Thread(target=app.run, name="bench-supervisor", daemon=True)
        supervisor.start()
        try:
            # The window starts once every camera is past its cold start (a one-off cost per
            # camera, which a short window would otherwise count as throughput lost).
            time.sleep(warm_up_s)
            warmed.wait(_BOOTSTRAP_WAIT_S)
            start, cpu_start, frames_start = time.perf_counter(), time.process_time(), analysed[0]
            time.sleep(window_s)
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            frames = analysed[0] - frames_start
            rss_mb = _status_mb("VmRSS")
            dropped = sum(cam.feed.dropped for cam in app.cameras.values())
        finally:
            app.request_stop()
            supervisor.join(30)
            app.stop()
        return {
            "cameras": cameras,
            "frames": frames,
            "fps": frames / elapsed,
            "cores_busy": cpu / elapsed,
            "peak_rss_mb": _status_mb("VmHWM"),
            "rss_mb": rss_mb,
            "dropped": dropped,
        }


def _child(cameras: int, video: Path, zones: Path, warm_up_s: float, window_s: float) -> Any:
    command = [
        sys.executable, "-m", "edge_app.tools.bench.cameras", "--cameras", str(cameras),
        "--video", str(video), "--zones", str(zones),
        "--warm-up", str(warm_up_s), "--window", str(window_s),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise ConfigError(
            str(video), None, f"the {cameras}-camera run failed: {done.stderr.strip()[-400:]}",
            "run it alone: python -m edge_app.tools.bench.cameras --cameras N --video FILE",
        )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def frame_buffers_mb(video: Path) -> float:
    """What one more file camera holds in frames by design: its feed (``FILE_FEED_DEPTH``),
    its masks waiting for analysis (2) and the frame being segmented, in MB."""
    from edge_app.pipeline.feed import FILE_FEED_DEPTH
    from edge_app.sources.file import probe

    info = probe(video)
    return (FILE_FEED_DEPTH + 3) * info.width * info.height * 3 / 1e6


def camera_scaling(
    video: BenchVideo,
    counts: tuple[int, ...],
    repeats: int,
    warm_up_s: float = 2.0,
    window_s: float = 6.0,
) -> dict[str, Any]:
    """Throughput of each camera count against one camera's, in alternating rounds."""
    counts = tuple(sorted(set(counts) | {1}))
    buffers_mb = frame_buffers_mb(video.path)
    rounds = [
        {n: _child(n, video.path, video.zones, warm_up_s, window_s) for n in counts}
        for _ in range(repeats)
    ]
    out: dict[str, Any] = {
        "video": video.what,
        "cpu_count": os.cpu_count() or 1,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "frame_buffers_mb_per_camera": buffers_mb,
    }
    one = [r[1] for r in rounds]
    for n in counts:
        runs = [r[n] for r in rounds]
        ratios = sorted(run["fps"] / base["fps"] for run, base in zip(runs, one, strict=True))
        # Frames per CPU-second against one camera's: what the added threads cost, whatever
        # share of the cores the machine's other work leaves.
        per_core = [
            (run["fps"] / run["cores_busy"]) / (base["fps"] / base["cores_busy"])
            for run, base in zip(runs, one, strict=True)
        ]
        per_camera_mb = _per_added_camera(runs, one, n, "peak_rss_mb")
        resident_per_camera_mb = _per_added_camera(runs, one, n, "rss_mb")
        out[str(n)] = {
            "fps": max(run["fps"] for run in runs),
            "ratio": statistics.median(ratios),
            "ratio_min": ratios[0],
            "ratio_max": ratios[-1],
            "target": 0.8 * min(n, out["cpu_count"]),
            "cores_busy": statistics.median(run["cores_busy"] for run in runs),
            "per_core": statistics.median(per_core),
            "peak_rss_mb": statistics.median(run["peak_rss_mb"] for run in runs),
            "mb_per_added_camera": statistics.median(per_camera_mb) if per_camera_mb else None,
            "rss_mb": statistics.median(run["rss_mb"] for run in runs),
            "rss_mb_per_added_camera": (
                statistics.median(resident_per_camera_mb) if resident_per_camera_mb else None
            ),
            "dropped": max(run["dropped"] for run in runs),
        }
    return out


def _per_added_camera(
    runs: list[dict[str, float]], one: list[dict[str, float]], n: int, field: str
) -> list[float]:
    """``field`` (MB) of each round's ``n``-camera run beyond the same round's one camera,
    per added camera (none for one camera)."""
    if n <= 1:
        return []
    return [(run[field] - base[field]) / (n - 1) for run, base in zip(runs, one, strict=True)]


def print_camera_scaling(result: dict[str, Any]) -> None:
    print(
        f"cameras ({result['video']}, background segmenter, {result['cpu_count']} cores, "
        f"load average {result['load_average']:.1f}):"
    )
    buffers = result["frame_buffers_mb_per_camera"]
    for key, r in result.items():
        if not key.isdigit():
            continue
        line = (
            f"  {key} camera(s): {r['fps']:.0f} frames/s, {r['ratio']:.2f}x one camera "
            f"(range {r['ratio_min']:.2f}-{r['ratio_max']:.2f}; target >= {r['target']:.1f}x), "
            f"{r['cores_busy']:.2f} cores busy, frames per CPU-second {r['per_core']:.2f}x one "
            f"camera's, peak RSS {r['peak_rss_mb']:.0f} MB"
        )
        if r["mb_per_added_camera"] is not None:
            beyond = r["mb_per_added_camera"] - buffers
            line += (
                f", {r['mb_per_added_camera']:+.1f} MB per added camera "
                f"({beyond:+.1f} MB beyond its {buffers:.1f} MB of frame buffers; target <= 10)"
            )
        line += f"; resident at the end {r['rss_mb']:.0f} MB"
        if r["rss_mb_per_added_camera"] is not None:
            beyond = r["rss_mb_per_added_camera"] - buffers
            line += (
                f", {r['rss_mb_per_added_camera']:+.1f} MB per added camera "
                f"({beyond:+.1f} MB beyond its frame buffers)"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description="N looping file cameras through the daemon")
    parser.add_argument("--cameras", type=int, required=True)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--zones", type=Path, required=True)
    parser.add_argument("--warm-up", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=6.0)
    args = parser.parse_args()
    result = run_cameras(args.cameras, args.video, args.zones, args.warm_up, args.window)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
