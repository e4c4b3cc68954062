"""The model-free ``background`` segmenter on synthetic static-camera shop scenes.

The scenes are drawn here with numpy/cv2: a textured shop wall with shelves, a person-like
figure (body ellipse and head), camera noise, and a timeline of source-clock seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from edge_app.analytics import ZoneAnalyzer, ZoneRule
from edge_app.config import BackgroundSegmenterConfig
from edge_app.core.domain import Frame, MaskMapping
from edge_app.core.errors import SegmenterError
from edge_app.pipeline.coldstart import learn_ahead
from edge_app.segmentation.background import BackgroundSegmenter, mask_size_for
from edge_app.segmentation.base import Segmenter, create_segmenter
from edge_app.segmentation.masks import mask_in_frame
from edge_app.segmentation.scene_model import channel_gain
from edge_app.sources.file import FileSource
from tests.conftest import shared_data

W, H = 480, 270
WALL = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
STAND_X, FOOT_Y = 240, 200
ENTER = 12.0
"""Scenes start empty, past the model's bootstrap (its first ``bootstrap_s``, 5 s by
default, in which it learns the empty scene)."""


def shop_wall(seed: int = 3) -> np.ndarray:
    """A static scene: smooth colour variation, shelves with edges, fine texture."""
    rng = np.random.default_rng(seed)
    low = rng.integers(70, 190, (H // 24 + 1, W // 24 + 1, 3)).astype(np.uint8)
    wall = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC)
    for x in range(20, W - 60, 110):
        colour = tuple(int(c) for c in rng.integers(40, 220, 3))
        cv2.rectangle(wall, (x, 40), (x + 80, 190), colour, -1)
        for y in range(60, 190, 30):
            cv2.line(wall, (x, y), (x + 80, y), (30, 30, 30), 2)
    return np.clip(wall + rng.normal(0, 6, wall.shape), 0, 255).astype(np.uint8)


def draw_person(image: np.ndarray, cx: float, foot_y: float) -> np.ndarray:
    """Draw a standing figure (about 32x116 px) in place; return its 0/1 truth mask."""
    truth = np.zeros(image.shape[:2], np.uint8)
    body, head = (int(cx), int(foot_y - 42)), (int(cx), int(foot_y - 94))
    for target, body_value, head_value in (
        (image, (60, 50, 150), (140, 170, 200)),
        (truth, 1, 1),
    ):
        cv2.ellipse(target, body, (16, 42), 0, 0, 360, body_value, -1)
        cv2.circle(target, head, 11, head_value, -1)
    return truth


class CameraNoise:
    """Adds one of a fixed pool of Gaussian noise fields (sigma in grey levels) per frame."""

    def __init__(self, sigma: float = 3.0, seed: int = 5) -> None:
        rng = np.random.default_rng(seed)
        self.fields = [rng.normal(0, sigma, (H, W, 3)).astype(np.float32) for _ in range(12)]
        self.count = 0

    def __call__(self, image: np.ndarray, gain: float = 1.0) -> np.ndarray:
        self.count += 1
        noisy = image.astype(np.float32) * gain + self.fields[self.count % len(self.fields)]
        return np.clip(noisy, 0, 255).astype(np.uint8)


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    union = np.count_nonzero(mask | truth)
    return np.count_nonzero(mask & truth) / union if union else 1.0


def dwell_position(t: float) -> float | None:
    """Walks in over 4 s, stands (swaying 1 px) for 4 minutes, walks out in 4 s."""
    stand, leave = ENTER + 4, ENTER + 4 + 240
    if t < ENTER or t >= leave + 4:
        return None
    if t < stand:
        return -20 + (STAND_X + 20) * (t - ENTER) / 4
    if t < leave:
        return STAND_X + math.sin(2 * t)
    return STAND_X + (W + 40 - STAND_X) * (t - leave) / 4


Segment = Callable[[Frame], np.ndarray]
"""One frame in, its person mask in frame pixels out."""


def run_scene(
    segment: Segment,
    fps: float,
    duration_s: float,
    position: Callable[[float], float | None],
    gain: Callable[[float], float] = lambda t: 1.0,
) -> list[tuple[float, float | None, int, float]]:
    """Play a scene; per frame: ``(t, person x or None, mask pixels, IoU with the truth)``."""
    wall, noise = shop_wall(), CameraNoise()
    rows = []
    for i in range(int(duration_s * fps)):
        t = i / fps
        image = wall.copy()
        x = position(t)
        truth = draw_person(image, x, FOOT_Y) if x is not None else np.zeros((H, W), np.uint8)
        mask = segment(Frame("cam", i, t, WALL, noise(image, gain(t))))
        rows.append((t, x, int(np.count_nonzero(mask)), iou(mask, truth)))
    return rows


def ours(config: BackgroundSegmenterConfig | None = None) -> Segment:
    segmenter = BackgroundSegmenter(config or BackgroundSegmenterConfig())
    return lambda frame: mask_in_frame(segmenter.segment([frame])[0])


def plain_mog2(history_s: float, fps: float) -> Segment:
    """OpenCV's MOG2 as is (same history and shadow suppression, learning everywhere)."""
    size = mask_size_for((W, H), 320)
    mog = cv2.createBackgroundSubtractorMOG2(history=int(history_s * fps), detectShadows=True)

    def segment(frame: Frame) -> np.ndarray:
        small = cv2.resize(frame.image, size, interpolation=cv2.INTER_LINEAR)
        fg = (mog.apply(small) == 255).astype(np.uint8)
        return cv2.resize(fg, (W, H), interpolation=cv2.INTER_NEAREST)

    return segment


