"""Notifications in: indexes that no query used dropped, each one a write per stored row.

A report row was written to five indexes, a file row to two, at a bulk intake's pace (hundreds of
thousands of rows a run). Reports are never looked up by provider, incident type or time of
receipt (triage reads them whole, views select these as columns), and the file and match
lookups by report and by file use the leading column of their unique constraint.

Revision ID: triage_0002
Revises: triage_0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "triage_0002"
down_revision: str | Sequence[str] | None = "triage_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED = (
    ("ix_provider_report_incident_type", "provider_report", "incident_type"),
    ("ix_provider_report_provider", "provider_report", "provider"),
    ("ix_provider_report_received_at", "provider_report", "received_at"),
    ("ix_reported_file_report_id", "reported_file", "report_id"),
    ("ix_hash_match_file_id", "hash_match", "file_id"),
)


def upgrade() -> None:
    for name, table, _ in _DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in _DROPPED:
        op.create_index(name, table, [column])
