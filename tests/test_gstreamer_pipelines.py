"""GStreamer pipeline strings for Jetson hardware decode, and the fallback decisions."""

from __future__ import annotations

import logging

import pytest

from edge_app.config import CsiSourceConfig, RtspSourceConfig
from edge_app.core.errors import SourceError
from edge_app.sources.gstreamer import (
    MASK,
    csi_pipeline,
    gst_element_exists,
    opencv_has_gstreamer,
    plan_csi,
    plan_rtsp,
    quote_value,
    rtsp_jetson_pipeline,
    rtsp_software_pipeline,
    rtsp_url_with_credentials,
)

URL = "rtsp://10.0.0.5:554/Streaming/Channels/101"
SINK = "appsink drop=true max-buffers=1 sync=false"


def _rtsp(**kw: object) -> RtspSourceConfig:
    return RtspSourceConfig.model_validate({"url": URL, **kw})


@pytest.mark.parametrize(
    ("codec", "depay", "parse"),
    [("h264", "rtph264depay", "h264parse"), ("h265", "rtph265depay", "h265parse")],
)
def test_rtsp_jetson_pipeline_decodes_on_nvdec_and_scales_on_the_vic(
    codec: str, depay: str, parse: str
) -> None:
    pipeline = rtsp_jetson_pipeline(_rtsp(codec=codec, decode="jetson"), (512, 512))
    assert pipeline == (
        f'rtspsrc location="{URL}" protocols=tcp latency=200 ! {depay} ! {parse} ! '
        "nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx,width=512,height=512 ! "
        f"videoconvert ! video/x-raw,format=BGR ! {SINK}"
    )


def test_the_docstring_example_is_what_the_function_prints() -> None:
    import edge_app.sources.gstreamer as gst

    doc = gst.__doc__ or ""
    example = " ".join(doc.split("+NORMALIZE_WHITESPACE", 1)[1].split())
    cfg = RtspSourceConfig(url="rtsp://10.0.0.5/stream1", decode="jetson")
    assert " ".join(rtsp_jetson_pipeline(cfg, (512, 512)).split()) == example


def test_rtsp_pipeline_options_and_credentials_stay_out_of_the_url() -> None:
    cfg = _rtsp(transport="udp", latency_ms=0, codec="h265")
    pipeline = rtsp_jetson_pipeline(cfg, None, username="viewer", password='p"a\\ss')
    assert pipeline.startswith(
        f'rtspsrc location="{URL}" protocols=udp latency=0 user-id="viewer" '
        'user-pw="p\\"a\\\\ss" ! rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv ! '
        "video/x-raw,format=BGRx ! videoconvert"
    )
    assert "viewer@" not in pipeline


def test_software_pipeline_decodes_with_libav_and_scales_on_the_cpu() -> None:
    assert rtsp_software_pipeline(_rtsp(), (640, 360)) == (
        f'rtspsrc location="{URL}" protocols=tcp latency=200 ! rtph264depay ! h264parse ! '
        "avdec_h264 ! videoconvert ! videoscale ! video/x-raw,format=BGR,width=640,height=360"
        f" ! {SINK}"
    )
    unscaled = rtsp_software_pipeline(_rtsp(codec="h265"), None)
    assert "avdec_h265" in unscaled and "videoscale" not in unscaled


def test_csi_pipeline_captures_in_nvmm_and_scales_on_the_vic() -> None:
    cfg = CsiSourceConfig(sensor_id=1, width=1920, height=1080, fps=30, flip_method=2)
    assert csi_pipeline(cfg, (512, 512)) == (
        "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1920,height=1080,"
        "framerate=30/1,format=NV12 ! nvvidconv flip-method=2 ! "
        "video/x-raw,format=BGRx,width=512,height=512 ! videoconvert ! "
        f"video/x-raw,format=BGR ! {SINK}"
    )


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("plain", '"plain"'), ('a"b', '"a\\"b"'), ("c:\\d", '"c:\\\\d"'), ("", '""')],
)
def test_quote_value(value: str, quoted: str) -> None:
    assert quote_value(value) == quoted


def test_ffmpeg_url_carries_quoted_credentials_and_redaction_hides_them() -> None:
    url = rtsp_url_with_credentials("rtsp://cam.local:8554/live?x=1", "ad min", "p@ss:w/rd")
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd@cam.local:8554/live?x=1"
    masked = rtsp_url_with_credentials("rtsp://cam.local:8554/live?x=1", MASK, MASK)
    assert masked == "rtsp://***:***@cam.local:8554/live?x=1"
    assert rtsp_url_with_credentials(URL, None, None) == URL
    v6 = rtsp_url_with_credentials("rtsp://[fe80::1]/s", "u", None)
    assert v6 == "rtsp://u@[fe80::1]/s"


@pytest.mark.parametrize(
    ("build_info", "expected"),
    [
        ("  Video I/O:\n    FFMPEG:   YES\n    GStreamer:                   NO\n", False),
        ("  Video I/O:\n    GStreamer:                   YES (1.20.3)\n", True),
        ("  Video I/O:\n    FFMPEG:   YES\n", False),
    ],
)
def test_opencv_has_gstreamer_reads_the_build_information(build_info: str, expected: bool) -> None:
    assert opencv_has_gstreamer(build_info) is expected