def test_still_person_stays_in_mask_for_minutes_and_area_frees_after() -> None:
    gone = ENTER + 248  # walked out of the picture
    rows = run_scene(ours(), fps=5, duration_s=gone + 15, position=dwell_position)
    standing = [r for r in rows if ENTER + 5 <= r[0] < ENTER + 244]
    assert len(standing) > 1000
    worst = min(r[3] for r in standing)
    assert worst >= 0.75, f"IoU fell to {worst:.2f} during the 4-minute stand"
    # Free 3 s after they left: not a pixel is left behind.
    assert all(r[2] == 0 for r in rows if r[0] >= gone + 3)
    assert all(r[2] == 0 for r in rows if r[0] < ENTER), "empty scene before they come in"


def test_plain_mog2_loses_the_still_person() -> None:
    # The same scene through MOG2 alone: the test above can fail.
    rows = run_scene(plain_mog2(30.0, fps=5), fps=5, duration_s=140, position=dwell_position)
    assert max(r[3] for r in rows if ENTER + 5 <= r[0] < ENTER + 10) > 0.75  # seen at first
    late = [r[3] for r in rows if 110 <= r[0] < 140]
    assert max(late) < 0.2


def parked_trolley(image: np.ndarray, t: float, since: float) -> np.ndarray:
    """A box that is put down at ``since`` and never moves again (a moved shelf item)."""
    truth = np.zeros(image.shape[:2], np.uint8)
    if t >= since:
        cv2.rectangle(image, (300, 150), (360, 210), (30, 140, 40), -1)
        cv2.rectangle(truth, (300, 150), (360, 210), 1, -1)
    return truth


@pytest.mark.parametrize("fps", [10.0, 2.0])
def test_static_object_is_absorbed_after_the_hold_at_any_frame_rate(fps: float) -> None:
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig(still_person_hold_s=20.0))
    wall, noise = shop_wall(), CameraNoise()
    seen: list[tuple[float, float, int]] = []
    for i in range(int((ENTER + 35) * fps)):
        t = i / fps
        image = wall.copy()
        truth = parked_trolley(image, t, since=ENTER)
        mask = mask_in_frame(segmenter.segment([Frame("cam", i, t, WALL, noise(image))])[0])
        seen.append((t, iou(mask, truth), int(np.count_nonzero(mask))))
    assert all(n == 0 for t, _, n in seen if t < ENTER)
    held = [v for t, v, _ in seen if ENTER + 1 <= t < ENTER + 19]
    assert min(held) >= 0.8, "the new object is foreground while the hold runs"
    # Absorbed once it has been still for 20 s of source time, whatever the frame rate.
    assert all(n == 0 for t, _, n in seen if t >= ENTER + 20 + 1)


