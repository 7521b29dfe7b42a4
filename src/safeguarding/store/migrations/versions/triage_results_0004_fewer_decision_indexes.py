"""Triage results: decision indexes that no query used dropped, each a write per decision.

A triage run rewrites the decisions that moved, scattered over the whole table, and every
rewritten row changed an entry in each of the table's indexes: a page of each, written to the
write-ahead log and checkpointed. Decisions are looked up by report (the key) and by subject
(the subject page); the queue is built from the run's stored columns, never from decisions by
work item or level, and runs are never deleted, so ``run_id`` needs no index for its cascade.

Revision ID: triage_results_0004
Revises: triage_results_0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "triage_results_0004"
down_revision: str | Sequence[str] | None = "triage_results_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED = (
    ("ix_triage_priority_work_item", "work_item"),
    ("ix_triage_priority_level", "level"),
    ("ix_triage_priority_run_id", "run_id"),
)


def upgrade() -> None:
    for name, _ in _DROPPED:
        op.drop_index(name, table_name="triage_priority")


def downgrade() -> None:
    for name, column in _DROPPED:
        op.create_index(name, "triage_priority", [column])
