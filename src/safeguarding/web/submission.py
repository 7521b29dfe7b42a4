"""Report submission over HTTP: the intake's own readers, writer, quarantine and matching.

A submission is one document (an NCMEC ``<report>`` or ``<fileDetails>`` XML document, one JSON
object in the project's report schema, or JSON Lines of them). It is read by the same readers as
``safeguarding ingest``, written by the same writer (pseudonymised, deduplicated by content digest)
and its rejections go to the same quarantine, all in ONE transaction together with its audit event;
the caller answers only after that transaction has committed, so an acknowledged report is durable.

The channel (``source``) is the submitting account (``api:<name>``): the same report id sent again
by the same account with the same content is a no-op; with different content it is a conflict and
goes to quarantine, never over the stored report.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.store import Store
from safeguarding.triage.context import IntakeContext, intake_context
from safeguarding.triage.formats import jsonl, ncmec_xml
from safeguarding.triage.quarantine import record_rejections
from safeguarding.triage.records import FileDetailsRecord, Parsed, Rejected, ReportRecord

SubmissionFormat = Literal["ncmec_xml", "jsonl"]
CONTENT_TYPES: dict[str, SubmissionFormat] = {
    "application/xml": "ncmec_xml",
    "text/xml": "ncmec_xml",
    "application/json": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
}
CONFLICT_RULES = frozenset({"conflicting_duplicate"})


@dataclass(frozen=True)
class RejectedItem:
    location: str
    rule: str
    message: str


@dataclass
class SubmissionResult:
    """What one submission did; ``rejected`` items are in quarantine."""

    reports_stored: int = 0
    reports_unchanged: int = 0
    files_stored: int = 0
    files_unchanged: int = 0
    matches: int = 0
    report_ids: list[str] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)

    @property
    def status(self) -> Literal["stored", "unchanged", "rejected", "conflict", "partial"]:
        if self.rejected:
            if self.reports_stored or self.files_stored:
                return "partial"
            rules = {item.rule for item in self.rejected}
            return "conflict" if rules <= CONFLICT_RULES else "rejected"
        if self.reports_stored or self.files_stored:
            return "stored"
        return "unchanged"


class Submitter:
    """Submits documents into one store; built once per app, shared by request threads.

    The PDQ index of the matcher is process state, so matching is serialised by a lock; on SQLite
    the whole transaction is, because SQLite has one writer at a time anyway and a transaction
    that reads before it writes would otherwise fail under concurrency instead of waiting.
    """

    def __init__(self, store: Store, context: IntakeContext | None = None) -> None:
        self.store = store
        self.context = context or intake_context(store)
        self._match_lock = threading.Lock()
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if store.dialect == "sqlite" else nullcontext()
        )

    def parse(self, body: bytes, fmt: SubmissionFormat, location: str) -> list[Parsed]:
        """The intake's readers over the body, as ``safeguarding ingest`` reads a file."""
        if fmt == "ncmec_xml":
            limit = self.context.options.max_document_bytes
            return [ncmec_xml.parse_document(body, location, max_bytes=limit)]
        return jsonl.parse_lines(body, location)

    def submit(
        self, body: bytes, fmt: SubmissionFormat, actor: Actor, *, location: str
    ) -> SubmissionResult:
        """Read, validate, store and quarantine one document, and audit it, in one transaction."""
        parsed = self.parse(body, fmt, location)
        reports = [p for p in parsed if isinstance(p, ReportRecord)]
        details = [p for p in parsed if isinstance(p, FileDetailsRecord)]
        rejected = [p for p in parsed if isinstance(p, Rejected)]
        source = f"api:{actor.name}"[:120]
        result = SubmissionResult()
        with self._write_lock, self.store.session() as session:
            writer = self.context.writer(source, None, datetime.now(UTC))
            written = writer.write(session, reports, details)
            rejected += written.rejected
            record_rejections(
                session,
                writer.sealer,
                rejected,
                source=source,
                format=fmt,
                source_file=location,
            )
            if written.new_file_ids:
                with self._match_lock:
                    self.context.matcher.sync(session)
                    found = self.context.matcher.find(session, written.new_file_ids)
                    result.matches = self.context.matcher.store(
                        session, found, len(written.new_file_ids)
                    )
            result.reports_stored = written.reports_stored
            result.reports_unchanged = written.reports_unchanged
            result.files_stored = written.files_stored
            result.files_unchanged = written.files_unchanged
            result.report_ids = sorted(
                {r.provider_report_id for r in reports} | {d.provider_report_id for d in details}
            )
            result.rejected = [RejectedItem(r.location, r.rule, r.message) for r in rejected]
            audit.record(
                session,
                actor,
                "report.submit",
                "report",
                result.report_ids[0] if len(result.report_ids) == 1 else "",
                {
                    "status": result.status,
                    "format": fmt,
                    "reports": str(len(result.report_ids)),
                    "stored": str(result.reports_stored + result.files_stored),
                    "rejected": str(len(result.rejected)),
                },
            )
        return result