@pytest.mark.parametrize("leaves_at", [5.0, 25.0])
def test_someone_present_at_start_leaves_no_lasting_ghost(leaves_at: float) -> None:
    # They are learned as background with the first frame; when they walk off, the
    # uncovered wall differs from the model. During the warm-up the model simply learns
    # it; after the warm-up the ghost test on blob outlines must catch it.
    def position(t: float) -> float | None:
        if t < leaves_at:
            return STAND_X + math.sin(2 * t)
        return STAND_X + 60 * (t - leaves_at) if t < leaves_at + 4 else None

    rows = run_scene(ours(), fps=5, duration_s=leaves_at + 20, position=position)
    assert all(r[2] == 0 for r in rows if r[0] >= leaves_at + 12), "ghost outlived 12 s"


def test_sudden_lighting_change_is_not_reported_as_a_person() -> None:
    rows = run_scene(
        ours(),
        fps=5,
        duration_s=ENTER + 20,
        position=lambda t: None,
        gain=lambda t: 1.35 if t >= ENTER else 1,
    )
    assert all(r[2] == 0 for r in rows if r[0] >= ENTER + 2)


def test_slow_lighting_drift_neither_grows_a_still_person_nor_leaves_a_ghost() -> None:
    # Daylight: +25 % over a minute while someone stands. The model must follow the drift
    # under them too, or the stale ring around them turns foreground and the blob creeps.
    leave = ENTER + 65

    def position(t: float) -> float | None:
        return STAND_X + math.sin(2 * t) if ENTER <= t < leave else None

    def daylight(t: float) -> float:
        return 1 + 0.25 * min(1, max(0, t - ENTER) / 60)

    rows = run_scene(ours(), fps=5, duration_s=leave + 20, position=position, gain=daylight)
    truth_px = np.count_nonzero(draw_person(np.zeros((H, W, 3), np.uint8), STAND_X, FOOT_Y))
    standing = [r for r in rows if ENTER + 1 <= r[0] < leave]
    assert max(r[2] for r in standing) < 1.2 * truth_px
    assert min(r[3] for r in standing) > 0.5
    assert all(r[2] == 0 for r in rows if r[0] >= leave + 5)
    assert all(r[2] == 0 for r in rows if r[0] < ENTER)


def test_cameras_keep_separate_models() -> None:
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
    wall, noise = shop_wall(), CameraNoise()
    other = cv2.flip(wall, 1)
    person_in_a = wall.copy()
    truth = draw_person(person_in_a, STAND_X, FOOT_Y)
    for i in range(20):  # both cameras learn their empty scene, interleaved in one batch
        t = i * 0.2
        segmenter.segment(
            [Frame("a", i, t, WALL, noise(wall)), Frame("b", i, t, WALL, noise(other))]
        )
    a, b = segmenter.segment(
        [Frame("a", 20, 4.0, WALL, noise(person_in_a)), Frame("b", 20, 4.0, WALL, noise(other))]
    )
    assert iou(mask_in_frame(a), truth) > 0.75
    assert np.count_nonzero(b.mask) == 0


