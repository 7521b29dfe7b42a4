"""Quarantine: input that could not be accepted, kept sealed with its location, rule and error.

Recording is idempotent: the same raw input at the same location of the same source is recorded
once, however often an import is re-run. ``retry`` opens the raw input and runs it through its
reader again (for example file details whose report has come in since); what is accepted is
stored and its quarantine record resolved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.store.models import QuarantineRecord
from safeguarding.triage.records import Rejected
from safeguarding.triage.sealing import Sealer

PURPOSE = "quarantine"


def raw_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


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
    keys = {(r.location[:512], raw_digest(r.raw)): r for r in rejected}
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
