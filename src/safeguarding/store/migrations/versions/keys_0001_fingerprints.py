"""Keys: the fingerprint of each key the store was written with.

Keys live in the data directory, not in the database; a database restored without its key files,
or opened from another data directory, had new keys made for it without a word, and its
pseudonyms and sealed records stopped matching. A store now records a one-way fingerprint of each
key when it first uses it, and refuses another key. Its own branch, rooted on the core revision:
the keys belong to every area, and their table refers to no other.

Revision ID: keys_0001
Revises: 0001_core
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keys_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("keys",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_fingerprint",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_fingerprint")),
    )


def downgrade() -> None:
    op.drop_table("key_fingerprint")
