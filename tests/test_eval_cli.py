"""``edge-app eval`` end to end on a tiny video whose truth is known exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_support import CliResult, run_cli
from tests.conftest import REPO
from tests.eval_scenes import FPS, FRAMES, TinyScene, make_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> TinyScene:
    return make_scene(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def edge_app(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    return lambda *args: run_cli(capsys, *args)


def eval_args(scene: TinyScene, *extra: str, gt: Path | None = None) -> list[str]:
    return [
        "eval",
        str(scene.video),
        "--zones",
        str(scene.zones),
        "--gt",
        str(gt or scene.gt),
        "--segmenter",
        "onnxruntime",
        "--model",
        str(scene.model),
        *extra,
    ]


def test_eval_reports_exact_agreement_per_zone_and_writes_json_and_table(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = edge_app(*eval_args(scene, "--out-dir", str(out)))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["frames"] == FRAMES
    assert report["duration_s"] == pytest.approx((FRAMES - 1) / FPS, abs=0.01)
    assert report["segmenter"] == "onnxruntime"
    zones = {z["zone"]: z for z in report["zones"]}
    assert list(zones) == ["left", "right"]
    for z in (*zones.values(), report["overall"]):
        assert z["count_mae"] == 0.0
        assert z["occupied_accuracy"] == 1.0
        assert z["occupied_error_s"] == pytest.approx(0.0, abs=1e-6)
        assert z["visit_precision"] == 1.0 and z["visit_recall"] == 1.0
        assert z["dwell_mae_s"] == pytest.approx(0.0, abs=0.11)  # one frame at most
    # The walker visits left then right; the stander stays in right: 1 + 2 visits.
    assert (zones["left"]["true_visits"], zones["right"]["true_visits"]) == (1, 2)
    assert report["overall"]["matched_visits"] == 3
    # The replay's own outputs are kept beside the report, and the table is on screen.
    for name in ("occupancy.csv", "events.jsonl", "summary.json", "eval.txt"):
        assert (out / name).is_file()
    assert "count MAE" in result.stdout and "overall" in result.stdout
    assert (out / "eval.txt").read_text().splitlines()[-2].lstrip("│ ").startswith("overall")


def test_eval_json_flag_prints_the_report(
    edge_app: Callable[..., CliResult], scene: TinyScene
) -> None:
    result = edge_app(*eval_args(scene, "--json"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["overall"]["count_mae"] == 0.0
    assert {z["zone"] for z in report["zones"]} == {"left", "right"}


def test_eval_counts_errors_when_truth_has_someone_the_video_lacks(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    # A third, invisible person standing in "left" for the whole clip: the measurement
    # misses exactly one person in every frame there.
    gt = tmp_path / "gt.txt"
    ghost = [f"{i + 1},3,20,70,10,30,1,-1,-1,-1" for i in range(FRAMES)]
    gt.write_text(scene.gt.read_text() + "\n".join(ghost) + "\n")
    result = edge_app(*eval_args(scene, "--json", gt=gt))
    assert result.returncode == 0, result.stderr
    zones = {z["zone"]: z for z in json.loads(result.stdout)["zones"]}
    assert zones["left"]["count_mae"] == pytest.approx(1.0)
    assert zones["left"]["count_bias"] == pytest.approx(-1.0)
    assert zones["left"]["visit_recall"] == pytest.approx(0.5)
    assert zones["right"]["count_mae"] == 0.0


def test_eval_warns_when_truth_has_frames_the_video_lacks(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    gt = tmp_path / "gt.txt"
    gt.write_text(scene.gt.read_text() + f"{FRAMES + 5},1,1,1,5,5,1,-1,-1,-1\n")
    result = edge_app(*eval_args(scene, gt=gt))
    assert result.returncode == 0, result.stderr
    assert "1 frame(s) of ground truth have no video frame" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "x.mp4", "--gt", "gt.txt"], "eval needs VIDEO --zones ZONES.yaml --gt GT.txt"),
        (
            [
                "eval",
                "missing.mp4",
                "--zones",
                str(REPO / "tests/zones/tud-stadtmitte.yaml"),
                "--gt",
                "g",
            ],
            "video file not found",
        ),
    ],
)
def test_eval_bad_arguments_give_one_error_line(
    edge_app: Callable[..., CliResult], args: list[str], message: str
) -> None:
    result = edge_app(*args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_missing_truth_file(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    result = edge_app(*eval_args(scene, gt=tmp_path / "nope.txt"))
    assert result.returncode == 1
    assert "ground-truth file not found" in result.stderr


def test_eval_with_masks_from_truth_measures_the_counting_alone(
    edge_app: Callable[..., CliResult], scene: TinyScene
) -> None:
    # No segmenter at all: the true boxes become the mask, so the counts are exact here.
    result = edge_app(
        "eval", str(scene.video), "--zones", str(scene.zones), "--gt", str(scene.gt),
        "--masks-from-truth", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["segmenter"] == "truth-masks"
    assert report["overall"]["count_mae"] == 0.0
    assert report["overall"]["visit_recall"] == 1.0


def test_eval_warm_up_compares_only_the_last_pass(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    out = tmp_path / "warm"
    result = edge_app(*eval_args(scene, "--warm-up", "1", "--out-dir", str(out)))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["frames"] == FRAMES and report["warm_up_frames"] == FRAMES
    assert report["overall"]["count_mae"] == 0.0
    # The replay itself saw both passes.
    assert json.loads((out / "summary.json").read_text())["frames"] == 2 * FRAMES


def test_eval_cold_at_restarts_the_segmenter_and_compares_from_there(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    out = tmp_path / "cold"
    args = ["--segmenter", "background", "--cold-at", "15", "--out-dir", str(out)]
    result = edge_app("eval", str(scene.video), "--zones", str(scene.zones), "--gt",
                      str(scene.gt), *args)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["cold_at"] == 15 and report["frames"] == FRAMES - 15
    assert report["truth_frames_unused"] == 0
    assert report["warming_up_frames"] == 0  # segmented again once the scene was learned
    assert json.loads((out / "summary.json").read_text())["frames"] == FRAMES
    assert "cold start at frame 15" in result.stdout


def test_eval_no_resegment_keeps_the_warm_up_as_the_daemon_counts_it(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    out = tmp_path / "live"
    result = edge_app("eval", str(scene.video), "--zones", str(scene.zones), "--gt",
                      str(scene.gt), "--segmenter", "background", "--no-resegment",
                      "--out-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "eval.json").read_text())
    # The tiny clip (4 s) is shorter than the bootstrap (5 s): all of it is warming up.
    assert report["warming_up_frames"] == FRAMES
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events and all(e["warming_up"] for e in events if e["zone"] is not None)
    rows = (out / "occupancy.csv").read_text().splitlines()
    assert rows[0].endswith(",warming_up") and all(r.endswith(",1") for r in rows[1:])


def test_eval_rejects_a_negative_cold_start(
    edge_app: Callable[..., CliResult], scene: TinyScene
) -> None:
    result = edge_app(*eval_args(scene, "--cold-at", "-1"))
    assert result.returncode != 0
    assert "--cold-at" in result.stderr


def test_replay_cold_at_marks_the_warm_up_after_the_restart(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    config = tmp_path / "edge-app.yaml"
    camera = {"id": "tiny", "source": {"type": "file", "path": str(scene.video)},
              "zones": str(scene.zones)}  # fmt: skip
    segmenter = {"type": "background", "bootstrap_s": 1.0}
    config.write_text(json.dumps({"cameras": [camera], "segmenter": segmenter}))
    replay = ["replay", str(scene.video), "--zones", str(scene.zones), "--config", str(config),
              "--cold-at", "20", "-q"]  # fmt: skip
    out = tmp_path / "live"
    result = edge_app(*replay, "--out-dir", str(out), "--no-resegment")
    assert result.returncode == 0, result.stderr
    rows = [r.split(",") for r in (out / "occupancy.csv").read_text().splitlines()[1:]]
    warming = sorted({int(r[0]) for r in rows if r[-1] == "1"})
    # A second of bootstrap (10 frames) at the start and again after the restart.
    assert warming == [*range(10), *range(20, 30)]
    again = tmp_path / "again"  # by default the warm-up frames are segmented again
    result = edge_app(*replay, "--out-dir", str(again))
    assert result.returncode == 0, result.stderr
    rows = [r.split(",") for r in (again / "occupancy.csv").read_text().splitlines()[1:]]
    assert len(rows) == 2 * FRAMES and all(r[-1] == "0" for r in rows)
