"""Replay end to end on real footage: a video in, the three files out."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from edge_app.cli import main
from tests.conftest import REPO, shared_data

ZONES = REPO / "tests" / "zones" / "tud-stadtmitte.yaml"


@pytest.fixture(scope="module")
def replay_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = shared_data("tud_stadtmitte", "tud_stadtmitte.mp4")
    out = tmp_path_factory.mktemp("replay")
    code = main([str(a) for a in ("replay", video, "--zones", ZONES, "--out-dir", out, "--quiet")])
    assert code == 0
    return out


def test_occupancy_csv_has_one_row_per_frame_per_zone(replay_out: Path) -> None:
    with open(replay_out / "occupancy.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["frame", "t_s", "zone", "count", "coverage", "occupied", "warming_up"]
    zones = ["window-left", "doorway", "window-right"]
    assert len(rows) == 179 * len(zones)
    assert [r["zone"] for r in rows[:3]] == zones
    frames = sorted({int(r["frame"]) for r in rows})
    assert frames == list(range(179))
    times = [float(r["t_s"]) for r in rows[:: len(zones)]]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] == pytest.approx(178 / 25, abs=0.05)  # the video's own clock
    assert all(0.0 <= float(r["coverage"]) <= 1.0 for r in rows)
    assert max(int(r["count"]) for r in rows) >= 1  # people are found at all


def test_events_and_summary_agree(replay_out: Path) -> None:
    events = [json.loads(line) for line in (replay_out / "events.jsonl").read_text().splitlines()]
    assert events, "a clip with ten people walking through the zones produces events"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["id"] for e in events}) == len(events)
    assert {e["camera"] for e in events} == {"tud-stadtmitte"}
    summary = json.loads((replay_out / "summary.json").read_text())
    assert summary["frames"] == 179
    for zone, z in summary["zones"].items():
        exits = [e for e in events if e["type"] == "zone.exit" and e["zone"] == zone]
        assert z["visits"] == len(exits)
        if exits:
            assert z["max_dwell_s"] == pytest.approx(max(e["dwell_s"] for e in exits), abs=1e-3)
        assert 0.0 <= z["occupied_s"] <= summary["duration_s"] + 1e-6


class OneStage:
    """A segmenter showing only ``segment``: the replay's single-stage path."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.batch_size = inner.batch_size

    def segment(self, frames: Any) -> Any:
        return self.inner.segment(frames)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("batch_size", [1, 3])
def test_two_stage_replay_writes_what_the_one_stage_replay_writes(
    tmp_path: Path, batch_size: int
) -> None:
    # Preparing the model input in the decode thread must not change a byte of the outputs.
    pytest.importorskip("onnxruntime")
    from edge_app.config import AnalyticsConfig
    from edge_app.config.zones import load_zones
    from edge_app.segmentation import TwoStageSegmenter, create_segmenter
    from edge_app.tools.bench.inputs import selfie_config
    from edge_app.tools.replay import run_replay

    video = shared_data("tud_stadtmitte", "tud_stadtmitte.mp4")
    cfg = selfie_config(shared_data("selfie_segmentation", "selfie_segmentation.onnx"), 1)
    cfg = cfg.model_copy(update={"batch_size": batch_size})
    zones = load_zones(ZONES)
    two_stage = create_segmenter(cfg)
    assert isinstance(two_stage, TwoStageSegmenter)
    two_stage.prepare_apart = True  # whatever the cores of the machine running the test
    prepared_frames: list[int] = []
    prepare = two_stage.prepare
    two_stage.prepare = lambda frames: prepared_frames.append(len(frames)) or prepare(frames)  # type: ignore[method-assign]
    one_stage = OneStage(create_segmenter(cfg))
    assert not isinstance(one_stage, TwoStageSegmenter)
    outputs = []
    for name, segmenter in (("two", two_stage), ("one", one_stage)):
        masks: list[bytes] = []
        run_replay(
            video,
            zones,
            tmp_path / name,
            segmenter,  # type: ignore[arg-type]
            AnalyticsConfig(),
            on_result=lambda r, masks=masks: masks.append(r.mask.mask.tobytes()),
        )
        events = [
            {k: v for k, v in json.loads(line).items() if k not in ("id", "ts")}
            for line in (tmp_path / name / "events.jsonl").read_text().splitlines()
        ]
        outputs.append(
            (
                (tmp_path / name / "occupancy.csv").read_bytes(),
                (tmp_path / name / "summary.json").read_bytes(),
                events,
                masks,
            )
        )
    assert len(outputs[0][3]) == 179
    assert sum(prepared_frames) == 179  # the two-stage path did run
    assert outputs[0] == outputs[1]


def test_replay_keeps_preparation_with_inference_when_the_model_takes_every_core(
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnxruntime")
    from edge_app.config import AnalyticsConfig
    from edge_app.config.zones import load_zones
    from edge_app.segmentation import create_segmenter
    from edge_app.sources.file import FileSource
    from edge_app.tools.bench.inputs import selfie_config
    from edge_app.tools.replay import replay_source

    zones = load_zones(ZONES)
    model = shared_data("selfie_segmentation", "selfie_segmentation.onnx")
    segmenter = create_segmenter(selfie_config(model, 0))
    assert segmenter.prepare_apart is False  # type: ignore[attr-defined]
    calls: list[int] = []
    segmenter.prepare = lambda frames: calls.append(1)  # type: ignore[attr-defined]
    source = FileSource(zones.camera, shared_data("tud_stadtmitte", "tud_stadtmitte.mp4"))
    frames = itertools.islice(source.frames(), 5)
    source.frames = lambda: frames  # type: ignore[method-assign]
    summary = replay_source(source, zones, tmp_path, segmenter, AnalyticsConfig())
    assert summary["frames"] == 5
    assert calls == []
