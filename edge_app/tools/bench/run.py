"""``edge-app bench``: how fast the product is, as ratios measured side by side in one run.

1. ``pipeline``: end-to-end replay throughput / segmenter-only throughput, same model,
   same frames (ONNX backend; decode, analytics and the replay's writers must overlap with
   or vanish beside inference);
2. ``analytics``: the cost per frame of the analytics (blobs, people per blob, tracker,
   16 zones, events) at the default analysis resolution and on a full 512x512 mask, next
   to two baselines at equal resolution (connected components + point-in-polygon tests;
   contours intersected with shapely);
3. ``peer``: the same zone counts from roboflow ``supervision`` (``PolygonZone`` over the
   same blobs), which must agree, and the time ratios: of the zone lookup alone, of the
   whole counting job from the same masks, and of all of our analytics against that job
   (needs ``pip install 'edge-app[bench]'``);
4. ``memory``: resident memory after a long replay of the synthetic camera minus after its
   first minute;
5. ``cameras``: 1, 2, 4, 8 looping file cameras through the daemon with the ``background``
   segmenter, each count in its own process: total throughput against one camera's, cores
   busy, memory per added camera (``tools/bench/cameras.py``);
6. ``replay``: decode-only time / replay time of a long clip (``tools/bench/throughput.py``);
7. ``models``: a model backend on N cameras through the runner against the bare model at
   the same batch (``tools/bench/throughput.py``);
8. ``fleet``: central ingest of a simulated fleet by 1 and 2 collectors, against a plain
   psycopg COPY of the same rows (``tools/bench/fleet.py``; not in the default set);
9. ``soak``: the daemon restarted, killed, cut off from its broker, its disk filled and its
   zones reloaded over hours of synthetic store time, then its promises checked
   (``tools/bench/soak.py``; not in the default set).

Without ``../shared/data`` (a fresh clone) the video parts use a clip of the synthetic
shop and the model parts a stand-in model of the selfie model's cost (``inputs.py``).

Absolute times are printed for reference; they depend on the machine and its load.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_app.config import (
    AnalyticsConfig,
    SegmenterConfig,
    SyntheticSourceConfig,
)
from edge_app.core.errors import ConfigError
from edge_app.pipeline.camera import CameraResult
from edge_app.tools.bench.cases import (
    AnalyticsCost,
    analytics_cost,
    peer_supervision,
    pinned_to_one_core,
    rss_mb,
)
from edge_app.tools.bench.inputs import bench_model, bench_video

DEFAULT_PARTS = ("pipeline", "analytics", "peer", "memory", "cameras", "replay", "models")
"""What ``edge-app bench`` runs without ``--only`` (everything but ``fleet``)."""


def pipeline_efficiency(
    video: Path, zones_path: Path, segmenter_cfg: SegmenterConfig, repeats: int
) -> dict[str, float]:
    """Steady-state time per frame of the segmenter alone (frames decoded beforehand) and
    of a whole replay of the same video, measured in alternating pairs so both see the
    same load on the machine; the first frame of each is excluded (model loading and
    warm-up). ``efficiency`` is the median over pairs of segmenter time / replay time."""
    from edge_app.config.zones import load_zones
    from edge_app.segmentation import create_segmenter
    from edge_app.sources.file import FileSource
    from edge_app.tools.replay import run_replay

    zones = load_zones(zones_path)
    frames = list(FileSource(zones.camera, video).frames())
    if len(frames) < 3:
        raise ConfigError(str(video), None, "too few frames to time", "give a longer video")
    pairs: list[tuple[float, float]] = []  # seconds per frame: (segmenter, replay)
    for _ in range(repeats):
        segmenter = create_segmenter(segmenter_cfg)
        try:
            size = segmenter.batch_size
            batches = [frames[i : i + size] for i in range(0, len(frames), size)]
            segmenter.segment(batches[0])
            start = time.perf_counter()
            for batch in batches[1:]:
                segmenter.segment(batch)
            timed = sum(len(b) for b in batches[1:])
            segment_s = (time.perf_counter() - start) / timed
        finally:
            segmenter.close()
        stamps: list[float] = []

        def stamp(_: CameraResult, stamps: list[float] = stamps) -> None:
            stamps.append(time.perf_counter())

        with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
            run_replay(video, zones, Path(tmp), segmenter_cfg, AnalyticsConfig(), on_result=stamp)
        first = len(batches[0])  # the first batch pays for warm-up, as above
        replay_s = (stamps[-1] - stamps[first - 1]) / (len(stamps) - first)
        pairs.append((segment_s, replay_s))
    ratios = sorted(seg / rep for seg, rep in pairs)
    best_seg = min(seg for seg, _ in pairs)
    best_rep = min(rep for _, rep in pairs)
    return {
        "frames": len(frames),
        "segmenter_fps": 1.0 / best_seg,
        "replay_fps": 1.0 / best_rep,
        "segmenter_ms": best_seg * 1e3,
        "replay_ms": best_rep * 1e3,
        "efficiency": ratios[len(ratios) // 2],
        "efficiency_min": ratios[0],
        "efficiency_max": ratios[-1],
    }


def memory_growth(minutes: float, fps: float, segmenter_cfg: SegmenterConfig) -> dict[str, float]:
    """RSS after replaying ``minutes`` of the synthetic camera minus RSS after minute one."""
    from edge_app.config.zones import load_zones
    from edge_app.sources.synthetic.scene import SyntheticSource
    from edge_app.tools.demo import demo_zones_path
    from edge_app.tools.replay import replay_source

    zones = load_zones(demo_zones_path())
    scene = SyntheticSourceConfig(
        duration_s=minutes * 60, fps=fps, width=480, height=270, people=24
    )
    marks: dict[str, float] = {}

    def sample(result: CameraResult) -> None:
        if "first_minute" not in marks and result.frame.t >= 60.0:
            marks["first_minute"] = rss_mb()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
        summary = replay_source(
            SyntheticSource(zones.camera, scene),
            zones,
            Path(tmp),
            segmenter_cfg,
            AnalyticsConfig(),
            on_result=sample,
        )
        marks["end"] = rss_mb()
    return {
        "video_minutes": minutes,
        "frames": float(summary["frames"]),
        "seconds": time.perf_counter() - start,
        "rss_first_minute_mb": marks.get("first_minute", 0.0),
        "rss_end_mb": marks["end"],
        "growth_mb": marks["end"] - marks.get("first_minute", marks["end"]),
    }


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What ``run_bench`` measures, and on what (``edge-app bench``'s options)."""

    parts: frozenset[str]
    video: Path | None = None  # None: TUD-Stadtmitte, else a synthetic clip (inputs.py)
    zones: Path | None = None
    model: Path | None = None  # None: the selfie model, else a stand-in (inputs.py)
    threads: tuple[int, ...] = (0, 1)
    frames: int = 300
    repeats: int = 5
    minutes: float = 30.0
    fps: float = 10.0
    fleet_devices: int = 1000
    fleet_events: int = 20
    camera_counts: tuple[int, ...] = (1, 2, 4, 8)
    window_s: float = 6.0
    replay_passes: int = 20
    model_cameras: tuple[int, ...] = (1, 4)
    soak_runs: int = 12
    soak_minutes: float = 10.0


