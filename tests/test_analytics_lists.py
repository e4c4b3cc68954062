"""The analyzer's per-frame path on plain lists equals the array API it stands for.

``ZoneAnalyzer.update`` calls ``blob_rows``, ``PersonSize.analyse_rows`` and
``Tracker.update_points``; these must give exactly what ``find_blobs``,
``PersonSize.analyse`` and ``Tracker.update`` give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields
from functools import cache

import numpy as np
import pytest

from edge_app.analytics import AnalyzerParams, ZoneAnalyzer, personsize
from edge_app.analytics.blobs import Blobs, blob_rows, find_blobs
from edge_app.analytics.debounce import Debounce
from edge_app.analytics.personsize import PersonSize
from edge_app.analytics.tracker import Tracker
from edge_app.analytics.zonemap import ZoneMap
from edge_app.analytics.zonestate import ZoneRule, ZoneStates, _Visit
from edge_app.core.domain import PersonMask, ZoneState
from edge_app.core.events import ZoneEnter, ZoneEvent
from edge_app.tools.bench.cases import grid_zones, scene_masks


@cache
def scene(seed: int = 3, frames: int = 120) -> tuple[list[PersonMask], list[float]]:
    return scene_masks(frames, seed=seed)


def grids(side: int, seed: int = 3, frames: int = 120) -> list[np.ndarray]:
    import cv2

    masks, _ = scene(seed, frames)
    return [cv2.resize(m.mask, (side, side), interpolation=cv2.INTER_LINEAR) for m in masks]


def test_blob_rows_equal_find_blobs() -> None:
    rng = np.random.default_rng(1)
    masks = grids(160) + [(rng.random((40, 60)) < 0.4).astype(np.uint8) for _ in range(20)]
    for mask in masks:
        blobs = find_blobs(mask, 10.0)
        rows, outlines = blob_rows(mask, 10.0)
        assert rows == blobs.rows()
        assert len(outlines) == len(blobs.outlines)
        for a, b in zip(outlines, blobs.outlines, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_person_size_analyse_rows_equals_analyse() -> None:
    by_arrays, by_lists = PersonSize(), PersonSize()
    for mask in grids(160):
        blobs = find_blobs(mask, 10.0)
        joined, people, ratios = by_arrays.analyse(blobs, 160, 160)
        rows, outlines, xs, ys, owner, ratios2 = by_lists.analyse_rows(
            blobs.rows(), blobs.outlines, 160, 160
        )
        assert rows == joined.rows()
        assert all(np.array_equal(a, b) for a, b in zip(outlines, joined.outlines, strict=True))
        assert len(outlines) == len(joined.outlines)
        assert (xs, ys, owner, ratios2) == (
            people.foot_x.tolist(),
            people.foot_y.tolist(),
            people.blob.tolist(),
            ratios,
        )
        assert by_lists.state() == by_arrays.state()
    assert by_lists.ready  # the joined and split paths were taken


@pytest.mark.parametrize("small_match", [400, 0])
def test_tracker_update_points_equals_update(
    small_match: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edge_app.analytics import tracker as tracker_module

    monkeypatch.setattr(tracker_module, "SMALL_MATCH", small_match)
    rng = np.random.default_rng(8)
    by_arrays = Tracker(max_speed_px_s=40, min_gate_px=2, max_gap_s=0.5, max_merge_s=1.0)
    by_lists = Tracker(max_speed_px_s=40, min_gate_px=2, max_gap_s=0.5, max_merge_s=1.0)
    for i in range(300):
        n = int(rng.integers(0, 12))
        xs = rng.integers(0, 40, n).astype(float)
        ys = rng.integers(0, 30, n) + 0.5
        t = i / 8
        update = by_arrays.update(xs, ys, t)
        ids, ended = by_lists.update_points(xs.tolist(), ys.tolist(), t)
        assert ids == update.assigned.tolist()
        assert [e.id for e in ended] == [e.id for e in update.ended]
        assert by_lists.carriable(t, ids, 0.2) == by_arrays.carriable(t, update.assigned, 0.2)
    assert list(by_lists.tracks.values()) == list(by_arrays.tracks.values())


class ArrayAnalyzer(ZoneAnalyzer):
    """The analyzer's frame written with the array API (``Blobs``, ``People``,
    ``TrackUpdate``), as the reference for its list path."""

    def update(self, person: PersonMask, t: float) -> object:
        if person.mapping != self._source_mapping:
            self._configure(person.mapping)
        zonemap, tracker, grid_mapping = self._zonemap, self._tracker, self._grid_mapping
        assert zonemap is not None and tracker is not None and grid_mapping is not None
        grid = self._to_grid(person.mask, zonemap.size)
        blobs: Blobs = find_blobs(grid, self._min_area_px)
        ratios: list[float] = []
        if self.params.person_size_learning:
            blobs, people, ratios = self.size_model.analyse(blobs, grid.shape[0], grid.shape[1])
            fx, fy, owner = people.foot_x, people.foot_y, people.blob.tolist()
        else:
            fx, fy, owner = blobs.foot_x, blobs.foot_y, list(range(len(blobs)))
        update = tracker.update(fx, fy, t)
        foot_x, foot_y = fx.tolist(), fy.tolist()
        ids: list[int] = update.assigned.tolist()
        carried = self._carry_merged(tracker, blobs.rows(), owner, ratios, list(ids), t)
        if carried is not None:
            foot_x += carried[0]
            foot_y += carried[1]
            ids += carried[2]
        counts, zones_of = zonemap.lookup(np.array(foot_x), np.array(foot_y) - 0.5)
        coverage = zonemap.coverage(grid)
        events = []
        for tr in update.ended:
            events.extend(self._zones.end_track(tr.id, "lost"))
        events.extend(self._zones.update_visits(ids, zones_of, t))
        states = self._zones.update_zones(counts, coverage.tolist(), t, events)
        feet = [
            ((x - grid_mapping.offset_x) / grid_mapping.scale_x,
             (y - grid_mapping.offset_y) / grid_mapping.scale_y)
            for x, y in zip(foot_x, foot_y, strict=True)
        ]  # fmt: skip
        return states, tuple(events), feet, ids, len(blobs)


@pytest.mark.parametrize("side", [160, 96])
@pytest.mark.parametrize("learning", [True, False])
def test_analyzer_equals_the_array_reference(side: int, learning: bool) -> None:
    masks, times = scene()
    rules = grid_zones(masks[0].mapping.frame_size)
    params = AnalyzerParams(analysis_max_side=side, person_size_learning=learning)
    ours, ref = ZoneAnalyzer("c", rules, params), ArrayAnalyzer("c", rules, params)
    for mask, t in zip(masks, times, strict=True):
        r = ours.update(mask, t)
        states, events, feet, ids, blob_count = ref.update(mask, t)  # type: ignore[misc]
        assert r.states == states and r.events == events
        assert r.feet.tolist() == [list(f) for f in feet] and r.track_ids.tolist() == ids
        assert r.blob_count == blob_count
    assert ours.finish() == ref.finish()


class PlainZoneStates(ZoneStates):
    """``update_visits`` and ``update_zones`` written the straightforward way: every zone
    of a track sorted, every state by the ``ZoneState`` constructor."""

    def update_visits(
        self, track_ids: Sequence[int], zones_of: Sequence[Sequence[int]], t: float
    ) -> list[ZoneEvent]:
        events: list[ZoneEvent] = []
        for tid, zones_now in zip(track_ids, zones_of, strict=True):
            open_zones = self._track_zones.get(tid, set())
            for k in sorted(set(zones_now) | open_zones):
                zone = self._zones[k]
                visit = zone.visits.get(tid)
                if visit is None:
                    rule = zone.rule
                    visit = _Visit(Debounce(rule.enter_after_s, rule.exit_after_s))
                    zone.visits[tid] = visit
                    self._track_zones.setdefault(tid, set()).add(k)
                change = visit.presence.update(k in zones_now, t)
                if change is True:
                    events.append(ZoneEvent(self.camera_id, zone.rule.id, t, ZoneEnter(tid)))
                elif change is False or (not visit.presence.on and not visit.presence.pending):
                    if change is False:
                        events.append(self._exit_event(k, tid, visit, "left"))
                    self._drop_visit(k, tid)
        return events

    def update_zones(
        self, counts: Sequence[int], coverage: Sequence[float], t: float, events: list[ZoneEvent]
    ) -> tuple[ZoneState, ...]:
        states = super().update_zones(counts, coverage, t, events)
        return tuple(ZoneState(*(getattr(s, f.name) for f in fields(ZoneState))) for s in states)


def test_zone_states_equal_the_straightforward_update() -> None:
    # Overlapping zones in two layers, so a point can be in several zones, listed in layer
    # order (not sorted); tracks come and go and stand in up to three zones at once.
    rules = [
        ZoneRule(f"z{k}", np.array([[0, 0], [1, 0], [1, 1]], float), 0.3 * (k % 3), 0.5, 2, 1.0)
        for k in range(6)
    ]
    rng = np.random.default_rng(4)
    ours = ZoneStates("c", rules, 1.0, 0.05)
    plain = PlainZoneStates("c", rules, 1.0, 0.05)
    for i in range(400):
        t = i / 10
        ids = sorted({int(v) for v in rng.integers(1, 12, int(rng.integers(0, 8)))})
        zones_of = [
            tuple(int(k) for k in rng.permutation(6)[: int(rng.choice([0, 1, 1, 1, 2, 3]))])
            for _ in ids
        ]
        counts = [sum(k in z for z in zones_of) for k in range(6)]
        coverage = rng.random(6).round(2).tolist()
        events = ours.update_visits(ids, zones_of, t)
        assert events == plain.update_visits(ids, zones_of, t)
        events_plain = list(events)
        assert ours.update_zones(counts, coverage, t, events) == plain.update_zones(
            counts, coverage, t, events_plain
        )
        assert events == events_plain
    assert ours.close_all("ended") == plain.close_all("ended")


def test_tracker_greedy_matching_equals_going_through_every_pair() -> None:
    # update_points stops once every track or detection is matched; going through every
    # pair (nearest first) gives the same matches.
    rng = np.random.default_rng(11)
    tracker = Tracker(max_speed_px_s=60, min_gate_px=3, max_gap_s=0.5)
    for i in range(400):
        n = int(rng.integers(0, 10))
        px = (rng.integers(0, 50, n) + rng.random(n).round(1)).tolist()
        py = (rng.integers(0, 30, n) + 0.5).tolist()
        t = i / 10
        tracks = list(tracker.tracks.values())
        expected = [0] * n
        if tracks and n:
            used: set[int] = set()
            for a, b in tracker._pairs_small(tracks, px, py, t):
                if a not in used and not expected[b]:
                    used.add(a)
                    expected[b] = tracks[a].id
        ids, _ = tracker.update_points(px, py, t)
        assert [tid if e else 0 for tid, e in zip(ids, expected, strict=True)] == expected


def test_zone_lookup_clips_points_into_the_grid() -> None:
    zm = ZoneMap.build([np.array([[0, 0], [5, 0], [5, 4], [0, 4]], float)], (7, 5))
    xs = [-3.5, -0.5, 0.0, 4.9, 5.0, 6.99, 7.0, 40.2, 3.0, 3.0, 3.0, 3.0]
    ys = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, -7.1, -0.2, 4.99, 9.0]
    counts, zones_of = zm.lookup_points(xs, ys)
    cells = zm.layers[0]
    expected = [
        () if cells[min(max(math.floor(y), 0), 4), min(max(int(x), 0), 6)] == 0 else (0,)
        for x, y in zip(xs, ys, strict=True)
    ]
    assert zones_of == expected
    assert counts == [sum(len(z) for z in expected)]
    assert [z for z in zones_of if z] and [z for z in zones_of if not z]


class PlainPersonSize(PersonSize):
    """Learning and the outline test written with the model's own methods
    (``_area_at``, ``_height.at``, ``max``), as the reference for their inlined forms."""

    def _learn(self, rows: list[list[float]], frame_h: int, frame_w: int | None) -> None:
        lo, hi = self.single_aspect
        r_lo, r_hi = self.single_ratio
        ready = self.ready
        added = 0
        for x, y, w, h, area in rows:
            bottom = y + h
            if y <= 0 or bottom >= frame_h or not lo * max(w, 1.0) <= h <= hi * max(w, 1.0):
                continue
            if frame_w is not None and (x <= 0 or x + w >= frame_w):
                continue
            if ready and not r_lo <= area / self._area_at(bottom) <= r_hi:
                continue
            self._side.add(bottom, math.sqrt(area), self.decay)
            self._height.add(bottom, h, self.decay)
            added += 1
        if added:
            self.samples += added
            self._side.solve()
            self._height.solve()

    def _split_lists(
        self,
        rows: list[list[float]],
        ratios: list[float] | None,
        outlines: Sequence[np.ndarray] = (),
    ) -> tuple[list[float], list[float], list[int]]:
        xs: list[float] = []
        ys: list[float] = []
        owner: list[int] = []
        counts = self._counts(rows, ratios)
        for b, (row, n) in enumerate(zip(rows, counts, strict=True)):
            x, y, w, h = row[0], row[1], row[2], row[3]
            if outlines and (
                n > 1 or (self.ready and h > self.join_height * self._height.at(y + h))
            ):
                # Several people, or something hanging below one (a bag, a pigeon at the
                # feet): each person's foot from the outline, not the box.
                if n == 1:
                    self.tall += 1
                    xs.append(x + 0.5 * w)
                    ys.append(personsize._foot_row(outlines[b], int(x), int(w)))
                else:
                    feet = personsize._feet_from_outline(outlines[b], int(x), int(w), n)
                    xs.extend(f[0] for f in feet)
                    ys.extend(f[1] for f in feet)
            elif n == 1:
                xs.append(x + 0.5 * w)
                ys.append(y + h)
            else:
                # The k-th person of an n-person blob stands at (k + 0.5) / n of its width.
                xs.extend(x + w * (k + 0.5) / n for k in range(n))
                ys.extend([y + h] * n)
            owner.extend([b] * n)
        return xs, ys, owner

    tall = 0


@pytest.mark.parametrize("side", [160, 512, 96])
def test_person_size_inlined_model_equals_its_methods(side: int) -> None:
    ours, plain = PersonSize(min_samples=10), PlainPersonSize(min_samples=10)
    for mask in grids(side, seed=7, frames=300):  # the bench's scene
        rows, outlines = blob_rows(mask, 0.0004 * side * side)
        a = ours.analyse_rows(rows, outlines, side, side)
        b = plain.analyse_rows(rows, outlines, side, side)
        assert a[0] == b[0] and a[2:] == b[2:]
        assert ours.state() == plain.state()
    assert ours.ready and plain.tall > 0  # one person's foot from the outline, somewhere
