"""Notifications in: the two random-key indexes that no query used dropped.

``file_hash (kind, value)`` and ``party_identifier (kind, pseudonym)`` take their keys in random
order (hash values, keyed pseudonyms), so every batch of a bulk intake wrote into most of their
leaf pages: about a third of the writing process's CPU. Nothing looks rows up by them: matching
looks list entries up by a stored file's hash (``hash_list_entry (kind, value)``) and reads a
file's hashes by its id (the leading column of ``uq_file_hash_file_id``); subjects are linked in
memory from a full read of the identifiers, and views read a report's identifiers by its id. A
lookup by hash or by pseudonym that is added later brings its index with it.

Revision ID: triage_0003
Revises: triage_0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "triage_0003"
down_revision: str | Sequence[str] | None = "triage_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED = (
    ("ix_file_hash_kind_value", "file_hash", ["kind", "value"]),
    ("ix_party_identifier_kind_pseudonym", "party_identifier", ["kind", "pseudonym"]),
)


def upgrade() -> None:
    for name, table, _ in _DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in _DROPPED:
        op.create_index(name, table, columns)
