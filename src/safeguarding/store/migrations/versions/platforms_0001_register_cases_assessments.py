"""Platforms: the service register, coded case mentions and risk assessments.

Revision ID: platforms_0001
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "platforms_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("platforms",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_service",
        sa.Column("id", sa.String(80), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("part_of", sa.String(80)),
        sa.Column("provider_size", sa.String(16)),
        sa.Column("dsa_role", sa.String(32)),
        sa.Column("vlop_designated", sa.Boolean()),
        sa.Column("vlop_date", sa.Date()),
        sa.Column("vlop_source", sa.Text()),
        sa.Column("eu_recipients", sa.BigInteger()),
        sa.Column("eu_recipients_date", sa.Date()),
        sa.Column("eu_recipients_source", sa.Text()),
        sa.Column("uk_users", sa.BigInteger()),
        sa.Column("uk_users_date", sa.Date()),
        sa.Column("uk_users_source", sa.Text()),
        sa.Column("age_assurance", sa.String(32), nullable=False),
        sa.Column("adult", sa.Boolean()),
        sa.Column("report_response_hours", sa.Float()),
        sa.Column("daily_messages", sa.Float()),
        sa.Column("daily_images", sa.Float()),
        sa.Column("daily_videos", sa.Float()),
        sa.Column("volumes_source", sa.Text()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("register_file", sa.String(255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_service")),
    )
    op.create_index(op.f("ix_platform_service_type"), "platform_service", ["type"])
    for table, column in (("platform_feature", "feature"), ("platform_safeguard", "measure")):
        columns = [
            sa.Column("service_id", sa.String(80), nullable=False),
            sa.Column(column, sa.String(40), nullable=False),
        ]
        if table == "platform_safeguard":
            columns.append(sa.Column("status", sa.String(16), nullable=False))
        op.create_table(
            table,
            *columns,
            sa.ForeignKeyConstraint(
                ["service_id"],
                ["platform_service.id"],
                name=op.f(f"fk_{table}_service_id_platform_service"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("service_id", column, name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "platform_case_mention",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("case_pseudonym", sa.String(32), nullable=False),
        sa.Column("platform", sa.String(200)),
        sa.Column("stage", sa.String(3), nullable=False),
        sa.Column("role_pair", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_case_mention")),
    )
    op.create_index(
        op.f("ix_platform_case_mention_case_pseudonym"),
        "platform_case_mention",
        ["case_pseudonym"],
    )
    op.create_index(
        op.f("ix_platform_case_mention_platform"), "platform_case_mention", ["platform"]
    )
    op.create_table(
        "platform_assessment_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("rules_digest", sa.String(64), nullable=False),
        sa.Column("rules_file", sa.String(255), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_assessment_run")),
    )
    op.create_table(
        "platform_assessment",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(80), nullable=False),
        sa.Column("harm", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence_cases", sa.Integer(), nullable=False),
        sa.Column("cases_per_million", sa.Float()),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.Column("drivers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["platform_assessment_run.id"],
            name=op.f("fk_platform_assessment_run_id_platform_assessment_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["platform_service.id"],
            name=op.f("fk_platform_assessment_service_id_platform_service"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "service_id", "harm", name=op.f("pk_platform_assessment")
        ),
    )


def downgrade() -> None:
    op.drop_table("platform_assessment")
    op.drop_table("platform_assessment_run")
    op.drop_index(op.f("ix_platform_case_mention_platform"), table_name="platform_case_mention")
    op.drop_index(
        op.f("ix_platform_case_mention_case_pseudonym"), table_name="platform_case_mention"
    )
    op.drop_table("platform_case_mention")
    op.drop_table("platform_safeguard")
    op.drop_table("platform_feature")
    op.drop_index(op.f("ix_platform_service_type"), table_name="platform_service")
    op.drop_table("platform_service")
