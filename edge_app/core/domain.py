"""Domain values passed between pipeline stages.

Each stage hands the next one of these frozen values and nothing else (see
ARCHITECTURE.md): ``Frame`` from a source, ``PersonMask`` from a segmenter,
``ZoneState`` and ``ZoneEvent`` from the analytics, ``Event`` (a stamped ``ZoneEvent``)
to the sinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

ImageU8 = npt.NDArray[np.uint8]
"""An OpenCV image: ``(H, W, 3)`` BGR or ``(H, W)`` single channel, uint8."""

Point = tuple[float, float]
"""One ``(x, y)`` point."""

Points = npt.NDArray[np.float64]
"""An ``(N, 2)`` array of ``x, y`` points."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture from a camera.

    ``t`` is seconds on the source's own clock (video PTS for files, monotonic capture time
    for live cameras) and is used for every duration; ``wall`` is UTC and only stamps events.
    ``image`` is ``(H, W, 3)`` BGR uint8, as OpenCV decodes it.
    """

    camera_id: str
    index: int
    t: float
    wall: datetime
    image: ImageU8

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(
                f"Frame.image must be (H, W, 3) uint8 BGR, got shape {self.image.shape} "
                f"dtype {self.image.dtype}"
            )
        if self.wall.tzinfo is None:
            raise ValueError("Frame.wall must be timezone-aware (UTC)")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class MaskMapping:
    """Affine per-axis mapping between frame pixels and mask pixels.

    ``mask_xy = frame_xy * scale + offset``. A stretched resize has zero offsets; a letterbox
    has the padding (in mask pixels) as offsets. Both sizes are ``(width, height)``.
    """

    frame_size: tuple[int, int]
    mask_size: tuple[int, int]
    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    def __post_init__(self) -> None:
        if min(self.frame_size) <= 0 or min(self.mask_size) <= 0:
            raise ValueError(
                f"MaskMapping sizes must be positive, got frame {self.frame_size} "
                f"mask {self.mask_size}"
            )
        if self.scale_x <= 0 or self.scale_y <= 0:
            raise ValueError(f"MaskMapping scales must be > 0, got {self.scale_x}, {self.scale_y}")

    @classmethod
    def stretch(cls, frame_size: tuple[int, int], mask_size: tuple[int, int]) -> MaskMapping:
        """The mapping of a plain resize of the whole frame to ``mask_size``."""
        return cls(
            frame_size,
            mask_size,
            mask_size[0] / frame_size[0],
            mask_size[1] / frame_size[1],
        )

    def frame_to_mask(self, points: Points | Sequence[Point]) -> Points:
        """Map ``(N, 2)`` frame pixel points (or a list of ``(x, y)``) into mask pixel
        coordinates."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        mapped: Points = pts * (self.scale_x, self.scale_y) + (self.offset_x, self.offset_y)
        return mapped

    def mask_to_frame(self, points: Points | Sequence[Point]) -> Points:
        """Map ``(N, 2)`` mask pixel points (or a list of ``(x, y)``) back into frame pixel
        coordinates."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        mapped: Points = (pts - (self.offset_x, self.offset_y)) / (self.scale_x, self.scale_y)
        return mapped

    def resized(self, mask_size: tuple[int, int]) -> MaskMapping:
        """The same mapping after the mask itself is resized to ``mask_size``."""
        fx = mask_size[0] / self.mask_size[0]
        fy = mask_size[1] / self.mask_size[1]
        return MaskMapping(
            self.frame_size,
            mask_size,
            self.scale_x * fx,
            self.scale_y * fy,
            self.offset_x * fx,
            self.offset_y * fy,
        )


@dataclass(frozen=True, slots=True)
class PersonMask:
    """Where the people are in one frame.

    ``mask`` is ``(h, w)`` uint8 with 1 for person and 0 for background, at the model's
    output resolution; ``mapping`` relates its pixels to the frame's. ``warming_up`` is
    true while the segmenter does not trust its own masks yet (a background model still
    learning the empty scene after a cold start): what is counted from it is provisional.
    """

    mask: ImageU8
    mapping: MaskMapping
    warming_up: bool = False

    def __post_init__(self) -> None:
        if self.mask.ndim != 2 or self.mask.dtype != np.uint8:
            raise ValueError(
                f"PersonMask.mask must be (h, w) uint8, got shape {self.mask.shape} "
                f"dtype {self.mask.dtype}"
            )
        h, w = self.mask.shape
        if (w, h) != self.mapping.mask_size:
            raise ValueError(
                f"PersonMask.mask is {w}x{h} but its mapping says {self.mapping.mask_size}"
            )


@dataclass(frozen=True, slots=True)
class ZoneState:
    """The state of one zone after one frame.

    ``count`` is people whose foot point is inside; ``coverage`` the fraction (0..1) of the
    zone's pixels that are person; ``occupied`` the debounced state, true since
    ``occupied_since`` (source-clock seconds); ``dwell_s`` maps each track inside to the
    seconds it has been inside. ``warming_up``: the frame's mask was provisional (the
    segmenter is still warming up after a cold start), so the figures are too.
    """

    camera: str
    zone: str
    t: float
    count: int
    coverage: float
    occupied: bool
    occupied_since: float | None
    dwell_s: dict[int, float] = field(default_factory=dict)
    warming_up: bool = False

    @property
    def longest_dwell_s(self) -> float:
        """The longest current dwell of anyone inside, 0 when empty."""
        return max(self.dwell_s.values(), default=0.0)
