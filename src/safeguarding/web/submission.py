"""Report submission over HTTP: the intake's own readers, writer, quarantine and matching.

A submission is one document (an NCMEC ``<report>`` or ``<fileDetails>`` XML document, one JSON
object in the project's report schema, or JSON Lines of them), never empty: a body with nothing
but blanks is refused (``empty_body``), not answered as a submission of no reports that changed
nothing. It is read by the same readers as ``safeguarding ingest``, written by the same writer
(pseudonymised, deduplicated by content digest) and its rejections go to the same quarantine,
together with its own audit event; the caller answers only after the transaction holding it has
committed, so an acknowledged report is durable.

Group commit: a transaction costs a fixed dozen statements and a commit whether it holds one
report or a thousand, so concurrent submissions are handed to one writer thread, which takes every
submission waiting, writes them in ONE transaction and only then resolves each caller's future.
Submissions that cannot affect one another (new reports whose ids occur nowhere else in the group)
go through one writer call per source; the rest (re-sent reports, file details, an id sent twice)
get a writer call each, in arrival order, in the same transaction. Every submission keeps its own
result, quarantine records and audit event. If the group's transaction fails unexpectedly, each of
its submissions is retried in a transaction of its own, so one bad submission fails alone.

The channel (``source``) is the submitting account (``api:<name>``): the same report id sent again
by the same account with the same content is a no-op; with different content it is a conflict and
goes to quarantine, never over the stored report.

A submission's audit event targets the stored report (``report``, its row id, as a read of it
does), not the provider's own report id, which is the provider's namespace and may equal another
report's row id; the provider's id and the source are in the detail.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.store import Store
from safeguarding.store.engine import is_busy
from safeguarding.store.models import ProviderReport
from safeguarding.triage.context import IntakeContext, intake_context
from safeguarding.triage.formats import jsonl, ncmec_xml
from safeguarding.triage.matching import FoundMatch
from safeguarding.triage.quarantine import record_rejections
from safeguarding.triage.records import (
    EMPTY_BODY,
    FileDetailsRecord,
    Parsed,
    Rejected,
    ReportRecord,
)
from safeguarding.triage.writer import BatchResult, Writer

# ``json`` is one report object in any layout; ``jsonl`` one per line. Both hold the project's
# report schema, so a report stored from either is the same report (its format, as stored and
# digested, is ``jsonl``); the quarantine keeps which way the body is read again.
SubmissionFormat = Literal["ncmec_xml", "json", "jsonl"]
CONTENT_TYPES: dict[str, SubmissionFormat] = {
    "application/xml": "ncmec_xml",
    "text/xml": "ncmec_xml",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
}
CONFLICT_RULES = frozenset({"conflicting_duplicate"})
MAX_GROUP_SUBMISSIONS = 500
MAX_GROUP_RECORDS = 5_000  # a group closes once it holds this many reports and file details
IDLE_SECONDS = 2.0  # the writer thread ends after this long without work; the next one restarts it
_ID_CHUNK = 500


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


@dataclass
class Pending:
    """One parsed submission waiting for the writer, and the future its caller waits on."""

    fmt: SubmissionFormat
    actor: Actor
    location: str
    reports: list[ReportRecord]
    details: list[FileDetailsRecord]
    rejected: list[Rejected]
    future: Future[SubmissionResult] = field(default_factory=Future)

    @property
    def source(self) -> str:
        return f"api:{self.actor.name}"[:120]

    @property
    def size(self) -> int:
        return len(self.reports) + len(self.details) + len(self.rejected)

    def report_ids(self) -> list[str]:
        return sorted(
            {r.provider_report_id for r in self.reports}
            | {d.provider_report_id for d in self.details}
        )


@dataclass
class _Written:
    """A submission's share of the group: its writer outcome and its stored files to match."""

    pending: Pending
    result: SubmissionResult
    rejected: list[Rejected]
    new_file_ids: list[int]


class AttributionError(RuntimeError):
    """A shared writer call's totals differ from the sum of its submissions' shares."""