def run_bench(args: BenchOptions) -> dict[str, Any]:
    from edge_app.tools.bench.cases import scene_masks

    results: dict[str, Any] = {}
    parts = args.parts
    with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
        _model_parts(args, Path(tmp), results)
    if parts & {"analytics", "peer"}:
        with pinned_to_one_core() as cpu:
            masks, times = scene_masks(args.frames)
            results["cpu"] = cpu
            if "analytics" in parts:
                sides = (AnalyticsConfig().analysis_max_side, 512)
                costs = analytics_cost(masks, times, sides, args.repeats)
                results["analytics"] = [_cost(c) for c in costs]
            if "peer" in parts and importlib.util.find_spec("supervision") is None:
                results["peer"] = {
                    "skipped": "supervision is not installed: pip install 'edge-app[bench]'"
                }
            elif "peer" in parts:
                side = AnalyticsConfig().analysis_max_side
                peer = peer_supervision(masks, times, side, args.repeats)
                results["peer"] = {
                    "zone_frames": peer.zone_frames,
                    "equal_zone_frames": peer.equal_zone_frames,
                    "ours_ms": peer.ours_ms,
                    "supervision_ms": peer.peer_ms,
                    "speedup": peer.speedup,
                    "counting_equal_zone_frames": peer.counting_equal_zone_frames,
                    "ours_counting_ms": peer.ours_counting_ms,
                    "supervision_counting_ms": peer.peer_counting_ms,
                    "counting_speedup": peer.counting_speedup,
                    "ours_analytics_ms": peer.analytics_ms,
                    "analytics_speedup": peer.analytics_speedup,
                }
    if "memory" in parts:
        from edge_app.config import BackgroundSegmenterConfig

        results["memory"] = memory_growth(args.minutes, args.fps, BackgroundSegmenterConfig())
    if parts & {"cameras", "replay"}:
        with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
            video = bench_video(args.video, args.zones, Path(tmp))
            if "cameras" in parts:
                from edge_app.tools.bench.cameras import camera_scaling

                results["cameras"] = camera_scaling(
                    video, args.camera_counts, args.repeats, window_s=args.window_s
                )
            if "replay" in parts:
                from edge_app.tools.bench.throughput import replay_ratio

                results["replay"] = replay_ratio(video, args.replay_passes, args.repeats)
    if "fleet" in parts:
        from edge_app.tools.bench.fleet import fleet_ingest

        results["fleet"] = fleet_ingest(args.fleet_devices, args.fleet_events)
    if "soak" in parts:
        from edge_app.tools.bench.soak import SoakPlan, print_run, run_soak

        plan = SoakPlan(runs=args.soak_runs, store_minutes=args.soak_minutes)
        results["soak"] = run_soak(plan, print_run).to_dict()
    return results


