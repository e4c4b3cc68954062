"""The rows of the ``events`` table: an event's JSON, stored once and published verbatim,
and the inserts that also raise the device's sequence high-water mark."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

import edge_app.sinks.schema as schema
from edge_app.core.events import Event


def event_json(ev: Event) -> str:
    """The compact JSON text of an event, stored once and published verbatim."""
    return json.dumps(ev.to_dict(), separators=(",", ":"), ensure_ascii=False)


# The high-water mark only ever rises, whatever order batches commit in.
_RAISE_SEQ = (
    "INSERT INTO device_seqs (device, last_seq) VALUES (?, ?) "
    "ON CONFLICT (device) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)"
)
_INSERT_EVENT = (
    "INSERT INTO events (id, device, seq, type, camera, zone, wall, payload, published_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)"
)


def _event_row(ev: Event) -> tuple[str, str, int, str, str, str | None, float, str]:
    return (
        ev.id,
        ev.device,
        ev.seq,
        ev.type,
        ev.camera,
        ev.zone,
        ev.wall.timestamp(),
        event_json(ev),
    )


def _highest_seqs(events: Sequence[Event]) -> dict[str, int]:
    highest: dict[str, int] = {}
    for ev in events:
        highest[ev.device] = max(ev.seq, highest.get(ev.device, 0))
    return highest


def insert_events(conn: Connection, events: Sequence[Event]) -> None:
    """Insert ``events`` (in the outbox) and raise their devices' high-water marks."""
    # Plain DB-API parameters: this is the hot path of the store.
    conn.exec_driver_sql(_INSERT_EVENT, [_event_row(ev) for ev in events])
    conn.exec_driver_sql(_RAISE_SEQ, list(_highest_seqs(events).items()))


def next_seq(conn: Connection, device: str) -> int:
    """The next sequence number of ``device``: past every seq ever stored (the high-water
    mark survives retention)."""
    e, d = schema.events, schema.device_seqs
    stored = conn.execute(select(func.max(e.c.seq)).where(e.c.device == device)).scalar()
    mark = conn.execute(select(d.c.last_seq).where(d.c.device == device)).scalar()
    return max(int(stored or 0), int(mark or 0)) + 1
