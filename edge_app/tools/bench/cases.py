"""The measurements behind ``edge-app bench`` (see ``edge_app.tools.bench.run`` for the command).

Every comparison runs its contenders side by side in one process on the same inputs;
times are the best of ``repeats`` passes over all inputs (the least disturbed by other
work on the machine), per frame.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_app.analytics import AnalyzerParams, ZoneAnalyzer, ZoneRule
from edge_app.analytics.blobs import find_blobs
from edge_app.analytics.zonepolygons import ZonePolygons
from edge_app.config import SyntheticSourceConfig
from edge_app.core.domain import ImageU8, MaskMapping, PersonMask

MASK_SIDE = 512
"""The model's output resolution (PeopleSemSegFormer: 512x512)."""


def best_per_item(fn: Callable[[Any], object], items: Sequence[Any], repeats: int) -> float:
    """Seconds per item: the best of ``repeats`` timed passes over ``items``."""
    fn(items[0])  # warm caches and lazy set-up out of the timing
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best


@contextlib.contextmanager
def pinned_to_one_core() -> Iterator[int | None]:
    """Run this thread on one CPU (Linux) inside the block, and on the CPUs it had before
    after it; yields the CPU, or None where not supported."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


# --- inputs -------------------------------------------------------------------------------


def scene_masks(frames: int, seed: int = 7) -> tuple[list[PersonMask], list[float]]:
    """512x512 person masks of the synthetic shop (people = pixels that differ from the
    empty shop), with their times: the kind of mask a model gives, without a model."""
    from edge_app.sources.synthetic.backdrop import render_backdrop
    from edge_app.sources.synthetic.scene import SyntheticSource

    cfg = SyntheticSourceConfig(seed=seed, duration_s=frames / 10.0, people=12)
    source = SyntheticSource("bench", cfg)
    backdrop = render_backdrop(source.layout, source.size, cfg.seed)
    mapping = MaskMapping.stretch(source.size, (MASK_SIDE, MASK_SIDE))
    masks, times = [], []
    for frame in source.frames():
        diff = cv2.absdiff(frame.image, backdrop).max(axis=2)
        small = cv2.resize(diff, (MASK_SIDE, MASK_SIDE), interpolation=cv2.INTER_AREA)
        masks.append(PersonMask((small > 20).astype(np.uint8), mapping))
        times.append(frame.t)
    return masks, times


def _resized(mask: ImageU8, side: int) -> ImageU8:
    return np.asarray(cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA), np.uint8)


def grid_zones(frame_size: tuple[int, int], rows: int = 4, cols: int = 4) -> list[ZoneRule]:
    """``rows x cols`` rectangular zones over the lower three quarters of the frame."""
    w, h = frame_size
    top = h / 4
    rules = []
    for r in range(rows):
        for c in range(cols):
            x0, x1 = w * c / cols, w * (c + 1) / cols
            y0, y1 = top + (h - top) * r / rows, top + (h - top) * (r + 1) / rows
            poly = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
            rules.append(ZoneRule(f"z{r}{c}", poly, enter_after_s=1.0, exit_after_s=2.0))
    return rules


# --- the three ways to get zone counts from a mask ---------------------------------------


def _mask_polygons(rules: Sequence[ZoneRule], mapping: MaskMapping) -> list[np.ndarray]:
    return [mapping.frame_to_mask(r.polygon) for r in rules]


def baseline_components(
    rules: Sequence[ZoneRule], mapping: MaskMapping
) -> Callable[[ImageU8], Any]:
    """The straightforward way: connected components, then a point-in-polygon test of
    every blob's foot point against every zone, and the person pixels in each zone."""
    contours = [p.astype(np.float32).reshape(-1, 1, 2) for p in _mask_polygons(rules, mapping)]
    zone_masks = []
    for c in contours:
        m = np.zeros((mapping.mask_size[1], mapping.mask_size[0]), np.uint8)
        cv2.fillPoly(m, [np.round(c).astype(np.int32)], 1)
        zone_masks.append(m)

    def run(mask: ImageU8) -> list[tuple[int, int]]:
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        counts = []
        for c, zm in zip(contours, zone_masks, strict=True):
            inside = 0
            for k in range(1, n):
                x, y, w, h = stats[k, :4]
                if cv2.pointPolygonTest(c, (float(x + w / 2), float(y + h)), False) >= 0:
                    inside += 1
            counts.append((inside, cv2.countNonZero(cv2.bitwise_and(mask, zm))))
        return counts

    return run


