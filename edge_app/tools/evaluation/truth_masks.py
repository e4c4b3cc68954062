"""Person masks drawn from the ground truth: the analytics measured without a segmenter.

``edge-app eval --masks-from-truth`` replaces the segmenter by this one: each true person
becomes a person-shaped silhouette (an ellipse for head and torso over a block for the
legs) filling their box, so people who overlap merge into one blob exactly as they would
in a perfect semantic mask, and people hidden behind others are hidden. Comparing a run
with it and a run with a real segmenter separates counting errors from segmentation
errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from edge_app.core.domain import Frame, MaskMapping, PersonMask
from edge_app.tools.evaluation.truth import TruthPoint

MASK_MAX_SIDE = 320
"""Long side of the masks (as the background segmenter's default)."""


class TruthMaskSegmenter:
    """A ``Segmenter`` whose masks are the silhouettes of the true boxes of each frame."""

    name = "truth-masks"
    batch_size = 1

    def __init__(self, truth: Callable[[int], list[TruthPoint]]) -> None:
        self.truth = truth

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        return [self._mask(frame) for frame in frames]

    def _mask(self, frame: Frame) -> PersonMask:
        w, h = frame.size
        s = MASK_MAX_SIDE / max(w, h)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        mapping = MaskMapping.stretch((w, h), size)
        mask = np.zeros((size[1], size[0]), np.uint8)
        for p in self.truth(frame.index):
            if p.box is None:
                continue
            x, y, bw, bh = (
                v * k for v, k in zip(p.box, (mapping.scale_x, mapping.scale_y) * 2, strict=True)
            )
            cx = x + bw / 2
            axes = (max(1, round(0.4 * bw)), max(1, round(0.33 * bh)))
            cv2.ellipse(mask, (round(cx), round(y + 0.35 * bh)), axes, 0, 0, 360, 1, -1)
            legs = (round(x + 0.25 * bw), round(y + 0.5 * bh))
            cv2.rectangle(mask, legs, (round(x + 0.75 * bw), round(y + bh) - 1), 1, -1)
        return PersonMask(mask, mapping)

    def close(self) -> None:
        """Nothing to release."""
