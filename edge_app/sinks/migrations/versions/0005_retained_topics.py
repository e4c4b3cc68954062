"""The retained MQTT topics a device has published (device stores only).

Zone state topics and Home Assistant discovery configs are retained on the broker. When a
zone is removed (a reload, or a restart with another zone file) they must be cleared, also
across restarts: this table remembers every retained topic published until it is cleared.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _central() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _central():
        return
    op.create_table("retained_topics", sa.Column("topic", sa.Text, primary_key=True))


def downgrade() -> None:
    if not _central():
        op.drop_table("retained_topics")
