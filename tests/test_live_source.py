"""Live sources from the config: backends, secrets kept out of logs, GStreamer detection."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import pytest

from edge_app.config import CameraConfig
from edge_app.core.errors import ConfigError, SourceError
from edge_app.sources import create_source
from edge_app.sources.gstreamer import opencv_has_gstreamer
from edge_app.sources.live import (
    NO_GSTREAMER,
    CaptureTarget,
    LiveSource,
    capture_target,
    mask_pipeline,
    open_capture,
)
from tests.daemon_support import make_video
from tests.mqtt_broker import free_port

PASSWORD = "s3cr/t p@ss"


def camera(source: dict[str, Any], fps: float | None = None) -> CameraConfig:
    return CameraConfig.model_validate(
        {"id": "door", "source": source, "zones": "zones.yaml", "fps": fps}
    )


def rtsp_camera(port: int, monkeypatch: pytest.MonkeyPatch) -> CameraConfig:
    monkeypatch.setenv("DOOR_PASSWORD", PASSWORD)
    return camera(
        {
            "type": "rtsp",
            "url": f"rtsp://127.0.0.1:{port}/stream1",
            "username": "viewer",
            "password": {"env": "DOOR_PASSWORD"},
        }
    )


def test_rtsp_credentials_reach_the_capture_but_never_the_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = capture_target(rtsp_camera(554, monkeypatch))
    assert "viewer" in str(target.target)
    assert PASSWORD not in target.display and "s3cr" not in target.display
    assert "127.0.0.1:554/stream1" in target.display
    if target.backend == "ffmpeg":  # PyPI OpenCV: credentials URL-quoted into the URL
        assert "s3cr%2Ft%20p%40ss" in str(target.target)


def test_a_refused_rtsp_camera_fails_without_leaking_its_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = create_source(rtsp_camera(free_port(), monkeypatch), read_timeout_s=2.0)
    assert source.live
    with pytest.raises(SourceError) as failure:
        next(source.frames())
    assert "cannot be opened" in str(failure.value)
    for text in (str(failure.value), repr(source), caplog.text):
        assert "s3cr" not in text and "p%40ss" not in text


def test_a_missing_secret_is_a_config_error_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOOR_PASSWORD", raising=False)
    cam = camera(
        {
            "type": "rtsp",
            "url": "rtsp://127.0.0.1/s",
            "username": "viewer",
            "password": {"env": "DOOR_PASSWORD"},
        }
    )
    with pytest.raises(ConfigError, match="DOOR_PASSWORD"):
        create_source(cam)


@pytest.mark.skipif(opencv_has_gstreamer(), reason="this OpenCV has GStreamer")
def test_a_gstreamer_source_without_gstreamer_in_opencv_says_so() -> None:
    cam = camera({"type": "gstreamer", "pipeline": "videotestsrc ! videoconvert ! appsink"})
    with pytest.raises(SourceError) as failure:
        create_source(cam)
    assert NO_GSTREAMER in str(failure.value)
    assert "--system-site-packages" in str(failure.value)


def test_a_gstreamer_pipeline_must_end_in_appsink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edge_app.sources.live.opencv_has_gstreamer", lambda: True)
    with pytest.raises(SourceError, match="must end in appsink"):
        capture_target(camera({"type": "gstreamer", "pipeline": "videotestsrc ! fakesink"}))
    ok = capture_target(
        camera({"type": "gstreamer", "pipeline": 'rtspsrc user-pw="x y" ! appsink'})
    )
    assert ok.backend == "gstreamer" and "x y" not in ok.display


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('rtspsrc location=rtsp://a/b user-id=me user-pw="p w" ! appsink',
         "rtspsrc location=rtsp://a/b user-id=*** user-pw=*** ! appsink"),
        ("souphttpsrc location=http://me:pw@cam/x.mjpg ! appsink",
         "souphttpsrc location=http://***@cam/x.mjpg ! appsink"),
        ("videotestsrc ! appsink", "videotestsrc ! appsink"),
    ],
)  # fmt: skip
def test_mask_pipeline_hides_credentials(text: str, expected: str) -> None:
    assert mask_pipeline(text) == expected


@pytest.mark.parametrize(
    ("device", "target", "backend"),
    [(0, 0, "v4l2"), ("2", 2, "v4l2"), ("/dev/video1", "/dev/video1", "v4l2"),
     ("/srv/cam.mp4", "/srv/cam.mp4", "any")],
)  # fmt: skip
def test_usb_devices_open_through_v4l2(device: Any, target: Any, backend: str) -> None:
    opened = capture_target(camera({"type": "usb", "device": device, "width": 640, "fps": 15}))
    assert (opened.target, opened.backend) == (target, backend)
    assert (cv2.CAP_PROP_FRAME_WIDTH, 640.0) in opened.props
    assert (cv2.CAP_PROP_FPS, 15.0) in opened.props
    assert (cv2.CAP_PROP_BUFFERSIZE, 1.0) in opened.props  # latest frame, not a backlog


def test_a_camera_fps_limit_skips_frames_before_decoding_them(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.avi", frames=30)
    ticks = iter(i * 0.1 for i in range(1000))  # a 10 fps camera
    source = LiveSource(
        "door",
        CaptureTarget(str(video), "test video", "any"),
        min_interval_s=0.25,  # processed at 4 fps
        clock=lambda: next(ticks),
    )
    kept = []
    with pytest.raises(SourceError, match="no frame within"):  # the video ends mid-stream
        for frame in source.frames():
            kept.append(frame)
    assert [round(f.t, 1) for f in kept[:4]] == [0.0, 0.3, 0.6, 0.9]
    assert len(kept) + source.skipped == 30
    assert [f.index for f in kept] == list(range(len(kept)))


def test_close_from_another_thread_ends_the_frames(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.avi", frames=30)
    source = LiveSource("door", CaptureTarget(str(video), "test video", "any"))
    frames = source.frames()
    next(frames)
    source.close()
    assert list(frames) == []
    source.close()  # twice is fine


def test_open_capture_opens_a_file_through_ffmpeg_with_timeouts(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.avi", frames=3)
    cap = open_capture(CaptureTarget(str(video), "v", "ffmpeg"), 2.0)
    try:
        assert cap.isOpened() and cap.grab()
    finally:
        cap.release()
