"""Triage results: the queue snapshot dropped; the queue is built from the input cache.

Every run left the queue's input twice: as columns of the input cache (work item, level, score,
route, arrival and report id per report) and again as a snapshot archive of the same values,
deleted and written whole each run (about 15 MB at a million reports, and as much again freed).
The queue now reads those columns from the cache (``triage.store_io.queue_columns``).

Revision ID: triage_results_0005
Revises: triage_results_0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_results_0005"
down_revision: str | Sequence[str] | None = "triage_results_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("triage_queue_snapshot")


def downgrade() -> None:
    # Empty: the queue of a store taken back is built again by its next triage run.
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
