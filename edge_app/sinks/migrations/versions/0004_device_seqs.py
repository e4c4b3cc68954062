"""A persistent high-water mark of each device's sequence numbers (device stores only).

The next ``seq`` used to be the highest one still in ``events``; retention deletes those
rows, so a restart after retention began again at 1 and subscribers that keep the highest
seq seen dropped every new event. ``device_seqs`` keeps the highest seq ever stored,
updated in the transaction that stores the events; it starts at what ``events`` holds.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _central() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _central():
        return  # the collector tracks devices in fleet_devices
    op.create_table(
        "device_seqs",
        sa.Column("device", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO device_seqs (device, last_seq) "
        "SELECT device, max(seq) FROM events GROUP BY device"
    )


def downgrade() -> None:
    if not _central():
        op.drop_table("device_seqs")
