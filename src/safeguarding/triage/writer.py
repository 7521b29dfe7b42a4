"""Writing prepared reports and files into the store: deduplicate, detect conflicts, insert.

One call writes one batch inside the caller's transaction. A report already stored under the
same source and id with the same content digest is skipped; with a different digest it is a
conflict and goes to quarantine; the stored report is never overwritten. Files work the same way,
keyed by report and file id. File details whose report is not stored (yet) are quarantined as
``unknown_report`` and can be retried once the report has come in.

Records arrive as rows ready for the store (``triage.prepare``: digests, pseudonyms and every
value computed, in a parse worker where there is one), so what is left here is what needs the
database: the idempotency lookups, the row ids (drawn from the database and put into the rows
that refer to them) and one bulk insert per table per batch (``triage.bulk``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from safeguarding.store.models import (
    FileHash,
    PartyIdentifier,
    ProviderReport,
    ReportedFile,
    ReportInternetDetail,
    ReportParty,
)
from safeguarding.triage.bulk import fetch_in, insert_bound, insert_bound_returning_ids
from safeguarding.triage.bulk import insert_rows as insert_rows  # the list import uses it
from safeguarding.triage.prepare import (
    DETAIL_COLUMNS,
    FILE_COLUMNS,
    HASH_COLUMNS,
    IDENTIFIER_COLUMNS,
    PARTY_COLUMNS,
    REPORT_COLUMNS,
    Prepared,
    PreparedFile,
    PreparedReport,
    Preparer,
    Row,
)
from safeguarding.triage.records import FileDetailsRecord, Origin, Parsed, Rejected, ReportRecord
from safeguarding.triage.sealing import Sealer


@dataclass
class BatchResult:
    """What a batch did; ``new_file_ids`` are the stored files to match, ``new_hashes`` their
    hashes as inserted (``HASH_COLUMNS`` rows)."""

    reports_stored: int = 0
    reports_unchanged: int = 0
    files_stored: int = 0
    files_unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    new_file_ids: list[int] = field(default_factory=list)
    new_hashes: list[Row] = field(default_factory=list)


class Writer:
    """Writes batches for one source; its ``Preparer`` holds the keys for pseudonyms and
    sealing."""

    def __init__(self, preparer: Preparer) -> None:
        self.preparer = preparer
        self.source = preparer.source

    @property
    def sealer(self) -> Sealer:
        return self.preparer.sealer

    def prepare(self, parsed: Sequence[Parsed]) -> list[Prepared]:
        """The records as rows for ``write_prepared`` (a parse worker runs this)."""
        return self.preparer.prepare(parsed)

    def write(
        self,
        session: Session,
        reports: Sequence[ReportRecord],
        details: Sequence[FileDetailsRecord],
    ) -> BatchResult:
        """Prepare and write records in one go."""
        preparer = self.preparer
        return self.write_prepared(
            session,
            [preparer.report(r) for r in reports],
            [preparer.file(d.provider_report_id, d.file, d.origin) for d in details],
        )

    def write_prepared(
        self,
        session: Session,
        reports: Sequence[PreparedReport],
        details: Sequence[PreparedFile],
    ) -> BatchResult:
        dialect = session.connection().dialect.name
        if dialect != self.preparer.dialect.name:
            raise ValueError(f"rows prepared for {self.preparer.dialect.name}, store is {dialect}")
        result = BatchResult()
        refused: set[tuple[str, str]] = set()
        stored = self._write_reports(session, reports, result, refused)
        # Files given with a report go in only with it: a conflicting copy's files are part of
        # the conflict (quarantined with it, in its raw input), never attached to the stored
        # version. The copies refused are told apart by report id and digest, not by report id
        # alone: another copy of the same id in the batch may be the one stored, and its files
        # must be stored with it (copies alike in content share their fate).
        files = (
            [f for r in reports if (r.provider_report_id, r.digest) not in refused for f in r.files]
            if refused
            else [f for r in reports for f in r.files]
        )
        self._write_files(session, files + list(details), stored, result)
        return result

    def _write_reports(
        self,
        session: Session,
        reports: Sequence[PreparedReport],
        result: BatchResult,
        refused: set[tuple[str, str]],
    ) -> dict[str, int]:
        """Store new reports; returns report id → row id of every report of the batch that is
        stored now (new or unchanged), so its files can be attached. The report id and digest
        of each copy refused as a conflict are added to ``refused``."""
        wanted: dict[str, PreparedReport] = {}
        for report in reports:
            seen = wanted.get(report.provider_report_id)
            if seen is not None and seen.digest != report.digest:
                result.rejected.append(
                    _conflict(report.origin, report.provider_report_id, "report")
                )
                refused.add((report.provider_report_id, report.digest))
                continue
            wanted[report.provider_report_id] = report
        existing = _existing_reports(session, self.source, list(wanted))
        ids: dict[str, int] = {}
        new: list[PreparedReport] = []
        for report_id, report in wanted.items():
            if report_id in existing:
                row_id, stored_digest = existing[report_id]
                if stored_digest == report.digest:
                    ids[report_id] = row_id
                    result.reports_unchanged += 1
                else:
                    result.rejected.append(_conflict(report.origin, report_id, "report"))
                    refused.add((report_id, report.digest))
            else:
                new.append(report)
        if new:
            new_ids = insert_bound_returning_ids(
                session, ProviderReport, REPORT_COLUMNS, [r.values for r in new]
            )
            for report, row_id in zip(new, new_ids, strict=True):
                ids[report.provider_report_id] = row_id
            _write_parties(session, list(zip(new_ids, new, strict=True)))
            result.reports_stored += len(new)
        return ids

    def _write_files(
        self,
        session: Session,
        files: list[PreparedFile],
        batch_reports: dict[str, int],
        result: BatchResult,
    ) -> None:
        if not files:
            return
        report_ids = dict(batch_reports)
        missing = sorted({f.provider_report_id for f in files} - set(report_ids))
        if missing:
            for report_id, (stored_id, _) in _existing_reports(
                session, self.source, missing
            ).items():
                report_ids[report_id] = stored_id
        keyed: dict[tuple[int, str], PreparedFile] = {}
        for file in files:
            report_id = file.provider_report_id
            found = report_ids.get(report_id)
            origin = file.origin
            if found is None:
                result.rejected.append(
                    Rejected(
                        origin[0],
                        "unknown_report",
                        f"{origin[0]}: file {file.provider_file_id}: report {report_id} of source "
                        f"{self.source!r} is not stored (yet); retry after ingesting it",
                        origin[1],
                        kind="file_details",
                        provider_report_id=report_id,
                    )
                )
                continue
            key = (found, file.provider_file_id)
            seen = keyed.get(key)
            if seen is not None and seen.digest != file.digest:
                result.rejected.append(
                    _conflict(origin, report_id, "file_details", file.provider_file_id)
                )
                continue
            keyed[key] = file
        existing = _existing_files(session, list(keyed))
        new: list[tuple[int, PreparedFile]] = []
        for (row_id, file_id), file in keyed.items():
            stored = existing.get((row_id, file_id))
            if stored is None:
                new.append((row_id, file))
            elif stored == file.digest:
                result.files_unchanged += 1
            else:
                result.rejected.append(
                    _conflict(file.origin, file.provider_report_id, "file_details", file_id)
                )
        if not new:
            return
        file_ids = insert_bound_returning_ids(
            session, ReportedFile, FILE_COLUMNS, [(owner, *f.values) for owner, f in new]
        )
        hash_rows: list[Row] = []
        identifier_rows: list[Row] = []
        for stored_id, (owner, file) in zip(file_ids, new, strict=True):
            hash_rows += [(stored_id, *row) for row in file.hashes]
            identifier_rows += [(owner, None, *row) for row in file.identifiers]
        insert_bound(session, FileHash, HASH_COLUMNS, hash_rows)
        insert_bound(session, PartyIdentifier, IDENTIFIER_COLUMNS, identifier_rows)
        result.files_stored += len(new)
        result.new_file_ids += file_ids
        result.new_hashes += hash_rows


def _write_parties(session: Session, reports: list[tuple[int, PreparedReport]]) -> None:
    """The parties, identifiers and internet details of new reports (``reports``: row id and
    report). Parties go in level by level, each level with its parents' ids."""
    party_ids: list[list[int]] = [[0] * len(report.parties) for _, report in reports]
    depth = 0
    while True:
        level = [
            (index, position, parent, values)
            for index, (_, report) in enumerate(reports)
            for position, (party_depth, parent, values) in enumerate(report.parties)
            if party_depth == depth
        ]
        if not level:
            break
        rows = [
            (reports[index][0], party_ids[index][parent] if parent >= 0 else None, *values)
            for index, _, parent, values in level
        ]
        ids = insert_bound_returning_ids(session, ReportParty, PARTY_COLUMNS, rows)
        for (index, position, _, _), party_id in zip(level, ids, strict=True):
            party_ids[index][position] = party_id
        depth += 1
    identifiers: list[Row] = []
    details: list[Row] = []
    for (report_id, report), ids_of in zip(reports, party_ids, strict=True):
        identifiers += [
            (report_id, ids_of[position] if position >= 0 else None, *values)
            for position, values in report.identifiers
        ]
        details += [(report_id, *values) for values in report.details]
    insert_bound(session, ReportInternetDetail, DETAIL_COLUMNS, details)
    insert_bound(session, PartyIdentifier, IDENTIFIER_COLUMNS, identifiers)


