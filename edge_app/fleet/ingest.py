"""Writing a batch of received messages into the central PostgreSQL, in one transaction.

Exactly once, whatever arrives twice or out of order, and whichever collector gets it:

1. events are inserted by id, ``ON CONFLICT DO NOTHING`` (a resent or redelivered event
   is a duplicate and ignored; a different event with a seq already stored is counted as
   a seq conflict and logged: a device must never reuse a seq);
2. each device's row in ``fleet_devices`` is locked (``FOR UPDATE``, in device order, so
   collectors never deadlock) and its high-water mark ``contiguous_seq`` advanced over
   the seqs now stored without a hole;
3. the events it advanced over are folded, in seq order, into visits and occupancy
   samples (``fleet.derive``), so derivation happens once per event even when two
   collectors received a device's events alternately;
4. a seq still missing after ``gap_grace_s`` is declared lost: a ``seq_gap`` alert row,
   the ``missing`` count, and the high-water mark moves past it.

Statements work on whole arrays (``unnest``), so a batch costs a handful of round trips
however many devices it holds. ``IngestDatabase.write`` raises ``sqlalchemy`` errors; the
collector retries the whole batch (it is idempotent) and acknowledges after the commit.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from edge_app.core.events import Event
from edge_app.fleet.derive import Hold, VisitPlan, VisitRow, fold_samples, plan_visits
from edge_app.fleet.messages import IncomingEvent, IncomingState
from edge_app.fleet.statements import (
    CLOSE_VISITS,
    HOLD_COLUMNS,
    INSERT_ALERTS,
    INSERT_EVENTS,
    INSERT_SAMPLES,
    INSERT_VISITS,
    LOAD_HOLDS,
    LOCK_DEVICES,
    SAMPLE_COLUMNS,
    STATE_COLUMNS,
    UPDATE_DEVICES,
    UPSERT_HOLDS,
    UPSERT_STATES,
    VISIT_COLUMNS,
    WAITING,
    arrays,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GapAlert:
    """Seqs ``first_seq``..``last_seq`` of ``device`` never arrived within the grace time."""

    device: str
    first_seq: int
    last_seq: int
    wall: float

    @property
    def missing(self) -> int:
        return self.last_seq - self.first_seq + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": "fleet.seq_gap",
            "device": self.device,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "missing": self.missing,
            "wall": round(self.wall, 3),
        }


@dataclass(slots=True)
class WriteResult:
    """What one committed batch did."""

    inserted: int = 0
    duplicates: int = 0
    seq_conflicts: int = 0
    derived: int = 0
    visits: int = 0
    samples: int = 0
    states: int = 0
    gaps: list[GapAlert] = field(default_factory=list)


@dataclass(slots=True)
class _Device:
    """A locked ``fleet_devices`` row, changed in memory and written back."""

    device: str
    contiguous_seq: int
    max_seq: int
    hole_since: float | None
    events: int
    missing: int
    last_wall: float | None


class IngestDatabase:
    """Writes batches into the central database behind ``engine`` (already migrated).

    ``collector`` names this collector in alerts; ``sample_interval_s`` is the derived
    samples' interval; ``gap_grace_s`` how long a missing seq may be late before it is
    declared lost. ``clock`` gives epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        engine: Engine,
        collector: str,
        sample_interval_s: float,
        gap_grace_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.collector = collector
        self.sample_interval_s = sample_interval_s
        self.gap_grace_s = gap_grace_s
        self.clock = clock

    def write(
        self, events: Sequence[IncomingEvent], states: Sequence[IncomingState] = ()
    ) -> WriteResult:
        """Store a batch and everything derived from it in one transaction."""
        result = WriteResult()
        now = self.clock()
        with self.engine.begin() as conn:
            inserted = self._insert_events(conn, events, now, result)
            if inserted:
                self._advance(conn, inserted, now, result)
            if states:
                result.states = self._upsert_states(conn, states, now)
        return result

    def sweep(self) -> WriteResult:
        """Declare the seqs missing for longer than ``gap_grace_s`` lost, and derive what
        waited behind them. Run periodically; devices another collector holds are skipped."""
        result = WriteResult()
        now = self.clock()
        with self.engine.begin() as conn:
            rows = conn.exec_driver_sql(
                "SELECT device FROM fleet_devices WHERE hole_since IS NOT NULL "
                "AND hole_since <= %s ORDER BY device FOR UPDATE SKIP LOCKED",
                (now - self.gap_grace_s,),
            ).all()
            if rows:
                self._advance(conn, {str(r[0]): [] for r in rows}, now, result)
        return result

    # --- steps ---------------------------------------------------------------------

    def _insert_events(
        self, conn: Connection, events: Sequence[IncomingEvent], now: float, result: WriteResult
    ) -> dict[str, list[Event]]:
        unique: dict[str, IncomingEvent] = {}
        for item in events:
            unique.setdefault(item.event.id, item)
        # One order for every collector: concurrent batches then wait, never deadlock.
        ordered = sorted(unique.values(), key=lambda i: (i.event.device, i.event.seq))
        if not ordered:
            return {}
        cols: list[list[Any]] = [[] for _ in range(9)]
        for item in ordered:
            ev = item.event
            values = (ev.id, ev.device, ev.seq, ev.type, ev.camera, ev.zone,
                      ev.wall.timestamp(), item.text, now)  # fmt: skip
            for col, value in zip(cols, values, strict=True):
                col.append(value)
        got = {str(r[0]) for r in conn.exec_driver_sql(INSERT_EVENTS, tuple(cols))}
        result.inserted = len(got)
        result.duplicates = len(events) - len(got)
        rejected = [i.event.id for i in ordered if i.event.id not in got]
        if rejected:
            known = {
                str(r[0])
                for r in conn.exec_driver_sql(
                    "SELECT id FROM events WHERE id = ANY(%b::varchar[])", (rejected,)
                )
            }
            for item in ordered:
                ev = item.event
                if ev.id not in got and ev.id not in known:
                    result.seq_conflicts += 1
                    result.duplicates -= 1
                    log.error(
                        "device %s sent event %s with seq %d, which an earlier event of it "
                        "already has; it was not stored (was the device's store replaced? "
                        "seqs must never be reused)",
                        ev.device,
                        ev.id,
                        ev.seq,
                    )
        by_device: dict[str, list[Event]] = defaultdict(list)
        for item in ordered:
            if item.event.id in got:
                by_device[item.event.device].append(item.event)
        return by_device

    def _lock_devices(self, conn: Connection, names: Sequence[str]) -> list[_Device]:
        conn.exec_driver_sql(
            "INSERT INTO fleet_devices (device) SELECT unnest(%b::varchar[]) "
            "ON CONFLICT DO NOTHING",
            (list(names),),
        )
        return [
            _Device(str(r[0]), int(r[1]), int(r[2]), r[3], int(r[4]), int(r[5]), r[6])
            for r in conn.exec_driver_sql(LOCK_DEVICES, (list(names),))
        ]

    def _advance(
        self, conn: Connection, new: dict[str, list[Event]], now: float, result: WriteResult
    ) -> None:
        devices = self._lock_devices(conn, sorted(new))
        # A device whose new events continue its high-water mark, with nothing stored
        # above it before, needs no read: its run is exactly the new events.
        waiting: dict[str, list[Event]] = {}
        to_read = [d for d in devices if not _continues(d, new[d.device])]
        read_names = {d.device for d in to_read}
        if to_read:
            rows = conn.exec_driver_sql(
                WAITING,
                ([d.device for d in to_read], [d.contiguous_seq for d in to_read]),
            )
            for device, _seq, payload in rows:
                waiting.setdefault(str(device), []).append(Event.from_dict(_loads(payload)))
        run: list[Event] = []
        for dev in devices:
            fresh = new[dev.device]
            dev.events += len(fresh)
            if fresh:
                dev.max_seq = max(dev.max_seq, fresh[-1].seq)
                walls = [e.wall.timestamp() for e in fresh]
                dev.last_wall = max([*walls, dev.last_wall or 0.0])
            stored = waiting.get(dev.device, []) if dev.device in read_names else fresh
            run += self._walk(dev, stored, now, result)
        result.derived = len(run)
        if run:
            self._derive(conn, run, result)
        if result.gaps:
            conn.exec_driver_sql(
                INSERT_ALERTS,
                (
                    [g.wall for g in result.gaps],
                    ["seq_gap"] * len(result.gaps),
                    [g.device for g in result.gaps],
                    [g.first_seq for g in result.gaps],
                    [g.last_seq for g in result.gaps],
                    [self.collector] * len(result.gaps),
                    [f"{g.missing} events never arrived" for g in result.gaps],
                ),
            )
        conn.exec_driver_sql(
            UPDATE_DEVICES,
            (
                now,
                [d.device for d in devices],
                [d.contiguous_seq for d in devices],
                [d.max_seq for d in devices],
                [d.hole_since for d in devices],
                [d.events for d in devices],
                [d.missing for d in devices],
                [d.last_wall for d in devices],
            ),
        )

    def _walk(
        self, dev: _Device, stored: Sequence[Event], now: float, result: WriteResult
    ) -> list[Event]:
        """Advance ``dev``'s high-water mark over ``stored`` (its events above the mark, in
        seq order); the events passed over, to derive. Declares holes older than the grace
        time lost."""
        run: list[Event] = []
        i = 0
        while i < len(stored):
            ev = stored[i]
            if ev.seq <= dev.contiguous_seq:  # late, below a mark declared lost before
                i += 1
                continue
            if ev.seq == dev.contiguous_seq + 1:
                run.append(ev)
                dev.contiguous_seq = ev.seq
                i += 1
                continue
            if dev.hole_since is None:
                dev.hole_since = now
            if now - dev.hole_since < self.gap_grace_s:
                break
            gap = GapAlert(dev.device, dev.contiguous_seq + 1, ev.seq - 1, now)
            log.error(
                "device %s: events %d..%d never arrived (%d lost; waited %.0f s)",
                gap.device,
                gap.first_seq,
                gap.last_seq,
                gap.missing,
                now - dev.hole_since,
            )
            result.gaps.append(gap)
            dev.missing += gap.missing
            dev.contiguous_seq = gap.last_seq
            dev.hole_since = None
        if i >= len(stored):
            dev.hole_since = None
        elif dev.hole_since is None:
            dev.hole_since = now
        return run

    def _derive(self, conn: Connection, run: Sequence[Event], result: WriteResult) -> None:
        self._write_visits(conn, plan_visits(run), result)
        occupancy = sorted(
            {(e.device, e.camera, e.zone or "") for e in run if e.type == "zone.occupancy"}
        )
        if not occupancy:
            return
        holds: dict[tuple[str, str, str], Hold] = {}
        for row in conn.exec_driver_sql(
            LOAD_HOLDS, tuple(list(col) for col in zip(*occupancy, strict=True))
        ):
            hold = Hold(*row)
            holds[hold.key] = hold
        samples = fold_samples(holds, run, self.sample_interval_s)
        if samples:
            conn.exec_driver_sql(INSERT_SAMPLES, tuple(arrays(samples, SAMPLE_COLUMNS)))
            result.samples = len(samples)
        touched = [holds[k].as_row() for k in occupancy if k in holds]
        conn.exec_driver_sql(UPSERT_HOLDS, tuple(arrays(touched, HOLD_COLUMNS)))

    def _write_visits(self, conn: Connection, plan: VisitPlan, result: WriteResult) -> None:
        rows: list[VisitRow] = []
        if plan.pending:
            p = plan.pending
            closed = {
                (str(r[0]), str(r[1]), str(r[2]), int(r[3]))
                for r in conn.exec_driver_sql(
                    CLOSE_VISITS,
                    (
                        [x.key[0] for x in p],
                        [x.key[1] for x in p],
                        [x.key[2] for x in p],
                        [x.key[3] for x in p],
                        [x.wall for x in p],
                        [x.t for x in p],
                        [x.dwell_s for x in p],
                    ),
                )
            }
            rows += [x.fallback for x in p if x.key not in closed]
        rows += plan.rows  # after the closes: they must not close what opens here
        if rows:
            dicts = [r.as_row() for r in rows]
            conn.exec_driver_sql(INSERT_VISITS, tuple(arrays(dicts, VISIT_COLUMNS)))
        result.visits = len(rows) + len(plan.pending)

    def _upsert_states(self, conn: Connection, states: Iterable[IncomingState], now: float) -> int:
        newest: dict[tuple[str, str, str], IncomingState] = {}
        for state in states:
            kept = newest.get(state.key)
            if kept is None or state.wall >= kept.wall:
                newest[state.key] = state
        rows = [newest[k].as_row(now) for k in sorted(newest)]
        conn.exec_driver_sql(UPSERT_STATES, tuple(arrays(rows, STATE_COLUMNS)))
        return len(rows)


def _continues(dev: _Device, fresh: Sequence[Event]) -> bool:
    """The new events are exactly the seqs after the mark, and nothing waits above it."""
    if dev.max_seq > dev.contiguous_seq or not fresh:
        return False
    return fresh[0].seq == dev.contiguous_seq + 1 and fresh[-1].seq == dev.contiguous_seq + len(
        fresh
    )


def _loads(payload: str) -> dict[str, Any]:
    import json

    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("stored event payload is not a JSON object")
    return data
