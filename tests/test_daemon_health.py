"""Health figures: the latency histogram, the status line, the MQTT stats they become."""

from __future__ import annotations

import pytest

from edge_app.runtime.health import (
    CameraFigures,
    FpsMeter,
    HealthSnapshot,
    HistogramSnapshot,
    LatencyHistogram,
)
from edge_app.runtime.report import HealthBook, outbox_backlog, pipeline_stats


def figures(camera: str, online: bool | None, fps: float = 5.0, dropped: int = 0) -> CameraFigures:
    return CameraFigures(camera, online is not None, online, fps, 100, dropped, 3, 2)


def test_histogram_counts_are_cumulative_per_upper_bound() -> None:
    hist = LatencyHistogram((0.01, 0.1, 1.0))
    for seconds in (0.005, 0.01, 0.05, 0.5, 0.5, 7.0):
        hist.observe(seconds)
    snap = hist.snapshot()
    assert snap.buckets == ((0.01, 2), (0.1, 3), (1.0, 5), (float("inf"), 6))
    assert snap.count == 6 and snap.sum_s == pytest.approx(8.065)


@pytest.mark.parametrize(("q", "bound"), [(0.0, 0.01), (0.5, 0.1), (0.8, 1.0), (1.0, float("inf"))])
def test_quantiles_are_bucket_bounds(q: float, bound: float) -> None:
    hist = LatencyHistogram((0.01, 0.1, 1.0))
    for seconds in (0.005, 0.05, 0.06, 0.5, 5.0):
        hist.observe(seconds)
    assert hist.snapshot().quantile(q) == bound


def test_empty_histogram_has_no_quantile() -> None:
    assert HistogramSnapshot(((1.0, 0), (float("inf"), 0)), 0, 0.0).quantile(0.95) is None


def test_histogram_bounds_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        LatencyHistogram((0.1, 0.01))


def test_fps_is_frames_over_the_time_between_updates() -> None:
    meter = FpsMeter(now=100.0)
    for _ in range(20):
        meter.count()
    assert meter.update(104.0) == 5.0
    assert meter.update(106.0) == 0.0
    assert meter.total == 20


def test_status_line_names_offline_cameras_and_the_backlog() -> None:
    book = HealthBook()
    book.on_batch(4, 0.2)  # 50 ms per frame
    snap = book.snapshot(
        [figures("door", True, 4.0, 7), figures("till", False, 0.0), figures("file", None, 2.5)],
        batch_size=4,
        outbox_backlog=12,
    )
    assert snap.cameras_up == 2
    assert snap.status_line() == (
        "2/3 cameras up, 6.5 fps, inference 50 ms/frame, 7 dropped; offline: till; outbox 12"
    )


def test_mqtt_stats_carry_the_same_figures() -> None:
    book = HealthBook()
    for _ in range(19):
        book.on_batch(1, 0.02)
    book.on_batch(1, 2.0)
    book.events.add("zone.enter", 3)
    book.events.add("camera.offline")
    snap = book.snapshot([figures("door", False, 0.0, 4)], batch_size=1, outbox_backlog=None)
    stats = pipeline_stats(snap)
    assert stats.cameras["door"].online is False
    assert stats.cameras["door"].reconnects == 2
    assert stats.cameras["door"].frames_dropped == 4
    assert stats.events == {"camera.offline": 1, "zone.enter": 3}
    assert stats.inference_p95_ms == 25.0  # 19 of 20 batches fell in the 25 ms bucket
    assert stats.frames_dropped == 4


def test_outbox_backlog_comes_from_the_sink_that_knows() -> None:
    class Plain:
        def handle(self, *_: object) -> None: ...

        def close(self, timeout_s: float) -> None: ...

    class WithOutbox(Plain):
        def outbox_backlog(self) -> int | None:
            return 42

    assert outbox_backlog([Plain()]) is None
    assert outbox_backlog([Plain(), WithOutbox()]) == 42
    empty = HealthSnapshot((), HistogramSnapshot(((float("inf"), 0),), 0, 0.0), 0.0, 1)
    assert empty.status_line().startswith("0/0 cameras up")


def test_alerts_are_logged_one_line_each_and_the_rest_only_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from datetime import datetime, timezone

    from edge_app.core.events import DwellExceeded, EventStamper, ZoneEnter, ZoneEvent
    from edge_app.runtime.report import log_events

    stamper = EventStamper("edge-1")
    wall = datetime(2026, 11, 23, tzinfo=timezone.utc)
    events = (
        stamper.stamp(ZoneEvent("door", "till", 1.0, ZoneEnter(7)), wall),
        stamper.stamp(
            ZoneEvent("door", "till", 9.0, DwellExceeded(7, 31.000000000000004, 30.0)), wall
        ),
    )
    caplog.set_level("INFO", logger="edge_app.runtime.report")
    log_events(events)
    assert [r.getMessage() for r in caplog.records] == [
        "event zone.dwell_exceeded camera=door zone=till seq=2 track_id=7 dwell_s=31.0 limit_s=30.0"
    ]
    caplog.clear()
    caplog.set_level("DEBUG", logger="edge_app.runtime.report")
    log_events(events)
    assert len(caplog.records) == 2
