"""Triage results: runs, file clusters, content clusters, subjects, priorities, outcomes.

Revision ID: triage_results_0001
Revises: triage_0001 (branches off it: results refer to provider_report and reported_file; a
plain depends_on would leave triage_0001 out of the version table and the store would never look
current)
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_results_0001"
down_revision: str | Sequence[str] | None = "triage_0001"
branch_labels: str | Sequence[str] | None = ("triage_results",)
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _ints(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "triage_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(160), nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        *_ints(
            "reports",
            "new_reports",
            "new_files",
            "content_clusters",
            "subjects",
            "merged_clusters",
            "merged_subjects",
            "compared",
            "changed_level",
            "raised",
            "lowered",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_run")),
    )
    op.create_table(
        "triage_file_cluster",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["reported_file.id"],
            name=op.f("fk_triage_file_cluster_file_id_reported_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_triage_file_cluster")),
    )
    op.create_index(
        op.f("ix_triage_file_cluster_cluster_id"), "triage_file_cluster", ["cluster_id"]
    )
    op.create_table(
        "triage_content_cluster",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *_ints("files", "reports"),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("providers", sa.JSON(), nullable=False),
        *_ints("known_files", "allow_files", "meme_files", "batched_files"),
        *[sa.Column(n, sa.Boolean(), nullable=False) for n in ("large", "annotated", "batched")],
        sa.Column("viral", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_content_cluster")),
    )
    op.create_index(op.f("ix_triage_content_cluster_viral"), "triage_content_cluster", ["viral"])
    op.create_table(
        "triage_subject",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *_ints("reports", "files"),
        sa.Column("providers", sa.JSON(), nullable=False),
        sa.Column("first_report", TZ, nullable=False),
        sa.Column("last_report", TZ, nullable=False),
        sa.Column("prior_ct_reports", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_subject")),
    )
    op.create_table(
        "triage_priority",
        sa.Column("report_id", sa.Integer(), nullable=False),
        *_ints("subject_id", "work_item"),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("detection", sa.String(24), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(160), nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["provider_report.id"],
            name=op.f("fk_triage_priority_report_id_provider_report"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["triage_run.id"],
            name=op.f("fk_triage_priority_run_id_triage_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_triage_priority")),
    )
    for column in ("subject_id", "work_item", "level", "run_id"):
        op.create_index(op.f(f"ix_triage_priority_{column}"), "triage_priority", [column])
    op.create_table(
        "triage_outcome",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("level", sa.String(16)),
        sa.Column("note_sealed", sa.LargeBinary()),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["provider_report.id"],
            name=op.f("fk_triage_outcome_report_id_provider_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_triage_outcome")),
    )
    op.create_index(op.f("ix_triage_outcome_result"), "triage_outcome", ["result"])
    op.create_index(op.f("ix_triage_outcome_recorded_at"), "triage_outcome", ["recorded_at"])


def downgrade() -> None:
    for table in (
        "triage_outcome",
        "triage_priority",
        "triage_subject",
        "triage_content_cluster",
        "triage_file_cluster",
        "triage_run",
    ):
        op.drop_table(table)
