"""hint_sets: curators' colour hints per scan, with history

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PORTABLE_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CURRENT = "is_current"


def upgrade() -> None:
    op.create_table(
        "hint_sets",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scan_id", BIG_ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("hints", PORTABLE_JSON, nullable=False),
        sa.Column("hint_count", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=1024), nullable=True),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_hint_sets_scan_id_scans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hint_sets")),
    )
    with op.batch_alter_table("hint_sets") as batch_op:
        batch_op.create_index(batch_op.f("ix_hint_sets_scan_id"), ["scan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hint_sets_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            "uq_hint_sets_scan_id_current",
            ["scan_id"],
            unique=True,
            postgresql_where=sa.text(CURRENT),
            sqlite_where=sa.text(CURRENT),
        )


def downgrade() -> None:
    op.drop_table("hint_sets")