def _model_parts(args: BenchOptions, folder: Path, results: dict[str, Any]) -> None:
    """``pipeline`` and ``models``: each model part's figures, or why it was skipped."""
    parts = args.parts & {"pipeline", "models"}
    if not parts:
        return
    chosen = bench_model(args.model, folder)
    if isinstance(chosen, str):
        for part in parts:
            results[part] = {"skipped": chosen}
        return
    make_config, model = chosen
    video = bench_video(args.video, args.zones, folder)
    configs = {f"{threads or 'auto'}_threads": make_config(threads) for threads in args.threads}
    if "pipeline" in parts:
        runs: dict[str, Any] = {"model": model, "video": video.what}
        for name, config in configs.items():
            runs[name] = pipeline_efficiency(video.path, video.zones, config, args.repeats)
        results["pipeline"] = runs
    if "models" in parts:
        from edge_app.tools.bench.throughput import model_scaling

        results["models"] = {
            "model": model,
            **model_scaling(configs, video, args.model_cameras, args.repeats),
        }


def _cost(c: AnalyticsCost) -> dict[str, float]:
    return {
        "side": c.side,
        "ours_ms": c.ours_ms,
        "components_ms": c.components_ms,
        "shapely_ms": c.shapely_ms,
        "vs_shapely": c.vs_shapely,
    }


def print_results(results: dict[str, Any]) -> None:
    if "soak" in results:
        s = results["soak"]
        print(
            f"soak: {len(s['runs'])} runs, {s['simulated_hours']:.1f} h of store time, "
            f"{s['events']} events, {s['seconds']:.0f} s; "
            + ("every promise held" if not s["failures"] else f"FAILED: {s['failures']}")
        )
    if "fleet" in results:
        from edge_app.tools.bench.fleet import print_fleet

        print_fleet(results["fleet"])
    pipeline = dict(results.get("pipeline", {}))
    if "skipped" in pipeline:
        print(f"pipeline: skipped ({pipeline['skipped']})")
    elif pipeline:
        print(f"pipeline on {pipeline.pop('video')}, {pipeline.pop('model')}:")
    for name, p in pipeline.items():
        if not isinstance(p, dict):
            continue
        print(
            f"pipeline ({name}): efficiency {p['efficiency']:.3f} (median of pairs, range "
            f"{p['efficiency_min']:.3f}-{p['efficiency_max']:.3f}); best: replay "
            f"{p['replay_fps']:.1f} fps, segmenter {p['segmenter_fps']:.1f} fps "
            f"({p['replay_ms']:.2f} vs {p['segmenter_ms']:.2f} ms/frame, {p['frames']} frames)"
        )
    for c in results.get("analytics", []):
        print(
            f"analytics at {c['side']}x{c['side']}: ours {c['ours_ms']:.3f} ms/frame, "
            f"components+polygon test {c['components_ms']:.3f} ms, shapely "
            f"{c['shapely_ms']:.3f} ms; shapely/ours {c['vs_shapely']:.1f}x"
        )
    if "peer" in results and "skipped" in results["peer"]:
        print(f"peer: skipped ({results['peer']['skipped']})")
    elif "peer" in results:
        p = results["peer"]
        print(
            f"peer (supervision PolygonZone): equal counts {p['equal_zone_frames']}/"
            f"{p['zone_frames']} zone-frames; ours {p['ours_ms']:.3f} ms, supervision "
            f"{p['supervision_ms']:.3f} ms per frame; supervision/ours {p['speedup']:.1f}x "
            "(the zone lookup alone, on the same anchor pixels)"
        )
        print(
            f"peer, the whole counting job from the same masks: equal counts "
            f"{p['counting_equal_zone_frames']}/{p['zone_frames']} zone-frames; ours "
            f"{p['ours_counting_ms']:.3f} ms, supervision {p['supervision_counting_ms']:.3f} ms "
            f"per frame; supervision/ours {p['counting_speedup']:.1f}x; all of our analytics "
            f"{p['ours_analytics_ms']:.3f} ms ({p['analytics_speedup']:.1f}x, and it does more)"
        )
    if "cameras" in results:
        from edge_app.tools.bench.cameras import print_camera_scaling

        print_camera_scaling(results["cameras"])
    if "replay" in results:
        from edge_app.tools.bench.throughput import print_replay_ratio

        print_replay_ratio(results["replay"])
    if "models" in results:
        from edge_app.tools.bench.throughput import print_model_scaling

        print_model_scaling(results["models"])
    if "memory" in results:
        m = results["memory"]
        print(
            f"memory: {m['video_minutes']:g} min of video ({m['frames']:.0f} frames, "
            f"{m['seconds']:.0f} s): RSS {m['rss_first_minute_mb']:.1f} MB after minute one, "
            f"{m['rss_end_mb']:.1f} MB at the end, growth {m['growth_mb']:+.1f} MB"
        )
