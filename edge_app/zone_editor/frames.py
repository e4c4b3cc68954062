"""The pictures the editor shows: one snapshot to draw on, and a stream for the preview.

A video file (``--video``, or a camera whose source is a file) is read with
``sources.file``: the snapshot is one frame of it, the preview plays it in a loop at its
own pace, like a live camera. Any other camera is opened with ``create_source``; its
snapshot is the ``index``-th frame it delivers (later frames let a camera settle its
exposure), and the preview reads it live.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2

from edge_app.config import CameraConfig, FileSourceConfig, SyntheticSourceConfig
from edge_app.core.domain import ImageU8
from edge_app.core.errors import SourceError
from edge_app.sources import Source, create_source
from edge_app.sources.file import FileSource, read_frame

SourceFactory = Callable[[], Source]


def _video_of(camera: CameraConfig | None, video: Path | None) -> Path | None:
    if video is not None:
        return video
    if camera is not None and isinstance(camera.source, FileSourceConfig):
        return camera.source.path
    return None


def snapshot(camera: CameraConfig | None, video: Path | None, index: int = 0) -> ImageU8:
    """Frame ``index`` of the video, else of the camera: ``(H, W, 3)`` BGR uint8.

    Raises ``SourceError`` when the picture cannot be had.
    """
    path = _video_of(camera, video)
    if path is not None:
        return read_frame(path, index)
    if camera is None:
        raise SourceError("no picture to draw on: give --video FILE or --config with --camera")
    source = create_source(camera)
    try:
        for frame in source.frames():
            if frame.index >= index:
                return frame.image
    finally:
        source.close()
    raise SourceError(
        f"camera {camera.id!r} ended before frame {index}; give a smaller --frame or a --video"
    )


def preview_source(
    camera_id: str, camera: CameraConfig | None, video: Path | None
) -> SourceFactory:
    """A factory of the source the live preview reads (opened only when it starts)."""
    path = _video_of(camera, video)
    if path is not None:
        return lambda: FileSource(camera_id, path, loop=True, realtime=True)
    if camera is None:
        raise SourceError("the preview needs --video FILE or --config with --camera")
    source = camera.source
    if isinstance(source, SyntheticSourceConfig):
        # Paced like a real camera; unpaced, it would race through its whole duration.
        camera = camera.model_copy(update={"source": source.model_copy(update={"realtime": True})})
    live_camera = camera
    return lambda: create_source(live_camera)


def encode_jpeg(image: ImageU8, quality: int = 85) -> bytes:
    """``image`` (BGR uint8) as JPEG bytes; raises ``SourceError`` when OpenCV cannot."""
    ok, data = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise SourceError(f"cannot encode a {image.shape} picture as JPEG")
    return bytes(data.tobytes())
