"""GStreamer pipelines for Jetson hardware decode, and the checks that choose them.

On a Jetson, ``decode: jetson`` decodes H.264/H.265 on NVDEC (``nvv4l2decoder``) and scales
on the VIC (``nvvidconv``) straight to the size the model wants, so the CPU never touches
a full-resolution picture: it only converts the small BGRx result to BGR for OpenCV. A CSI
camera (``nvarguscamerasrc``) takes the same VIC path.

Everything here is a pure function of the config plus two probes (does OpenCV have
GStreamer, does an element exist), so the pipelines are tested as strings. When the
hardware path is not available, ``plan_rtsp`` falls back to a software GStreamer pipeline,
then to OpenCV's FFmpeg backend, with a message saying why.

Example::

    >>> cfg = RtspSourceConfig(url="rtsp://10.0.0.5/stream1", decode="jetson")
    >>> print(rtsp_jetson_pipeline(cfg, (512, 512)))  # doctest: +NORMALIZE_WHITESPACE
    rtspsrc location="rtsp://10.0.0.5/stream1" protocols=tcp latency=200 ! rtph264depay !
    h264parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx,width=512,height=512 !
    videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from edge_app.config import CsiSourceConfig, RtspSourceConfig
from edge_app.core.errors import SourceError

log = logging.getLogger(__name__)

Size = tuple[int, int]
ElementProbe = Callable[[str], bool | None]
"""Does a GStreamer element exist? ``None`` when it cannot be told (no gi bindings)."""

APPSINK = "appsink drop=true max-buffers=1 sync=false"
MASK = "***"
"""What credentials look like in ``CapturePlan.display``."""
HW_ELEMENTS = ("nvv4l2decoder", "nvvidconv")


def _depay_parse(codec: str) -> tuple[str, str]:
    return ("rtph264depay", "h264parse") if codec == "h264" else ("rtph265depay", "h265parse")


def quote_value(value: str) -> str:
    """A property value for ``gst_parse_launch``: double-quoted, ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rtspsrc(cfg: RtspSourceConfig, username: str | None, password: str | None) -> str:
    parts = [
        f"rtspsrc location={quote_value(cfg.url)}",
        f"protocols={cfg.transport}",
        f"latency={cfg.latency_ms}",
    ]
    # Credentials go in rtspsrc's own properties, never in the URL (which rtspsrc logs).
    if username is not None:
        parts.append(f"user-id={quote_value(username)}")
    if password is not None:
        parts.append(f"user-pw={quote_value(password)}")
    return " ".join(parts)


def _scale_caps(fmt: str, size: Size | None) -> str:
    if size is None:
        return f"video/x-raw,format={fmt}"
    return f"video/x-raw,format={fmt},width={size[0]},height={size[1]}"


