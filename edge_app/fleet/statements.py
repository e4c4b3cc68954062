"""The SQL of the central ingest (``fleet.ingest``): whole arrays per statement
(``unnest`` of binary array parameters), so a batch costs a handful of round trips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge_app.fleet.derive import Hold

COLUMNS = "id, device, seq, type, camera, zone, wall, payload, published_at"
INSERT_EVENTS = (
    f"INSERT INTO events ({COLUMNS}) "
    "SELECT * FROM unnest(%b::varchar[], %b::varchar[], %b::bigint[], %b::varchar[], "
    "%b::varchar[], %b::varchar[], %b::float8[], %b::text[], %b::float8[]) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
LOCK_DEVICES = (
    "SELECT device, contiguous_seq, max_seq, hole_since, events, missing, last_wall "
    "FROM fleet_devices WHERE device = ANY(%b::varchar[]) ORDER BY device FOR UPDATE"
)
WAITING = (
    "SELECT e.device, e.seq, e.payload FROM events e "
    "JOIN unnest(%b::varchar[], %b::bigint[]) AS h(device, hwm) "
    "ON e.device = h.device AND e.seq > h.hwm ORDER BY e.device, e.seq"
)
UPDATE_DEVICES = (
    "UPDATE fleet_devices f SET contiguous_seq = u.c, max_seq = u.m, hole_since = u.h, "
    "events = u.e, missing = u.x, last_wall = u.w, updated_at = %s "
    "FROM unnest(%b::varchar[], %b::bigint[], %b::bigint[], %b::float8[], %b::bigint[], "
    "%b::bigint[], %b::float8[]) AS u(d, c, m, h, e, x, w) WHERE f.device = u.d"
)
CLOSE_VISITS = (
    "UPDATE visits v SET exited_wall = x.w, exited_t = x.t, dwell_s = x.dwell, "
    "closed_by = 'exit' "
    "FROM unnest(%b::varchar[], %b::varchar[], %b::varchar[], %b::int[], %b::float8[], "
    "%b::float8[], %b::float8[]) AS x(device, camera, zone, track_id, w, t, dwell) "
    "WHERE v.device = x.device AND v.camera = x.camera AND v.zone = x.zone "
    "AND v.track_id = x.track_id AND v.exited_wall IS NULL "
    "RETURNING x.device, x.camera, x.zone, x.track_id"
)
VISIT_COLUMNS = (
    "device",
    "camera",
    "zone",
    "track_id",
    "entered_wall",
    "entered_t",
    "exited_wall",
    "exited_t",
    "dwell_s",
    "closed_by",
)
VISIT_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "int",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
    "varchar",
)
SAMPLE_COLUMNS = (
    "device",
    "camera",
    "zone",
    "wall_start",
    "wall_end",
    "t_start",
    "duration_s",
    "frames",
    "mean_count",
    "max_count",
    "occupied_s",
    "mean_coverage",
)
SAMPLE_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    *("float8",) * 4,
    "int",
    "float8",
    "int",
    "float8",
    "float8",
)
HOLD_COLUMNS = Hold.__slots__
HOLD_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "float8",
    "float8",
    "int",
    "float8",
    "boolean",
    "bigint",
    "float8",
    "float8",
    "float8",
    "int",
    "int",
    "float8",
    "float8",
    "float8",
    "float8",
)
STATE_COLUMNS = (
    "device",
    "camera",
    "zone",
    "count",
    "coverage",
    "occupied",
    "occupied_s",
    "longest_dwell_s",
    "wall",
    "t",
    "received_at",
)
STATE_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "int",
    "float8",
    "boolean",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
)


def unnest_insert(table: str, columns: Sequence[str], types: Sequence[str]) -> str:
    arrays = ", ".join(f"%b::{t}[]" for t in types)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


def arrays(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    return [[row[c] for row in rows] for c in columns]


INSERT_VISITS = unnest_insert("visits", VISIT_COLUMNS, VISIT_TYPES)
INSERT_SAMPLES = unnest_insert("occupancy_samples", SAMPLE_COLUMNS, SAMPLE_TYPES)
UPSERT_HOLDS = (
    unnest_insert("zone_holds", HOLD_COLUMNS, HOLD_TYPES)
    + " ON CONFLICT (device, camera, zone) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in HOLD_COLUMNS[3:])
)
UPSERT_STATES = (
    unnest_insert("zone_states", STATE_COLUMNS, STATE_TYPES)
    + " ON CONFLICT (device, camera, zone) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in STATE_COLUMNS[3:])
    + " WHERE zone_states.wall <= EXCLUDED.wall"
)
LOAD_HOLDS = (
    f"SELECT {', '.join(HOLD_COLUMNS)} FROM zone_holds "
    "WHERE (device, camera, zone) IN "
    "(SELECT * FROM unnest(%b::varchar[], %b::varchar[], %b::varchar[]))"
)
INSERT_ALERTS = unnest_insert(
    "fleet_alerts",
    ("wall", "type", "device", "first_seq", "last_seq", "collector", "detail"),
    ("float8", "varchar", "varchar", "bigint", "bigint", "varchar", "text"),
)
