"""Retrying quarantined records: open the sealed raw input, read it again, store what now passes.

A record passes when its reader accepts it and the writer stores it (or finds it already stored
with the same content). File details whose report has arrived since pass; a conflicting duplicate
stays a conflict; an invalid document stays invalid; input refused for its size stays open, since
only part of it is kept, and so does an archive member that could not be read (none of it is).
Hash-list entries are fixed by importing the corrected list, which resolves the entries that no
longer fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from safeguarding.access import audit
from safeguarding.errors import SafeguardingError
from safeguarding.store.models import QuarantineRecord
from safeguarding.triage.context import IntakeContext
from safeguarding.triage.formats import csv as csv_format
from safeguarding.triage.formats import jsonl, ncmec_xml
from safeguarding.triage.ingest import UNREADABLE_RULE
from safeguarding.triage.options import TriageOptions
from safeguarding.triage.quarantine import open_raw
from safeguarding.triage.records import (
    EMPTY_BODY,
    FileDetailsRecord,
    Parsed,
    Rejected,
    ReportRecord,
)

# Rules under which the quarantine keeps only part of the raw input: a JSON Lines line over
# ``jsonl.MAX_LINE_BYTES`` keeps its first bytes, an XML document over the size limit keeps its
# first ``max_document_bytes``, a document refused unread keeps nothing. The part kept can read
# as valid (a line padded past the limit), so it is never stored in place of the whole.
CUT_SHORT_RULES = frozenset({"line_too_long", "document_too_large"})
# Records that stay open, by rule, with what to do instead. An archive member that could not be
# read (damaged, encrypted) keeps nothing, and an empty submission was nothing: read again, the
# empty input would pass as a document without reports and the record be resolved unstored.
_STAYS_OPEN = {
    **dict.fromkeys(
        CUT_SHORT_RULES,
        "refused for its size, the quarantine keeps only part of it: ingest the file again",
    ),
    UNREADABLE_RULE: "nothing of it could be read or kept: ingest a repaired archive again",
    EMPTY_BODY: "an empty submission holds no report: submit the report itself",
}


@dataclass(frozen=True)
class RetryOutcome:
    record_id: int
    resolved: bool
    message: str


def _reparse(record: QuarantineRecord, raw: bytes, options: TriageOptions) -> list[Parsed]:
    """Read the raw input as ingest read it: with the same options (a document under the
    configured ``max_document_bytes`` that ingest accepted is not refused on retry)."""
    if record.format == "ncmec_xml":
        return [
            ncmec_xml.parse_document(raw, record.source_file, max_bytes=options.max_document_bytes)
        ]
    if record.format == "json":
        return [jsonl.parse_document(raw, record.source_file)]
    if record.format == "jsonl":
        item = jsonl.parse_line(
            raw, record.location.rsplit(":", 1)[0] if ":" in record.location else record.location
        )
        return [item] if item is not None else []
    if record.format == "csv":
        return csv_format.parse_csv(raw, record.source_file)
    raise SafeguardingError(
        f"quarantine record {record.id}: {record.kind} entries are fixed by importing the "
        "corrected list again"
    )


def retry(
    context: IntakeContext, record_ids: list[int] | None = None, actor: audit.Actor | None = None
) -> list[RetryOutcome]:
    """Retry the given open records (all open report records when None).

    With ``actor`` each record that now passes is audited (``quarantine.retry``) in the
    transaction that stores its reports and resolves it; one that stays open changed nothing."""
    outcomes = []
    with context.store.session() as session:
        query = select(QuarantineRecord).where(QuarantineRecord.status == "open")
        if record_ids is not None:
            query = query.where(QuarantineRecord.id.in_(record_ids))
        else:
            query = query.where(QuarantineRecord.kind != "hash_entry")
        records = list(session.scalars(query.order_by(QuarantineRecord.id)))
        context.matcher.sync(session)
    if record_ids is not None:
        missing = sorted(set(record_ids) - {r.id for r in records})
        if missing:
            raise SafeguardingError(
                f"no open quarantine record {', '.join(map(str, missing))}; "
                "see: safeguarding quarantine list"
            )
    for record in records:
        outcomes.append(_retry_one(context, record, actor))
    return outcomes


def _retry_one(
    context: IntakeContext, record: QuarantineRecord, actor: audit.Actor | None
) -> RetryOutcome:
    advice = _STAYS_OPEN.get(record.rule)
    if advice is not None:
        return RetryOutcome(record.id, False, f"{record.rule}: {record.error} ({advice})")
    raw = open_raw(context.sealer, record)
    parsed = _reparse(record, raw, context.options)
    failures = [p for p in parsed if isinstance(p, Rejected)]
    if failures:
        return RetryOutcome(record.id, False, f"{failures[0].rule}: {failures[0].message}")
    reports = [p for p in parsed if isinstance(p, ReportRecord)]
    details = [p for p in parsed if isinstance(p, FileDetailsRecord)]
    with context.store.session() as session:
        writer = context.writer(record.source, None, datetime.now(UTC))
        result = writer.write(session, reports, details)
        if result.rejected:
            first = result.rejected[0]
            session.rollback()
            return RetryOutcome(record.id, False, f"{first.rule}: {first.message}")
        context.matcher.refresh(session)
        found = context.matcher.find(session, result.new_file_ids)
        context.matcher.store(session, found)
        stored = session.get(QuarantineRecord, record.id)
        assert stored is not None
        stored.status, stored.resolved_at = "resolved", datetime.now(UTC)
        if actor is not None:
            counts = {
                "reports_stored": str(result.reports_stored),
                "files_stored": str(result.files_stored),
                "matches": str(len(found)),
            }
            audit.record(session, actor, "quarantine.retry", "quarantine", str(record.id), counts)
    what = f"{result.reports_stored} report(s), {result.files_stored} file(s) stored"
    return RetryOutcome(record.id, True, what)
