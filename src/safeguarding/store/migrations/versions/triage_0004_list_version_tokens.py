"""Notifications in: every hash-list version carries a random token, which names its index segment.

Index segments were named by list id and version only (``list-1-v1``). SQLite gives a new row the
highest id plus one, so after ``hashlist remove`` the next list imported got the removed list's id
and version again, and a matcher that had the removed list's segment open (the web app's) kept
searching it under the new list's name; a restored copy of an older database did the same with
the segments on disk. A token drawn with each new version is now part of the segment's name, so a
segment stands for one version's entries and no other. Lists existing at the upgrade get a token
each; their segments are built again once under the new names.

The column is added with an empty server default, which SQLite needs to add a NOT NULL column
without rebuilding the table (rebuilding ``hash_list`` would drop it, and foreign keys would
cascade the drop to every entry and match); every row is then given its token, and elsewhere the
default is removed again. The importer always sets the token.

Revision ID: triage_0004
Revises: triage_0003
Create Date: 2026-11-30
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_0004"
down_revision: str | Sequence[str] | None = "triage_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "hash_list",
        sa.Column("version_token", sa.String(32), nullable=False, server_default=""),
    )
    hash_list = sa.table("hash_list", sa.column("id", sa.Integer), sa.column("version_token"))
    bind = op.get_bind()
    for (list_id,) in bind.execute(sa.select(hash_list.c.id)).all():
        bind.execute(
            hash_list.update()
            .where(hash_list.c.id == list_id)
            .values(version_token=secrets.token_hex(8))
        )
    if bind.dialect.name != "sqlite":
        op.alter_column("hash_list", "version_token", server_default=None)


def downgrade() -> None:
    op.drop_column("hash_list", "version_token")
