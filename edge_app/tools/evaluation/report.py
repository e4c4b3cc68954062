"""The evaluation report: per zone and overall, as JSON and as a readable table."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edge_app.tools.evaluation.truth import ZoneComparison, overall


@dataclass(frozen=True, slots=True)
class EvalReport:
    """The comparison of one run: per zone, overall, and what was run."""

    dataset: str
    frames: int
    duration_s: float
    segmenter: str
    visit_iou: float
    zones: tuple[ZoneComparison, ...]
    truth_frames_unused: int = 0
    warm_up_frames: int = 0
    cold_at: int | None = None
    """The frame of the measured pass at which the segmenter started cold again (compared
    from there on); ``None``: only the cold start at the first frame."""
    warming_up_frames: int = 0
    """Compared frames whose masks were provisional (the segmenter warming up)."""

    @property
    def overall(self) -> ZoneComparison:
        return overall(self.zones)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "frames": self.frames,
            "duration_s": round(self.duration_s, 3),
            "segmenter": self.segmenter,
            "visit_iou": self.visit_iou,
            "truth_frames_unused": self.truth_frames_unused,
            "warm_up_frames": self.warm_up_frames,
            "cold_at": self.cold_at,
            "warming_up_frames": self.warming_up_frames,
            "overall": self.overall.to_dict(),
            "zones": [z.to_dict() for z in self.zones],
        }


def report_table(report: EvalReport) -> Table:
    """The readable table: one row per zone and the overall row."""
    restart = "" if report.cold_at is None else f", cold start at frame {report.cold_at}"
    warming = f", {report.warming_up_frames} warming up" if report.warming_up_frames else ""
    table = Table(
        title=f"{report.dataset}: {report.frames} frames{restart}{warming}, "
        f"{report.duration_s:.1f} s, segmenter {report.segmenter}, "
        f"visits matched at IoU >= {report.visit_iou:g}"
    )
    columns = (
        "zone",
        "count MAE",
        "count bias",
        "occupied acc",
        "occupied s true/meas",
        "visits true/meas/match",
        "visit P",
        "visit R",
        "dwell MAE s",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "zone" else "right")
    for i, z in enumerate((*report.zones, report.overall)):
        table.add_row(
            z.zone,
            f"{z.count_mae:.3f}",
            f"{z.count_bias:+.3f}",
            f"{z.occupied_accuracy:.1%}",
            f"{z.true_occupied_s:.1f}/{z.measured_occupied_s:.1f}",
            f"{z.true_visits}/{z.measured_visits}/{z.matched_visits}",
            f"{z.visit_precision:.2f}",
            f"{z.visit_recall:.2f}",
            f"{z.dwell_mae_s:.2f}",
            end_section=i == len(report.zones) - 1,
        )
    return table


def render_text(report: EvalReport, width: int = 140) -> str:
    """The table (and any warning) as plain text."""
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(report_table(report))
    if report.truth_frames_unused:
        console.print(
            f"warning: {report.truth_frames_unused} frame(s) of ground truth have no video "
            "frame: check that the truth belongs to this video"
        )
    return console.export_text()


def write_report(report: EvalReport, out_dir: Path) -> None:
    """``eval.json`` and ``eval.txt`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out_dir / "eval.txt").write_text(render_text(report))
