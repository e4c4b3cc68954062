"""Replay: the offline face. A video file in, three files out.

- ``occupancy.csv``: ``frame,t_s,zone,count,coverage,occupied,warming_up``, one row per
  frame per zone, ``frame`` 0-based in decode order;
- ``events.jsonl``: every event, one JSON object a line (the shape of docs/events.md);
- ``summary.json``: per zone: visits, mean and max dwell, peak count, occupied seconds.

A segmenter that learns the scene (``background``) starts cold at the first frame, and
again at any frame of ``cold_at`` (a restart in the middle). By default the frames of its
warm-up are segmented again once it has learned the scene (``pipeline.coldstart``); with
``resegment=False`` they keep the provisional masks the daemon would count from, and the
rows and events of those frames say ``warming_up``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_app.config import AnalyticsConfig, SegmenterConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import ZoneState
from edge_app.core.events import Event, EventStamper, ZoneExit
from edge_app.pipeline.camera import CameraAnalytics, CameraResult
from edge_app.pipeline.coldstart import with_cold_starts
from edge_app.pipeline.runner import run_source
from edge_app.segmentation import Segmenter, create_segmenter
from edge_app.sources.base import Source
from edge_app.sources.file import FileSource


@dataclass(slots=True)
class ZoneSummary:
    """Running totals of one zone over a replay."""

    visits: int = 0
    dwell_total_s: float = 0.0
    dwell_max_s: float = 0.0
    peak_count: int = 0
    occupied_s: float = 0.0
    enter_events: int = 0
    alerts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "visits": self.visits,
            "mean_dwell_s": round(self.dwell_total_s / self.visits, 3) if self.visits else 0.0,
            "max_dwell_s": round(self.dwell_max_s, 3),
            "peak_count": self.peak_count,
            "occupied_s": round(self.occupied_s, 3),
            "alerts": dict(sorted(self.alerts.items())),
        }


class SummaryBuilder:
    """Folds zone states and events into per-zone totals.

    Occupied seconds integrate each frame's debounced state over the time to the next
    frame, so they do not depend on the frame rate.
    """

    def __init__(self) -> None:
        self.zones: dict[str, ZoneSummary] = {}
        self._prev: dict[str, ZoneState] = {}
        self.frames = 0
        self.first_t: float | None = None
        self.last_t: float | None = None

    def add_states(self, states: Iterable[ZoneState]) -> None:
        for st in states:
            z = self.zones.setdefault(st.zone, ZoneSummary())
            prev = self._prev.get(st.zone)
            if prev is not None and prev.occupied:
                z.occupied_s += max(0.0, st.t - prev.t)
            z.peak_count = max(z.peak_count, st.count)
            self._prev[st.zone] = st
            self.first_t = st.t if self.first_t is None else self.first_t
            self.last_t = st.t

    def add_events(self, events: Iterable[Event]) -> None:
        for ev in events:
            if ev.zone is None:
                continue
            z = self.zones.setdefault(ev.zone, ZoneSummary())
            if isinstance(ev.payload, ZoneExit):
                z.visits += 1
                z.dwell_total_s += ev.payload.dwell_s
                z.dwell_max_s = max(z.dwell_max_s, ev.payload.dwell_s)
            elif ev.type == "zone.enter":
                z.enter_events += 1
            elif ev.type in ("zone.dwell_exceeded", "zone.capacity_exceeded"):
                z.alerts[ev.type] = z.alerts.get(ev.type, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        duration = (
            (self.last_t - self.first_t)
            if self.first_t is not None and self.last_t is not None
            else 0.0
        )
        return {
            "frames": self.frames,
            "duration_s": round(duration, 3),
            "zones": {k: v.to_dict() for k, v in sorted(self.zones.items())},
        }


class ReplayWriter:
    """Writes the three replay outputs into ``out_dir`` as results arrive.

    The files are written under temporary names and moved into place by ``close()``, so
    an interrupted replay never leaves a half-written file under the final name.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.summary = SummaryBuilder()
        self.events_written = 0
        self._files = contextlib.ExitStack()
        self._complete = False

    def __enter__(self) -> ReplayWriter:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as files:
            csv_file = files.enter_context(
                open(self.out_dir / "occupancy.csv.part", "w", newline="", encoding="utf-8")
            )
            self._events_file = files.enter_context(
                open(self.out_dir / "events.jsonl.part", "w", encoding="utf-8")
            )
            self._files = files.pop_all()
        self._csv = csv.writer(csv_file)
        self._csv.writerow(["frame", "t_s", "zone", "count", "coverage", "occupied", "warming_up"])
        return self

    def __exit__(self, *exc: object) -> None:
        self._files.close()
        if not self._complete:
            return  # an interrupted replay keeps its .part files for inspection
        summary_part = self.out_dir / "summary.json.part"
        summary_part.write_text(json.dumps(self.summary.to_dict(), indent=2) + "\n")
        for name in ("occupancy.csv", "events.jsonl", "summary.json"):
            os.replace(self.out_dir / f"{name}.part", self.out_dir / name)

    def add(self, result: CameraResult) -> None:
        index = result.frame.index
        for st in result.analysis.states:
            self._csv.writerow(
                [
                    index,
                    f"{st.t:.3f}",
                    st.zone,
                    st.count,
                    f"{st.coverage:.4f}",
                    int(st.occupied),
                    int(st.warming_up),
                ]
            )
        self.summary.frames += 1
        self.summary.add_states(result.analysis.states)
        self.add_events(result.events)

    def add_events(self, events: Iterable[Event]) -> None:
        for ev in events:
            self._events_file.write(json.dumps(ev.to_dict(), separators=(",", ":")) + "\n")
            self.events_written += 1
        self.summary.add_events(events)

    def complete(self) -> None:
        """Every result is in: the files take their final names when the writer closes."""
        self._complete = True


