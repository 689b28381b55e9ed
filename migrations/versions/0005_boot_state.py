"""boot state shared by all processes: the change stamp, IP bindings, pending
boot steps and the milestones already written

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    stamps = op.create_table(
        "stamps",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stamps")),
    )
    op.bulk_insert(stamps, [{"name": "boot", "value": 0}])
    op.create_table(
        "boot_bindings",
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_boot_bindings")),
    )
    with op.batch_alter_table("boot_bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_boot_bindings_seen_at"), ["seen_at"], unique=False)
    op.create_table(
        "boot_pending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_pending")),
    )
    with op.batch_alter_table("boot_pending", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_boot_pending_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_boot_pending_ip"), ["ip"], unique=False)
    op.create_table(
        "boot_milestones",
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("window", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("mac", "kind", "window", name=op.f("pk_boot_milestones")),
    )


def downgrade() -> None:
    op.drop_table("boot_milestones")
    with op.batch_alter_table("boot_pending", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_boot_pending_ip"))
        batch_op.drop_index(batch_op.f("ix_boot_pending_at"))
    op.drop_table("boot_pending")
    with op.batch_alter_table("boot_bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_boot_bindings_seen_at"))
    op.drop_table("boot_bindings")
    op.drop_table("stamps")
