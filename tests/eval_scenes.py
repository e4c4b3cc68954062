"""A tiny hand-made video with exact MOT truth, for end-to-end tests of eval and overlay.

White rectangles ("people") on a black floor, segmented exactly by the bright-person ONNX
model of ``tests.fakes.onnx_models``: person 1 walks from the left zone into the right
zone, person 2 stands in the right zone all along. Every foot point stays well away from
the zone border, so the measured counts must equal the truth frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tests.fakes.onnx_models import bright_person_model

WIDTH, HEIGHT = 160, 120
FPS = 10.0
FRAMES = 40
PERSON_W, PERSON_H = 10, 30

ZONES_YAML = f"""\
camera: tiny
frame_size: [{WIDTH}, {HEIGHT}]
zones:
  - id: left
    polygon: [[0, 60], [78, 60], [78, 120], [0, 120]]
  - id: right
    polygon: [[78, 60], [160, 60], [160, 120], [78, 120]]
"""


def boxes(index: int) -> list[tuple[int, int, int, int, int]]:
    """``(person id, left, top, width, height)`` of everyone in frame ``index``."""
    # Person 1 steps 3 px a frame: foot x = left + 5 = 20 + 3 * index, which never comes
    # closer than 1 px to the border at x = 78 (77 in frame 19, 80 in frame 20).
    walker_left = 15 + 3 * index
    return [
        (1, walker_left, 75, PERSON_W, PERSON_H),
        (2, 120, 70, PERSON_W, PERSON_H),
    ]


@dataclass(frozen=True)
class TinyScene:
    video: Path
    gt: Path
    zones: Path
    model: Path


def make_scene(folder: Path) -> TinyScene:
    """Write the video (Motion-JPEG AVI), its gt.txt, the zone file and the ONNX model."""
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "tiny.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    rows = []
    try:
        for index in range(FRAMES):
            image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            for pid, left, top, w, h in boxes(index):
                image[top : top + h, left : left + w] = 255
                rows.append(f"{index + 1},{pid},{left},{top},{w},{h},1,-1,-1,-1")
            writer.write(image)
    finally:
        writer.release()
    gt = folder / "gt.txt"
    gt.write_text("\n".join(rows) + "\n")
    zones = folder / "tiny.yaml"
    zones.write_text(ZONES_YAML)
    model = bright_person_model(folder / "bright.onnx", size=(512, 512))
    return TinyScene(video, gt, zones, model)
