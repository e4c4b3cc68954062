"""Cold starts of offline runs: the scene learned ahead, then every frame segmented with it.

A segmenter that learns the scene (``LearningSegmenter``: the background model) gives
provisional masks for the first seconds after a cold start (``PersonMask.warming_up``).
The daemon cannot wait: it marks what it counts from them. A replay of a file can do
better: it first plays the frames after each cold start through a fresh segmenter until
its masks stop warming up (``learn_ahead``), keeps what that segmenter learned, and then
runs the real pass with that state restored at the cold start (``ColdStarts``), exactly
as the daemon restores a saved scene after a restart. The frames seen while warming up
are thus segmented again, with the finished model; nothing is buffered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from edge_app.core.domain import Frame, PersonMask
from edge_app.segmentation import LearningSegmenter, Segmenter
from edge_app.sources.base import Source

SegmenterFactory = Callable[[], Segmenter]
"""Makes a fresh segmenter of the run's kind (for the passes that learn ahead)."""


def learn_ahead(segmenter: LearningSegmenter, frames: Iterable[Frame]) -> dict[str, Any] | None:
    """Segment ``frames`` (one camera's) until a mask is no longer warming up, or the
    frames end; what the segmenter has learned then (``None`` if it learned nothing)."""
    camera_id: str | None = None
    for frame in frames:
        camera_id = frame.camera_id
        (mask,) = segmenter.segment([frame])
        if not mask.warming_up:
            break
    return None if camera_id is None else segmenter.state(camera_id)


def frames_from(source: Source, first_index: int) -> Iterator[Frame]:
    """The frames of ``source`` from index ``first_index`` on; closes the source."""
    try:
        for frame in source.frames():
            if frame.index >= first_index:
                yield frame
    finally:
        source.close()


class ColdStarts:
    """A segmenter whose cameras start again at given frames: before frame ``k`` of a
    camera, its scene is ``states[k]`` (``None``: a cold start, with warming-up masks).

    A ``Segmenter`` itself; it closes the segmenter it wraps.
    """

    def __init__(self, inner: LearningSegmenter, states: Mapping[int, dict[str, Any] | None]):
        self.inner = inner
        self.name = inner.name
        self.batch_size = inner.batch_size
        self._states = dict(states)

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        masks: list[PersonMask] = []
        for frame in frames:
            if frame.index in self._states:
                self.inner.restore(frame.camera_id, self._states.pop(frame.index))
            masks.extend(self.inner.segment([frame]))
        return masks

    def close(self) -> None:
        self.inner.close()


def with_cold_starts(
    segmenter: Segmenter,
    cold_at: Sequence[int],
    reopen: Callable[[], Source] | None,
    make_segmenter: SegmenterFactory | None,
) -> Segmenter:
    """``segmenter`` starting cold at each frame index of ``cold_at``. With ``reopen`` (a
    new reading of the same finite source from its first frame) and ``make_segmenter``,
    each cold start's scene is learned ahead and the warm-up frames are segmented with
    it; without, the warm-up frames keep their provisional masks. A segmenter that learns
    nothing (a model) is returned as it is."""
    if not isinstance(segmenter, LearningSegmenter):
        return segmenter
    states: dict[int, dict[str, Any] | None] = {}
    for index in sorted(set(cold_at)):
        states[index] = None
        if reopen is not None and make_segmenter is not None:
            ahead = make_segmenter()
            try:
                if isinstance(ahead, LearningSegmenter):
                    states[index] = learn_ahead(ahead, frames_from(reopen(), index))
            finally:
                ahead.close()
    return ColdStarts(segmenter, states)