def rtsp_jetson_pipeline(
    cfg: RtspSourceConfig,
    output_size: Size | None,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """RTSP -> NVDEC decode -> VIC scale to ``output_size`` (w, h) -> BGR appsink.

    ``None`` keeps the camera's size. The VIC writes BGRx (it cannot write 3-byte BGR);
    ``videoconvert`` only drops the fourth byte of the already small picture.
    """
    depay, parse = _depay_parse(cfg.codec)
    return " ! ".join(
        [
            _rtspsrc(cfg, username, password),
            depay,
            parse,
            "nvv4l2decoder",
            "nvvidconv",
            _scale_caps("BGRx", output_size),
            "videoconvert",
            "video/x-raw,format=BGR",
            APPSINK,
        ]
    )


def rtsp_software_pipeline(
    cfg: RtspSourceConfig,
    output_size: Size | None,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """RTSP -> libav decode on the CPU -> ``videoscale`` -> BGR appsink."""
    depay, parse = _depay_parse(cfg.codec)
    decoder = "avdec_h264" if cfg.codec == "h264" else "avdec_h265"
    stages = [_rtspsrc(cfg, username, password), depay, parse, decoder, "videoconvert"]
    if output_size is not None:
        stages.append("videoscale")
    stages += [_scale_caps("BGR", output_size), APPSINK]
    return " ! ".join(stages)


def csi_pipeline(cfg: CsiSourceConfig, output_size: Size | None) -> str:
    """A Jetson CSI camera: ISP capture in NVMM memory -> VIC scale -> BGR appsink."""
    capture = (
        f"nvarguscamerasrc sensor-id={cfg.sensor_id} ! video/x-raw(memory:NVMM),"
        f"width={cfg.width},height={cfg.height},framerate={cfg.fps}/1,format=NV12"
    )
    return " ! ".join(
        [
            capture,
            f"nvvidconv flip-method={cfg.flip_method}",
            _scale_caps("BGRx", output_size),
            "videoconvert",
            "video/x-raw,format=BGR",
            APPSINK,
        ]
    )


def rtsp_url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL for OpenCV's FFmpeg backend, which only takes credentials inside the URL."""
    if username is None:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"

    def encode(text: str) -> str:
        return text if text == MASK else quote(text, safe="")

    netloc = encode(username)
    if password is not None:
        netloc += ":" + encode(password)
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _masked(secret: str | None) -> str | None:
    return None if secret is None else MASK


_GSTREAMER_LINE = re.compile(r"^\s*GStreamer:\s*(\S+)", re.MULTILINE)


def opencv_has_gstreamer(build_information: str | None = None) -> bool:
    """Whether OpenCV was built with GStreamer (PyPI wheels: no; JetPack's OpenCV: yes)."""
    if build_information is None:
        import cv2

        build_information = str(cv2.getBuildInformation())
    match = _GSTREAMER_LINE.search(build_information)
    return match is not None and match.group(1).upper() == "YES"


def gst_element_exists(name: str) -> bool | None:
    """``Gst.ElementFactory.find(name)`` when the gi bindings are there, else ``None``."""
    try:
        gi = importlib.import_module("gi")
        gi.require_version("Gst", "1.0")
        Gst = importlib.import_module("gi.repository.Gst")
    except (ImportError, ValueError):
        return None
    if not Gst.is_initialized():
        Gst.init(None)
    return Gst.ElementFactory.find(name) is not None


@dataclass(frozen=True)
class CapturePlan:
    """How to open a camera with OpenCV, and what to log about it.

    ``backend`` is ``"gstreamer"`` (``cv2.VideoCapture(target, cv2.CAP_GSTREAMER)``) or
    ``"ffmpeg"`` (``cv2.VideoCapture(target, cv2.CAP_FFMPEG)``). ``target`` may hold
    credentials: log ``display`` instead. ``hardware`` is true for NVDEC/VIC decoding;
    ``output_size`` is the size frames arrive at (``None``: the camera's own); ``reason``
    says why a requested hardware path was not taken.
    """

    backend: Literal["gstreamer", "ffmpeg"]
    target: str
    display: str
    hardware: bool
    output_size: Size | None
    reason: str | None = None


def _missing(elements: tuple[str, ...], probe: ElementProbe) -> list[str]:
    return [e for e in elements if probe(e) is False]


def plan_rtsp(
    cfg: RtspSourceConfig,
    output_size: Size | None,
    username: str | None = None,
    password: str | None = None,
    *,
    has_gstreamer: Callable[[], bool] = opencv_has_gstreamer,
    element_exists: ElementProbe = gst_element_exists,
) -> CapturePlan:
    """Pick the pipeline for an RTSP camera: Jetson hardware, software GStreamer or FFmpeg.

    A requested ``decode: jetson`` that cannot be honoured falls back with ``reason`` set
    (and logged). Elements that cannot be checked (no gi bindings) are assumed present; the
    capture then reports a failing pipeline when it opens it.
    """
    hidden = (_masked(username), _masked(password))
    reason = None
    if not has_gstreamer():
        if cfg.decode == "jetson":
            reason = (
                "OpenCV here has no GStreamer support (PyPI's opencv-python never has; "
                "use JetPack's python3-opencv through a --system-site-packages venv)"
            )
    else:
        depay, parse = _depay_parse(cfg.codec)
        if cfg.decode == "jetson":
            missing = _missing((depay, parse, *HW_ELEMENTS), element_exists)
            if not missing:
                pipeline = rtsp_jetson_pipeline(cfg, output_size, username, password)
                display = rtsp_jetson_pipeline(cfg, output_size, *hidden)
                return CapturePlan("gstreamer", pipeline, display, True, output_size)
            reason = (
                f"GStreamer elements {missing} are missing (install JetPack's "
                "nvidia-l4t-gstreamer and gstreamer1.0-plugins-good/bad)"
            )
        decoder = "avdec_h264" if cfg.codec == "h264" else "avdec_h265"
        if not _missing((depay, parse, decoder), element_exists):
            pipeline = rtsp_software_pipeline(cfg, output_size, username, password)
            display = rtsp_software_pipeline(cfg, output_size, *hidden)
            plan = CapturePlan("gstreamer", pipeline, display, False, output_size, reason)
            _log_fallback(plan)
            return plan
        if reason is not None:
            reason += f", and GStreamer lacks {decoder} (gstreamer1.0-libav)"
    url = rtsp_url_with_credentials(cfg.url, username, password)
    display = rtsp_url_with_credentials(cfg.url, *hidden)
    plan = CapturePlan("ffmpeg", url, display, False, None, reason)
    _log_fallback(plan)
    return plan


def plan_csi(
    cfg: CsiSourceConfig,
    output_size: Size | None,
    *,
    has_gstreamer: Callable[[], bool] = opencv_has_gstreamer,
    element_exists: ElementProbe = gst_element_exists,
) -> CapturePlan:
    """The CSI pipeline; ``SourceError`` when this machine cannot run it (no fallback)."""
    if not has_gstreamer():
        raise SourceError(
            f"CSI camera {cfg.sensor_id} needs OpenCV with GStreamer (JetPack's python3-opencv "
            "through a --system-site-packages venv)"
        )
    missing = _missing(("nvarguscamerasrc", "nvvidconv"), element_exists)
    if missing:
        raise SourceError(
            f"CSI camera {cfg.sensor_id} needs the GStreamer elements {missing} (JetPack's "
            "nvidia-l4t-gstreamer; the camera daemon nvargus-daemon must be running)"
        )
    pipeline = csi_pipeline(cfg, output_size)
    return CapturePlan("gstreamer", pipeline, pipeline, True, output_size)


def _log_fallback(plan: CapturePlan) -> None:
    if plan.reason:
        log.warning(
            "hardware decode is not available: %s; decoding in software (%s)",
            plan.reason,
            plan.backend,
        )
