"""Person masks drawn back in frame pixels: every frame pixel shows the mask pixel its
centre maps to, for stretched and letterboxed mappings."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.core.domain import MaskMapping, PersonMask
from edge_app.segmentation.masks import MASK_TINT, mask_in_frame, tint_people


@pytest.mark.parametrize(
    "mapping",
    [
        MaskMapping.stretch((64, 48), (16, 12)),
        MaskMapping.stretch((60, 40), (16, 16)),
        MaskMapping((80, 40), (16, 16), 0.2, 0.2, 0.0, 4.0),  # letterbox, padded below
        MaskMapping((40, 80), (16, 16), 0.2, 0.2, 4.0, 0.0),  # letterbox, centred
    ],
)
def test_mask_in_frame_puts_each_mask_pixel_where_the_mapping_says(mapping: MaskMapping) -> None:
    w, h = mapping.mask_size
    mask = np.zeros((h, w), np.uint8)
    mask[5:9, 6:11] = 1
    frame = mask_in_frame(PersonMask(mask, mapping))
    assert frame.shape == (mapping.frame_size[1], mapping.frame_size[0])
    # Every frame pixel centre maps into the mask pixel it shows.
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    centres = np.column_stack([xs.ravel() + 0.5, ys.ravel() + 0.5])
    inside = mapping.frame_to_mask(centres)
    col = np.floor(inside[:, 0]).astype(int)
    row = np.floor(inside[:, 1]).astype(int)
    valid = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    expected = np.zeros(len(centres), np.uint8)
    expected[valid] = mask[row[valid], col[valid]]
    # A centre exactly on a mask pixel border may round either way.
    clear = np.all(np.abs(inside - np.round(inside)) > 1e-6, axis=1)
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(frame.ravel()[clear], expected[clear])


@pytest.mark.parametrize(
    ("mapping", "mask_box", "frame_box"),
    [
        # A stretch: a 2x smaller mask.
        (MaskMapping.stretch((80, 40), (40, 20)), (10, 5, 20, 10), (20, 10, 40, 20)),
        # A letterbox: 80x40 into a 40x40 mask, 10 rows of padding on top.
        (MaskMapping((80, 40), (40, 40), 0.5, 0.5, 0.0, 10.0), (0, 10, 40, 30), (0, 0, 80, 40)),
    ],
)
def test_mask_in_frame_undoes_the_mapping(
    mapping: MaskMapping, mask_box: tuple[int, ...], frame_box: tuple[int, ...]
) -> None:
    w, h = mapping.mask_size
    mask = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = mask_box
    mask[y0:y1, x0:x1] = 1
    back = mask_in_frame(PersonMask(mask, mapping))
    expected = np.zeros((mapping.frame_size[1], mapping.frame_size[0]), np.uint8)
    fx0, fy0, fx1, fy1 = frame_box
    expected[fy0:fy1, fx0:fx1] = 1
    assert back.shape == expected.shape
    np.testing.assert_array_equal(back, expected)


def test_tint_people_colours_only_person_pixels_and_keeps_the_input() -> None:
    image = np.full((40, 80, 3), 40, np.uint8)
    mask = np.zeros((20, 40), np.uint8)
    mask[5:10, 10:20] = 1
    out = tint_people(image, PersonMask(mask, MaskMapping.stretch((80, 40), (40, 20))))
    person = np.zeros((40, 80), bool)
    person[10:20, 20:40] = True
    expected = np.broadcast_to(40 * 0.45 + np.array(MASK_TINT) * 0.55, (200, 3))
    np.testing.assert_allclose(out[person], expected, atol=1)
    assert (out[~person] == 40).all()
    assert (image == 40).all()
