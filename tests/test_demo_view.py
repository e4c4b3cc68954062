"""The demo's live view, its truth table's explanation and its fresh stores, in-process."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console

from edge_app.tools.demo import KEEP_STORES, explain, fresh_store, run_demo
from edge_app.tools.evaluation.truth import ZoneComparison

ERASE_LINE = "\x1b[2K"


@pytest.fixture
def info_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.setLevel(level)


def test_the_live_view_keeps_log_lines_off_the_table_and_ends_with_one_table(
    tmp_path: Path,
    info_logging: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # a terminal that draws the live table
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)  # no wrapped log lines
    assert run_demo(3.0, live=True, state_dir=tmp_path, mqtt=None, console=console) == 0
    out = buffer.getvalue()
    # A record logged while the table is live ("source ended") goes through the console,
    # which prints it above the table, not to the stream the table is drawn on.
    assert "camera store-floor: source ended" in out
    assert "source ended" not in capsys.readouterr().err
    # The live table is erased when it ends: what stays is the final table, once.
    final = out.rsplit(ERASE_LINE, 1)[1]
    assert final.count("longest dwell s") == 1 and final.count("truth / measured") == 1


def _zone(zone: str, visits: tuple[int, int], dwell: tuple[float, float]) -> ZoneComparison:
    return ZoneComparison(
        zone=zone,
        frames=300,
        count_mae=0.3,
        count_bias=-0.2,
        occupied_accuracy=0.9,
        true_occupied_s=15.0,
        measured_occupied_s=14.0,
        true_visits=visits[0],
        measured_visits=visits[1],
        matched_visits=1,
        dwell_mae_s=3.0,
        dwell_bias_s=-3.0,
        true_mean_dwell_s=dwell[0],
        measured_mean_dwell_s=dwell[1],
    )


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (
            _zone("shelf-back", (2, 5), (13.0, 4.7)),
            "shelf-back: 2 true visits were measured as 5 shorter ones (26 s of dwell in all, "
            "24 s measured): a person lost for a moment comes back as a new track",
        ),
        (
            _zone("shelf-left", (2, 1), (12.0, 5.0)),
            "shelf-left: 2 true visits, 1 measured (24 s of dwell in all, 5 s measured): "
            "people standing side by side made one silhouette.",
        ),
        (
            _zone("shelf-left", (2, 2), (12.2, 6.1)),
            "shelf-left: the measured visits are shorter (24 s of dwell in all, 12 s measured)",
        ),
    ],
)
def test_a_dwell_far_below_the_truth_is_explained(zone: ZoneComparison, expected: str) -> None:
    lines = explain([zone, _zone("checkout-1", (3, 3), (7.6, 7.3))])
    assert len(lines) == 2
    assert lines[0].startswith("Dwell is measured per tracked person.")
    assert lines[1].startswith(expected)


@pytest.mark.parametrize(
    "zone",
    [
        _zone("entrance", (7, 7), (0.9, 1.4)),  # longer, not shorter
        _zone("entrance", (7, 7), (1.9, 1.2)),  # within a second
        _zone("checkout-1", (5, 5), (32.0, 30.1)),  # within a quarter
        _zone("empty", (0, 0), (0.0, 0.0)),
    ],
)
def test_close_enough_dwell_needs_no_explanation(zone: ZoneComparison) -> None:
    assert explain([zone]) == []


def test_every_run_gets_a_fresh_store_and_the_oldest_go(tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    stores = []
    for minute in range(KEEP_STORES + 2):
        store = fresh_store(tmp_path, start + timedelta(minutes=minute))
        store.write_bytes(b"db")
        (store.parent / f"{store.stem}.person-size.json").write_text("{}")
        stores.append(store)
    assert len(set(stores)) == len(stores)
    folder = tmp_path / "demo"
    kept = sorted(folder.glob("*.db"))
    assert kept == stores[-KEEP_STORES:]
    assert len(list(folder.glob("*.person-size.json"))) == KEEP_STORES