ProgressCallback = Callable[[CameraResult], None]


def run_replay(
    video: Path,
    zones: ZoneSet,
    out_dir: Path,
    segmenter_cfg: SegmenterConfig,
    analytics_cfg: AnalyticsConfig,
    device_id: str = "replay",
    on_result: ProgressCallback | None = None,
    extra_sinks: Iterable[Callable[[CameraResult], None]] = (),
    cold_at: Sequence[int] = (),
    resegment: bool = True,
) -> dict[str, Any]:
    """Replay every frame of ``video`` through the pipeline; returns the summary.

    The video is decoded with one FFmpeg thread: FFmpeg's default of one per core would take
    turns on the cores that inference is using (on a 2-core machine it cost the selfie model
    a tenth of its speed).
    """
    return replay_source(
        FileSource(zones.camera, video, decode_threads=1),
        zones,
        out_dir,
        segmenter_cfg,
        analytics_cfg,
        device_id=device_id,
        on_result=on_result,
        extra_sinks=extra_sinks,
        reopen=lambda: FileSource(zones.camera, video, decode_threads=1),
        cold_at=cold_at,
        resegment=resegment,
    )


def replay_source(
    source: Source,
    zones: ZoneSet,
    out_dir: Path,
    segmenter_cfg: SegmenterConfig | Segmenter,
    analytics_cfg: AnalyticsConfig,
    device_id: str = "replay",
    on_result: ProgressCallback | None = None,
    extra_sinks: Iterable[Callable[[CameraResult], None]] = (),
    reopen: Callable[[], Source] | None = None,
    cold_at: Sequence[int] = (),
    resegment: bool = True,
) -> dict[str, Any]:
    """``run_replay`` for any finite source (a file, the synthetic camera); closes it.
    ``segmenter_cfg`` may also be a ready segmenter (the evaluation's masks from truth).

    ``reopen`` reads the same source again from its first frame: with it (and
    ``resegment``), the warm-up after the cold start at frame 0 and at each frame of
    ``cold_at`` is learned ahead and its frames segmented with the finished model."""
    if isinstance(segmenter_cfg, Segmenter):
        segmenter = segmenter_cfg
        make_segmenter = None
    else:
        config = segmenter_cfg
        segmenter = create_segmenter(config)
        make_segmenter = lambda: create_segmenter(config)  # noqa: E731
    try:
        segmenter = with_cold_starts(
            segmenter, (0, *cold_at), reopen if resegment else None, make_segmenter
        )
    except BaseException:
        segmenter.close()
        source.close()
        raise
    camera = CameraAnalytics(zones.camera, zones, analytics_cfg, EventStamper(device_id))
    sinks = list(extra_sinks)
    if on_result is not None:
        sinks.append(on_result)
    try:
        with ReplayWriter(out_dir) as writer:

            def handle(result: CameraResult) -> None:
                writer.add(result)
                for sink in sinks:
                    sink(result)

            run_source(source, segmenter, camera, handle)
            writer.add_events(camera.finish())
            writer.complete()
    finally:
        segmenter.close()
    return writer.summary.to_dict()
