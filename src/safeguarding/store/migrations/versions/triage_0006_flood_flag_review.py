"""Notifications in: a flood flag records its review (when, by whom), and says how it ended.

A flag asks a person to look at a list entry that matched more of the recent files than its
list's share. Nothing let anyone see which entry, or close a flag once looked at: it stayed open
and counted. A supervisor now dismisses a flag (the entry is right: the content is that common)
or resolves it (the entry was wrong, and the list has been put right); the flag keeps who did it
and when, beside the audit event. ``reviewed``, the one closed status named before, was never
set by anything; a row holding it would be a closed flag, and is ``resolved`` now.

Revision ID: triage_0006
Revises: triage_0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_0006"
down_revision: str | Sequence[str] | None = "triage_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("flood_flag", sa.Column("reviewed_at", sa.DateTime(timezone=True)))
    op.add_column("flood_flag", sa.Column("reviewed_by", sa.String(120)))
    flag = sa.table("flood_flag", sa.column("status", sa.String))
    op.get_bind().execute(
        flag.update().where(flag.c.status == "reviewed").values(status="resolved")
    )


def downgrade() -> None:
    op.drop_column("flood_flag", "reviewed_by")
    op.drop_column("flood_flag", "reviewed_at")