@pytest.mark.parametrize(
    ("frame_size", "max_side", "mask_size"),
    [
        ((480, 270), 320, (320, 180)),
        ((1920, 1080), 320, (320, 180)),
        ((270, 480), 320, (180, 320)),
        ((200, 100), 320, (200, 100)),
        ((640, 480), 64, (64, 48)),
    ],
)
def test_mask_size_and_mapping(
    frame_size: tuple[int, int], max_side: int, mask_size: tuple[int, int]
) -> None:
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig(mask_max_side=max(64, max_side)))
    image = np.full((frame_size[1], frame_size[0], 3), 90, np.uint8)
    (mask,) = segmenter.segment([Frame("cam", 0, 0.0, WALL, image)])
    assert mask.mapping == MaskMapping.stretch(frame_size, mask_size)
    assert mask.mask.shape == (mask_size[1], mask_size[0])
    assert mask.mask.dtype == np.uint8
    assert np.count_nonzero(mask.mask) == 0  # the first frame is the background


def test_clock_restart_and_repeated_timestamps_are_handled() -> None:
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
    wall, noise = shop_wall(), CameraNoise()
    times = [0.0, 0.2, 0.4, 0.4, 0.6, 0.0, 0.2]  # a repeat, then a looped file starts again
    for i, t in enumerate(times):
        (mask,) = segmenter.segment([Frame("cam", i, t, WALL, noise(wall))])
        assert np.count_nonzero(mask.mask) == 0


def test_factory_builds_it_and_close_is_final() -> None:
    segmenter = create_segmenter(BackgroundSegmenterConfig())
    assert isinstance(segmenter, Segmenter)
    assert (segmenter.name, segmenter.batch_size) == ("background", 16)
    segmenter.close()
    segmenter.close()
    with pytest.raises(SegmenterError, match="closed"):
        segmenter.segment([Frame("cam", 0, 0.0, WALL, shop_wall())])


def test_real_footage_people_past_shop_windows() -> None:
    # TUD-Stadtmitte: 179 frames, 640x480, people walking past shop windows, present from
    # the first frame. The scene is learned ahead (as replay does) and every frame then
    # segmented with it. Measured: 0.69 of the truth boxes' pixels are mask, 0.05 elsewhere,
    # from the first frame on (a model started from the first frame alone gave 0.68 and
    # 0.08 after the first second).
    video = shared_data("tud_stadtmitte", "tud_stadtmitte.mp4")
    boxes: dict[int, list[tuple[int, int, int, int]]] = {}
    for line in shared_data("tud_stadtmitte", "gt.txt").read_text().splitlines():
        f, _, left, top, width, height = (float(v) for v in line.split(",")[:6])
        boxes.setdefault(int(f) - 1, []).append((int(left), int(top), int(width), int(height)))
    frames = list(FileSource("tud", video).frames())
    assert len(frames) == 179
    ahead = BackgroundSegmenter(BackgroundSegmenterConfig())
    learned = learn_ahead(ahead, frames)
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
    segmenter.restore("tud", learned)
    inside, outside = [], []
    for frame in frames:
        (mask,) = segmenter.segment([frame])
        assert not mask.warming_up
        in_box = np.zeros(frame.image.shape[:2], bool)
        for left, top, width, height in boxes.get(frame.index, []):
            in_box[top : top + height, left : left + width] = True
        if in_box.any():
            person = mask_in_frame(mask) > 0
            inside.append(person[in_box].mean())
            outside.append(person[~in_box].mean())
    assert np.mean(inside) > 0.65
    assert np.mean(outside) < 0.1


def small_person(image: np.ndarray, cx: float, foot_y: int, shoes: int) -> None:
    """A far-away figure (about 14x48 px) with 3 px tall grey shoes, drawn in place."""
    x = int(cx)
    cv2.rectangle(image, (x - 4, foot_y - 16), (x + 4, foot_y - 3), (60, 50, 45), -1)
    cv2.ellipse(image, (x, foot_y - 26), (7, 11), 0, 0, 360, (150, 90, 60), -1)
    cv2.circle(image, (x, foot_y - 40), 4, (140, 170, 200), -1)
    cv2.rectangle(image, (x - 5, foot_y - 3), (x + 5, foot_y - 1), (shoes,) * 3, -1)


