"""Helpline: coded contact reports, risk factors, help needs, encrypted notes, DP budget ledger.

Revision ID: helpline_0001
Revises: 0001_core
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "helpline_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("helpline",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "helpline_contact",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("import_key", sa.String(64), nullable=False),
        sa.Column("contact_ref", sa.String(64)),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("contact_kind", sa.String(10), nullable=False),
        sa.Column("caller_key", sa.String(32)),
        sa.Column("caller_type", sa.String(20), nullable=False),
        sa.Column("concern", sa.String(30), nullable=False),
        sa.Column("age_band", sa.String(10), nullable=False),
        sa.Column("gender", sa.String(10), nullable=False),
        sa.Column("risk_factors_recorded", sa.Boolean(), nullable=False),
        sa.Column("help_needs_recorded", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("referral", sa.String(30), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpline_contact")),
        sa.UniqueConstraint("import_key", name=op.f("uq_helpline_contact_import_key")),
    )
    op.create_index("ix_helpline_contact_period", "helpline_contact", ["year", "month"])
    op.create_table(
        "helpline_risk_factor",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("factor", sa.String(40), nullable=False),
        sa.Column("basis", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["helpline_contact.id"],
            name=op.f("fk_helpline_risk_factor_contact_id_helpline_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "factor", name=op.f("pk_helpline_risk_factor")),
    )
    op.create_table(
        "helpline_help_need",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("need", sa.String(30), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["helpline_contact.id"],
            name=op.f("fk_helpline_help_need_contact_id_helpline_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "need", name=op.f("pk_helpline_help_need")),
    )
    op.create_table(
        "helpline_note",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(12), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["helpline_contact.id"],
            name=op.f("fk_helpline_note_contact_id_helpline_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_helpline_note")),
    )
    op.create_index(op.f("ix_helpline_note_expires_at"), "helpline_note", ["expires_at"])
    op.create_table(
        "dp_budget",
        sa.Column("dataset", sa.String(60), nullable=False),
        sa.Column("epsilon_total", sa.Float(), nullable=False),
        sa.Column("epsilon_spent", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dataset", name=op.f("pk_dp_budget")),
    )
    op.create_table(
        "dp_release",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(60), nullable=False),
        sa.Column("query", sa.String(200), nullable=False),
        sa.Column("mechanism", sa.String(60), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset"], ["dp_budget.dataset"], name=op.f("fk_dp_release_dataset_dp_budget")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dp_release")),
    )
    op.create_index(op.f("ix_dp_release_dataset"), "dp_release", ["dataset"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dp_release_dataset"), table_name="dp_release")
    op.drop_table("dp_release")
    op.drop_table("dp_budget")
    op.drop_index(op.f("ix_helpline_note_expires_at"), table_name="helpline_note")
    op.drop_table("helpline_note")
    op.drop_table("helpline_help_need")
    op.drop_table("helpline_risk_factor")
    op.drop_index("ix_helpline_contact_period", table_name="helpline_contact")
    op.drop_table("helpline_contact")
