"""Camera and source settings (``cameras[].source``, a discriminated ``type:``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
)

from edge_app.config.base import (
    SLUG_HELP,
    SLUG_PATTERN,
    SecretRef,
    StrictModel,
    check_password_has_username,
)

MAX_SIDE = 16_384
"""Largest frame width or height a camera may be asked for (pixels)."""

# --- sources -------------------------------------------------------------------------


class FileSourceConfig(StrictModel):
    """A video file, processed once from start to end (time from its own timestamps)."""

    type: Literal["file"] = "file"
    path: Path
    loop: bool = Field(False, description="start again at the end instead of stopping")
    realtime: bool = Field(False, description="pace frames at the video's own rate")


class SyntheticSourceConfig(StrictModel):
    """A built-in synthetic shop floor with people walking and stopping, with exact truth."""

    type: Literal["synthetic"] = "synthetic"
    seed: int = 7
    duration_s: float = Field(90.0, gt=0, le=86_400)
    fps: float = Field(10.0, gt=0, le=60)
    width: int = Field(960, ge=160, le=3840)
    height: int = Field(540, ge=120, le=2160)
    people: int = Field(8, ge=0, le=64, description="how many people visit during the run")
    start_s: float = Field(
        0.0,
        ge=0,
        le=86_400,
        description="shop time at the first frame: the camera starts while the shop is open"
        " and people are in view (0: it starts before the first visitor)",
    )
    standers: int = Field(
        0,
        ge=0,
        le=8,
        description="people standing at the shelves from before the first frame, for minutes",
    )
    dim_at_s: float | None = Field(
        None, ge=0, description="camera seconds at which the lights change (none: they never do)"
    )
    dim_to: float = Field(
        0.7, gt=0, le=2, description="brightness after dim_at_s, as a share of before"
    )
    realtime: bool = False


class RtspSourceConfig(StrictModel):
    """An RTSP camera. Credentials are kept out of the URL and out of the logs."""

    type: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=r"^rtsps?://")
    username: SecretRef | None = None
    password: SecretRef | None = None
    transport: Literal["tcp", "udp"] = "tcp"
    codec: Literal["h264", "h265"] = Field("h264", description="the stream's video codec")
    decode: Literal["software", "jetson"] = Field(
        "software",
        description="jetson: decode on NVDEC and scale on the VIC (GStreamer, JetPack); "
        "falls back to software with a logged reason when that is not available",
    )
    latency_ms: int = Field(200, ge=0, le=10_000, description="RTSP jitter buffer")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- raises ValueError for a port that is no port
        except ValueError as exc:
            raise ValueError(
                f"is not a valid URL ({exc}); e.g. rtsp://192.0.2.10:554/stream1"
            ) from exc
        if not parts.hostname:
            raise ValueError("names no host; e.g. rtsp://192.0.2.10:554/stream1")
        if any(c.isspace() for c in value):
            raise ValueError("contains spaces; encode them as %20")
        return value

    @field_validator("password")
    @classmethod
    def _password_needs_username(
        cls, value: SecretRef | None, info: ValidationInfo
    ) -> SecretRef | None:
        check_password_has_username(value, info)
        return value


class UsbSourceConfig(StrictModel):
    """A USB/V4L2 camera by index or device path."""

    type: Literal["usb"] = "usb"
    device: int | str = 0
    width: int | None = Field(None, ge=1, le=MAX_SIDE)
    height: int | None = Field(None, ge=1, le=MAX_SIDE)
    fps: float | None = Field(None, gt=0, le=240)


class CsiSourceConfig(StrictModel):
    """A Jetson CSI camera (nvarguscamerasrc); decoded and scaled in hardware."""

    type: Literal["csi"] = "csi"
    sensor_id: int = Field(0, ge=0, le=7)
    width: int = Field(1920, ge=1, le=MAX_SIDE)
    height: int = Field(1080, ge=1, le=MAX_SIDE)
    fps: int = Field(30, ge=1, le=240)
    flip_method: int = Field(0, ge=0, le=7, description="nvvidconv flip-method (0 = none)")


class GStreamerSourceConfig(StrictModel):
    """A raw GStreamer pipeline ending in ``appsink`` (needs OpenCV built with GStreamer)."""

    type: Literal["gstreamer"] = "gstreamer"
    pipeline: str = Field(min_length=1)


SourceConfig = Annotated[
    FileSourceConfig
    | SyntheticSourceConfig
    | RtspSourceConfig
    | UsbSourceConfig
    | CsiSourceConfig
    | GStreamerSourceConfig,
    Field(discriminator="type"),
]


class CameraConfig(StrictModel):
    id: str = Field(pattern=SLUG_PATTERN, description="camera id; " + SLUG_HELP)
    source: SourceConfig
    zones: Path = Field(description="zone file of this camera (see zones/)")
    fps: float | None = Field(
        None, gt=0, le=120, description="processing rate; None processes every frame"
    )
