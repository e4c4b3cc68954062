"""The store's tables (SQLAlchemy Core), as the latest migration leaves them.

Times are UTC epoch seconds (``REAL``) so range queries and retention are plain numeric
comparisons; ``*_t`` columns are source-clock seconds (see ``Frame.t``). The migrations in
``edge_app/sinks/migrations`` create these tables; ``tests/test_sinks_store.py`` checks that the
migrated database and this module agree.

- ``events``: every stamped event with its JSON (``Event.to_dict``). ``published_at`` is
  null until the broker acknowledged it: the rows with a null there are the outbox.
- ``occupancy_samples``: one row per zone per ``store.sample_interval_s`` of source time.
- ``visits``: one row per person per stay in a zone; ``exited_wall`` is null while open.
"""

from __future__ import annotations

from sqlalchemy import (
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
    Column("seq", Integer, nullable=False),
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
)
