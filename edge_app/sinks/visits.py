"""Visits in the store: one row per person per stay in a zone, kept in step with the
``zone.enter``/``zone.exit`` events, and closed (each with its ``zone.exit``, stored in the
same transaction so it is emitted once and published like any event) when the analytics
could not close them: at a stop the pipeline could not finish, or after a crash.

Every function works inside the caller's transaction (``conn``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, func, insert, select, update

import edge_app.sinks.schema as schema
from edge_app.core.events import Event, EventStamper, ExitReason, ZoneEnter, ZoneEvent, ZoneExit
from edge_app.sinks.rows import insert_events, next_seq


def record_visit(conn: Connection, ev: Event) -> None:
    """Open a visit on ``zone.enter``, close it on ``zone.exit`` (same transaction)."""
    if ev.zone is None:
        return
    v = schema.visits
    wall = ev.wall.timestamp()
    if isinstance(ev.payload, ZoneEnter):
        conn.execute(
            insert(v).values(
                camera=ev.camera,
                zone=ev.zone,
                track_id=ev.payload.track_id,
                entered_wall=wall,
                entered_t=ev.t,
            )
        )
    elif isinstance(ev.payload, ZoneExit):
        closed = conn.execute(
            update(v)
            .where(
                v.c.camera == ev.camera,
                v.c.zone == ev.zone,
                v.c.track_id == ev.payload.track_id,
                v.c.exited_wall.is_(None),
            )
            .values(exited_wall=wall, exited_t=ev.t, dwell_s=ev.payload.dwell_s, closed_by="exit")
        )
        if closed.rowcount == 0:
            # The enter was never stored (it predates retention or this store).
            conn.execute(
                insert(v).values(
                    camera=ev.camera,
                    zone=ev.zone,
                    track_id=ev.payload.track_id,
                    entered_wall=wall - ev.payload.dwell_s,
                    entered_t=ev.payload.entered_t,
                    exited_wall=wall,
                    exited_t=ev.t,
                    dwell_s=ev.payload.dwell_s,
                    closed_by="exit",
                )
            )


def close_at_stop(
    conn: Connection, device: str, last_t: Mapping[str, float], after_seq: int = 0
) -> list[Event]:
    """Close the visits still open at a clean stop (the analytics could not: a pipeline
    that did not finish) at each camera's last source time ``last_t`` (zero dwell for a
    camera missing there), each with its ``zone.exit`` (reason ``ended``). Their seqs
    follow the stored ones and ``after_seq`` (handed out to events that may not be
    stored). Returns those events."""
    closing = []
    for row in _open_visits(conn):
        end_t = last_t.get(row.camera, row.entered_t)
        closing.append((row, max(0.0, end_t - row.entered_t)))
    return _close_with_exits(conn, device, closing, "shutdown", "ended", after_seq)


def close_after_crash(conn: Connection, device: str) -> list[Event]:
    """At start: close the visits a crash left open, at the camera's last known activity
    (its latest event or occupancy sample), ``closed_by = 'restart'``, each with its
    ``zone.exit`` (reason ``restart``) stamped with ``device``'s next seqs. Returns them."""
    e, s = schema.events, schema.occupancy_samples
    last_seen: dict[str, float | None] = {}
    closing = []
    for row in _open_visits(conn):
        camera = row.camera
        if camera not in last_seen:
            ev_max = conn.execute(select(func.max(e.c.wall)).where(e.c.camera == camera)).scalar()
            sample_max = conn.execute(
                select(func.max(s.c.wall_end)).where(s.c.camera == camera)
            ).scalar()
            known = [float(x) for x in (ev_max, sample_max) if x is not None]
            last_seen[camera] = max(known, default=None)
        last = last_seen[camera]
        end = last if last is not None else row.entered_wall
        closing.append((row, max(0.0, end - row.entered_wall)))
    return _close_with_exits(conn, device, closing, "restart", "restart")


@dataclass(frozen=True, slots=True)
class _OpenVisit:
    id: int
    camera: str
    zone: str
    track_id: int
    entered_wall: float
    entered_t: float


def _open_visits(conn: Connection) -> list[_OpenVisit]:
    v = schema.visits
    query = select(v.c.id, v.c.camera, v.c.zone, v.c.track_id, v.c.entered_wall, v.c.entered_t)
    rows = conn.execute(query.where(v.c.exited_wall.is_(None))).all()
    return [
        _OpenVisit(int(i), str(c), str(z), int(tr), float(w), float(t))
        for i, c, z, tr, w, t in rows
    ]


def _close_with_exits(
    conn: Connection,
    device: str,
    closing: Sequence[tuple[_OpenVisit, float]],
    closed_by: str,
    reason: ExitReason,
    after_seq: int = 0,
) -> list[Event]:
    """Close each open visit ``(row, dwell)`` and store its ``zone.exit`` (same
    transaction); the events are stamped with ``device``'s next seqs (past ``after_seq``)."""
    if not closing:
        return []
    stamper = EventStamper(device, max(next_seq(conn, device), after_seq + 1))
    exits = []
    for row, dwell in closing:
        conn.execute(
            update(schema.visits)
            .where(schema.visits.c.id == row.id)
            .values(
                exited_wall=row.entered_wall + dwell,
                exited_t=row.entered_t + dwell,
                dwell_s=dwell,
                closed_by=closed_by,
            )
        )
        payload = ZoneExit(row.track_id, dwell, row.entered_t, reason)
        exit_t = row.entered_t + dwell
        wall = datetime.fromtimestamp(row.entered_wall + dwell, timezone.utc)
        exits.append(stamper.stamp(ZoneEvent(row.camera, row.zone, exit_t, payload), wall))
    insert_events(conn, exits)
    return exits
