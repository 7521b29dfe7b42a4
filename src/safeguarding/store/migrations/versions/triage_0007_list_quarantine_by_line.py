"""Notifications in: a hash list's quarantine records are keyed by where in the list, not by file.

A refused list entry was recorded at ``<file name>:<line>``, and records are unique by source
(the list), location and raw input. The same file uploaded again under another name (a browser
saves a second download as ``list (1).csv``) therefore quarantined its bad lines anew and
resolved the records of the earlier name, and the next upload the other way round. Locations are
now where the entry is in the list (``line 3``, ``value[2]``), the file's name staying in
``source_file``. Existing records of lists are moved to that form; where two named the same line
of the same list with the same input (the case above), one is kept: an open one before a
resolved or dismissed one, else the latest.

Revision ID: triage_0007
Revises: triage_0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "triage_0007"
down_revision: str | Sequence[str] | None = "triage_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD = sa.table(
    "quarantine_record",
    sa.column("id", sa.Integer),
    sa.column("source", sa.String),
    sa.column("source_file", sa.String),
    sa.column("location", sa.String),
    sa.column("raw_digest", sa.String),
    sa.column("status", sa.String),
    sa.column("hash_list_id", sa.Integer),
)


def _in_list(location: str, source_file: str) -> str:
    """As ``triage.hashlists.in_list`` when this revision was written."""
    within = location.removeprefix(f"{source_file}:")
    return f"line {within}" if within.isascii() and within.isdigit() else within


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            RECORD.c.id, RECORD.c.source, RECORD.c.source_file, RECORD.c.location,
            RECORD.c.raw_digest, RECORD.c.status,
        ).where(RECORD.c.hash_list_id.is_not(None))
    ).all()  # fmt: skip
    groups: dict[tuple[str, str, str], list[tuple[int, str, str]]] = {}
    for record_id, source, source_file, location, digest, status in rows:
        moved = _in_list(location, source_file)[:512]
        groups.setdefault((source, moved, digest), []).append((record_id, status, location))
    for (_, moved, _), members in groups.items():
        kept = max(members, key=lambda member: (member[1] == "open", member[0]))
        others = [member[0] for member in members if member is not kept]
        if others:
            bind.execute(RECORD.delete().where(RECORD.c.id.in_(others)))
        if kept[2] != moved:
            bind.execute(RECORD.update().where(RECORD.c.id == kept[0]).values(location=moved))


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(RECORD.c.id, RECORD.c.source_file, RECORD.c.location).where(
            RECORD.c.hash_list_id.is_not(None)
        )
    ).all()
    for record_id, source_file, location in rows:
        within = location.removeprefix("line ")
        bind.execute(
            RECORD.update()
            .where(RECORD.c.id == record_id)
            .values(location=f"{source_file}:{within}"[:512])
        )
