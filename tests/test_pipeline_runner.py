"""The stream runner: the latest-frame policy of live feeds, batching across cameras,
per-camera segmenting threads, analysis in each camera's order, drop accounting, no event
lost, calls on the analysis thread, the watchdog's view, errors and clean stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from edge_app.config import AnalyticsConfig, OnnxSegmenterConfig, PreprocessConfig
from edge_app.config.zones import parse_zones
from edge_app.core.domain import Frame, MaskMapping, PersonMask
from edge_app.core.errors import SourceError
from edge_app.core.events import EventStamper
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.feed import FrameFeed, collect_batch
from edge_app.pipeline.runner import RunnerCamera, StreamRunner, run_source
from edge_app.segmentation import PerCameraSegmenter
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


# --- per-camera segmenting threads -----------------------------------------------------


class BrightPerCamera:
    """A ``PerCameraSegmenter``: bright pixels are a person. Each instance made by
    ``for_camera`` records the frames it saw and the thread it saw them on; ``gate``
    (when given) holds every call until it is set, and ``entered`` is set when one waits."""

    name = "bright"
    batch_size = 4

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.entered = threading.Event()
        self.made: dict[str, BrightPerCamera] = {}
        self.seen: list[tuple[str, int, str]] = []
        self.closed = False

    def for_camera(self, camera_id: str) -> BrightPerCamera:
        own = BrightPerCamera(self.gate)
        own.entered = self.entered
        self.made[camera_id] = own
        return own

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait()
        masks = []
        for f in frames:
            self.seen.append((f.camera_id, f.index, threading.current_thread().name))
            mask = (f.image[:, :, 0] > 127).astype(np.uint8)
            masks.append(PersonMask(mask, MaskMapping.stretch(f.size, f.size)))
        return masks

    def close(self) -> None:
        self.closed = True


def visitor_frame(camera: str, index: int, arrives: int) -> Frame:
    """Someone in the middle of the picture for frames ``arrives`` .. ``arrives + 34``."""
    image = np.zeros((48, 64, 3), np.uint8)
    if arrives <= index < arrives + 35:
        image[10:40, 28:38] = 255
    return Frame(camera, index, index * 0.1, WALL, image)


def test_the_fake_is_a_per_camera_segmenter() -> None:
    assert isinstance(BrightPerCamera(), PerCameraSegmenter)


def test_each_camera_gets_its_own_segmenter_thread_and_every_event_in_its_order() -> None:
    # Visitors come and go at different frames per camera: each camera's events (enter,
    # occupancy, exit) must be exactly those of its own frames analysed one by one.
    arrivals = {"a": 5, "b": 12, "c": 20}
    frames = {cam: [visitor_frame(cam, i, at) for i in range(80)] for cam, at in arrivals.items()}
    feeds = {cam: FrameFeed(False, 8) for cam in arrivals}
    cameras = {cam: RunnerCamera(feeds[cam], analytics(cam)) for cam in arrivals}
    results: list[CameraResult] = []
    segmenter = BrightPerCamera()
    runner = StreamRunner(segmenter, cameras, results.append)
    runner.start()
    stop = threading.Event()
    for i in range(80):  # the cameras' frames arrive interleaved, as from three decoders
        for cam in arrivals:
            assert feeds[cam].put(frames[cam][i], stop)
    for feed in feeds.values():
        feed.end()
    assert runner.join(30)
    runner.raise_error()
    assert runner.frames == 240 and runner.alive

    assert set(segmenter.made) == set(arrivals) and not segmenter.seen
    for cam, own in segmenter.made.items():
        assert [(c, i) for c, i, _ in own.seen] == [(cam, i) for i in range(80)]
        assert {thread for _, _, thread in own.seen} == {f"segment-{cam}"}
        assert own.closed
    for cam in arrivals:
        mine = [r for r in results if r.frame.camera_id == cam]
        assert [r.frame.index for r in mine] == list(range(80))
        expected = analytics(cam)
        one_by_one = [
            e
            for f in frames[cam]
            for e in expected.process(f, *BrightPerCamera().segment([f])).events
        ]
        got = [e for r in mine for e in r.events]
        assert [(e.type, e.camera, e.t) for e in got] == [
            (e.type, e.camera, e.t) for e in one_by_one
        ]
        assert {"zone.enter", "zone.exit"} <= {e.type for e in got}


def test_a_live_camera_behind_a_busy_segmenter_drops_and_counts_the_frames_between() -> None:
    gate = threading.Event()
    segmenter = BrightPerCamera(gate)
    feed = FrameFeed(live=True, depth=1)
    handled: list[int] = []
    runner = StreamRunner(
        segmenter,
        {"cam": RunnerCamera(feed, analytics("cam"))},
        lambda r: handled.append(r.frame.index),
    )
    runner.start()
    stop = threading.Event()
    feed.put(frame("cam", 0, 255), stop)
    assert segmenter.entered.wait(5)  # frame 0 is being segmented
    for i in range(1, 10):
        feed.put(frame("cam", i, 255), stop)  # the slot keeps only the newest
    gate.set()
    runner.stop(drain=True)
    assert runner.join(10)
    runner.raise_error()
    assert handled == [0, 9]
    assert feed.dropped == 8
    assert len(handled) + feed.dropped == 10  # every frame analysed or counted


def test_a_drain_analyses_every_waiting_frame_of_every_camera_and_closes_their_segmenters() -> None:
    segmenter = BrightPerCamera()
    cameras = {
        cam: RunnerCamera(filled_feed(cam, 6, 255, ended=False), analytics(cam))
        for cam in ("a", "b", "c")
    }
    handled: list[tuple[str, int]] = []
    runner = StreamRunner(
        segmenter, cameras, lambda r: handled.append((r.frame.camera_id, r.frame.index))
    )
    runner.stop(drain=True)  # live streams that have not ended: the waiting frames still go
    run_to_end(runner)
    for cam in cameras:
        assert [i for c, i in handled if c == cam] == list(range(6))
        assert segmenter.made[cam].closed
    assert runner.finished.is_set() and runner.error is None


def test_a_clean_stop_mid_visit_loses_no_event() -> None:
    # Streams that have not ended, stopped while people are inside and frames are still in
    # flight: every frame taken is analysed, and closing the cameras' analytics afterwards
    # (as the daemon does) ends the open visits; the same events as frame by frame.
    arrivals = {"a": 5, "b": 9}
    frames = {cam: [visitor_frame(cam, i, at) for i in range(30)] for cam, at in arrivals.items()}
    feeds = {cam: FrameFeed(False, 8) for cam in arrivals}
    cams = {cam: analytics(cam) for cam in arrivals}
    events: dict[str, list[tuple[str, float]]] = {cam: [] for cam in arrivals}
    runner = StreamRunner(
        BrightPerCamera(),
        {cam: RunnerCamera(feeds[cam], cams[cam]) for cam in arrivals},
        lambda r: events[r.frame.camera_id].extend((e.type, e.t) for e in r.events),
    )
    runner.start()
    stop = threading.Event()
    for i in range(30):
        for cam in arrivals:
            assert feeds[cam].put(frames[cam][i], stop)
    runner.stop(drain=True)
    assert runner.join(30) and runner.error is None
    for cam in arrivals:
        events[cam].extend((e.type, e.t) for e in cams[cam].finish())
        expected = analytics(cam)
        one_by_one = [
            (e.type, e.t)
            for f in frames[cam]
            for e in expected.process(f, *BrightPerCamera().segment([f])).events
        ] + [(e.type, e.t) for e in expected.finish()]
        assert events[cam] == one_by_one
        assert [kind for kind, _ in events[cam]].count("zone.exit") == 1  # closed at the stop


def test_a_hung_segmenter_call_shows_in_busy_for_and_a_stop_abandons_the_frames_behind_it() -> None:
    now = [100.0]
    gate = threading.Event()
    segmenter = BrightPerCamera(gate)
    feed = filled_feed("cam", 4, 255, ended=False)
    handled: list[int] = []
    runner = StreamRunner(
        segmenter,
        {"cam": RunnerCamera(feed, analytics("cam"))},
        lambda r: handled.append(r.frame.index),
        clock=lambda: now[0],
    )
    runner.start()
    assert segmenter.entered.wait(5)
    assert runner.busy_for(130.0) == pytest.approx(30.0)  # what the watchdog sees
    assert runner.alive
    runner.stop(drain=False)
    assert not runner.join(0.2)  # still inside the segmenter's call
    gate.set()
    assert runner.join(10)
    assert handled == []  # the stop came first: nothing more is handed on
    assert len(feed) == 3 and segmenter.made["cam"].closed
    assert runner.busy_for(130.0) == 0.0


def test_a_camera_whose_file_ended_is_not_a_dead_stage() -> None:
    segmenter = BrightPerCamera()
    short = filled_feed("short", 2, 255)  # ends after two frames
    live = FrameFeed(True, 1)  # still streaming, nothing yet
    handled: list[str] = []
    runner = StreamRunner(
        segmenter,
        {
            "short": RunnerCamera(short, analytics("short")),
            "live": RunnerCamera(live, analytics("live")),
        },
        lambda r: handled.append(f"{r.frame.camera_id}{r.frame.index}"),
    )
    runner.start()
    assert wait_until(lambda: handled == ["short0", "short1"], 10)
    assert wait_until(lambda: "segment-short" not in {t.name for t in threading.enumerate()}, 10)
    assert runner.alive  # the watchdog keeps pinging
    live.put(frame("live", 0, 255), threading.Event())
    assert wait_until(lambda: "live0" in handled, 10)
    runner.stop(drain=True)
    assert runner.join(10) and runner.error is None


def test_a_failed_camera_ends_the_run_after_the_frames_taken_before_it() -> None:
    segmenter = BrightPerCamera()
    broken = filled_feed("broken", 2, 255, ended=False)
    broken.end(SourceError("broken.mp4: corrupt packet"))
    other = FrameFeed(True, 1)  # would stream forever
    handled: list[str] = []
    runner = StreamRunner(
        segmenter,
        {
            "broken": RunnerCamera(broken, analytics("broken")),
            "other": RunnerCamera(other, analytics("other")),
        },
        lambda r: handled.append(f"{r.frame.camera_id}{r.frame.index}"),
    )
    runner.start()
    assert runner.join(10)
    assert handled == ["broken0", "broken1"]
    with pytest.raises(SourceError, match="corrupt packet"):
        runner.raise_error()
    assert all(own.closed for own in segmenter.made.values())
