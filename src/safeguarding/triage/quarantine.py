"""Quarantine: input that could not be accepted, kept sealed with its location, rule and error.

Recording is idempotent: the same raw input at the same location of the same source is recorded
once, however often an import is re-run. The raw input is found again by a keyed digest
(``Sealer.digest``, written ``k:`` and 62 hex digits); digests of earlier versions were plain
SHA-256 of the raw input, and opening the intake (``intake_context``) replaces them. ``retry``
opens the raw input and runs it through its reader again (for example file details whose report
has come in since); what is accepted is stored and its quarantine record resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.store.models import QuarantineRecord
from safeguarding.triage.records import Rejected
from safeguarding.triage.sealing import Sealer

PURPOSE = "quarantine"


KEYED = "k:"


def raw_digest(sealer: Sealer, raw: bytes) -> str:
    return KEYED + sealer.digest(raw, PURPOSE)[:62]


def rekey_plain_digests(session: Session, sealer: Sealer) -> int:
    """Replace plain SHA-256 digests left by earlier versions with keyed ones; returns how many.
    Each raw input is opened (its key is the sealer's) and digested again."""
    plain = session.scalars(
        select(QuarantineRecord).where(QuarantineRecord.raw_digest.not_like(f"{KEYED}%"))
    ).all()
    for record in plain:
        record.raw_digest = raw_digest(sealer, open_raw(sealer, record))
    if plain:
        session.flush()
    return len(plain)


def record_rejections(
    session: Session,
    sealer: Sealer,
    rejected: Sequence[Rejected],
    *,
    source: str,
    format: str,
    source_file: str,
    hash_list_id: int | None = None,
) -> int:
    """Store the rejections not yet recorded; returns how many are new."""
    if not rejected:
        return 0
    keys = {(r.location[:512], raw_digest(sealer, r.raw)): r for r in rejected}
    existing = {
        (location, digest)
        for location, digest in session.execute(
            select(QuarantineRecord.location, QuarantineRecord.raw_digest).where(
                QuarantineRecord.source == source,
                QuarantineRecord.raw_digest.in_({digest for _, digest in keys}),
            )
        )
    }
    now = datetime.now(UTC)
    added = 0
    for (location, digest), item in keys.items():
        if (location, digest) in existing:
            continue
        session.add(
            QuarantineRecord(
                kind=item.kind,
                source=source,
                source_file=source_file[:512],
                location=location,
                rule=item.rule[:64],
                error=item.message,
                format=format,
                provider_report_id=item.provider_report_id,
                hash_list_id=hash_list_id,
                raw_sealed=sealer.seal(item.raw, PURPOSE),
                raw_digest=digest,
                status="open",
                created_at=now,
                details={},
            )
        )
        added += 1
    session.flush()
    return added


def open_raw(sealer: Sealer, record: QuarantineRecord) -> bytes:
    return sealer.open(record.raw_sealed, PURPOSE)