def test_opencv_here_is_pypis_without_gstreamer() -> None:
    # The CI machine's OpenCV comes from PyPI, which is built without GStreamer.
    assert opencv_has_gstreamer() is False


def test_element_check_is_unknown_without_gi() -> None:
    result = gst_element_exists("nvv4l2decoder")
    assert result in (None, False)  # never True on a machine without JetPack


# --- choosing a pipeline --------------------------------------------------------------------


def _exists(*present: str):  # type: ignore[no-untyped-def]
    return lambda name: name in present


ALL_HW = ("rtph264depay", "h264parse", "nvv4l2decoder", "nvvidconv", "avdec_h264")


def test_jetson_decode_when_everything_is_there() -> None:
    plan = plan_rtsp(
        _rtsp(decode="jetson"),
        (512, 512),
        "u",
        "secret",
        has_gstreamer=lambda: True,
        element_exists=_exists(*ALL_HW),
    )
    assert plan.backend == "gstreamer" and plan.hardware and plan.reason is None
    assert "nvv4l2decoder" in plan.target and 'user-pw="secret"' in plan.target
    assert "secret" not in plan.display and 'user-pw="***"' in plan.display
    assert plan.output_size == (512, 512)


def test_missing_nvidia_elements_fall_back_to_software_gstreamer_with_a_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        plan = plan_rtsp(
            _rtsp(decode="jetson"),
            (512, 512),
            has_gstreamer=lambda: True,
            element_exists=_exists("rtph264depay", "h264parse", "avdec_h264"),
        )
    assert plan.backend == "gstreamer" and not plan.hardware
    assert "avdec_h264" in plan.target and plan.output_size == (512, 512)
    assert plan.reason is not None and "['nvv4l2decoder', 'nvvidconv'] are missing" in plan.reason
    assert any("hardware decode is not available" in r.message for r in caplog.records)


def test_no_gstreamer_in_opencv_falls_back_to_ffmpeg_with_a_message() -> None:
    plan = plan_rtsp(
        _rtsp(decode="jetson"),
        (512, 512),
        "u",
        "pw",
        has_gstreamer=lambda: False,
        element_exists=_exists(*ALL_HW),
    )
    assert plan.backend == "ffmpeg" and not plan.hardware and plan.output_size is None
    assert plan.target == "rtsp://u:pw@10.0.0.5:554/Streaming/Channels/101"
    assert plan.display == "rtsp://***:***@10.0.0.5:554/Streaming/Channels/101"
    assert plan.reason is not None and "no GStreamer support" in plan.reason


def test_software_decode_is_quiet_and_prefers_gstreamer() -> None:
    plan = plan_rtsp(
        _rtsp(), (512, 512), has_gstreamer=lambda: True, element_exists=_exists(*ALL_HW)
    )
    assert plan.backend == "gstreamer" and not plan.hardware and plan.reason is None
    plain = plan_rtsp(_rtsp(), None, has_gstreamer=lambda: False, element_exists=_exists())
    assert (plain.backend, plain.target, plain.reason) == ("ffmpeg", URL, None)


def test_unknown_elements_are_assumed_present() -> None:
    plan = plan_rtsp(
        _rtsp(decode="jetson"),
        (512, 512),
        has_gstreamer=lambda: True,
        element_exists=lambda name: None,
    )
    assert plan.hardware


def test_csi_plan_and_its_errors() -> None:
    cfg = CsiSourceConfig()
    plan = plan_csi(
        cfg,
        (512, 512),
        has_gstreamer=lambda: True,
        element_exists=_exists("nvarguscamerasrc", "nvvidconv"),
    )
    assert plan.hardware and plan.target.startswith("nvarguscamerasrc sensor-id=0 !")
    with pytest.raises(SourceError, match="needs OpenCV with GStreamer"):
        plan_csi(cfg, None, has_gstreamer=lambda: False, element_exists=_exists())
    with pytest.raises(SourceError, match=r"\['nvarguscamerasrc'\]"):
        plan_csi(cfg, None, has_gstreamer=lambda: True, element_exists=_exists("nvvidconv"))


def test_source_configs_validate_decode_and_codec() -> None:
    with pytest.raises(ValueError):
        RtspSourceConfig.model_validate({"url": URL, "decode": "nvdec"})
    with pytest.raises(ValueError):
        RtspSourceConfig.model_validate({"url": URL, "codec": "mjpeg"})
    assert _rtsp().decode == "software"


def test_a_csi_camera_in_yaml() -> None:
    from pathlib import Path

    from edge_app.config import parse_config

    data = {
        "cameras": [{"id": "back", "source": {"type": "csi", "sensor_id": 1}, "zones": "z.yaml"}]
    }
    source = parse_config(data, Path("/etc/edge-app/edge-app.yaml")).cameras[0].source
    assert isinstance(source, CsiSourceConfig)
    assert (source.sensor_id, source.width, source.height, source.fps) == (1, 1920, 1080, 30)
