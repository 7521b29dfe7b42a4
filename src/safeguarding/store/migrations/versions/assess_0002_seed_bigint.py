"""Assess: the seed column holds every seed a run takes (up to 2**32 - 1).

A 32-bit signed integer stops at 2**31 - 1, so on PostgreSQL a run with a larger seed, which the
command line and the web accept, failed when it was saved.

Revision ID: assess_0002
Revises: assess_0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assess_0002"
down_revision: str | Sequence[str] | None = "assess_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assess_result") as batch:
        batch.alter_column(
            "seed", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("assess_result") as batch:
        batch.alter_column(
            "seed", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
