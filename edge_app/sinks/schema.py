"""The store's tables (SQLAlchemy Core), as the latest migration leaves them.

Times are UTC epoch seconds (``REAL``) so range queries and retention are plain numeric
comparisons; ``*_t`` columns are source-clock seconds (see ``Frame.t``). The migrations in
``edge_app/sinks/migrations`` create these tables; ``tests/test_sinks_store.py`` checks that the
migrated database and this module agree.

- ``events``: every stamped event with its JSON (``Event.to_dict``). ``published_at`` is
  null until the broker acknowledged it: the rows with a null there are the outbox.
- ``occupancy_samples``: one row per zone per ``store.sample_interval_s`` of source time.
- ``visits``: one row per person per stay in a zone; ``exited_wall`` is null while open.
- ``device_seqs`` (a device's own store only, ``device_metadata``): the highest ``seq``
  ever stored per device, so numbering resumes past it even after retention deleted it.
- ``retained_topics`` (a device's own store only): every retained MQTT topic published
  (zone states, discovery configs) and not yet cleared, so a removed zone's are cleared.

The same tables, with the same columns, hold a whole fleet in the central PostgreSQL that
``edge-app collect`` writes (``docs/fleet.md``): there ``device`` is set in every row, while a
device's own SQLite file leaves it null in samples and visits (the file is one device's).
The collector's own bookkeeping (``fleet_metadata``) exists only in PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("device", String(64), nullable=False),
    # 64-bit in the central PostgreSQL (migration 0002); SQLite's INTEGER is 64-bit anyway.
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("zone", String(128), nullable=True),
    Column("wall", Float, nullable=False),
    Column("payload", Text, nullable=False),
    Column("published_at", Float, nullable=True),
    UniqueConstraint("device", "seq", name="uq_events_device_seq"),
)
# Dashboards: a zone's events over time, one kind of event over time; retention: by age.
Index("ix_events_camera_zone_wall", events.c.camera, events.c.zone, events.c.wall)
Index("ix_events_type_wall", events.c.type, events.c.wall)
Index("ix_events_wall", events.c.wall)
# The outbox scan touches only unpublished rows, in sequence order.
Index(
    "ix_events_outbox",
    events.c.device,
    events.c.seq,
    sqlite_where=text("published_at IS NULL"),
    postgresql_where=text("published_at IS NULL"),
)

occupancy_samples = Table(
    "occupancy_samples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("camera", String(64), nullable=False),
    Column("zone", String(128), nullable=False),
    Column("wall_start", Float, nullable=False),
    Column("wall_end", Float, nullable=False),
    Column("t_start", Float, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("frames", Integer, nullable=False),
    Column("mean_count", Float, nullable=False),
    Column("max_count", Integer, nullable=False),
    Column("occupied_s", Float, nullable=False),
    Column("mean_coverage", Float, nullable=False),
    Column("device", String(64), nullable=True),
)
Index(
    "ix_samples_camera_zone_wall",
    occupancy_samples.c.camera,
    occupancy_samples.c.zone,
    occupancy_samples.c.wall_start,
)
Index("ix_samples_wall", occupancy_samples.c.wall_start)

visits = Table(
    "visits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("camera", String(64), nullable=False),
    Column("zone", String(128), nullable=False),
    Column("track_id", Integer, nullable=False),
    Column("entered_wall", Float, nullable=False),
    Column("exited_wall", Float, nullable=True),
    Column("entered_t", Float, nullable=False),
    Column("exited_t", Float, nullable=True),
    Column("dwell_s", Float, nullable=True),
    Column("closed_by", String(16), nullable=True),
    Column("device", String(64), nullable=True),
)
Index("ix_visits_camera_zone_entered", visits.c.camera, visits.c.zone, visits.c.entered_wall)
Index("ix_visits_entered", visits.c.entered_wall)
# Finding the open visit of a track on exit, and closing what a crash left open.
Index(
    "ix_visits_open",
    visits.c.camera,
    visits.c.zone,
    visits.c.track_id,
    sqlite_where=text("exited_wall IS NULL"),
    postgresql_where=text("exited_wall IS NULL"),
)


# --- a device's own SQLite store only (migration 0004 creates these there) ------------

device_metadata = MetaData()

# The highest seq ever stored per device: retention may delete the events that held it.
device_seqs = Table(
    "device_seqs",
    device_metadata,
    Column("device", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

# Retained MQTT topics published and not cleared since (migration 0005).
retained_topics = Table(
    "retained_topics",
    device_metadata,
    Column("topic", Text, primary_key=True),
)


# --- the central database only (PostgreSQL; migration 0002 creates these there) -------

fleet_metadata = MetaData()

fleet_devices = Table(
    "fleet_devices",
    fleet_metadata,
    Column("device", String(64), primary_key=True),
    # Every seq up to contiguous_seq is stored and its visits and samples derived.
    Column("contiguous_seq", BigInteger, nullable=False, server_default="0"),
    Column("max_seq", BigInteger, nullable=False, server_default="0"),
    # When a seq above contiguous_seq + 1 was first stored while that one was missing.
    Column("hole_since", Float, nullable=True),
    Column("events", BigInteger, nullable=False, server_default="0"),
    Column("missing", BigInteger, nullable=False, server_default="0"),
    Column("last_wall", Float, nullable=True),
    Column("updated_at", Float, nullable=True),
)

# The sample-and-hold state of each zone between two zone.occupancy events: the last
# value and the sums of the interval it is in (see edge_app/fleet/derive.py).
zone_holds = Table(
    "zone_holds",
    fleet_metadata,
    Column("device", String(64), primary_key=True),
    Column("camera", String(64), primary_key=True),
    Column("zone", String(128), primary_key=True),
    Column("t", Float, nullable=False),
    Column("wall", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("coverage", Float, nullable=False),
    Column("occupied", Boolean, nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("t_start", Float, nullable=False),
    Column("wall_start", Float, nullable=False),
    Column("wall_end", Float, nullable=False),
    Column("frames", Integer, nullable=False),
    Column("max_count", Integer, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("count_s", Float, nullable=False),
    Column("coverage_s", Float, nullable=False),
    Column("occupied_s", Float, nullable=False),
)

# The newest retained state of every zone (the {base}/{camera}/{zone}/state topic).
zone_states = Table(
    "zone_states",
    fleet_metadata,
    Column("device", String(64), primary_key=True),
    Column("camera", String(64), primary_key=True),
    Column("zone", String(128), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("coverage", Float, nullable=False),
    Column("occupied", Boolean, nullable=False),
    Column("occupied_s", Float, nullable=False),
    Column("longest_dwell_s", Float, nullable=False),
    Column("wall", Float, nullable=False),
    Column("t", Float, nullable=False),
    Column("received_at", Float, nullable=False),
)

# Gaps in a device's seqs (events lost before they reached the central database).
fleet_alerts = Table(
    "fleet_alerts",
    fleet_metadata,
    Column("id", Integer, primary_key=True),
    Column("wall", Float, nullable=False),
    Column("type", String(40), nullable=False),
    Column("device", String(64), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("collector", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)
Index("ix_fleet_alerts_device_wall", fleet_alerts.c.device, fleet_alerts.c.wall)
