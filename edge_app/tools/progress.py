"""What a person sees in the terminal: replay progress and summary tables (rich)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from edge_app.pipeline.camera import CameraResult


def video_frame_count(path: Path) -> int | None:
    cap = cv2.VideoCapture(str(path))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return n if n > 0 else None


class ReplayProgress:
    """A progress bar over a video's frames, with the live total count."""

    def __init__(self, video: Path, quiet: bool = False) -> None:
        self.console = Console(stderr=True)
        self.quiet = quiet
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[people]} in zones"),
            TimeRemainingColumn(),
            console=self.console,
            disable=quiet,
        )
        self._task = self._progress.add_task(video.name, total=video_frame_count(video), people=0)

    def __enter__(self) -> ReplayProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, result: CameraResult) -> None:
        people = sum(st.count for st in result.analysis.states)
        self._progress.update(self._task, advance=1, people=people)

    def print_summary(self, summary: dict[str, Any], out_dir: Path) -> None:
        console = Console()
        table = Table(title=f"{summary['frames']} frames, {summary['duration_s']:.1f} s")
        for col in ("zone", "visits", "mean dwell s", "max dwell s", "peak count", "occupied s"):
            table.add_column(col, justify="left" if col == "zone" else "right")
        for zone, z in summary["zones"].items():
            table.add_row(
                zone,
                str(z["visits"]),
                f"{z['mean_dwell_s']:.1f}",
                f"{z['max_dwell_s']:.1f}",
                str(z["peak_count"]),
                f"{z['occupied_s']:.1f}",
            )
        console.print(table)
        console.print(
            f"wrote {out_dir / 'occupancy.csv'}, {out_dir / 'events.jsonl'}, "
            f"{out_dir / 'summary.json'}"
        )
