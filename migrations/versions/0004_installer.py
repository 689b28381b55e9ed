"""installer: slots, install record, install window

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 18:37:54.268875
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot_a", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("slot_b", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("active_slot", sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column("installed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("install_seconds", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("phases", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("build_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("window_opened", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("window_expires", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_nodes_build_token"), ["build_token"])


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_nodes_build_token"), type_="unique")
        batch_op.drop_column("window_expires")
        batch_op.drop_column("window_opened")
        batch_op.drop_column("build_token")
        batch_op.drop_column("phases")
        batch_op.drop_column("install_seconds")
        batch_op.drop_column("installed_at")
        batch_op.drop_column("active_slot")
        batch_op.drop_column("slot_b")
        batch_op.drop_column("slot_a")
