"""The analytics' tuning, one value per knob: ``AnalyzerParams``.

It lives in the core so that both the analytics (which take it) and the configuration
(whose ``analytics:`` defaults are read from it) use the same numbers, each written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnalyzerParams:
    """Tuning of one camera's analytics. Distances are relative to the frame height (so
    they hold at any resolution), times are seconds.

    ``analysis_max_side``: the long side (pixels) of the grid the mask is analysed on;
    ``min_blob_area_frac``: the smallest person blob, as a fraction of the frame's area;
    ``track_max_gap_s``: how long a track survives without evidence (occlusions, merges);
    ``track_max_speed``: the fastest plausible movement, in frame heights per second;
    ``track_min_gate``: how far a person may seem to move between back-to-back frames
    (mask jitter), in frame heights;
    ``person_size_learning``: estimate the people in a merged blob from the learned size
    of one person (off: every blob is one person);
    ``track_max_merge_s``: how long a person merged into a neighbour's blob (or hidden
    behind them) keeps being counted at their place (0 turns this off);
    ``merge_min_seen_s``: how long a track must have been seen on its own before it may
    be carried through a merge (so a flicker of the mask is never carried);
    ``merge_visible_share``: the least share of one person's area each merged person is
    assumed to show, which bounds how many people a blob can hold by its area;
    ``merge_hidden_per_blob``: people a blob may hide entirely on top of that (someone
    walking right behind someone else shows nothing at all);
    ``occupancy_event_interval_s``: at most one ``zone.occupancy`` event per zone this
    often, except when the occupied state flips (always at once);
    ``coverage_event_step``: the change of a zone's coverage (0..1) that makes an
    occupancy event due.
    """

    analysis_max_side: int = 160
    min_blob_area_frac: float = 0.0004
    track_max_gap_s: float = 1.5
    track_max_speed: float = 1.5
    track_min_gate: float = 0.06
    person_size_learning: bool = True
    track_max_merge_s: float = 3.0
    merge_min_seen_s: float = 0.3
    merge_visible_share: float = 0.55
    merge_hidden_per_blob: int = 1
    occupancy_event_interval_s: float = 1.0
    coverage_event_step: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.merge_visible_share <= 1:
            raise ValueError(
                f"merge_visible_share must be in (0, 1], got {self.merge_visible_share}"
            )
        if self.merge_min_seen_s < 0:
            raise ValueError(f"merge_min_seen_s must be >= 0, got {self.merge_min_seen_s}")
        if self.merge_hidden_per_blob < 0:
            raise ValueError(
                f"merge_hidden_per_blob must be >= 0, got {self.merge_hidden_per_blob}"
            )
