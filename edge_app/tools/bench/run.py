"""``edge-app bench``: how fast the product is, as ratios measured side by side in one run.

1. ``pipeline``: end-to-end replay throughput / segmenter-only throughput, same model,
   same frames (ONNX backend; decode, analytics and the replay's writers must overlap with
   or vanish beside inference). On MediaPipe's selfie model and TUD-Stadtmitte from
   ../shared/data when they are there; on a fresh clone on a stand-in model of the same
   cost (``standin``, needs ``onnx``: ``pip install 'edge-app[bench]'``) and a clip of the
   synthetic shop, so the figure is comparable; skipped, saying why, without onnxruntime;
2. ``analytics``: the cost per frame of the analytics (blobs, people per blob, tracker,
   16 zones, events) at the default analysis resolution and on a full 512x512 mask, next
   to two baselines at equal resolution (connected components + point-in-polygon tests;
   contours intersected with shapely);
3. ``peer``: the same zone counts from roboflow ``supervision`` (``PolygonZone`` over the
   same blobs), which must agree, and the time ratio (needs ``pip install 'edge-app[bench]'``);
4. ``memory``: resident memory after a long replay of the synthetic camera minus after its
   first minute;
5. ``fleet``: central ingest of a simulated fleet by 1 and 2 collectors, against a plain
   psycopg COPY of the same rows (``tools/bench/fleet.py``; not in the default set).

Absolute times are printed for reference; they depend on the machine and its load.
"""

from __future__ import annotations

