"""The ``Source`` protocol and the factory that builds one from a camera's config."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from edge_app.config import CameraConfig, FileSourceConfig, SyntheticSourceConfig
from edge_app.core.domain import Frame


class Source(Protocol):
    """Frames of one camera, in order.

    ``frames()`` yields until the source ends (a file) and raises ``SourceError`` when it
    cannot be opened or read; ``close()`` releases the capture and may be called twice.
    A ``live`` source is one connection to a camera: when it ends or fails, the daemon's
    capture thread opens a new one (``runtime.capture``), so a live camera never ends.
    """

    camera_id: str
    live: bool

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def create_source(
    camera: CameraConfig, read_timeout_s: float = 10.0, scale_to: tuple[int, int] | None = None
) -> Source:
    """Build the source of one camera from its config.

    ``read_timeout_s`` is how long a live camera may stay silent before its read fails
    (rtsp, usb, csi and gstreamer sources, see ``sources.live``). ``scale_to`` is the
    ``(width, height)`` that RTSP and CSI cameras decoded by GStreamer deliver frames at
    (scaled on the Jetson's VIC when decoding in hardware); ``None`` keeps the camera's own.
    """
    src = camera.source
    if isinstance(src, FileSourceConfig):
        from edge_app.sources.file import FileSource

        return FileSource(camera.id, src.path, loop=src.loop, realtime=src.realtime)
    if isinstance(src, SyntheticSourceConfig):
        from edge_app.sources.synthetic.scene import SyntheticSource

        return SyntheticSource(camera.id, src)
    from edge_app.sources.live import create_live_source

    return create_live_source(camera, timeout_s=read_timeout_s, scale_to=scale_to)
