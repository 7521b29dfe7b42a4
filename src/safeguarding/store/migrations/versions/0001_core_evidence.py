"""Core: the evidence base table. Every area's branch starts from this revision.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_core"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("core",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_figure",
        sa.Column("id", sa.String(120), nullable=False),
        sa.Column("topic", sa.String(120), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("year_from", sa.Integer()),
        sa.Column("year_to", sa.Integer()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("tag", sa.String(1), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("data_version", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_figure")),
    )


def downgrade() -> None:
    op.drop_table("evidence_figure")
