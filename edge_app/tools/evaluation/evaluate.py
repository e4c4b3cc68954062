"""``edge-app eval``: replay footage with known truth and measure how close the product is.

Two kinds of development set:

- a video with MOT ground truth (``frame(1-based),id,left,top,width,height,...``; a
  person's foot point is the bottom centre of the box), e.g. TUD-Stadtmitte;
- the built-in synthetic shop camera, whose truth is exact (crowds that merge, people
  who stand still, people hidden behind others).

The footage goes through exactly what ``edge-app replay`` runs (same segmenter, same
analytics, same outputs in ``--out-dir``); the comparison (``truth.py`` beside this module)
is written as ``eval.json`` (machine-readable) and ``eval.txt`` (the table printed on screen).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from edge_app.config import AnalyticsConfig, SegmenterConfig, SyntheticSourceConfig
from edge_app.config.zones import ZoneSet
from edge_app.core.domain import Frame
from edge_app.core.errors import ConfigError
from edge_app.core.events import Event
from edge_app.pipeline.camera import CameraResult, zone_rules
from edge_app.sources.base import Source
from edge_app.tools.evaluation.report import EvalReport, write_report
from edge_app.tools.evaluation.truth import TruthComparison, TruthPoint
from edge_app.tools.evaluation.truth_masks import TruthMaskSegmenter

TruthLookup = Callable[[int], list[TruthPoint]]
"""Frame index (0-based, decode order) -> the true people of that frame."""


def load_mot(path: Path) -> dict[int, list[TruthPoint]]:
    """Foot points per 0-based frame index from a MOT ground-truth file.

    Rows whose 7th column (the MOT "consider" flag) is 0 are ignored, as MOT's own
    evaluation does. Raises ``ConfigError`` naming the line of any malformed row.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, "ground-truth file not found", "check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc}", "give a MOT gt.txt") from exc
    truth: dict[int, list[TruthPoint]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        try:
            frame, pid = int(float(cells[0])), int(float(cells[1]))
            left, top, width, height = (float(c) for c in cells[2:6])
            consider = float(cells[6]) if len(cells) > 6 else 1.0
        except (ValueError, IndexError) as exc:
            raise ConfigError(
                str(path),
                f"line {number}",
                f"not a MOT row: {line.strip()!r}",
                "rows are frame,id,left,top,width,height[,conf,...] with a 1-based frame",
            ) from exc
        if frame < 1 or not all(math.isfinite(v) for v in (left, top, width, height)):
            raise ConfigError(
                str(path), f"line {number}", "frame must be >= 1 and the box finite", "fix the row"
            )
        if consider == 0:
            continue
        box = (left, top, width, height)
        truth.setdefault(frame - 1, []).append(TruthPoint(pid, left + width / 2, top + height, box))
    if not truth:
        raise ConfigError(str(path), None, "no ground-truth boxes", "give a MOT gt.txt")
    return truth


class _Collector:
    """An extra replay sink: feeds each analysed frame and its truth to the comparison.

    The first ``skip`` frames (a warm-up) are analysed but not compared; frame ``skip + i``
    is compared with the truth of frame ``i``. Frames before ``compare_from`` (at least
    ``skip``) are analysed but not compared either.
    """

    def __init__(
        self,
        zones: ZoneSet,
        cfg: AnalyticsConfig,
        truth: TruthLookup,
        iou: float,
        skip: int,
        compare_from: int,
    ) -> None:
        self.zones, self.cfg, self.truth, self.iou, self.skip = zones, cfg, truth, iou, skip
        self.compare_from = max(skip, compare_from)
        self.comparison: TruthComparison | None = None
        self.indices: set[int] = set()
        self.first_t: float | None = None
        self.last_t = 0.0
        self.warming_frames = 0

    def __call__(self, result: CameraResult) -> None:
        frame = result.frame
        if frame.index < self.compare_from:
            return
        if self.comparison is None:
            rules = zone_rules(self.zones, frame.size, self.cfg)
            self.comparison = TruthComparison(rules, visit_iou=self.iou)
            self.first_t = frame.t
        index = frame.index - self.skip
        self.indices.add(index)
        self.last_t = frame.t
        self.warming_frames += int(result.mask.warming_up)
        self.comparison.add_frame(frame.t, self.truth(index), result.analysis.states)


class _FirstFrames:
    """The first ``count`` frames of a (looping) source: warm-up passes and the measured one."""

    def __init__(self, inner: Source, count: int) -> None:
        self.inner, self.count = inner, count
        self.camera_id, self.live = inner.camera_id, False

    def frames(self) -> Iterator[Frame]:
        for frame in self.inner.frames():
            if frame.index >= self.count:
                return
            yield frame

    def close(self) -> None:
        self.inner.close()


def evaluate(
    source: Source,
    truth: TruthLookup,
    zones: ZoneSet,
    segmenter_cfg: SegmenterConfig | None,
    analytics_cfg: AnalyticsConfig,
    out_dir: Path | None = None,
    dataset: str = "",
    visit_iou: float = 0.5,
    extra_sinks: tuple[Callable[[CameraResult], None], ...] = (),
    on_result: Callable[[CameraResult], None] | None = None,
    skip_frames: int = 0,
    reopen: Callable[[], Source] | None = None,
    cold_at: int | None = None,
    resegment: bool = True,
) -> tuple[EvalReport, set[int]]:
    """Replay ``source`` and compare with ``truth``; returns the report and the frame
    indices compared. The first ``skip_frames`` are a warm-up, not compared. With
    ``out_dir`` the replay outputs and ``eval.json``/``eval.txt`` stay there; without,
    they go to a temporary folder that is removed.

    ``reopen`` reads ``source`` again from its first frame, so that the segmenter's
    warm-up can be learned ahead (``resegment``, see ``tools.replay``). ``cold_at``: the
    segmenter starts cold again at frame ``skip_frames + cold_at`` (a restart in the
    middle; the analytics run on), and only the frames from there on are compared."""
    from edge_app.tools.replay import replay_source

    restart = None if cold_at is None else skip_frames + cold_at
    collector = _Collector(
        zones, analytics_cfg, truth, visit_iou, skip_frames, restart or skip_frames
    )
    # No segmenter config: masks drawn from the truth (the analytics alone).
    segmenter = segmenter_cfg or TruthMaskSegmenter(
        lambda i: truth(i - skip_frames) if i >= skip_frames else []
    )
    with tempfile.TemporaryDirectory(prefix="edge-app-eval-") as tmp:
        target = out_dir if out_dir is not None else Path(tmp)
        replay_source(
            source,
            zones,
            target,
            segmenter,
            analytics_cfg,
            device_id="eval",
            on_result=on_result,
            extra_sinks=(collector, *extra_sinks),
            reopen=reopen,
            cold_at=() if restart is None else (restart,),
            resegment=resegment,
        )
        comparison = collector.comparison
        if comparison is None:
            raise ConfigError(dataset or "(source)", None, "no frames were decoded", "check it")
        # Measured visits come from the replay's own events file, so visits still open
        # when the stream ended (closed by the replay) are included.
        with open(target / "events.jsonl", encoding="utf-8") as f:
            events = (Event.from_dict(json.loads(line)) for line in f)
            compared_from = collector.compare_from
            comparison.add_events(events, since_t=collector.first_t if compared_from else None)
        report = EvalReport(
            dataset=dataset,
            frames=len(collector.indices),
            duration_s=collector.last_t - (collector.first_t or 0.0),
            segmenter=segmenter_cfg.type if segmenter_cfg else TruthMaskSegmenter.name,
            visit_iou=visit_iou,
            zones=tuple(comparison.finish()),
            warm_up_frames=skip_frames,
            cold_at=cold_at,
            warming_up_frames=collector.warming_frames,
        )
        if out_dir is not None:
            write_report(report, out_dir)
    return report, collector.indices


def evaluate_video(
    video: Path,
    gt: Path,
    zones: ZoneSet,
    segmenter_cfg: SegmenterConfig | None,
    analytics_cfg: AnalyticsConfig,
    out_dir: Path | None = None,
    visit_iou: float = 0.5,
    extra_sinks: tuple[Callable[[CameraResult], None], ...] = (),
    warm_up: int = 0,
    cold_at: int | None = None,
    resegment: bool = True,
) -> EvalReport:
    """Evaluate a video file against its MOT ground truth (see ``load_mot``).

    ``warm_up``: play the video this many times before the measured pass (the source
    clock runs on), so the segmenter's background model and the learned person size start
    warm, as on a camera that has been running for a while. 0 measures a cold start.
    ``cold_at``: the segmenter starts cold again at this frame of the measured pass, and
    the comparison covers the frames from there on (see ``evaluate``).
    """
    from edge_app.sources.file import FileSource

    if not video.is_file():
        raise ConfigError(str(video), None, "video file not found", "check the path")
    if warm_up < 0:
        raise ConfigError("(command line)", "--warm-up", "must be >= 0", "give 0, 1, 2...")
    truth = load_mot(gt)
    skip = 0

    def reopen() -> Source:
        return FileSource(zones.camera, video)

    if warm_up:
        length = sum(1 for _ in FileSource(zones.camera, video).frames())
        skip = length * warm_up

        def reopen() -> Source:
            return _FirstFrames(FileSource(zones.camera, video, loop=True), skip + length)

    report, seen = evaluate(
        reopen(),
        lambda index: truth.get(index, []),
        zones,
        segmenter_cfg,
        analytics_cfg,
        out_dir,
        dataset=video.name + (f" (after {warm_up} warm-up pass(es))" if warm_up else ""),
        visit_iou=visit_iou,
        extra_sinks=extra_sinks,
        skip_frames=skip,
        reopen=reopen,
        cold_at=cold_at,
        resegment=resegment,
    )
    if cold_at is not None:
        seen |= set(range(cold_at))  # not compared on purpose
    unused = len(set(truth) - seen)
    if unused:
        # Truth for frames the video does not have: the files do not belong together.
        report = _with_unused(report, unused, out_dir)
    return report


def _with_unused(report: EvalReport, unused: int, out_dir: Path | None) -> EvalReport:
    report = replace(report, truth_frames_unused=unused)
    if out_dir is not None:
        write_report(report, out_dir)
    return report


def evaluate_synthetic(
    scene: SyntheticSourceConfig,
    zones: ZoneSet,
    segmenter_cfg: SegmenterConfig | None,
    analytics_cfg: AnalyticsConfig,
    out_dir: Path | None = None,
    visit_iou: float = 0.5,
    extra_sinks: tuple[Callable[[CameraResult], None], ...] = (),
    cold_at: int | None = None,
    resegment: bool = True,
) -> EvalReport:
    """Evaluate the synthetic shop camera against its exact truth.

    Everyone whose foot point is in a zone counts, including people hidden behind others:
    that is how many people really are there.
    """
    from edge_app.sources.synthetic.scene import SyntheticSource

    source = SyntheticSource(zones.camera, scene)

    def truth(index: int) -> list[TruthPoint]:
        people = []
        for p in source.truth(index):
            x, y, w, h = p.bbox
            people.append(TruthPoint(p.person_id, p.foot[0], p.foot[1], (x, y, w, h)))
        return people

    report, _ = evaluate(
        source,
        truth,
        zones,
        segmenter_cfg,
        analytics_cfg,
        out_dir,
        scene_name(scene),
        visit_iou,
        extra_sinks,
        reopen=lambda: SyntheticSource(zones.camera, scene),
        cold_at=cold_at,
        resegment=resegment,
    )
    return report


def scene_name(scene: SyntheticSourceConfig) -> str:
    """How a synthetic scene is named in reports: what differs from the plain default."""
    name = f"synthetic seed={scene.seed} people={scene.people} {scene.duration_s:g}s"
    if scene.start_s:
        name += f" from {scene.start_s:g}s"
    if scene.standers:
        name += f" standers={scene.standers}"
    if scene.dim_at_s is not None:
        name += f" lights x{scene.dim_to:g} at {scene.dim_at_s:g}s"
    return name
