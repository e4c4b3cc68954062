"""The ``Source`` protocol and the factory that builds one from a camera's config."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from edge_app.config import CameraConfig, FileSourceConfig, SyntheticSourceConfig
from edge_app.domain import Frame


class Source(Protocol):
    """Frames of one camera, in order. ``live`` sources never end by themselves.

    ``frames()`` yields until the source ends (a file) and raises ``SourceError`` when it
    cannot be opened or read; ``close()`` releases the capture and may be called twice.
    """

    camera_id: str
    live: bool

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def create_source(camera: CameraConfig) -> Source:
    """Build the source of one camera from its config."""
    src = camera.source
    if isinstance(src, FileSourceConfig):
        from edge_app.sources.file import FileSource

        return FileSource(camera.id, src.path, loop=src.loop, realtime=src.realtime)
    if isinstance(src, SyntheticSourceConfig):
        from edge_app.sources.synthetic import SyntheticSource

        return SyntheticSource(camera.id, src)
    raise NotImplementedError(f"source type {src.type!r} is not available yet")