def feet_gaps(config: BackgroundSegmenterConfig) -> list[int]:
    """Rows between the true feet and the bottom edge of the mask (its lowest row + 1), a
    far person walking past."""
    segmenter = BackgroundSegmenter(config)
    floor_y, foot_y = 150, 230
    wall, noise = shop_wall(), CameraNoise()
    rng = np.random.default_rng(1)
    wall[floor_y:] = np.clip(150 + rng.normal(0, 4, wall[floor_y:].shape), 0, 255)
    gaps = []
    for i in range(int((ENTER + 8) * 5)):
        t = i / 5
        image = wall.copy()
        x = 40 + 15 * (t - ENTER)
        if t >= ENTER:
            small_person(image, x, foot_y, shoes=60)
        mask = mask_in_frame(segmenter.segment([Frame("cam", i, t, WALL, noise(image))])[0])
        if t >= ENTER + 1:
            rows = np.nonzero(mask[:, int(x) - 5 : int(x) + 6].any(axis=1))[0]
            gaps.append(foot_y - (int(rows.max()) + 1) if len(rows) else foot_y)
    return gaps


def test_dark_shoes_of_a_far_person_stay_in_the_mask() -> None:
    # Shoes a little darker than the floor, a few pixels tall, blurred into the floor by the
    # downscale: MOG2's own shadow threshold (0.5) reads them as shadow and the mask ends
    # above the feet, which moves far people's foot points out of thin zones.
    gaps = feet_gaps(BackgroundSegmenterConfig())
    assert max(gaps) <= 1, f"mask ends {max(gaps)} px above the feet"
    # One mask pixel is 1.5 frame rows here: a deeper shadow threshold keeps no more.
    assert np.mean(gaps) <= np.mean(feet_gaps(BackgroundSegmenterConfig(shadow_threshold=0.5)))


def plain_floor() -> np.ndarray:
    """A plain, finely textured floor filling the picture (tiles, pavement)."""
    rng = np.random.default_rng(4)
    floor = np.full((H, W, 3), (120, 135, 150), np.float32) + rng.normal(0, 5, (H, W, 3))
    return np.clip(floor, 0, 255).astype(np.uint8)


def sway(t: float, amplitude: float = 1.0) -> float:
    """A standing person's sway, in pixels (nobody stands perfectly still)."""
    return amplitude * math.sin(2 * t)


def test_a_person_standing_from_the_first_frame_becomes_counted() -> None:
    # They stand (swaying a pixel) from the first frame on, so the empty scene has never
    # been seen where they are: the bootstrap's median holds them. Their restless outline
    # tells them from the shelves, and they are in the mask, and counted in the zone they
    # stand in, once the bootstrap is over.
    rows = run_scene(ours(), fps=5, duration_s=20, position=lambda t: STAND_X + sway(t))
    warm = [r for r in rows if r[0] >= BackgroundSegmenterConfig().bootstrap_s + 0.5]
    assert min(r[3] for r in warm) > 0.6, [round(r[3], 2) for r in warm]

    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
    zone = np.array([[STAND_X - 40, FOOT_Y - 30], [STAND_X + 40, FOOT_Y - 30],
                     [STAND_X + 40, H], [STAND_X - 40, H]], dtype=float)  # fmt: skip
    analyzer = ZoneAnalyzer("cam", [ZoneRule("shelf", zone, 0.0, 0.0)])
    wall, noise = shop_wall(), CameraNoise()
    counts = []
    for i in range(20 * 5):
        t = i / 5
        image = wall.copy()
        draw_person(image, STAND_X + sway(t), FOOT_Y)
        (mask,) = segmenter.segment([Frame("cam", i, t, WALL, noise(image))])
        (state,) = analyzer.update(mask, t).states
        counts.append((t, state.count, state.warming_up))
    assert all(n == 0 and warming for t, n, warming in counts if t < 1.0)  # not seen yet
    assert all(n == 1 and not warming for t, n, warming in counts if t >= 6.0), counts


