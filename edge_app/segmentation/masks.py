"""Person masks drawn back in frame pixels (overlays, the editor's preview, evaluation)."""

from __future__ import annotations

import cv2
import numpy as np

from edge_app.core.domain import ImageU8, PersonMask


def mask_in_frame(person: PersonMask) -> ImageU8:
    """The person mask drawn in frame pixels: ``(H, W)`` uint8 0/1 (nearest neighbour).

    For overlays and evaluation against frame-resolution truth; letterbox padding is
    cropped away by the mapping.
    """
    m = person.mapping
    # warpAffine maps pixel indices; MaskMapping maps continuous coordinates whose pixel
    # centres sit at +0.5, hence the half-pixel terms.
    matrix = np.array(
        [
            [m.scale_x, 0.0, m.offset_x + 0.5 * m.scale_x - 0.5],
            [0.0, m.scale_y, m.offset_y + 0.5 * m.scale_y - 0.5],
        ]
    )
    out = cv2.warpAffine(
        person.mask,
        matrix,
        m.frame_size,
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.asarray(out, dtype=np.uint8)


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
