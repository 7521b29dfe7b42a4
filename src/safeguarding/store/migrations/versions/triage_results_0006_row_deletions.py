"""Triage results: deletions from the tables triage reads, counted by triggers on SQLite.

An incremental triage run must notice rows deleted below its watermark. It counted every row of
six tables for that, each count a scan of a whole index (400 MB for ``file_hash`` at a million
reports). On SQLite a trigger per table now counts deletions in ``triage_row_deletions``, and the
run compares those few numbers with the ones its cache kept. PostgreSQL gets the table (the
schema is the same everywhere) but no triggers: there the run still counts rows, which also
notices rows committed late below its watermark.

Revision ID: triage_results_0006
Revises: triage_results_0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_results_0006"
down_revision: str | Sequence[str] | None = "triage_results_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables an incremental triage run reads above its watermarks (``triage.store_read``).
COUNTED = (
    "provider_report", "report_party", "reported_file", "file_hash", "party_identifier",
    "hash_match",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "triage_row_deletions",
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_triage_row_deletions")),
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in COUNTED:  # names from the constant above, not from input
        statement = (
            f"CREATE TRIGGER trg_{table}_deleted AFTER DELETE ON {table} BEGIN "  # noqa: S608
            f"INSERT INTO triage_row_deletions (table_name, deleted) VALUES ('{table}', 1) "
            "ON CONFLICT (table_name) DO UPDATE SET deleted = deleted + 1; END"
        )
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in COUNTED:
            op.execute(f"DROP TRIGGER trg_{table}_deleted")
    op.drop_table("triage_row_deletions")
