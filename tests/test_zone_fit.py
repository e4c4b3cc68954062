"""Zones drawn for another aspect ratio than the camera's frames are an error naming the
zone file and both sizes, never stretched silently: in ``check`` where the size is known,
and at the camera's first frame in every driver (the daemon then exits non-zero)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import AnalyticsConfig, CameraConfig, FileSourceConfig, load_config
from edge_app.config.zones import ZoneSet, frame_size_problem, load_camera_zones, parse_zones
from edge_app.core.domain import Frame, MaskMapping, PersonMask
from edge_app.core.errors import ConfigError
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics
from edge_app.runtime.app import App
from edge_app.sources import Source, create_source
from tests.daemon_support import make_video, write_config

SQUARE = [[10, 10], [90, 10], [90, 90], [10, 90]]


def zones(frame_size: list[int] | None, path: str = "door.yaml") -> ZoneSet:
    polygon = SQUARE if frame_size is not None else [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
    data: dict[str, object] = {"camera": "door", "zones": [{"id": "mat", "polygon": polygon}]}
    if frame_size is not None:
        data["frame_size"] = frame_size
    return parse_zones(data, Path(path))


@pytest.mark.parametrize(
    ("drawn", "frames", "fits"),
    [
        ([960, 540], (1920, 1080), True),  # the same view at another resolution
        ([960, 540], (960, 540), True),
        ([1920, 1080], (1920, 1088), True),  # padded to 16-pixel rows: 0.7 %
        ([1920, 1080], (1920, 1104), False),  # 2.2 %
        ([960, 540], (640, 480), False),  # 16:9 zones on a 4:3 camera
        ([640, 480], (960, 540), False),
        ([1080, 1920], (1920, 1080), False),  # portrait zones on a landscape camera
        (None, (640, 480), True),  # normalised zones fit any frame
    ],
)
def test_which_frame_sizes_fit_the_zones(
    drawn: list[int] | None, frames: tuple[int, int], fits: bool
) -> None:
    assert (frame_size_problem(zones(drawn), frames) is None) is fits


def test_the_error_names_the_zone_file_and_both_sizes() -> None:
    problem = frame_size_problem(zones([960, 540], "zones/door.yaml"), (640, 480), "door")
    assert problem is not None
    text = str(problem)
    assert text.startswith("zones/door.yaml: frame_size: ")
    assert "960x540" in text and "640x480" in text and "camera 'door'" in text


def frame(size: tuple[int, int], index: int = 0) -> Frame:
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    return Frame("door", index, index * 0.1, datetime(2026, 1, 1, tzinfo=timezone.utc), image)


def empty_mask(size: tuple[int, int]) -> PersonMask:
    mapping = MaskMapping.stretch(size, (16, 16))
    return PersonMask(np.zeros((16, 16), np.uint8), mapping)


def analytics(drawn: list[int], stretched_to: tuple[int, int] | None = None) -> CameraAnalytics:
    return CameraAnalytics(
        "door", zones(drawn), AnalyticsConfig(), EventStamper("d"), stretched_to=stretched_to
    )


def test_a_first_frame_of_another_aspect_ratio_is_refused() -> None:
    cam = analytics([960, 540])
    with pytest.raises(ConfigError, match=r"door\.yaml: frame_size: .*960x540.*640x480"):
        cam.process(frame((640, 480)), empty_mask((640, 480)))


def test_frames_of_the_same_view_at_another_size_are_analysed() -> None:
    cam = analytics([960, 540])
    for i in range(3):
        result = cam.process(frame((1920, 1080), i), empty_mask((1920, 1080)))
    assert [s.zone for s in result.analysis.states] == ["mat"]


def test_a_camera_that_changes_to_another_aspect_ratio_is_refused() -> None:
    cam = analytics([960, 540])
    cam.process(frame((960, 540)), empty_mask((960, 540)))
    with pytest.raises(ConfigError, match="640x480"):
        cam.process(frame((640, 480), 1), empty_mask((640, 480)))


def test_frames_the_camera_stretched_to_the_model_input_keep_the_zones() -> None:
    # A Jetson's VIC stretches a 16:9 picture to the model's 512x512: the content stays in
    # place, so the zones are scaled onto it.
    cam = analytics([960, 540], stretched_to=(512, 512))
    result = cam.process(frame((512, 512)), empty_mask((512, 512)))
    assert [s.zone for s in result.analysis.states] == ["mat"]
    with pytest.raises(ConfigError, match="640x480"):
        cam.process(frame((640, 480), 1), empty_mask((640, 480)))


def test_a_reload_with_zones_for_another_aspect_ratio_keeps_the_current_zones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cam = analytics([960, 540])
    cam.process(frame((960, 540)), empty_mask((960, 540)))
    current = cam.zones
    with caplog.at_level(logging.ERROR):
        assert cam.reload(zones([640, 480], "new.yaml")) == ()
    assert cam.zones is current
    assert "zone reload refused" in caplog.text and "new.yaml" in caplog.text
    assert cam.reload(zones([1920, 1080], "bigger.yaml")) == ()
    assert cam.zones is not None and cam.zones.path == Path("bigger.yaml")


def test_the_daemon_stops_with_the_error_at_the_first_frame(tmp_path: Path) -> None:
    # The camera's size is known only once it delivers (as for a live camera): the check
    # before the start cannot see it, the first frame does.
    pytest.importorskip("onnxruntime")
    video = make_video(tmp_path / "door.avi", frames=20)  # 160x120: 4:3
    (tmp_path / "door.yaml").write_text(
        "camera: door\nframe_size: [960, 540]\nzones:\n"
        "  - {id: mat, polygon: [[10, 10], [90, 10], [90, 90], [10, 90]]}\n"
    )
    rtsp = {"type": "rtsp", "url": "rtsp://127.0.0.1:9/unused"}  # replaced by the video
    config = load_config(
        write_config(tmp_path, [{"id": "door", "source": rtsp, "zones": "door.yaml"}])
    )

    def the_video(cam: CameraConfig) -> Source:
        return create_source(cam.model_copy(update={"source": FileSourceConfig(path=video)}))

    app = App(config, load_camera_zones(config), make_source=the_video)
    try:
        with pytest.raises(ConfigError, match=r"door\.yaml: frame_size: .*960x540.*160x120"):
            app.start()
            app.run()
    finally:
        app.stop(2.0)
    assert app.healthy_stop is False  # so ``run`` exits non-zero
