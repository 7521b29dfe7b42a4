"""Triage results: the queue's input kept with each run, and a fingerprint per decision.

The snapshot lets the queue (command and web page) be built from one stored archive instead of a
million decision rows; the fingerprint lets a run rewrite only the decisions that changed.

Revision ID: triage_results_0002
Revises: triage_results_0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_results_0002"
down_revision: str | Sequence[str] | None = "triage_results_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_queue_snapshot",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("columns", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["triage_run.id"],
            name=op.f("fk_triage_queue_snapshot_run_id_triage_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_triage_queue_snapshot")),
    )
    with op.batch_alter_table("triage_priority") as batch:
        batch.add_column(sa.Column("fingerprint", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("triage_priority") as batch:
        batch.drop_column("fingerprint")
    op.drop_table("triage_queue_snapshot")