class Submitter:
    """Submits documents into one store; built once per app, shared by request threads.

    Callers parse in their own thread and queue the result; one writer thread at a time (started
    on demand, ended when idle) drains the queue group by group. Being the only writer of
    submissions, it also serialises matching (the PDQ index is process state) and, on SQLite, the
    read-then-write transactions that would otherwise fail under concurrency instead of waiting.
    """

    def __init__(self, store: Store, context: IntakeContext | None = None) -> None:
        self.store = store
        self.context = context or intake_context(store)
        self._queue: deque[Pending] = deque()
        self._wake = threading.Condition()
        self._running = False
        self.thread_name = f"submission-writer-{id(self):x}"

    def parse(self, body: bytes, fmt: SubmissionFormat, location: str) -> list[Parsed]:
        """The intake's readers over the body, as ``safeguarding ingest`` reads a file."""
        if not body.strip():
            return [
                Rejected(location, EMPTY_BODY, f"{location}: the body is empty: no report", body)
            ]
        if fmt == "ncmec_xml":
            limit = self.context.options.max_document_bytes
            return [ncmec_xml.parse_document(body, location, max_bytes=limit)]
        if fmt == "json":
            return [jsonl.parse_document(body, location)]
        return jsonl.parse_lines(body, location)

    def pending(
        self, body: bytes, fmt: SubmissionFormat, actor: Actor, *, location: str
    ) -> Pending:
        """Read the body into a submission for the writer."""
        parsed = self.parse(body, fmt, location)
        return Pending(
            fmt=fmt,
            actor=actor,
            location=location,
            reports=[p for p in parsed if isinstance(p, ReportRecord)],
            details=[p for p in parsed if isinstance(p, FileDetailsRecord)],
            rejected=[p for p in parsed if isinstance(p, Rejected)],
        )

    def enqueue(
        self, body: bytes, fmt: SubmissionFormat, actor: Actor, *, location: str
    ) -> Future[SubmissionResult]:
        """Read the body and queue it for the writer; the future resolves after the commit."""
        pending = self.pending(body, fmt, actor, location=location)
        with self._wake:
            self._queue.append(pending)
            if self._running:
                self._wake.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name=self.thread_name, daemon=True).start()
        return pending.future

    # --- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._queue:
                    self._wake.wait(IDLE_SECONDS)
                if not self._queue:
                    self._running = False
                    return
                group = [self._queue.popleft()]
                size = group[0].size
                while (
                    self._queue
                    and len(group) < MAX_GROUP_SUBMISSIONS
                    and size + self._queue[0].size <= MAX_GROUP_RECORDS
                ):
                    group.append(self._queue.popleft())
                    size += group[-1].size
            # A caller that went away (its request cancelled) before this point has cancelled
            # its future; its submission is written all the same, just not answered.
            for pending in group:
                pending.future.set_running_or_notify_cancel()
            self.write_group(group)

    def write_group(self, group: Sequence[Pending]) -> None:
        """Write the submissions in one transaction and resolve their futures after the commit;
        if that fails, retry each in its own transaction so that only a failing one fails.

        Not when the group waited out the busy timeout for another process's lock: that says
        nothing about any one submission, and each retry would wait the busy timeout again, the
        last of 500 answered hours later. Every submission of the group is told it was busy."""
        try:
            with self.store.session() as session:
                results = self._write(session, group)
        except Exception as exc:
            if len(group) == 1 or is_busy(exc):
                for pending in group:
                    _resolve(pending.future, exc)
            else:
                for pending in group:
                    self.write_group([pending])
            return
        for pending, result in zip(group, results, strict=True):
            _resolve(pending.future, result)

    def _write(self, session: Session, group: Sequence[Pending]) -> list[SubmissionResult]:
        received_at = datetime.now(UTC)
        writers: dict[str, Writer] = {}
        for pending in group:
            if pending.source not in writers:
                writers[pending.source] = self.context.writer(pending.source, None, received_at)
        independent = _independent(session, group)
        written: dict[int, _Written] = {}
        for source, writer in writers.items():
            shared = [p for p in group if p.source == source and id(p) in independent]
            for item in _write_shared(session, writer, shared):
                written[id(item.pending)] = item
        for pending in group:
            if id(pending) not in written:
                written[id(pending)] = _write_alone(session, writers[pending.source], pending)
        ordered = [written[id(p)] for p in group]
        for item in ordered:
            pending = item.pending
            record_rejections(
                session,
                writers[pending.source].sealer,
                item.rejected,
                source=pending.source,
                format=pending.fmt,
                source_file=pending.location,
            )
        self._match(session, ordered)
        rows = _stored_reports(session, ordered)
        audit.record_many(session, [_audit_event(item, rows) for item in ordered])
        return [item.result for item in ordered]

    def _match(self, session: Session, written: Sequence[_Written]) -> None:
        """Match the group's new files in one pass over the index and store the matches (the
        flood guard then judges the recent files once); each submission counts its own."""
        wanted = [file_id for item in written for file_id in item.new_file_ids]
        if not wanted:
            return
        matcher = self.context.matcher
        matcher.refresh(session)
        by_file: dict[int, list[FoundMatch]] = {}
        for match in matcher.find(session, wanted):
            by_file.setdefault(match.file_id, []).append(match)
        for item in written:
            found = {(m.file_id, m.entry_id, m.hash_kind) for f in item.new_file_ids
                     for m in by_file.get(f, [])}  # fmt: skip
            item.result.matches = len(found)
        matcher.store(session, [m for matches in by_file.values() for m in matches])


def _resolve(future: Future[SubmissionResult], outcome: SubmissionResult | Exception) -> None:
    if future.cancelled():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _stored_rows(session: Session, source: str, report_ids: Iterable[str]) -> dict[str, int]:
    """The provider's report id → the row id of that report of ``source``, for those stored."""
    wanted = sorted(set(report_ids))
    found: dict[str, int] = {}
    for begin in range(0, len(wanted), _ID_CHUNK):
        found.update(
            session.execute(
                select(ProviderReport.provider_report_id, ProviderReport.id).where(
                    ProviderReport.source == source,
                    ProviderReport.provider_report_id.in_(wanted[begin : begin + _ID_CHUNK]),
                )
            ).all()
        )
    return found


