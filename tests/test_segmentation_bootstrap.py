"""The background segmenter's cold start (``Bootstrap``) against plain per-pixel formulas.

The estimate works through its samples in bands of rows; these scenes are tall enough for
several bands and have more samples than the room first made for them.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.segmentation import bootstrap as bootstrap_module
from edge_app.segmentation.bootstrap import SAMPLE_EVERY_S, Bootstrap


def _noisy_samples(count: int, seed: int) -> list[np.ndarray]:
    """A still scene (random texture) with camera noise under the motion level."""
    rng = np.random.default_rng(seed)
    scene = rng.integers(40, 200, (100, 64, 3), dtype=np.int16)
    return [
        (scene + rng.integers(-4, 5, scene.shape, dtype=np.int16)).astype(np.uint8)
        for _ in range(count)
    ]


@pytest.mark.parametrize("count", [7, bootstrap_module._CAPACITY + 14])
def test_a_still_scene_is_the_lower_median_of_every_sample_with_its_noise(count: int) -> None:
    samples = _noisy_samples(count, seed=count)
    boot = Bootstrap(min_blob_px=20, kernel_scale=0.25)
    for i, picture in enumerate(samples):
        boot.add(picture, picture[:, :, 1], SAMPLE_EVERY_S * i)
    assert boot.samples == count
    estimate = boot.estimate()

    stack = np.stack(samples)
    middle = (count - 1) // 2
    median = np.sort(stack, axis=0)[middle]
    np.testing.assert_array_equal(estimate.background, median)
    deviation = np.abs(stack.astype(np.int16) - median.astype(np.int16)).max(axis=3)
    mad = np.sort(deviation, axis=0)[middle].astype(np.float32)
    sigma = bootstrap_module._MAD_TO_SIGMA * mad
    np.testing.assert_array_equal(estimate.variance, sigma * sigma)
    assert estimate.variance.dtype == np.float32
    assert not estimate.standing.any()


def test_a_passer_by_is_left_out_of_the_scene_and_the_samples_are_kept_apart() -> None:
    floor = np.full((90, 40, 3), 120, np.uint8)
    boot = Bootstrap(min_blob_px=20, kernel_scale=0.25)
    for k in range(bootstrap_module._CAPACITY + 5):
        picture = floor.copy()
        picture[10:80, k : k + 4] = 30  # someone walking across
        boot.add(picture, picture[:, :, 0], SAMPLE_EVERY_S * k)
        picture[:] = 0  # the caller's picture is reused: the sample is a copy
    estimate = boot.estimate()
    np.testing.assert_array_equal(estimate.background, floor)
    assert boot.estimate().background.tobytes() == estimate.background.tobytes()  # repeatable


def test_samples_of_another_size_are_refused() -> None:
    boot = Bootstrap(min_blob_px=20, kernel_scale=0.25)
    picture = np.zeros((20, 30, 3), np.uint8)
    boot.add(picture, picture[:, :, 0], 0.0)
    other = np.zeros((21, 30, 3), np.uint8)
    with pytest.raises(ValueError, match="size of the first"):
        boot.add(other, other[:, :, 0], SAMPLE_EVERY_S)
    assert boot.samples == 1


def test_an_estimate_needs_a_sample() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        Bootstrap(min_blob_px=20, kernel_scale=0.25).estimate()


def _clothes(
    rng: np.random.Generator, height: int, width: int, colour: tuple[int, int, int]
) -> np.ndarray:
    """A walker's picture: their colour with folds and shades that move with them."""
    shade = rng.integers(-20, 21, (height, width, 1), dtype=np.int16)
    person: np.ndarray = np.clip(np.array(colour, np.int16) + shade, 0, 255).astype(np.uint8)
    return person


def test_a_slow_dense_group_is_left_out_of_the_scene_and_a_stander_is_kept() -> None:
    # A group in four kinds of clothes walks slowly through the whole window, close
    # behind one another: every place they pass is covered in most samples, and by the
    # same person for a second. Beside them someone stands through the window, swaying.
    rng = np.random.default_rng(5)
    floor = rng.integers(110, 131, (120, 160, 3), dtype=np.uint8)  # a textured pavement
    clothes = [(40, 40, 60), (80, 50, 30), (60, 90, 60), (20, 20, 20)]
    walker = [_clothes(rng, 70, 10, colour) for colour in clothes]
    boot = Bootstrap(min_blob_px=20, kernel_scale=0.5)
    for k in range(26):  # the default 5 s
        picture = floor.copy()
        for n in range(12):  # 10 wide, 4 apart, 2 px a sample: 1 s over each place
            left = 2 * k + 14 * n - 70
            shown = slice(max(left, 50), min(left + 10, 160))
            if shown.start < shown.stop:
                cut = slice(shown.start - left, shown.stop - left)
                picture[30:100, shown] = walker[n % 4][:, cut]
        sway = 1 if k % 2 else -1
        picture[20:90, 15 + sway : 31 + sway] = (50, 35, 35)  # the stander
        boot.add(picture, np.asarray(picture[:, :, 1]), SAMPLE_EVERY_S * k)
    estimate = boot.estimate()

    crossed = (slice(30, 100), slice(55, 160))  # where the group walked (past its entry)
    difference = np.abs(estimate.background[crossed].astype(np.int16) - floor[crossed])
    assert np.mean(difference.max(axis=2) <= 12) > 0.99, "the group left a smear in the scene"
    assert estimate.standing[30:80, 18:28].all(), "the stander was not found"
    assert not estimate.standing[:, 40:].any()
