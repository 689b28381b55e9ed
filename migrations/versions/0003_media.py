"""media: one release per content, uploaded files of instance bundles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 19:00:00

Releases become unique by sha256 (the same image is never catalogued twice
under two names); ``bundle_files`` records the uploaded ISO, VM definition and
disk image behind a bundle's ``copyiso``/``copydef``/``copyimg`` names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundle_files",
        sa.Column("bundle_name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_name"],
            ["bundles.name"],
            name=op.f("fk_bundle_files_bundle_name_bundles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bundle_name", "kind", name=op.f("pk_bundle_files")),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_releases_sha256"), ["sha256"])


def downgrade() -> None:
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_releases_sha256"), type_="unique")
    op.drop_table("bundle_files")
