"""Person masks drawn back in frame pixels (overlays, the editor's preview, evaluation)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_app.core.domain import ImageU8, PersonMask


def mask_in_frame(person: PersonMask) -> ImageU8:
    """The person mask drawn in frame pixels: ``(H, W)`` uint8 0/1 (nearest neighbour).

    Each frame pixel shows the mask pixel its centre maps to; letterbox padding is cropped
    away by the mapping. Exact index arithmetic rather than ``cv2.warpAffine``, whose
    nearest-neighbour result changes with OpenCV's thread count.
    """
    m = person.mapping
    width, height = m.frame_size
    rows, row_ok = _nearest(height, m.scale_y, m.offset_y, person.mask.shape[0])
    cols, col_ok = _nearest(width, m.scale_x, m.offset_x, person.mask.shape[1])
    out: ImageU8 = np.zeros((height, width), dtype=np.uint8)
    shown = person.mask.take(rows[row_ok], axis=0).take(cols[col_ok], axis=1)
    out[np.ix_(row_ok, col_ok)] = shown != 0
    return out


def _nearest(
    count: int, scale: float, offset: float, size: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """For ``count`` frame pixels along one axis: the mask pixel each centre falls in, and
    whether it lies inside the mask (``frame * scale + offset`` maps into the mask)."""
    index = np.floor((np.arange(count) + 0.5) * scale + offset).astype(np.intp)
    return index, (index >= 0) & (index < size)


MASK_TINT = (255, 0, 255)
"""BGR colour of the person mask in pictures (magenta: rare in shops, visible on any floor)."""
TINT_SHARE = 0.55
"""How much of a person pixel's colour the tint replaces."""


def tint_people(image: ImageU8, person: PersonMask) -> ImageU8:
    """A copy of ``image`` (BGR uint8, frame pixels) with the person pixels tinted."""
    out: ImageU8 = np.array(image, dtype=np.uint8, copy=True)
    shown = mask_in_frame(person).astype(np.bool_)
    tint = np.array(MASK_TINT, dtype=np.float32) * TINT_SHARE
    out[shown] = (out[shown].astype(np.float32) * (1.0 - TINT_SHARE) + tint).astype(np.uint8)
    return out
