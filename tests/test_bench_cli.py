"""``edge-app bench`` runs on tiny inputs and reports every figure (no timing assertions:
the figures themselves are recorded in docs/benchmarks.md)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.analytics.zonemap import ZoneMap
from edge_app.core.domain import Frame
from edge_app.tools.bench import inputs as bench_inputs
from edge_app.tools.bench import run as bench_run
from edge_app.tools.bench.cases import (
    baseline_components,
    baseline_shapely,
    grid_zones,
    scene_masks,
)
from tests.cli_support import run_cli
from tests.conftest import shared_data
from tests.eval_scenes import make_scene

# --- a fresh clone: no ../shared/data --------------------------------------------------------


@pytest.fixture
def fresh_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench_inputs, "DEFAULT_MODEL", tmp_path / "no-model.onnx")
    monkeypatch.setattr(bench_inputs, "DEFAULT_VIDEO", tmp_path / "no-video.mp4")


def test_bench_analytics_and_peer_print_their_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    result = run_cli(
        capsys,
        "bench",
        "--only",
        "analytics",
        "--only",
        "peer",
        "--frames",
        "12",
        "--repeats",
        "1",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "analytics at 160x160: ours" in result.stdout
    assert "analytics at 512x512: ours" in result.stdout
    assert "shapely/ours" in result.stdout
    assert "peer" in result.stdout
    data = json.loads(out.read_text())
    if "skipped" not in data["peer"]:
        # The whole counting job and all of the analytics are timed next to the lookup.
        assert "the whole counting job from the same masks" in result.stdout
        for key in ("supervision_counting_ms", "ours_counting_ms", "ours_analytics_ms"):
            assert data["peer"][key] > 0
    assert [c["side"] for c in data["analytics"]] == [160, 512]
    for c in data["analytics"]:
        assert c["ours_ms"] > 0 and c["shapely_ms"] > 0 and c["components_ms"] > 0
    if "skipped" not in data["peer"]:
        # Same blobs, same anchor pixels, same pixel sets: the counts must agree.
        assert data["peer"]["equal_zone_frames"] == data["peer"]["zone_frames"] > 0


def test_bench_pipeline_on_a_tiny_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = shared_data("selfie_segmentation", "selfie_segmentation.onnx")
    scene = make_scene(tmp_path / "scene")
    result = run_cli(
        capsys,
        "bench",
        "--only",
        "pipeline",
        "--video",
        str(scene.video),
        "--zones",
        str(scene.zones),
        "--model",
        str(model),
        "--threads",
        "1",
        "--repeats",
        "1",
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("pipeline (1_threads)"))
    assert "efficiency" in line and "replay" in line and "segmenter" in line
    assert "40 frames" in line


def test_bench_memory_on_a_short_run(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "bench", "--only", "memory", "--minutes", "0.05")
    assert result.returncode == 0, result.stderr
    assert "memory: 0.05 min of video (30 frames" in result.stdout
    assert "growth" in result.stdout


def test_bench_baselines_agree_with_the_zone_map_on_synthetic_masks() -> None:
    # The baselines must compute the same thing as ours, or the time ratio means nothing:
    # person pixels per zone from the components baseline equal the zone map's.
    masks, _ = scene_masks(5)
    mapping = masks[0].mapping
    rules = grid_zones(mapping.frame_size)
    zm = ZoneMap.build([mapping.frame_to_mask(r.polygon) for r in rules], mapping.mask_size)
    components = baseline_components(rules, mapping)
    shapely_way = baseline_shapely(rules, mapping)
    for m in masks[2:]:
        ours_px = zm.person_pixels(m.mask)
        theirs = components(m.mask)
        assert len(theirs) == 16 == len(shapely_way(m.mask))
        # fillPoly includes the right and bottom edges: a zone's pixel count may differ
        # by one row and one column of person pixels, no more.
        for (count, px), area, mine in zip(theirs, zm.areas, ours_px, strict=True):
            assert count >= 0
            assert abs(px - mine) <= np.sqrt(area) * 2 + 2


def test_bench_rejects_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "bench", "--only", "pipeline", "--model", str(tmp_path / "none.onnx"))
    assert result.returncode == 1
    assert "model not found" in result.stderr


def test_bench_help_names_every_part(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "bench", "--help")
    assert result.returncode == 0
    for part in ("analytics", "peer", "pipeline", "memory", "cameras", "replay", "models"):
        assert part in result.stdout


def test_bench_cameras_runs_the_daemon_per_camera_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = make_scene(tmp_path / "scene")
    out = tmp_path / "bench.json"
    result = run_cli(
        capsys, "bench", "--only", "cameras", "--video", str(scene.video), "--zones",
        str(scene.zones), "--cameras", "2", "--window", "1", "--repeats", "1",
        "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cameras = json.loads(out.read_text())["cameras"]
    assert cameras["video"] == "tiny.avi"
    for count in ("1", "2"):  # one camera always runs: it is what the others compare with
        assert cameras[count]["fps"] > 0 and cameras[count]["cores_busy"] > 0
        assert cameras[count]["dropped"] == 0  # file cameras wait, they never drop
    assert cameras["1"]["ratio"] == 1.0 and cameras["1"]["mb_per_added_camera"] is None
    assert cameras["1"]["rss_mb_per_added_camera"] is None
    assert cameras["2"]["target"] == pytest.approx(0.8 * min(2, cameras["cpu_count"]))
    assert isinstance(cameras["2"]["mb_per_added_camera"], float)
    assert isinstance(cameras["2"]["rss_mb_per_added_camera"], float)
    if Path("/proc/self/status").exists():  # Linux: resident at the end, at most the peak
        for count in ("1", "2"):
            assert 0 < cameras[count]["rss_mb"] <= cameras[count]["peak_rss_mb"]
    assert "2 camera(s):" in result.stdout and "per added camera" in result.stdout
    assert "resident at the end" in result.stdout


def test_bench_replay_compares_decoding_alone_with_the_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = make_scene(tmp_path / "scene")
    out = tmp_path / "bench.json"
    result = run_cli(
        capsys, "bench", "--only", "replay", "--video", str(scene.video), "--zones",
        str(scene.zones), "--passes", "2", "--repeats", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    replay = json.loads(out.read_text())["replay"]
    assert replay["frames"] == 80  # two plays of the 40-frame video
    assert replay["decoder"] in ("ffmpeg -f null", "OpenCV decode alone (no ffmpeg found)")
    assert replay["ratio"] > 0 and replay["decode_ms"] > 0 and replay["replay_ms"] > 0
    assert "decode-only / replay" in result.stdout


def test_bench_replay_on_a_fresh_clone_uses_a_synthetic_clip(
    fresh_clone: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "bench", "--only", "replay", "--passes", "1", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    assert "a clip of the synthetic shop" in result.stdout and "180 frames" in result.stdout


def test_bench_models_compares_the_runner_with_the_bare_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = shared_data("selfie_segmentation", "selfie_segmentation.onnx")
    scene = make_scene(tmp_path / "scene")
    out = tmp_path / "bench.json"
    result = run_cli(
        capsys, "bench", "--only", "models", "--video", str(scene.video), "--zones",
        str(scene.zones), "--model", str(model), "--model-cameras", "2", "--threads", "1",
        "--repeats", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    models = json.loads(out.read_text())["models"]
    row = models["1_threads, 2 camera(s)"]
    assert row["batch"] == 2 and row["bare_fps"] > 0 and row["runner_fps"] > 0
    assert "runner / bare model" in result.stdout


def test_bench_models_runs_on_a_fresh_clone_with_the_stand_in(
    fresh_clone: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    result = run_cli(
        capsys, "bench", "--only", "models", "--model-cameras", "2", "--threads", "1",
        "--repeats", "1", "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    models = json.loads(out.read_text())["models"]
    assert models["model"] == "stand-in model (not people)"
    assert models["1_threads, 2 camera(s)"]["runner_fps"] > 0


def test_bench_fleet_runs_a_small_fleet_through_real_collectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge_app.tools.bench.postgres import PostgresUnavailable, find_bindir

    try:
        find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL for the fleet bench: {exc}")
    out = tmp_path / "bench.json"
    result = run_cli(
        capsys, "bench", "--only", "fleet", "--fleet-devices", "20", "--fleet-events", "5",
        "--json", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fleet = json.loads(out.read_text())["fleet"]
    assert fleet["events"] == 100
    for key in ("1_collector", "2_collectors"):
        assert fleet[key]["events_per_s"] > 0 and fleet[key]["vs_plain_copy"] > 0
    assert "plain psycopg COPY" in result.stdout


def test_the_fleet_load_is_every_device_in_seq_order() -> None:
    from edge_app.tools.bench.fleet import fleet_events

    events = fleet_events(devices=7, per_device=11)
    assert len(events) == 77 and len({e.id for e in events}) == 77
    for device in {e.device for e in events}:
        assert [e.seq for e in events if e.device == device] == list(range(1, 12))


def test_bench_pipeline_runs_on_a_fresh_clone_with_its_stand_in(fresh_clone: None) -> None:
    results = bench_run.run_bench(
        bench_run.BenchOptions(parts=frozenset({"pipeline"}), threads=(1,), repeats=1)
    )
    pipeline = results["pipeline"]
    assert pipeline["model"] == "stand-in model (not people)"
    assert pipeline["video"] == "a clip of the synthetic shop (180 frames, 640x360)"
    run = pipeline["1_threads"]
    assert run["frames"] == 180 and run["efficiency"] > 0
    assert run["segmenter_ms"] > 0 and run["replay_ms"] > 0


@pytest.mark.parametrize(
    ("module", "reason"),
    [
        ("onnx", "let bench write its stand-in, for which the onnx package is not installed"),
        ("onnxruntime", "onnxruntime is not installed: pip install 'edge-app[onnx]'"),
    ],
)
def test_without_what_the_pipeline_needs_it_is_skipped_saying_why(
    fresh_clone: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    reason: str,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    results = bench_run.run_bench(
        bench_run.BenchOptions(parts=frozenset({"pipeline"}), threads=(1,), repeats=1)
    )
    assert reason in results["pipeline"]["skipped"]
    bench_run.print_results(results)
    assert capsys.readouterr().out.startswith("pipeline: skipped (")


def test_the_stand_in_gives_six_person_shaped_blobs_on_any_frame(tmp_path: Path) -> None:
    from edge_app.segmentation import create_segmenter
    from edge_app.tools.bench.standin import PEOPLE, standin_config, write_standin_model

    model = write_standin_model(tmp_path / "standin.onnx")
    segmenter = create_segmenter(standin_config(model, 1))
    try:
        frames = [
            Frame("c", i, i / 10, datetime(2026, 1, 1, tzinfo=timezone.utc), image)
            for i, image in enumerate(
                [
                    np.zeros((480, 640, 3), np.uint8),
                    np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8),
                ]
            )
        ]
        masks = segmenter.segment(frames)
    finally:
        segmenter.close()
    for m in masks:
        assert m.mask.shape == (64, 64)
        count, _ = cv2.connectedComponents(m.mask)
        assert count - 1 == len(PEOPLE) and int(m.mask.sum()) == 4 * 11 * len(PEOPLE)
