"""Shared fixtures. Real test data lives in ../shared/data and is read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

SHARED_DATA_SETS = {
    "selfie_segmentation": (
        "MediaPipe's selfie segmentation converted to ONNX (selfie_segmentation.onnx, "
        "selfie_segmentation_landscape.onnx; Apache-2.0)"
    ),
    "tud_stadtmitte": (
        "the TUD-Stadtmitte pedestrian video with its MOT ground truth (tud_stadtmitte.mp4, "
        "gt.txt; TU Darmstadt research data)"
    ),
    "coco_people": (
        "two COCO val2017 photos with person masks (images/, person_mask/, person_instances/; "
        "from cocodataset/panopticapi sample_data)"
    ),
}
"""The folders of ../shared/data the tests read, and what each holds (README: "Tests that
need real data")."""


def shared_data(*parts: str) -> Path:
    """Path of a file in ../shared/data; skips the test when it is absent (a fresh clone),
    saying which data set it needs."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        what = SHARED_DATA_SETS.get(parts[0], "a file of the public test data")
        pytest.skip(
            f"needs {path}: {what}. It is not in the repository; put it in ../shared/data "
            "beside the clone (README: Tests that need real data)"
        )
    return path