def test_masks_warm_up_for_the_bootstrap_and_are_trusted_after() -> None:
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig(bootstrap_s=3.0))
    wall, noise = shop_wall(), CameraNoise()
    warming = [
        segmenter.segment([Frame("cam", i, i / 5, WALL, noise(wall))])[0].warming_up
        for i in range(25)
    ]
    assert warming == [True] * 15 + [False] * 10  # trusted from t = 3.0 s


def test_a_ghost_goes_without_taking_a_still_person_beside_it() -> None:
    # A stands perfectly still in the first frames (so the model learns them as scene)
    # and walks off at 8 s; B came in at 6 s and stands right beside A's place, swaying.
    # A's place is a ghost once A is gone (floor where the model holds a person); it is
    # part of B's blob, but B's own outline is an edge of the frame and A's place is not.
    leaves_at, b_x = 8.0, STAND_X - 34
    wall, noise = plain_floor(), CameraNoise()
    a_place = draw_person(np.zeros((H, W, 3), np.uint8), STAND_X, FOOT_Y) > 0
    segment = ours()
    ghost_px, b_seen = [], []
    for i in range(20 * 5):
        t = i / 5
        image = wall.copy()
        a_x = STAND_X + (60 * (t - leaves_at) if t >= leaves_at else 0)
        if a_x < W + 20:
            draw_person(image, a_x, FOOT_Y)
        b_truth = np.zeros((H, W), bool)
        if t >= 6.0:
            b_truth = draw_person(image, min(b_x, -20 + 120 * (t - 6.0)) + sway(t), FOOT_Y) > 0
        mask = segment(Frame("cam", i, t, WALL, noise(image))) > 0
        near_b = cv2.dilate(b_truth.view(np.uint8), np.ones((9, 9), np.uint8)) > 0
        ghost_px.append((t, int(np.count_nonzero(mask & a_place & ~near_b))))
        if t >= 8.0:
            b_seen.append(np.count_nonzero(mask & b_truth) / np.count_nonzero(b_truth))
    assert any(n > 100 for t, n in ghost_px if leaves_at + 0.6 <= t < leaves_at + 1.5)
    assert all(n == 0 for t, n in ghost_px if t >= leaves_at + 4.0), f"ghost left: {ghost_px}"
    assert min(b_seen) > 0.8, f"B lost: {np.round(b_seen, 2).tolist()}"


def test_a_restart_with_the_saved_scene_counts_at_once() -> None:
    wall, noise = shop_wall(), CameraNoise()
    first = BackgroundSegmenter(BackgroundSegmenterConfig())
    for i in range(40):  # 8 s of the empty shop: the scene is learned
        first.segment([Frame("cam", i, i / 5, WALL, noise(wall))])
    saved = first.state("cam")
    assert saved is not None
    saved = json.loads(json.dumps(saved))  # as the daemon keeps it, in a JSON file
    # The next start: someone is already in front of the shelves, and the lights are a
    # little brighter. The saved scene is used at once, and they are in the mask.
    restarted = BackgroundSegmenter(BackgroundSegmenterConfig())
    restarted.restore("cam", saved)
    image = wall.copy()
    truth = draw_person(image, STAND_X, FOOT_Y)
    (mask,) = restarted.segment([Frame("cam", 0, 100.0, WALL, noise(image, gain=1.1))])
    assert not mask.warming_up
    assert iou(mask_in_frame(mask), truth) > 0.75
    # A cold start instead sees nobody: the first frame is all it knows.
    (cold,) = BackgroundSegmenter(BackgroundSegmenterConfig()).segment(
        [Frame("cam", 0, 100.0, WALL, noise(image))]
    )
    assert cold.warming_up and np.count_nonzero(cold.mask) == 0


