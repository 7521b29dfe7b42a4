"""Notifications in: one row whose token changes with every change to any hash list.

An ingest synchronised its matcher with the lists once, when it started, and its parse workers
searched with the index as it was then: a list imported during the run was matched by the files
stored before the import (retroactive matching) but not by those stored after it, which were
matched against entries that no longer existed or now held other hashes. Each batch now reads
this token in its transaction (one row by primary key) and, when it changed, synchronises and
searches again before storing matches. List changes lock the row (``FOR UPDATE``) and batches
read it ``FOR SHARE``, so on PostgreSQL a change and a batch never interleave; on SQLite writers
take turns anyway.

Revision ID: triage_0005
Revises: triage_0004
Create Date: 2026-11-30
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_0005"
down_revision: str | Sequence[str] | None = "triage_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    state = op.create_table(
        "hash_list_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_list_state")),
    )
    op.bulk_insert(state, [{"id": 1, "token": secrets.token_hex(8)}])


def downgrade() -> None:
    op.drop_table("hash_list_state")