def baseline_shapely(rules: Sequence[ZoneRule], mapping: MaskMapping) -> Callable[[ImageU8], Any]:
    """The geometric way: blob contours as shapely polygons, intersected with each zone
    (covered area), and each blob's foot point tested for containment."""
    from shapely import Point, Polygon, make_valid

    zones = [Polygon(p) for p in _mask_polygons(rules, mapping)]

    def run(mask: ImageU8) -> list[tuple[int, float]]:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        blobs = []
        for c in contours:
            if len(c) < 3:
                continue
            poly = make_valid(Polygon(c.reshape(-1, 2)))
            x0, _, x1, y1 = poly.bounds
            blobs.append((poly, Point((x0 + x1) / 2, y1)))
        return [
            (
                sum(1 for _, foot in blobs if zone.intersects(foot)),
                sum(zone.intersection(poly).area for poly, _ in blobs),
            )
            for zone in zones
        ]

    return run


def ours(
    rules: Sequence[ZoneRule], analysis_side: int
) -> Callable[[tuple[PersonMask, float]], Any]:
    """The product's analytics: blobs, people per blob, tracker, 16 zones, events."""
    analyzer = ZoneAnalyzer("bench", rules, AnalyzerParams(analysis_max_side=analysis_side))

    def run(item: tuple[PersonMask, float]) -> object:
        return analyzer.update(item[0], item[1])

    return run


def _ours_per_frame(
    rules: Sequence[ZoneRule], side: int, items: list[tuple[PersonMask, float]], repeats: int
) -> float:
    """Like ``best_per_item``, with a fresh analyzer per pass (its clock must not run
    backwards) whose one-off set-up on the first frame (rasterising the zones) is not
    timed."""
    best = float("inf")
    for _ in range(repeats + 1):
        run = ours(rules, side)
        run(items[0])
        gc.collect()
        start = time.perf_counter()
        for item in items[1:]:
            run(item)
        best = min(best, (time.perf_counter() - start) / (len(items) - 1))
    return best


@dataclass(frozen=True, slots=True)
class AnalyticsCost:
    side: int
    ours_ms: float
    components_ms: float
    shapely_ms: float

    @property
    def vs_shapely(self) -> float:
        return self.shapely_ms / self.ours_ms


def analytics_cost(
    masks: list[PersonMask], times: list[float], sides: Sequence[int], repeats: int
) -> list[AnalyticsCost]:
    """Per-frame cost of ours and the two baselines, each at the same mask resolution."""
    frame_size = masks[0].mapping.frame_size
    rules = grid_zones(frame_size)
    # Each pass restarts the analyzer: the clock of its tracker must not run backwards.
    items = list(zip(masks, times, strict=True))
    out = []
    for side in sides:
        if side >= MASK_SIDE:
            grid_masks = [m.mask for m in masks]
            mapping = masks[0].mapping
        else:
            mapping = masks[0].mapping.resized((side, side))
            grid_masks = [_resized(m.mask, side) for m in masks]

        ours_s = _ours_per_frame(rules, side, items, repeats)
        comp_s = best_per_item(baseline_components(rules, mapping), grid_masks, repeats)
        shap_s = best_per_item(baseline_shapely(rules, mapping), grid_masks, repeats)
        out.append(AnalyticsCost(side, ours_s * 1e3, comp_s * 1e3, shap_s * 1e3))
    return out


# --- against a peer library ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerResult:
    """Zone counts by supervision and by ours, and what each costs per frame (ms).

    ``lookup``: the zone lookup alone, on the same anchor pixels (about 2 % of our per-frame
    analytics). ``counting``: the whole counting job from the same grid masks: blobs, their
    anchors, the 16 zones. ``analytics_ms``: all of our analytics from the model's mask
    (reduction, blobs, people per blob, tracker, 16 zones, dwell, events), which does more.
    """

    zone_frames: int
    equal_zone_frames: int
    ours_ms: float
    peer_ms: float
    counting_equal_zone_frames: int
    ours_counting_ms: float
    peer_counting_ms: float
    analytics_ms: float

    @property
    def speedup(self) -> float:
        return self.peer_ms / self.ours_ms

    @property
    def counting_speedup(self) -> float:
        return self.peer_counting_ms / self.ours_counting_ms

    @property
    def analytics_speedup(self) -> float:
        return self.peer_counting_ms / self.analytics_ms