def _conflict(origin: Origin, report_id: str, kind: str, file_id: str | None = None) -> Rejected:
    what = f"file {file_id} of report {report_id}" if file_id else f"report {report_id}"
    return Rejected(
        origin[0] or what,
        "conflicting_duplicate",
        f"{origin[0]}: {what} is already stored with different content; the stored one is kept",
        origin[1],
        kind=kind,
        provider_report_id=report_id,
    )


def _existing_reports(
    session: Session, source: str, report_ids: list[str]
) -> dict[str, tuple[int, str]]:
    rows = fetch_in(
        session,
        "SELECT provider_report_id, id, content_digest FROM provider_report"
        " WHERE source = ? AND provider_report_id IN ({keys})",
        report_ids,
        (source,),
    )
    return {report_id: (row_id, digest) for report_id, row_id, digest in rows}


def _existing_files(session: Session, keys: list[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Digests of the stored files among ``keys`` (report row id, file id): every file of those
    reports is read (one indexed lookup per report) and the keys picked out."""
    wanted = set(keys)
    rows = fetch_in(
        session,
        "SELECT report_id, provider_file_id, content_digest FROM reported_file"
        " WHERE report_id IN ({keys})",
        sorted({report_id for report_id, _ in keys}),
    )
    return {(r, f): digest for r, f, digest in rows if (r, f) in wanted}
