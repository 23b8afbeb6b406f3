"""catalog: volumes, scans (one row per image page, versioned), PREMIS-like events

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "volumes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volumes")),
        sa.UniqueConstraint("name", name=op.f("uq_volumes_name")),
    )
    op.create_table(
        "scans",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("volume_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("root", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("superseded_by_id", BIG_ID, nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("mtime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("tiff_flavour", sa.String(length=16), nullable=True),
        sa.Column("byte_order", sa.String(length=8), nullable=True),
        sa.Column("page_index", sa.Integer(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("width", sa.BigInteger(), nullable=True),
        sa.Column("height", sa.BigInteger(), nullable=True),
        sa.Column("samples_per_pixel", sa.Integer(), nullable=True),
        sa.Column("bits_per_sample", sa.Integer(), nullable=True),
        sa.Column("photometric", sa.String(length=32), nullable=True),
        sa.Column("compression", sa.String(length=32), nullable=True),
        sa.Column("tiled", sa.Boolean(), nullable=True),
        sa.Column("x_resolution", sa.Float(), nullable=True),
        sa.Column("y_resolution", sa.Float(), nullable=True),
        sa.Column("resolution_unit", sa.String(length=16), nullable=True),
        sa.Column("icc_present", sa.Boolean(), nullable=True),
        sa.Column("orientation", sa.Integer(), nullable=True),
        sa.Column("skipped_reduced", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('ingested', 'rejected', 'superseded')", name=op.f("ck_scans_state")
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"], ["scans.id"], name=op.f("fk_scans_superseded_by_id_scans")
        ),
        sa.ForeignKeyConstraint(
            ["volume_id"], ["volumes.id"], name=op.f("fk_scans_volume_id_volumes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        sa.UniqueConstraint(
            "volume_id",
            "path",
            "version",
            "page_index",
            name=op.f("uq_scans_volume_id_path_version_page_index"),
        ),
    )
    with op.batch_alter_table("scans") as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_state"), ["state"], unique=False)
        batch_op.create_index("ix_scans_volume_id_path", ["volume_id", "path"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("scan_id", BIG_ID, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("agent", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_events_scan_id_scans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events") as batch_op:
        batch_op.create_index(batch_op.f("ix_events_scan_id"), ["scan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_type"), ["type"], unique=False)


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("scans")
    op.drop_table("volumes")
