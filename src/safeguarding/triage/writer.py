"""Writing parsed reports and files into the store: pseudonymise, deduplicate, detect conflicts.

One call writes one batch inside the caller's transaction. A report already stored under the
same source and id with the same content digest is skipped; with a different digest it is a
conflict and goes to quarantine; the stored report is never overwritten. Files work the same way,
keyed by report and file id. File details whose report is not stored (yet) are quarantined as
``unknown_report`` and can be retried once the report has come in.

Rows are inserted in bulk through the driver (``triage.bulk``: one ``executemany`` per table per
batch, ids drawn from the database), so a batch of thousands of reports costs a handful of round
trips and no per-row statement machinery.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.hashing.files import FileDigest
from safeguarding.store.models import (
    FileHash,
    PartyIdentifier,
    ProviderReport,
    ReportedFile,
    ReportInternetDetail,
    ReportParty,
)
from safeguarding.triage.bulk import fetch_in, insert_values, insert_values_returning_ids
from safeguarding.triage.bulk import insert_rows as insert_rows  # the list import uses it
from safeguarding.triage.records import (
    FileDetailsRecord,
    FileRecord,
    Identifier,
    Origin,
    Parsed,
    Party,
    Rejected,
    ReportRecord,
)
from safeguarding.triage.sealing import Sealer

_REPORT_FLAGS = {
    "sextortion": "annotation_sextortion",
    "csamSolicitation": "annotation_csam_solicitation",
    "minorToMinorInteraction": "annotation_minor_to_minor",
    "spam": "annotation_spam",
    "sadisticOnlineExploitation": "annotation_sadistic_online_exploitation",
    "informational": "annotation_informational",
}
_FILE_FLAGS = {
    "animeDrawingVirtualHentai": "annotation_anime_drawing",
    "viral": "annotation_viral",
    "possibleSelfProduction": "annotation_possible_self_production",
    "physicalHarm": "annotation_physical_harm",
    "violenceGore": "annotation_violence_gore",
    "bestiality": "annotation_bestiality",
    "liveStreaming": "annotation_live_streaming",
    "infant": "annotation_infant",
    "generativeAi": "annotation_generative_ai",
}
MediaLookup = Callable[[FileRecord], FileDigest | None]
# Rows are built as value lists in these column orders (``triage.bulk.insert_values``).
_REPORT_COLUMNS = (
    "source", "provider_report_id", "content_digest", "format", "ingest_run_id", "incident_type",
    "incident_time", "provider", "platform", "escalated", "escalation_text_length",
    "batched_reason", "received_at", "unknown_element_count", "unknown_element_names",
    "unknown_elements_sealed", *_REPORT_FLAGS.values(),
)  # fmt: skip
_PARTY_COLUMNS = (
    "report_id", "parent_id", "role", "esp_service", "age", "compromised_account",
    "account_temporarily_disabled", "account_permanently_disabled", "prior_ct_reports_count",
    "location_country", "location_region",
)  # fmt: skip
_IDENTIFIER_COLUMNS = (
    "report_id", "party_id", "kind", "pseudonym", "scope", "event_name", "event_time",
)  # fmt: skip
_DETAIL_COLUMNS = ("report_id", "kind", "client", "url_hosts", "third_party_hosted")
_FILE_COLUMNS = (
    "report_id", "provider_file_id", "content_digest", "extension", "uploaded_at",
    "file_relevance", "viewed_by_esp", "exif_viewed_by_esp", "publicly_available",
    "potential_meme", "industry_classification", "media_status", "unhashable_reason",
    *_FILE_FLAGS.values(),
)  # fmt: skip
_HASH_COLUMNS = ("file_id", "kind", "value", "quality", "origin")
Pseudonyms = dict[tuple[str, str, str], str]


@dataclass
class BatchResult:
    """What a batch did; ``new_file_ids`` are the stored files to match."""

    reports_stored: int = 0
    reports_unchanged: int = 0
    files_stored: int = 0
    files_unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    new_file_ids: list[int] = field(default_factory=list)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    raise TypeError(type(value).__name__)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=_json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Writer:
    """Writes batches for one source; holds the keys for pseudonyms and sealing."""

    def __init__(
        self,
        source: str,
        pseudonymiser: Pseudonymiser,
        sealer: Sealer,
        *,
        received_at: datetime,
        run_id: int | None = None,
        media: MediaLookup | None = None,
    ) -> None:
        self.source = source
        self._pseudonymiser = pseudonymiser
        self._sealer = sealer
        self.received_at = received_at
        self.run_id = run_id
        self._media = media
        self._pseudonyms: dict[tuple[str, str, str], str] = {}

    @property
    def sealer(self) -> Sealer:
        return self._sealer

    # --- digests (over pseudonymised content, so no raw identifier is ever hashed unkeyed) ---

    def _pseudonym(self, item: Identifier) -> str:
        key = (item.kind, item.scope, item.value)
        found = self._pseudonyms.get(key)
        if found is None:
            if len(self._pseudonyms) > 200_000:
                self._pseudonyms.clear()
            found = self._pseudonymiser.pseudonym(item.kind, item.value, scope=item.scope)
            self._pseudonyms[key] = found
        return found

    def _identifier_key(self, item: Identifier) -> tuple[Any, ...]:
        return (item.kind, self._pseudonym(item), item.scope, item.event_name, item.event_time)

    def _party_key(self, party: Party) -> tuple[Any, ...]:
        return (
            party.role, party.esp_service, party.age, party.compromised_account,
            party.account_temporarily_disabled, party.account_permanently_disabled,
            party.prior_ct_reports_count, party.location_country, party.location_region,
            [self._identifier_key(i) for i in party.identifiers],
            [self._party_key(a) for a in party.associated],
        )  # fmt: skip

    def report_digest(self, report: ReportRecord) -> str:
        """SHA-256 over the report as stored: pseudonyms, never raw identifiers, are hashed."""
        if report.digest is not None:
            return report.digest
        return _digest(
            [
                report.provider_report_id, report.format, report.incident_type,
                report.incident_time, report.provider, report.platform,
                report.escalation_text_length, report.escalated, sorted(report.annotations),
                report.batched_reason,
                [self._party_key(p) for p in report.parties],
                [
                    (d.kind, d.client, d.url_hosts, d.third_party_hosted,
                     [self._identifier_key(i) for i in d.identifiers])
                    for d in report.internet_details
                ],
                [(path, raw) for path, raw in report.unknown_elements],
            ]
        )  # fmt: skip

    def file_digest(self, file: FileRecord) -> str:
        if file.digest is not None:
            return file.digest
        return _digest(
            [
                file.provider_file_id, file.file_name, file.uploaded_at, file.file_relevance,
                file.viewed_by_esp, file.exif_viewed_by_esp, file.publicly_available,
                sorted(file.annotations), file.industry_classification,
                [(h.kind, h.value, h.quality) for h in file.hashes],
                [self._identifier_key(i) for i in file.identifiers],
            ]
        )  # fmt: skip

    def prepare(self, parsed: Sequence[Parsed]) -> tuple[list[Parsed], Pseudonyms]:
        """The records with their digests, and the pseudonyms of their identifiers. A parse worker
        (holding the same key) runs this next to the parsing, so the one writing process only
        looks the pseudonyms up (``adopt``) and stores the records."""
        records: list[Parsed] = []
        identifiers: list[Identifier] = []
        for item in parsed:
            if isinstance(item, ReportRecord):
                files = tuple(replace(f, digest=self.file_digest(f)) for f in item.files)
                item = replace(item, files=files, digest=self.report_digest(item))
                identifiers += _report_identifiers(item)
            elif isinstance(item, FileDetailsRecord):
                item = replace(item, file=replace(item.file, digest=self.file_digest(item.file)))
                identifiers += item.file.identifiers
            records.append(item)
        return records, {(i.kind, i.scope, i.value): self._pseudonym(i) for i in identifiers}

    def adopt(self, pseudonyms: Pseudonyms) -> None:
        """Take pseudonyms computed by ``prepare`` (under the same key) into the cache."""
        if len(self._pseudonyms) + len(pseudonyms) > 200_000:
            self._pseudonyms.clear()
        self._pseudonyms.update(pseudonyms)

    # --- the batch ------------------------------------------------------------------------

    def write(
        self,
        session: Session,
        reports: Sequence[ReportRecord],
        details: Sequence[FileDetailsRecord],
    ) -> BatchResult:
        result = BatchResult()
        stored = self._write_reports(session, reports, result)
        # Files given with a report go in only with it: a conflicting report's files are part of
        # the conflict (quarantined with it), never attached to the stored version.
        refused = {r.provider_report_id for r in result.rejected}
        files: list[tuple[str, FileRecord, Origin]] = [
            (r.provider_report_id, f, r.origin)
            for r in reports
            if r.provider_report_id not in refused
            for f in r.files
        ]
        files += [(d.provider_report_id, d.file, d.origin) for d in details]
        self._write_files(session, files, stored, result)
        return result

    def _write_reports(
        self, session: Session, reports: Sequence[ReportRecord], result: BatchResult
    ) -> dict[str, int]:
        """Store new reports; returns report id → row id of every report of the batch that is
        stored now (new or unchanged), so its files can be attached."""
        wanted: dict[str, tuple[ReportRecord, str]] = {}
        for report in reports:
            digest = self.report_digest(report)
            seen = wanted.get(report.provider_report_id)
            if seen is not None and seen[1] != digest:
                result.rejected.append(
                    _conflict(report.origin, report.provider_report_id, "report")
                )
                continue
            wanted[report.provider_report_id] = (report, digest)
        existing = _existing_reports(session, self.source, list(wanted))
        ids: dict[str, int] = {}
        new: list[tuple[ReportRecord, str]] = []
        for report_id, (report, digest) in wanted.items():
            if report_id in existing:
                row_id, stored_digest = existing[report_id]
                if stored_digest == digest:
                    ids[report_id] = row_id
                    result.reports_unchanged += 1
                else:
                    result.rejected.append(_conflict(report.origin, report_id, "report"))
            else:
                new.append((report, digest))
        if new:
            rows = [self._report_row(report, digest) for report, digest in new]
            new_ids = insert_values_returning_ids(session, ProviderReport, _REPORT_COLUMNS, rows)
            for (report, _), row_id in zip(new, new_ids, strict=True):
                ids[report.provider_report_id] = row_id
            self._write_parties(session, [(ids[r.provider_report_id], r) for r, _ in new])
            result.reports_stored += len(new)
        return ids

    def _report_row(self, report: ReportRecord, digest: str) -> list[Any]:
        annotations = report.annotations
        return [
            self.source, report.provider_report_id, digest, report.format, self.run_id,
            report.incident_type, report.incident_time, report.provider, report.platform,
            report.escalated, report.escalation_text_length, report.batched_reason,
            self.received_at, len(report.unknown_elements),
            [path for path, _ in report.unknown_elements],
            self._seal_unknown(report.unknown_elements),
            *[name in annotations for name in _REPORT_FLAGS],
        ]  # fmt: skip

    def _seal_unknown(self, unknown: tuple[tuple[str, bytes], ...]) -> bytes | None:
        if not unknown:
            return None
        payload = json.dumps([[path, raw.decode("utf-8", "replace")] for path, raw in unknown])
        return self._sealer.seal(payload.encode(), "unknown-elements")

    def _write_parties(self, session: Session, reports: list[tuple[int, ReportRecord]]) -> None:
        level: list[tuple[int, int | None, Party]] = [
            (report_id, None, party) for report_id, report in reports for party in report.parties
        ]
        identifiers: list[list[Any]] = []
        while level:
            rows = [
                [
                    report_id, parent, party.role, party.esp_service, party.age,
                    party.compromised_account, party.account_temporarily_disabled,
                    party.account_permanently_disabled, party.prior_ct_reports_count,
                    party.location_country, party.location_region,
                ]
                for report_id, parent, party in level
            ]  # fmt: skip
            party_ids = insert_values_returning_ids(session, ReportParty, _PARTY_COLUMNS, rows)
            following: list[tuple[int, int | None, Party]] = []
            for (report_id, _, party), party_id in zip(level, party_ids, strict=True):
                identifiers += [
                    self._identifier_row(report_id, party_id, i) for i in party.identifiers
                ]
                following += [(report_id, party_id, a) for a in party.associated]
            level = following
        details: list[list[Any]] = []
        for report_id, report in reports:
            for detail in report.internet_details:
                details.append(
                    [
                        report_id, detail.kind, detail.client, list(detail.url_hosts),
                        detail.third_party_hosted,
                    ]
                )  # fmt: skip
                identifiers += [
                    self._identifier_row(report_id, None, i) for i in detail.identifiers
                ]
        insert_values(session, ReportInternetDetail, _DETAIL_COLUMNS, details)
        insert_values(session, PartyIdentifier, _IDENTIFIER_COLUMNS, identifiers)

    def _identifier_row(self, report_id: int, party_id: int | None, item: Identifier) -> list[Any]:
        return [
            report_id, party_id, item.kind, self._pseudonym(item), item.scope[:128],
            item.event_name, item.event_time,
        ]  # fmt: skip

    def _write_files(
        self,
        session: Session,
        files: list[tuple[str, FileRecord, Origin]],
        batch_reports: dict[str, int],
        result: BatchResult,
    ) -> None:
        if not files:
            return
        report_ids = dict(batch_reports)
        missing = sorted({r for r, _, _ in files} - set(report_ids))
        if missing:
            for report_id, (stored_id, _) in _existing_reports(
                session, self.source, missing
            ).items():
                report_ids[report_id] = stored_id
        keyed: dict[tuple[int, str], tuple[FileRecord, str, str, Origin]] = {}
        for report_id, file, origin in files:
            found = report_ids.get(report_id)
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
            digest = self.file_digest(file)
            key = (found, file.provider_file_id)
            seen = keyed.get(key)
            if seen is not None and seen[1] != digest:
                result.rejected.append(
                    _conflict(origin, report_id, "file_details", file.provider_file_id)
                )
                continue
            keyed[key] = (file, digest, report_id, origin)
        existing = _existing_files(session, list(keyed))
        new: list[tuple[int, FileRecord, str]] = []
        for (row_id, file_id), (file, digest, report_id, origin) in keyed.items():
            stored = existing.get((row_id, file_id))
            if stored is None:
                new.append((row_id, file, digest))
            elif stored == digest:
                result.files_unchanged += 1
            else:
                result.rejected.append(_conflict(origin, report_id, "file_details", file_id))
        if not new:
            return
        digests = [self._media(file) if self._media else None for _, file, _ in new]
        rows = [
            self._file_row(row_id, file, digest, media)
            for (row_id, file, digest), media in zip(new, digests, strict=True)
        ]
        file_ids = insert_values_returning_ids(session, ReportedFile, _FILE_COLUMNS, rows)
        hash_rows: list[list[Any]] = []
        identifier_rows: list[list[Any]] = []
        for stored_file, (owner, file, _), media in zip(file_ids, new, digests, strict=True):
            hash_rows += _hash_rows(stored_file, file, media)
            identifier_rows += [self._identifier_row(owner, None, i) for i in file.identifiers]
        insert_values(session, FileHash, _HASH_COLUMNS, hash_rows)
        insert_values(session, PartyIdentifier, _IDENTIFIER_COLUMNS, identifier_rows)
        result.files_stored += len(new)
        result.new_file_ids += file_ids

    def _file_row(
        self, report_id: int, file: FileRecord, digest: str, media: FileDigest | None
    ) -> list[Any]:
        annotations = file.annotations
        status = (
            "not_supplied"
            if media is None
            else ("unhashable" if media.unhashable_reason else "hashed")
        )
        return [
            report_id, file.provider_file_id, digest, file.extension, file.uploaded_at,
            file.file_relevance, file.viewed_by_esp, file.exif_viewed_by_esp,
            file.publicly_available, "potentialMeme" in annotations,
            file.industry_classification, status, media.unhashable_reason if media else None,
            *[name in annotations for name in _FILE_FLAGS],
        ]  # fmt: skip


def _report_identifiers(report: ReportRecord) -> list[Identifier]:
    found: list[Identifier] = []
    parties = list(report.parties)
    while parties:
        party = parties.pop()
        found += party.identifiers
        parties += party.associated
    for detail in report.internet_details:
        found += detail.identifiers
    for file in report.files:
        found += file.identifiers
    return found


def _hash_rows(file_id: int, file: FileRecord, media: FileDigest | None) -> list[list[Any]]:
    rows: dict[tuple[str, str], list[Any]] = {
        (item.kind, item.value): [file_id, item.kind, item.value, item.quality, "provider"]
        for item in file.hashes
    }
    if media is not None:
        for kind, value in media.hashes.items():
            quality = media.pdq_quality if kind == "pdq" else None
            rows.setdefault((kind, value), [file_id, kind, value, quality, "computed"])
    return list(rows.values())


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