def test_a_moved_camera_does_not_use_the_saved_scene() -> None:
    wall, noise = shop_wall(), CameraNoise()
    first = BackgroundSegmenter(BackgroundSegmenterConfig())
    for i in range(40):
        first.segment([Frame("cam", i, i / 5, WALL, noise(wall))])
    moved = np.roll(wall, (9, 12), axis=(0, 1))  # the camera was knocked a little
    restarted = BackgroundSegmenter(BackgroundSegmenterConfig())
    restarted.restore("cam", first.state("cam"))
    masks = [restarted.segment([Frame("cam", i, i / 5, WALL, noise(moved))])[0] for i in range(10)]
    assert all(m.warming_up for m in masks), "it must learn the new view from scratch"
    assert all(np.count_nonzero(m.mask) == 0 for m in masks)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"version": 1}, "no background picture"),
        ({"background": 42}, "no background picture"),
    ],
)
def test_restore_rejects_what_is_not_a_saved_scene(state: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackgroundSegmenter(BackgroundSegmenterConfig()).restore("cam", state)


def test_a_corrupt_saved_scene_is_a_cold_start(caplog: pytest.LogCaptureFixture) -> None:
    wall, noise = shop_wall(), CameraNoise()
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
    segmenter.restore("cam", {"background": "not base64!", "frame_size": [W, H]})
    (mask,) = segmenter.segment([Frame("cam", 0, 0.0, WALL, noise(wall))])
    assert mask.warming_up
    assert "saved background not used" in caplog.text


def test_masks_do_not_depend_on_the_number_of_threads() -> None:
    # OpenCV parallelises some calls; the masks must be the same on one thread or many.
    def clip() -> list[np.ndarray]:
        segment = ours()
        wall, noise = shop_wall(), CameraNoise()
        masks = []
        for i in range(60):
            t = i / 5
            image = wall.copy()
            draw_person(image, 40 + 20 * t, FOOT_Y)
            masks.append(segment(Frame("cam", i, t, WALL, noise(image, gain=1 + 0.01 * t))))
        return masks

    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        alone = clip()
        cv2.setNumThreads(max(threads, 4))
        many = clip()
    finally:
        cv2.setNumThreads(threads)
    assert all(np.array_equal(a, b) for a, b in zip(alone, many, strict=True))


def test_exposure_gain_is_the_ratio_of_the_masked_means_exactly() -> None:
    # The gain's means are summed without OpenCV's masked loop; they must be cv2.mean's.
    rng = np.random.default_rng(5)
    for size in ((320, 240), (320, 180), (97, 61)):
        w, h = size
        source = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        target = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        empty = (rng.random((h, w)) < 0.7).astype(np.uint8) * rng.integers(1, 256, dtype=np.uint8)
        gain = channel_gain(source, target, empty)
        mask = (empty > 0).astype(np.uint8)
        now = np.array(cv2.mean(source, mask)[:3])
        wanted = np.array(cv2.mean(target, mask)[:3])
        assert gain is not None
        assert np.array_equal(gain, wanted / np.maximum(now, 1.0))


def test_camera_exposure_step_keeps_a_still_person_and_adds_no_floor() -> None:
    # Auto-exposure brightens the picture by 8 % at once while someone stands. Compared as
    # it is, most of the scene differs from the model and it would restart from this
    # frame, learning the person; brought to the model's exposure, nothing changes.
    step_at = ENTER + 10

    def position(t: float) -> float | None:
        return STAND_X + math.sin(2 * t) if t >= ENTER else None

    rows = run_scene(
        ours(),
        fps=5,
        duration_s=step_at + 10,
        position=position,
        gain=lambda t: 1.08 if t >= step_at else 1.0,
    )
    truth_px = np.count_nonzero(draw_person(np.zeros((H, W, 3), np.uint8), STAND_X, FOOT_Y))
    after = [r for r in rows if r[0] >= step_at]
    assert min(r[3] for r in after) > 0.75
    assert max(r[2] for r in after) < 1.2 * truth_px
