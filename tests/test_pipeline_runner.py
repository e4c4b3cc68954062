"""The stream runner: the latest-frame policy of live feeds, batching across cameras,
analysis in each camera's order, calls on the analysis thread, errors and stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import AnalyticsConfig, OnnxSegmenterConfig, PreprocessConfig
from edge_app.config.zones import parse_zones
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.errors import SourceError
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.feed import FrameFeed
from edge_app.pipeline.runner import (
    RunnerCamera,
    StreamRunner,
    collect_batch,
    run_source,
)
from edge_app.segmentation.onnx import OnnxSegmenter
from tests.daemon_support import wait_until
from tests.fakes.onnx_models import bright_person_model

WALL = datetime(2026, 11, 23, tzinfo=timezone.utc)


def frame(camera: str, index: int, value: int = 0) -> Frame:
    image = np.full((24, 32, 3), value, np.uint8)
    return Frame(camera, index, index * 0.1, WALL, image)


# --- latest-frame policy --------------------------------------------------------------


def test_live_feed_keeps_only_the_newest_frame_and_counts_the_rest() -> None:
    feed = FrameFeed(live=True, depth=1)
    stop = threading.Event()
    for i in range(5):
        assert feed.put(frame("cam", i), stop)
    assert feed.dropped == 4
    newest = feed.take()
    assert newest is not None and newest.index == 4
    assert feed.take() is None


def test_live_feed_of_depth_two_drops_the_oldest_first() -> None:
    feed = FrameFeed(live=True, depth=2)
    stop = threading.Event()
    for i in range(6):
        feed.put(frame("cam", i), stop)
    kept = [feed.take(), feed.take()]
    assert [f.index for f in kept if f is not None] == [4, 5]
    assert feed.dropped == 4


def test_file_feed_waits_for_room_and_loses_nothing() -> None:
    feed = FrameFeed(live=False, depth=2)
    stop = threading.Event()
    put_done = threading.Event()

    def producer() -> None:
        for i in range(5):
            feed.put(frame("cam", i), stop)
        put_done.set()

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    assert wait_until(lambda: len(feed) == 2, 5.0)
    assert not put_done.is_set()  # blocked: the feed is full
    taken: list[int] = []
    while len(taken) < 5:
        f = feed.take()
        if f is not None:
            taken.append(f.index)
    thread.join(5)
    assert taken == [0, 1, 2, 3, 4]
    assert feed.dropped == 0


def test_blocked_file_feed_gives_up_when_stopped() -> None:
    feed = FrameFeed(live=False, depth=1)
    stop = threading.Event()
    feed.put(frame("cam", 0), stop)
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(feed.put(frame("cam", 1), stop)))
    thread.start()
    stop.set()
    thread.join(5)
    assert result == [False]


def test_a_put_sets_the_shared_wakeup() -> None:
    wakeup = threading.Event()
    a, b = FrameFeed(True, 1, wakeup), FrameFeed(True, 1, wakeup)
    b.put(frame("b", 0), threading.Event())
    assert wakeup.is_set()
    assert a.take() is None and b.take() is not None


# --- batching order -------------------------------------------------------------------


def feeds_with(counts: dict[str, int]) -> list[tuple[str, FrameFeed]]:
    feeds = []
    for camera, n in counts.items():
        feed = FrameFeed(live=False, depth=16)
        for i in range(n):
            feed.put(frame(camera, i), threading.Event())
        feeds.append((camera, feed))
    return feeds


@pytest.mark.parametrize(
    ("counts", "batch_size", "start", "expected"),
    [
        # One frame per camera per pass, in camera order.
        ({"a": 3, "b": 1, "c": 2}, 4, 0, ["a0", "b0", "c0", "a1"]),
        # A camera with a backlog cannot fill the batch while others wait.
        ({"a": 8, "b": 2}, 4, 0, ["a0", "b0", "a1", "b1"]),
        # The round starts at ``start``.
        ({"a": 2, "b": 2, "c": 2}, 2, 2, ["c0", "a0"]),
        # Fewer frames than the batch: a partial batch, nobody waits for more.
        ({"a": 1, "b": 0}, 4, 0, ["a0"]),
        ({"a": 0, "b": 0}, 4, 0, []),
    ],
)
def test_collect_batch_is_round_robin(
    counts: dict[str, int], batch_size: int, start: int, expected: list[str]
) -> None:
    batch = collect_batch(feeds_with(counts), batch_size, start)
    assert [f"{cam}{f.index}" for cam, f in batch] == expected


def test_more_cameras_than_batch_slots_starves_no_one() -> None:
    feeds = feeds_with({"a": 6, "b": 6, "c": 6})
    served: list[str] = []
    start = 0
    for _ in range(3):
        batch = collect_batch(feeds, 2, start)
        start = (start + 1) % len(feeds)
        served += [cam for cam, _ in batch]
    assert set(served) == {"a", "b", "c"}


@pytest.fixture(scope="module")
def bright_segmenter(tmp_path_factory: pytest.TempPathFactory) -> OnnxSegmenter:
    folder = tmp_path_factory.mktemp("model")
    model = bright_person_model(Path(folder) / "m.onnx", size=(16, 16))
    return OnnxSegmenter(
        OnnxSegmenterConfig(
            model=model,
            batch_size=4,
            intra_op_threads=1,
            preprocess=PreprocessConfig(infer_dims=(3, 16, 16)),
        )
    )


def analytics(camera: str) -> CameraAnalytics:
    """Analytics with one zone over the whole frame."""
    zones = parse_zones(
        {"camera": camera, "zones": [{"id": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]},
        Path(f"{camera}.yaml"),
    )
    return CameraAnalytics(camera, zones, AnalyticsConfig(), EventStamper("test"))


def filled_feed(camera: str, frames: int, value: int, ended: bool = True) -> FrameFeed:
    feed = FrameFeed(False, 8)
    for i in range(frames):
        feed.put(frame(camera, i, value), threading.Event())
    if ended:
        feed.end()
    return feed


def run_to_end(runner: StreamRunner) -> None:
    runner.start()
    assert runner.join(30)
    runner.raise_error()


@pytest.mark.parametrize("prepare_apart", [False, True])
def test_the_runner_batches_across_cameras_and_analyses_each_frame_as_its_camera(
    bright_segmenter: OnnxSegmenter, monkeypatch: pytest.MonkeyPatch, prepare_apart: bool
) -> None:
    # Camera "white" sees only person pixels, "black" none: each mask says whose it is.
    monkeypatch.setattr(bright_segmenter, "prepare_apart", prepare_apart)
    cameras = {
        "white": RunnerCamera(filled_feed("white", 3, 255), analytics("white")),
        "black": RunnerCamera(filled_feed("black", 2, 0), analytics("black")),
    }
    results: list[CameraResult] = []
    batches: list[int] = []
    runner = StreamRunner(
        bright_segmenter, cameras, results.append, on_batch=lambda n, _s: batches.append(n)
    )
    run_to_end(runner)
    assert runner.finished.is_set()
    assert batches == [4, 1]
    assert [(r.frame.camera_id, r.frame.index) for r in results] == [
        ("white", 0), ("black", 0), ("white", 1), ("black", 1), ("white", 2),
    ]  # fmt: skip
    for r in results:
        white = r.frame.camera_id == "white"
        assert float(r.mask.mask.mean()) == (1.0 if white else 0.0)
        assert r.analysis.states[0].coverage == pytest.approx(1.0 if white else 0.0)
    assert {r.analysis.states[0].camera for r in results} == {"white", "black"}


def test_the_runner_drains_the_frames_in_flight_when_stopped(
    bright_segmenter: OnnxSegmenter,
) -> None:
    feed = filled_feed("cam", 6, 255, ended=False)  # a live stream that has not ended
    handled: list[int] = []
    runner = StreamRunner(
        bright_segmenter,
        {"cam": RunnerCamera(feed, analytics("cam"))},
        lambda r: handled.append(r.frame.index),
    )
    runner.stop(drain=True)  # before it even started: the waiting frames still go through
    run_to_end(runner)
    assert handled == [0, 1, 2, 3, 4, 5]


def test_the_runner_runs_calls_on_the_thread_that_owns_the_analytics(
    bright_segmenter: OnnxSegmenter,
) -> None:
    feed = FrameFeed(True, 1)
    analysed_on: list[str] = []
    runner = StreamRunner(
        bright_segmenter,
        {"cam": RunnerCamera(feed, analytics("cam"))},
        lambda _r: analysed_on.append(threading.current_thread().name),
    )
    runner.start()
    ran_on: list[str] = []
    runner.call(lambda: ran_on.append(threading.current_thread().name))
    assert wait_until(lambda: bool(ran_on), 5)
    feed.put(frame("cam", 0, 255), threading.Event())
    assert wait_until(lambda: bool(analysed_on), 5)
    runner.stop(drain=False)
    assert runner.join(5)
    assert ran_on == analysed_on == ["analysis"]


class FailingSegmenter:
    name = "failing"
    batch_size = 1

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        raise RuntimeError("the model broke")

    def close(self) -> None:
        pass


def test_a_failing_stage_stops_the_runner_with_its_error() -> None:
    feed = filled_feed("cam", 3, 255, ended=False)
    runner = StreamRunner(FailingSegmenter(), {"cam": RunnerCamera(feed, analytics("cam"))}, print)
    runner.start()
    assert runner.finished.wait(10)
    assert runner.join(5)
    assert isinstance(runner.error, RuntimeError)
    with pytest.raises(RuntimeError, match="the model broke"):
        runner.raise_error()


class BrokenVideo:
    """A finite source whose decoder fails after two frames."""

    camera_id = "cam"
    live = False

    def __init__(self) -> None:
        self.closed = False

    def frames(self) -> Iterator[Frame]:
        yield frame("cam", 0, 255)
        yield frame("cam", 1, 255)
        raise SourceError("cam.mp4: corrupt packet")

    def close(self) -> None:
        self.closed = True


def test_a_decoding_error_ends_the_run_after_the_frames_before_it(
    bright_segmenter: OnnxSegmenter,
) -> None:
    source = BrokenVideo()
    handled: list[int] = []
    with pytest.raises(SourceError, match="corrupt packet"):
        run_source(
            source, bright_segmenter, analytics("cam"), lambda r: handled.append(r.frame.index)
        )
    assert handled == [0, 1]
    assert source.closed
