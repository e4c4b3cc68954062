"""Overlay pictures: the mask lands on the right pixels, zones and feet are drawn, and
``replay --overlay`` / ``snapshot`` write playable files of the right size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.analytics import FrameAnalysis
from edge_app.config.zones import load_zones
from edge_app.core.domain import Frame, MaskMapping, PersonMask, ZoneState
from edge_app.core.errors import ConfigError
from edge_app.pipeline.camera import CameraResult
from edge_app.segmentation.masks import MASK_TINT
from edge_app.tools.overlay import OverlayWriter, draw_overlay
from tests.cli_support import CliResult, run_cli
from tests.eval_scenes import FRAMES, HEIGHT, WIDTH, TinyScene, make_scene

# --- mask back onto the frame ------------------------------------------------------------


# --- one drawn frame ---------------------------------------------------------------------

ZONE = np.array([[100, 50], [190, 50], [190, 110], [100, 110]], dtype=np.float64)


def analysis(occupied: bool, feet: list[tuple[float, float]]) -> FrameAnalysis:
    state = ZoneState("cam", "shelf", 1.0, len(feet), 0.1, occupied, 0.0 if occupied else None)
    return FrameAnalysis(
        (state,),
        (),
        np.array(feet, dtype=np.float64).reshape(-1, 2),
        np.arange(1, len(feet) + 1, dtype=np.int64),
        len(feet),
    )


def test_draw_overlay_tints_the_mask_outlines_zones_and_marks_feet() -> None:
    image = np.full((120, 200, 3), 40, np.uint8)
    mask = np.zeros((120, 200), np.uint8)
    mask[20:40, 20:30] = 1
    person = PersonMask(mask, MaskMapping.stretch((200, 120), (200, 120)))
    out = draw_overlay(image, person, analysis(True, [(150.0, 80.0)]), [ZONE])
    assert out.shape == image.shape and out is not image
    assert (image == 40).all()  # the input is left alone
    # Mask pixels move towards the tint colour; far-away background is untouched.
    tinted = out[25:35, 22:28].reshape(-1, 3).mean(axis=0)
    assert np.allclose(tinted, 40 * 0.45 + np.array(MASK_TINT) * 0.55, atol=2)
    assert (out[5, 60] == 40).all()
    # The zone is filled (occupied) and outlined: its inside differs from the floor.
    assert not (out[100, 110] == 40).all()
    # The foot point is drawn (yellow-ish dot).
    b, g, r = out[80, 150].tolist()
    assert g > 200 and r > 200 and b < 60


def test_an_empty_zone_is_outlined_but_not_filled() -> None:
    image = np.full((120, 200, 3), 40, np.uint8)
    person = PersonMask(np.zeros((120, 200), np.uint8), MaskMapping.stretch((200, 120), (200, 120)))
    out = draw_overlay(image, person, analysis(False, []), [ZONE])
    assert (out[100, 140] == 40).all()  # inside, away from the label and the outline
    assert not (out[50, 140] == 40).all()  # on the outline


# --- the video writer --------------------------------------------------------------------


def fake_result(index: int) -> CameraResult:
    image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    frame = Frame("tiny", index, index / 10, datetime.now(timezone.utc), image)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    person = PersonMask(mask, MaskMapping.stretch((WIDTH, HEIGHT), (WIDTH, HEIGHT)))
    states = (
        ZoneState("tiny", "left", index / 10, 0, 0.0, False, None),
        ZoneState("tiny", "right", index / 10, 0, 0.0, False, None),
    )
    empty = FrameAnalysis(states, (), np.zeros((0, 2)), np.zeros(0, np.int64), 0)
    return CameraResult(frame, person, empty, ())


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_overlay_writer_writes_every_frame(tmp_path: Path, suffix: str) -> None:
    scene_zones = make_scene(tmp_path / "scene").zones
    path = tmp_path / f"out{suffix}"
    with OverlayWriter(path, load_zones(scene_zones)) as writer:
        for i in range(7):
            writer(fake_result(i))
    assert writer.frames == 7
    assert writer.fps == pytest.approx(10.0)
    cap = cv2.VideoCapture(str(path))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
        assert (
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        ) == (WIDTH, HEIGHT)
    finally:
        cap.release()


def test_overlay_writer_with_a_single_frame_still_writes_it(tmp_path: Path) -> None:
    zones = load_zones(make_scene(tmp_path / "scene").zones)
    path = tmp_path / "one.avi"
    with OverlayWriter(path, zones) as writer:
        writer(fake_result(0))
    assert writer.frames == 1 and path.stat().st_size > 0


def test_overlay_writer_rejects_other_formats(tmp_path: Path) -> None:
    zones = load_zones(make_scene(tmp_path / "scene").zones)
    with pytest.raises(ConfigError, match=r"\.mp4 or \.avi"):
        OverlayWriter(tmp_path / "out.gif", zones)


# --- through the command line ------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> TinyScene:
    return make_scene(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def edge_app(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    return lambda *args: run_cli(capsys, *args)


def segmenter(scene: TinyScene) -> list[str]:
    return ["--segmenter", "onnxruntime", "--model", str(scene.model)]


def test_replay_overlay_writes_a_video_of_every_frame(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    out = tmp_path / "overlay.mp4"
    result = edge_app(
        "replay",
        str(scene.video),
        "--zones",
        str(scene.zones),
        "--out-dir",
        str(tmp_path),
        "--overlay",
        str(out),
        "-q",
        *segmenter(scene),
    )
    assert result.returncode == 0, result.stderr
    cap = cv2.VideoCapture(str(out))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
        ok, image = cap.read()
    finally:
        cap.release()
    assert ok and image.shape == (HEIGHT, WIDTH, 3)
    assert (tmp_path / "summary.json").is_file()  # the ordinary outputs still appear


def test_snapshot_writes_the_chosen_frame_with_counts(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    out = tmp_path / "snap.png"
    result = edge_app(
        "snapshot",
        str(scene.video),
        "--zones",
        str(scene.zones),
        "--out",
        str(out),
        "--frame",
        "5",
        *segmenter(scene),
    )
    assert result.returncode == 0, result.stderr
    assert "frame 5" in result.stdout
    # Frame 5: the walker (foot x = 35) in left, the stander in right.
    assert "left=1" in result.stdout and "right=1" in result.stdout
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (HEIGHT, WIDTH, 3)


def test_snapshot_past_the_end_is_an_error(
    edge_app: Callable[..., CliResult], scene: TinyScene, tmp_path: Path
) -> None:
    result = edge_app(
        "snapshot",
        str(scene.video),
        "--zones",
        str(scene.zones),
        "--out",
        str(tmp_path / "x.png"),
        "--frame",
        "999",
        *segmenter(scene),
    )
    assert result.returncode == 1
    assert "ends (frame 39) before frame 999" in result.stderr
