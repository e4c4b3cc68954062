"""FileSource, probe and read_frame on the real TUD-Stadtmitte video and on tiny videos."""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.config import CameraConfig, FileSourceConfig
from edge_app.core.errors import SourceError
from edge_app.sources import create_source
from edge_app.sources.file import FileSource, FrameClock, VideoInfo, probe, read_frame
from tests.conftest import shared_data

TUD = ("tud_stadtmitte", "tud_stadtmitte.mp4")


def write_video(path: Path, frames: int, fps: float = 10.0, fourcc: str = "MJPG") -> Path:
    """A small test video whose frame i is flat grey level 20 * i (so order is visible)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (64, 48))
    if not writer.isOpened():
        pytest.skip(f"OpenCV cannot write {fourcc} videos here")
    try:
        for i in range(frames):
            writer.write(np.full((48, 64, 3), (20 * i) % 250, np.uint8))
    finally:
        writer.release()
    return path


def grey_level(image: np.ndarray) -> float:
    return float(image.mean())


# --- the real video ------------------------------------------------------------------


def test_real_video_frames_count_size_and_clock() -> None:
    src = FileSource("street", shared_data(*TUD))
    frames = list(src.frames())
    assert len(frames) == 179
    assert [f.index for f in frames] == list(range(179))
    assert all(f.size == (640, 480) and f.camera_id == "street" for f in frames)
    ts = np.array([f.t for f in frames])
    assert ts[0] == pytest.approx(0.0)
    steps = np.diff(ts)
    assert np.all(steps > 0)
    assert steps == pytest.approx(np.full(178, 0.04), abs=1e-6)
    # wall is the open time plus t, in UTC
    assert all(f.wall.utcoffset() == timedelta(0) for f in frames)
    span = (frames[-1].wall - frames[0].wall).total_seconds()
    assert span == pytest.approx(ts[-1] - ts[0], abs=1e-5)
    assert src.live is False


def test_real_video_probe_and_read_frame_match_decoding() -> None:
    path = shared_data(*TUD)
    assert probe(path) == VideoInfo(width=640, height=480, fps=25.0, frame_count=179)
    decoded = list(itertools.islice(FileSource("street", path).frames(), 101))
    for index in (0, 37, 100):
        assert np.array_equal(read_frame(path, index), decoded[index].image)


def test_one_decoder_thread_decodes_the_same_frames_and_times() -> None:
    path = shared_data(*TUD)
    default = list(FileSource("street", path).frames())
    one = FileSource("street", path, decode_threads=1)
    single = list(one.frames())
    assert len(single) == len(default) == 179
    for a, b in zip(default, single, strict=True):
        assert (a.index, a.t) == (b.index, b.t)
        assert np.array_equal(a.image, b.image)


def test_decode_threads_reach_the_decoder(tmp_path: Path) -> None:
    from edge_app.sources.file import _open

    for threads in (1, 2):
        cap = _open(shared_data(*TUD), threads)
        try:
            assert cap.get(cv2.CAP_PROP_N_THREADS) == threads
        finally:
            cap.release()
    path = write_video(tmp_path / "t.avi", 3)
    src = FileSource("cam", path, loop=True, decode_threads=1)
    frames = list(itertools.islice(src.frames(), 7))  # a rewind keeps the setting
    src.close()
    assert [round(grey_level(f.image) / 20) for f in frames] == [0, 1, 2, 0, 1, 2, 0]


def test_read_frame_past_the_end_names_the_range() -> None:
    path = shared_data(*TUD)
    with pytest.raises(SourceError, match=r"179 frames.*no frame 179.*0 to 178"):
        read_frame(path, 179)
    with pytest.raises(SourceError, match="must be >= 0"):
        read_frame(path, -1)


# --- tiny videos -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fourcc"), [("clip.avi", "MJPG"), ("clip.mp4", "mp4v")])
def test_tiny_video_decodes_in_order_with_container_timestamps(
    tmp_path: Path, name: str, fourcc: str
) -> None:
    path = write_video(tmp_path / name, 12, fps=10.0, fourcc=fourcc)
    frames = list(FileSource("cam", path).frames())
    assert len(frames) == 12
    assert [round(grey_level(f.image) / 20) for f in frames] == list(range(12))
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(12)], abs=1e-6)


def test_loop_restarts_with_time_still_increasing(tmp_path: Path) -> None:
    path = write_video(tmp_path / "loop.avi", 5, fps=10.0)
    src = FileSource("cam", path, loop=True)
    frames = list(itertools.islice(src.frames(), 17))
    src.close()
    assert [f.index for f in frames] == list(range(17))
    assert [round(grey_level(f.image) / 20) for f in frames] == [i % 5 for i in range(17)]
    # One frame period between the last frame of a pass and the first of the next.
    assert np.diff([f.t for f in frames]) == pytest.approx(np.full(16, 0.1), abs=1e-6)


def test_realtime_gives_the_same_frames_and_close_stops_a_looping_source(
    tmp_path: Path,
) -> None:
    path = write_video(tmp_path / "fast.avi", 4, fps=100.0)
    plain = list(FileSource("cam", path).frames())
    src = FileSource("cam", path, loop=True, realtime=True)
    it = src.frames()
    paced = list(itertools.islice(it, 4))
    assert [f.index for f in paced] == [f.index for f in plain]
    assert [f.t for f in paced] == pytest.approx([f.t for f in plain])
    assert all(np.array_equal(a.image, b.image) for a, b in zip(paced, plain, strict=True))
    src.close()
    src.close()  # idempotent
    assert list(it) == []


def test_close_from_another_thread_ends_iteration(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.avi", 3, fps=10.0)
    src = FileSource("cam", path, loop=True)
    seen: list[int] = []

    def consume() -> None:
        for frame in src.frames():
            seen.append(frame.index)
            if frame.index == 20:
                src.close()

    worker = threading.Thread(target=consume)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert seen[-1] in (20, 21)  # at most the frame being decoded when close() came


def test_truncated_file_keeps_the_frames_so_far_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Frames of noise compress badly, so the cut falls well inside the picture data.
    path = tmp_path / "whole.avi"
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(30):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = FileSource("cam", cut)
    assert src.info.frame_count == 30  # the header still announces the whole clip
    with caplog.at_level(logging.WARNING, logger="edge_app.sources.file"):
        frames = list(src.frames())
    assert 0 < len(frames) < 30
    assert [f.index for f in frames] == list(range(len(frames)))
    assert any(
        "decoding stopped" in r.getMessage() and str(cut) in r.getMessage() for r in caplog.records
    )


# --- errors ------------------------------------------------------------------------------


def _not_a_video(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.mp4", "not found"),
        (lambda d: d, "not a regular file"),
        (_not_a_video, "cannot be opened as a video"),
    ],
    ids=["missing", "directory", "not-a-video"],
)
def test_bad_paths_raise_source_error_naming_the_path(
    tmp_path: Path, make: object, message: str
) -> None:
    assert callable(make)
    path = make(tmp_path)
    for call in (
        lambda: FileSource("cam", path),
        lambda: probe(path),
        lambda: read_frame(path, 0),
    ):
        with pytest.raises(SourceError, match=message) as info:
            call()
        assert str(path) in str(info.value)


def test_factory_builds_a_file_source(tmp_path: Path) -> None:
    path = write_video(tmp_path / "f.avi", 2)
    camera = CameraConfig(id="door", source=FileSourceConfig(path=path), zones=Path("z.yaml"))
    src = create_source(camera)
    assert isinstance(src, FileSource)
    assert src.camera_id == "door" and src.live is False
    assert len(list(src.frames())) == 2


# --- the clock ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pts", "expected"),
    [
        ([0.0, 0.04, 0.08], [0.0, 0.04, 0.08]),
        ([0.0, 0.0, 0.0], [0.0, 0.04, 0.08]),  # zero timestamps
        ([None, None, None], [0.0, 0.04, 0.08]),  # no timestamps at all
        ([0.0, 0.04, 0.04, 0.12], [0.0, 0.04, 0.08, 0.12]),  # a repeated one
        ([0.0, 0.2, 0.1, 0.3], [0.0, 0.2, 0.24, 0.3]),  # one going backwards
        ([0.5, 0.54], [0.5, 0.54]),  # the video's own clock, not rebased
        ([float("nan"), 0.04], [0.0, 0.04]),
    ],
)
def test_frame_clock_is_strictly_increasing(pts: list[float | None], expected: list[float]) -> None:
    clock = FrameClock(0.04)
    assert [clock.next(p) for p in pts] == pytest.approx(expected)


def test_frame_clock_continues_across_a_restart() -> None:
    clock = FrameClock(0.1)
    first = [clock.next(p) for p in (0.0, 0.1, 0.2)]
    clock.restart()
    second = [clock.next(p) for p in (0.0, 0.1)]
    assert first + second == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
