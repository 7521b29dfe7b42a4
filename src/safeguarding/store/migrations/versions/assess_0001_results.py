"""Assess: stored results of assessment runs, one row per scenario.

Revision ID: assess_0001
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assess_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("assess",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assess_result",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(120), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("region", sa.String(20), nullable=False),
        sa.Column("draws", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assess_result")),
        sa.UniqueConstraint("run", "scenario", name=op.f("uq_assess_result_run")),
    )
    op.create_index(op.f("ix_assess_result_run"), "assess_result", ["run"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assess_result_run"), table_name="assess_result")
    op.drop_table("assess_result")