import importlib
import importlib.util
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_app.config import (
    AnalyticsConfig,
    OnnxSegmenterConfig,
    OutputConfig,
    PreprocessConfig,
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

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_VIDEO = SHARED / "tud_stadtmitte" / "tud_stadtmitte.mp4"
DEFAULT_MODEL = SHARED / "selfie_segmentation" / "selfie_segmentation.onnx"
DEFAULT_ZONES = REPO / "tests" / "zones" / "tud-stadtmitte.yaml"


def selfie_config(model: Path, threads: int) -> OnnxSegmenterConfig:
    """MediaPipe's selfie model (``../shared/data``): NHWC, RGB in 0..1, a probability."""
    return OnnxSegmenterConfig(
        model=model,
        input_name="input_1",
        output=OutputConfig(name="activation_10"),
        preprocess=PreprocessConfig(
            infer_dims=(3, 256, 256), tensor_layout="NHWC", net_scale_factor=1 / 255, offsets=(0.0,)
        ),
        intra_op_threads=threads,
    )


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
    video: Path | None = None
    zones: Path | None = None
    model: Path | None = None
    threads: tuple[int, ...] = (0, 1)
    frames: int = 300
    repeats: int = 5
    minutes: float = 30.0
    fps: float = 10.0
    fleet_devices: int = 1000
    fleet_events: int = 20


def _pipeline_inputs(args: BenchOptions, tmp: Path) -> tuple[Path, Path, str]:
    """The video, its zone file and their description: the options', else TUD-Stadtmitte
    from ../shared/data, else a clip of the synthetic shop written here."""
    if args.video is not None:
        if args.zones is None:
            raise ConfigError("(command line)", "--zones", "--video needs its zone file", None)
        return args.video, args.zones, str(args.video)
    if DEFAULT_VIDEO.is_file():
        return DEFAULT_VIDEO, args.zones or DEFAULT_ZONES, "TUD-Stadtmitte"
    from edge_app.config.zones import load_zones
    from edge_app.sources.synthetic.clip import write_clip
    from edge_app.sources.synthetic.scene import SyntheticSource
    from edge_app.tools.demo import demo_zones_path

    zones = demo_zones_path()
    # TUD-Stadtmitte's length and width, so the figures compare; the shop's zones are drawn
    # on a 16:9 picture, so the clip is 16:9 too.
    scene = SyntheticSourceConfig(duration_s=18.0, fps=10.0, width=640, height=360)
    clip = write_clip(SyntheticSource(load_zones(zones).camera, scene), tmp / "shop.avi")
    return clip, zones, "a clip of the synthetic shop (180 frames, 640x360)"


def _pipeline_model(args: BenchOptions, tmp: Path) -> tuple[Callable[[int], Any], str] | str:
    """The segmenter settings per thread count and the model's description, or why the
    pipeline part cannot run."""
    try:
        importlib.import_module("onnxruntime")
    except ImportError:
        return "onnxruntime is not installed: pip install 'edge-app[onnx]'"
    if args.model is not None or DEFAULT_MODEL.is_file():
        model = args.model or DEFAULT_MODEL
        if not model.is_file():
            raise ConfigError(str(model), None, "model not found", "give --model FILE.onnx")
        return (lambda threads: selfie_config(model, threads)), f"selfie model {model.name}"
    from edge_app.tools.bench.standin import onnx_missing, standin_config, write_standin_model

    missing = onnx_missing()
    if missing is not None:
        return (
            f"no model: give --model (MediaPipe's selfie segmentation ONNX), or let bench "
            f"write its stand-in, for which {missing}"
        )
    standin = write_standin_model(tmp / "standin.onnx")
    return (lambda threads: standin_config(standin, threads)), "stand-in model (not people)"


def _pipeline(args: BenchOptions, tmp: Path) -> dict[str, Any]:
    chosen = _pipeline_model(args, tmp)
    if isinstance(chosen, str):
        return {"skipped": chosen}
    make_config, model = chosen
    video, zones, source = _pipeline_inputs(args, tmp)
    runs: dict[str, Any] = {"model": model, "video": source}
    for threads in args.threads:
        runs[f"{threads or 'auto'}_threads"] = pipeline_efficiency(
            video, zones, make_config(threads), args.repeats
        )
    return runs


def run_bench(args: BenchOptions) -> dict[str, Any]:
    from edge_app.tools.bench.cases import scene_masks

    results: dict[str, Any] = {}
    parts = args.parts
    if "pipeline" in parts:
        with tempfile.TemporaryDirectory(prefix="edge-app-bench-") as tmp:
            results["pipeline"] = _pipeline(args, Path(tmp))
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
                peer = peer_supervision(masks, AnalyticsConfig().analysis_max_side, args.repeats)
                results["peer"] = {
                    "zone_frames": peer.zone_frames,
                    "equal_zone_frames": peer.equal_zone_frames,
                    "ours_ms": peer.ours_ms,
                    "supervision_ms": peer.peer_ms,
                    "speedup": peer.speedup,
                }
    if "memory" in parts:
        from edge_app.config import BackgroundSegmenterConfig

        results["memory"] = memory_growth(args.minutes, args.fps, BackgroundSegmenterConfig())
    if "fleet" in parts:
        from edge_app.tools.bench.fleet import fleet_ingest

        results["fleet"] = fleet_ingest(args.fleet_devices, args.fleet_events)
    return results


def _cost(c: AnalyticsCost) -> dict[str, float]:
    return {
        "side": c.side,
        "ours_ms": c.ours_ms,
        "components_ms": c.components_ms,
        "shapely_ms": c.shapely_ms,
        "vs_shapely": c.vs_shapely,
    }


def print_results(results: dict[str, Any]) -> None:
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
            f"{p['supervision_ms']:.3f} ms per frame; supervision/ours {p['speedup']:.1f}x"
        )
    if "memory" in results:
        m = results["memory"]
        print(
            f"memory: {m['video_minutes']:g} min of video ({m['frames']:.0f} frames, "
            f"{m['seconds']:.0f} s): RSS {m['rss_first_minute_mb']:.1f} MB after minute one, "
            f"{m['rss_end_mb']:.1f} MB at the end, growth {m['growth_mb']:+.1f} MB"
        )