def peer_supervision(
    masks: list[PersonMask], times: list[float], side: int, repeats: int
) -> PeerResult:
    """Zone counts of the same blobs by supervision's ``PolygonZone`` and by ours.

    Both test the same anchor pixel of each blob (its bottom centre) against the same
    pixel sets: the zones are whole-pixel rectangles, given to ``PolygonZone`` with their
    last row and column as corners, since OpenCV's fill includes the right and bottom edge.
    The whole counting job starts from the same grid masks: supervision's way is OpenCV's
    connected components as ``Detections`` boxes (last row and column inclusive, so the
    bottom-centre anchor is the blob's own bottom row), then ``PolygonZone.trigger``.
    """
    import supervision as sv

    grids = [_resized(m.mask, side) for m in masks]
    mapping = masks[0].mapping.resized((side, side))
    rects = []
    rules = grid_zones(masks[0].mapping.frame_size)
    for rule in rules:
        p = mapping.frame_to_mask(rule.polygon)
        rects.append(
            (round(p[:, 0].min()), round(p[:, 1].min()), round(p[:, 0].max()), round(p[:, 1].max()))
        )
    polygons = ZonePolygons(
        [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float) for x0, y0, x1, y1 in rects]
    )
    zones = [
        sv.PolygonZone(np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]]))
        for x0, y0, x1, y1 in rects
    ]
    min_area = 0.0004 * side * side

    def anchors_of(grid: ImageU8) -> list[tuple[int, int]]:
        # The anchor pixel ours looks up; a zero-height box puts supervision's there too.
        return [
            (math.floor(x), math.floor(y - 0.5))
            for x, y in (b.foot for b in find_blobs(grid, min_area))
        ]

    anchors = [anchors_of(g) for g in grids]

    def ours_counts(a: list[tuple[int, int]]) -> list[int]:
        return polygons.lookup([(x + 0.5, y + 0.5) for x, y in a])[0]

    def peer_counts(a: list[tuple[int, int]]) -> list[int]:
        xy = np.array(a, dtype=np.float32).reshape(-1, 2)
        det = sv.Detections(xyxy=np.column_stack((xy, xy)))
        return [int(z.trigger(det).sum()) if len(det) else 0 for z in zones]

    def ours_counting(grid: ImageU8) -> list[int]:
        return ours_counts(anchors_of(grid))

    def peer_counting(grid: ImageU8) -> list[int]:
        _, _, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=8)
        boxes = np.asarray(stats)[1:]
        boxes = boxes[boxes[:, cv2.CC_STAT_AREA] >= min_area]
        x, y, w, h = (boxes[:, k].astype(np.float32) for k in range(4))
        det = sv.Detections(xyxy=np.column_stack((x, y, x + w - 1, y + h - 1)))
        return [int(z.trigger(det).sum()) if len(det) else 0 for z in zones]

    equal = sum(
        int(x == y) for a in anchors for x, y in zip(ours_counts(a), peer_counts(a), strict=True)
    )
    counting_equal = sum(
        int(x == y) for g in grids for x, y in zip(ours_counting(g), peer_counting(g), strict=True)
    )
    ours_s = best_per_item(ours_counts, anchors, repeats)
    peer_s = best_per_item(peer_counts, anchors, repeats)
    ours_counting_s = best_per_item(ours_counting, grids, repeats)
    peer_counting_s = best_per_item(peer_counting, grids, repeats)
    analytics_s = _ours_per_frame(rules, side, list(zip(masks, times, strict=True)), repeats)
    return PeerResult(
        len(anchors) * len(zones),
        equal,
        ours_s * 1e3,
        peer_s * 1e3,
        counting_equal,
        ours_counting_s * 1e3,
        peer_counting_s * 1e3,
        analytics_s * 1e3,
    )


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
