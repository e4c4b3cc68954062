"""The latest-frame policy of live feeds, and batching across cameras in the worker."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import OnnxSegmenterConfig, PreprocessConfig
from edge_app.core.domain import Frame, PersonMask
from edge_app.pipeline.feed import FrameFeed
from edge_app.pipeline.worker import InferenceWorker, collect_batch
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


def test_worker_batches_across_cameras_and_hands_each_mask_to_its_camera(
    bright_segmenter: OnnxSegmenter,
) -> None:
    # Camera "white" sees only person pixels, "black" none: each mask says whose it is.
    wakeup = threading.Event()
    feeds = {"white": FrameFeed(False, 8, wakeup), "black": FrameFeed(False, 8, wakeup)}
    stop = threading.Event()
    for i in range(3):
        feeds["white"].put(frame("white", i, 255), stop)
    for i in range(2):
        feeds["black"].put(frame("black", i, 0), stop)
    for feed in feeds.values():
        feed.end()
    handled: list[tuple[str, int, float]] = []
    batches: list[int] = []

    def handle(camera: str, f: Frame, mask: PersonMask) -> None:
        assert f.camera_id == camera
        handled.append((camera, f.index, float(mask.mask.mean())))

    worker = InferenceWorker(
        bright_segmenter, feeds, handle, wakeup, on_batch=lambda n, _s: batches.append(n)
    )
    worker.start()
    assert worker.join(30)
    assert worker.error is None
    assert batches == [4, 1]
    assert [(c, i) for c, i, _ in handled] == [
        ("white", 0), ("black", 0), ("white", 1), ("black", 1), ("white", 2),
    ]  # fmt: skip
    for camera, _, coverage in handled:
        assert coverage == (1.0 if camera == "white" else 0.0)


def test_worker_drains_the_frames_in_flight_when_stopped(bright_segmenter: OnnxSegmenter) -> None:
    wakeup = threading.Event()
    feed = FrameFeed(False, 8, wakeup)
    handled: list[int] = []
    worker = InferenceWorker(
        bright_segmenter, {"cam": feed}, lambda _c, f, _m: handled.append(f.index), wakeup
    )
    for i in range(6):
        feed.put(frame("cam", i), threading.Event())
    worker.stop(drain=True)  # before it even started: the waiting frames still go through
    worker.start()
    assert worker.join(30)
    assert handled == [0, 1, 2, 3, 4, 5]


def test_worker_runs_calls_between_batches_on_its_own_thread(
    bright_segmenter: OnnxSegmenter,
) -> None:
    wakeup = threading.Event()
    feed = FrameFeed(True, 1, wakeup)
    worker = InferenceWorker(bright_segmenter, {"cam": feed}, lambda *_: None, wakeup)
    worker.start()
    ran_on: list[str] = []
    worker.call(lambda: ran_on.append(threading.current_thread().name))
    assert wait_until(lambda: bool(ran_on), 5)
    worker.stop(drain=False)
    assert worker.join(5)
    assert ran_on == ["inference"]
