"""Triage results: the input cache, so a run reads only the rows stored since the last one.

Revision ID: triage_results_0003
Revises: triage_results_0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_results_0003"
down_revision: str | Sequence[str] | None = "triage_results_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_input_cache",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", "part", name=op.f("pk_triage_input_cache")),
    )


def downgrade() -> None:
    op.drop_table("triage_input_cache")
