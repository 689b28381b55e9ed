"""other DHCP servers heard on the segment (observe mode): one row per server id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dhcp_servers",
        sa.Column("server_id", sa.String(length=15), nullable=False),
        sa.Column("source", sa.String(length=15), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replies", sa.BigInteger(), nullable=False),
        sa.Column("answers_pxe", sa.Boolean(), nullable=False),
        sa.Column("offers_boot", sa.Boolean(), nullable=False),
        sa.Column("offer", sa.JSON(), nullable=False),
        sa.Column("clients", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_dhcp_servers")),
    )


def downgrade() -> None:
    op.drop_table("dhcp_servers")
