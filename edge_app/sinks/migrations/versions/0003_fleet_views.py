"""Fleet views in the central PostgreSQL: footfall per hour, occupancy per hour, the peak
occupancy of each day, and dwell percentiles per zone and day (docs/fleet.md).

Hours and days are UTC. SQLite stores have no ``percentile_cont``; these views exist only
in PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VIEWS = {
    # People entering each zone per hour (a visit counts in the hour it began), and how
    # long they stayed.
    "fleet_footfall_hourly": """
        SELECT device, camera, zone,
               date_trunc('hour', to_timestamp(entered_wall) AT TIME ZONE 'UTC') AS hour_utc,
               count(*) AS visits,
               avg(dwell_s) AS mean_dwell_s
        FROM visits
        GROUP BY device, camera, zone, hour_utc
    """,
    # Time-weighted mean and the highest count of each zone per hour.
    "fleet_occupancy_hourly": """
        SELECT device, camera, zone,
               date_trunc('hour', to_timestamp(wall_start) AT TIME ZONE 'UTC') AS hour_utc,
               sum(mean_count * duration_s) / nullif(sum(duration_s), 0) AS mean_count,
               max(max_count) AS max_count,
               sum(occupied_s) AS occupied_s
        FROM occupancy_samples
        GROUP BY device, camera, zone, hour_utc
    """,
    # The most people in each zone on each day, and when (the first sample that saw it).
    "fleet_peak_occupancy_daily": """
        SELECT DISTINCT ON (device, camera, zone, day_utc)
               device, camera, zone, day_utc, max_count AS peak_count,
               to_timestamp(wall_start) AS peak_at
        FROM (SELECT *, (to_timestamp(wall_start) AT TIME ZONE 'UTC')::date AS day_utc
              FROM occupancy_samples) AS s
        ORDER BY device, camera, zone, day_utc, max_count DESC, wall_start
    """,
    # Dwell of the visits that ended with an exit, per zone and day (by the day it began).
    "fleet_dwell_daily": """
        SELECT device, camera, zone,
               (to_timestamp(entered_wall) AT TIME ZONE 'UTC')::date AS day_utc,
               count(*) AS visits,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY dwell_s) AS dwell_p50_s,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY dwell_s) AS dwell_p90_s,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY dwell_s) AS dwell_p95_s,
               max(dwell_s) AS dwell_max_s
        FROM visits
        WHERE closed_by = 'exit'
        GROUP BY device, camera, zone, day_utc
    """,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {query}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
