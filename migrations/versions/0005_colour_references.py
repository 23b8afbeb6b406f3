"""colour_references and volumes.reference_id: a volume's default colour reference

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "colour_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("file_name", sa.String(length=1024), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_colour_references")),
        sa.UniqueConstraint("sha256", name=op.f("uq_colour_references_sha256")),
    )
    with op.batch_alter_table("volumes") as batch_op:
        batch_op.add_column(sa.Column("reference_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_volumes_reference_id_colour_references"),
            "colour_references",
            ["reference_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("volumes") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_volumes_reference_id_colour_references"), type_="foreignkey"
        )
        batch_op.drop_column("reference_id")
    op.drop_table("colour_references")
