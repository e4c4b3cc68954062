"""The device id in samples and visits; the central collector's tables (PostgreSQL only).

A device's SQLite store leaves ``device`` null in samples and visits (the file is one
device's); the central PostgreSQL that ``edge-app collect`` writes sets it in every row. The
collector's bookkeeping tables exist only there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _central() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    # SQLite adds a nullable column in place (no table copy).
    op.add_column("occupancy_samples", sa.Column("device", sa.String(64), nullable=True))
    op.add_column("visits", sa.Column("device", sa.String(64), nullable=True))
    if not _central():
        return
    # A chain's busiest device may pass 2**31 events in a few years: 64-bit seqs centrally
    # (SQLite's integers are 64-bit already).
    op.alter_column("events", "seq", type_=sa.BigInteger, existing_nullable=False)
    op.create_table(
        "fleet_devices",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("contiguous_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("max_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("hole_since", sa.Float, nullable=True),
        sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("missing", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_wall", sa.Float, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=True),
    )
    op.create_table(
        "zone_holds",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("camera", sa.String(64), primary_key=True),
        sa.Column("zone", sa.String(128), primary_key=True),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("wall", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("coverage", sa.Float, nullable=False),
        sa.Column("occupied", sa.Boolean, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("t_start", sa.Float, nullable=False),
        sa.Column("wall_start", sa.Float, nullable=False),
        sa.Column("wall_end", sa.Float, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("max_count", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("count_s", sa.Float, nullable=False),
        sa.Column("coverage_s", sa.Float, nullable=False),
        sa.Column("occupied_s", sa.Float, nullable=False),
    )
    op.create_table(
        "zone_states",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("camera", sa.String(64), primary_key=True),
        sa.Column("zone", sa.String(128), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("coverage", sa.Float, nullable=False),
        sa.Column("occupied", sa.Boolean, nullable=False),
        sa.Column("occupied_s", sa.Float, nullable=False),
        sa.Column("longest_dwell_s", sa.Float, nullable=False),
        sa.Column("wall", sa.Float, nullable=False),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_table(
        "fleet_alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("wall", sa.Float, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("collector", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_fleet_alerts_device_wall", "fleet_alerts", ["device", "wall"])


def downgrade() -> None:
    if _central():
        for table in ("fleet_alerts", "zone_states", "zone_holds", "fleet_devices"):
            op.drop_table(table)
        op.alter_column("events", "seq", type_=sa.Integer, existing_nullable=False)
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("device")
    with op.batch_alter_table("occupancy_samples") as batch:
        batch.drop_column("device")