def _independent(session: Session, group: Sequence[Pending]) -> set[int]:
    """The submissions (by ``id``) that only bring new reports whose ids occur nowhere else in the
    group, and no file details: writing them together or one by one gives the same results."""
    uses = Counter(
        (p.source, report_id)
        for p in group
        for report_id in [r.provider_report_id for r in p.reports]
        + [d.provider_report_id for d in p.details]
    )
    candidates = [
        p
        for p in group
        if p.reports
        and not p.details
        and all(uses[(p.source, r.provider_report_id)] == 1 for r in p.reports)
    ]
    independent: set[int] = set()
    for source in {p.source for p in candidates}:
        mine = [p for p in candidates if p.source == source]
        stored = _stored_rows(
            session, source, (r.provider_report_id for p in mine for r in p.reports)
        )
        independent.update(
            id(p) for p in mine if not any(r.provider_report_id in stored for r in p.reports)
        )
    return independent


def _result(pending: Pending, written: BatchResult) -> SubmissionResult:
    rejected = pending.rejected + written.rejected
    return SubmissionResult(
        reports_stored=written.reports_stored,
        reports_unchanged=written.reports_unchanged,
        files_stored=written.files_stored,
        files_unchanged=written.files_unchanged,
        report_ids=pending.report_ids(),
        rejected=[RejectedItem(r.location, r.rule, r.message) for r in rejected],
    )


def _write_alone(session: Session, writer: Writer, pending: Pending) -> _Written:
    written = writer.write(session, pending.reports, pending.details)
    rejected = pending.rejected + written.rejected
    return _Written(pending, _result(pending, written), rejected, written.new_file_ids)


def _write_shared(session: Session, writer: Writer, shared: Sequence[Pending]) -> list[_Written]:
    """One writer call for independent submissions of one source, its outcome split back.

    Every report of these submissions is new and its id unique in the group, so each is stored,
    each distinct (report, file id) is a new file, and a rejection (a file id given twice with
    different content) belongs to the submission holding its report. The writer lists new files
    in input order, so each submission's files are the next slice. The split is checked against
    the writer's totals; a difference fails the group, which is then written one by one.
    """
    if not shared:
        return []
    reports = [r for p in shared for r in p.reports]
    written = writer.write(session, reports, [])
    owner = {r.provider_report_id: id(p) for p in shared for r in p.reports}
    refused: dict[int, list[Rejected]] = {}
    for item in written.rejected:
        refused.setdefault(owner.get(item.provider_report_id or "", 0), []).append(item)
    out: list[_Written] = []
    begin = 0
    for pending in shared:
        files = len(
            {(r.provider_report_id, f.provider_file_id) for r in pending.reports for f in r.files}
        )
        share = BatchResult(
            reports_stored=len(pending.reports),
            files_stored=files,
            rejected=refused.pop(id(pending), []),
            new_file_ids=written.new_file_ids[begin : begin + files],
        )
        begin += files
        out.append(
            _Written(
                pending,
                _result(pending, share),
                pending.rejected + share.rejected,
                share.new_file_ids,
            )
        )
    split = (sum(w.result.reports_stored for w in out), begin, 0, 0, begin)
    totals = (
        written.reports_stored, written.files_stored, written.reports_unchanged,
        written.files_unchanged, len(written.new_file_ids),
    )  # fmt: skip
    if split != totals or refused:
        raise AttributionError(
            f"shared write of {len(shared)} submissions: split {split}, writer {totals}"
        )
    return out


def _stored_reports(session: Session, written: Sequence[_Written]) -> dict[tuple[str, str], int]:
    """(source, provider's report id) → row id, for the stored reports the submissions name: one
    query per source however many submissions, as the group's other statements are."""
    named: dict[str, set[str]] = {}
    for item in written:
        named.setdefault(item.pending.source, set()).update(item.result.report_ids)
    return {
        (source, report_id): row
        for source, report_ids in named.items()
        for report_id, row in _stored_rows(session, source, report_ids).items()
    }


def _audit_event(item: _Written, rows: dict[tuple[str, str], int]) -> audit.Event:
    """The submission's event: its target the stored report it concerns (new, unchanged, or the
    one a conflicting copy left alone), or the row ids in the detail when there are several."""
    result, pending = item.result, item.pending
    stored = sorted(
        {rows[key] for key in ((pending.source, r) for r in result.report_ids) if key in rows}
    )
    detail = {
        "status": result.status,
        "format": pending.fmt,
        "source": pending.source,
        "reports": str(len(result.report_ids)),
        "stored": str(result.reports_stored + result.files_stored),
        "rejected": str(len(result.rejected)),
    }
    if len(result.report_ids) == 1:
        detail["provider_report_id"] = result.report_ids[0]
    if len(stored) > 1:
        detail["report_ids"] = ",".join(str(row) for row in stored)
    target = str(stored[0]) if len(stored) == 1 else ""
    return audit.Event(pending.actor, "report.submit", "report", target, detail)
