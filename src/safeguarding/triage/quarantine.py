"""Quarantine: input that could not be accepted, kept sealed with its location, rule and error.

Recording is idempotent: the same raw input at the same location of the same source is recorded
once, however often an import is re-run; a resolved record whose input is refused again is opened
again rather than passed over. The raw input is found again by a keyed digest
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
from safeguarding.triage.records import Rejected, storable
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
    """Store the rejections not yet recorded; returns how many are new or open again.

    A record already open is left as it is (a re-run quarantines nothing twice). A record that
    was resolved (a later hash-list import no longer produced it, or a retry stored it) whose
    input is refused again is opened again, with the time of its earlier resolution kept in
    ``details["reopened"]``: the key (source, location, digest) is unique, and a returning bad
    entry silently dropped would leave it neither imported nor quarantined. A dismissed record
    stays dismissed."""
    if not rejected:
        return 0
    keys = {(r.location[:512], raw_digest(sealer, r.raw)): r for r in rejected}
    existing = {
        (location, digest): (record_id, status)
        for record_id, location, digest, status in session.execute(
            select(
                QuarantineRecord.id, QuarantineRecord.location, QuarantineRecord.raw_digest,
                QuarantineRecord.status,
            ).where(
                QuarantineRecord.source == source,
                QuarantineRecord.raw_digest.in_({digest for _, digest in keys}),
            )
        )
    }  # fmt: skip
    now = datetime.now(UTC)
    file_name = storable(source_file)[:512]  # a name read from the disk, undecodable bytes too
    added = 0
    for (location, digest), item in keys.items():
        if (location, digest) in existing:
            record_id, status = existing[(location, digest)]
            if status == "resolved":
                found = session.get(QuarantineRecord, record_id)
                assert found is not None
                _reopen(found, item, now)
                added += 1
            continue
        session.add(
            QuarantineRecord(
                kind=item.kind,
                source=source,
                source_file=file_name,
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


def _reopen(record: QuarantineRecord, item: Rejected, now: datetime) -> None:
    """Open a resolved record again, keeping when it was resolved and reopened."""
    earlier = record.resolved_at.isoformat() if record.resolved_at else None
    history = list((record.details or {}).get("reopened", []))
    history.append({"resolved_at": earlier, "reopened_at": now.isoformat()})
    record.details = {**(record.details or {}), "reopened": history}
    record.status, record.resolved_at = "open", None
    record.rule, record.error = item.rule[:64], item.message


def open_raw(sealer: Sealer, record: QuarantineRecord) -> bytes:
    return sealer.open(record.raw_sealed, PURPOSE)
