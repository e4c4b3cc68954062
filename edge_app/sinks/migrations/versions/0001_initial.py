"""Initial schema: events with the outbox column, occupancy samples, visits.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("wall", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("published_at", sa.Float, nullable=True),
        sa.UniqueConstraint("device", "seq", name="uq_events_device_seq"),
    )
    op.create_index("ix_events_camera_zone_wall", "events", ["camera", "zone", "wall"])
    op.create_index("ix_events_type_wall", "events", ["type", "wall"])
    op.create_index("ix_events_wall", "events", ["wall"])
    op.create_index(
        "ix_events_outbox",
        "events",
        ["device", "seq"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )

    op.create_table(
        "occupancy_samples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=False),
        sa.Column("wall_start", sa.Float, nullable=False),
        sa.Column("wall_end", sa.Float, nullable=False),
        sa.Column("t_start", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("mean_count", sa.Float, nullable=False),
        sa.Column("max_count", sa.Integer, nullable=False),
        sa.Column("occupied_s", sa.Float, nullable=False),
        sa.Column("mean_coverage", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_samples_camera_zone_wall", "occupancy_samples", ["camera", "zone", "wall_start"]
    )
    op.create_index("ix_samples_wall", "occupancy_samples", ["wall_start"])

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(128), nullable=False),
        sa.Column("track_id", sa.Integer, nullable=False),
        sa.Column("entered_wall", sa.Float, nullable=False),
        sa.Column("exited_wall", sa.Float, nullable=True),
        sa.Column("entered_t", sa.Float, nullable=False),
        sa.Column("exited_t", sa.Float, nullable=True),
        sa.Column("dwell_s", sa.Float, nullable=True),
        sa.Column("closed_by", sa.String(16), nullable=True),
    )
    op.create_index("ix_visits_camera_zone_entered", "visits", ["camera", "zone", "entered_wall"])
    op.create_index("ix_visits_entered", "visits", ["entered_wall"])
    op.create_index(
        "ix_visits_open",
        "visits",
        ["camera", "zone", "track_id"],
        sqlite_where=sa.text("exited_wall IS NULL"),
        postgresql_where=sa.text("exited_wall IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("visits")
    op.drop_table("occupancy_samples")
    op.drop_table("events")
