"""The synthetic shop camera written to a video file, for tools and tests that need a clip.

A fresh clone has no footage; ``write_clip`` makes some: the synthetic scene as Motion-JPEG
in an AVI container (written by OpenCV's own encoder, so no FFmpeg codec is needed), at the
source's frame rate.

Example::

    source = SyntheticSource("store-floor", SyntheticSourceConfig(duration_s=8, width=640,
                                                                  height=480))
    write_clip(source, Path("/tmp/store-floor.avi"))
"""

from __future__ import annotations

from pathlib import Path

import cv2

from edge_app.core.errors import ConfigError
from edge_app.sources.synthetic.scene import SyntheticSource


def write_clip(source: SyntheticSource, path: Path) -> Path:
    """Write every frame of ``source`` to ``path`` (Motion-JPEG AVI); returns ``path``.

    Raises ``ConfigError`` naming the file when OpenCV cannot open it for writing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*"MJPG"), source.cfg.fps, source.size
    )
    if not writer.isOpened():
        raise ConfigError(
            str(path), None, "OpenCV cannot write a video here", "give a writable .avi path"
        )
    try:
        for frame in source.frames():
            writer.write(frame.image)
    finally:
        writer.release()
    return path
