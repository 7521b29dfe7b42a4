"""Parsed records turned into rows ready for the store: digests, pseudonyms, sealed raw input and
every column value, bind-processed for the store's dialect.

This is all the per-record work of writing that does not need the database, so parse workers do
it next to the parsing (they are forked with the run's keys) and the one writing process only
checks idempotency, turns report-local references into row ids and inserts (``triage.writer``).
Rows are plain tuples in the column orders below: they pickle and unpickle at the cost of their
values, where the records' objects cost a constructor call each.

References that only the database can resolve are left out of the rows and added by the writer:
a party row lacks ``report_id`` and ``parent_id`` (its parent is given as a position among the
report's parties), an identifier row lacks ``report_id`` and ``party_id`` (given as a position,
-1 for none), a file row lacks ``report_id``, a hash row lacks ``file_id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Dialect

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
from safeguarding.triage.bulk import row_binder
from safeguarding.triage.records import (
    FileDetailsRecord,
    FileRecord,
    Identifier,
    Origin,
    Parsed,
    Party,
    Rejected,
    ReportRecord,
    stored_scope,
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
# Finds and hashes a reported file's media: (provider's report id, file) -> digest or None.
MediaLookup = Callable[[str, FileRecord], FileDigest | None]
REPORT_COLUMNS = (
    "source", "provider_report_id", "content_digest", "format", "ingest_run_id", "incident_type",
    "incident_time", "provider", "platform", "escalated", "escalation_text_length",
    "batched_reason", "received_at", "unknown_element_count", "unknown_element_names",
    "unknown_elements_sealed", *_REPORT_FLAGS.values(),
)  # fmt: skip
PARTY_COLUMNS = (
    "report_id", "parent_id", "role", "esp_service", "age", "compromised_account",
    "account_temporarily_disabled", "account_permanently_disabled", "prior_ct_reports_count",
    "location_country", "location_region",
)  # fmt: skip
IDENTIFIER_COLUMNS = (
    "report_id", "party_id", "kind", "pseudonym", "scope", "event_name", "event_time",
)  # fmt: skip
DETAIL_COLUMNS = ("report_id", "kind", "client", "url_hosts", "third_party_hosted")
FILE_COLUMNS = (
    "report_id", "provider_file_id", "content_digest", "extension", "uploaded_at",
    "file_relevance", "viewed_by_esp", "exif_viewed_by_esp", "publicly_available",
    "potential_meme", "industry_classification", "media_status", "unhashable_reason",
    *_FILE_FLAGS.values(),
)  # fmt: skip
HASH_COLUMNS = ("file_id", "kind", "value", "quality", "origin")
Row = tuple[Any, ...]


class PreparedFile(NamedTuple):
    """A file ready for the store: its key, digest and origin, and its rows without the ids only
    the database gives (``values``: ``FILE_COLUMNS[1:]``; ``hashes``: ``HASH_COLUMNS[1:]``;
    ``identifiers``: ``IDENTIFIER_COLUMNS[2:]``)."""

    provider_report_id: str
    provider_file_id: str
    digest: str
    origin: Origin
    values: Row
    hashes: tuple[Row, ...]
    identifiers: tuple[Row, ...]


class PreparedReport(NamedTuple):
    """A report ready for the store. ``values`` is its whole row (``REPORT_COLUMNS``).
    ``parties``: (level, parent position or -1, ``PARTY_COLUMNS[2:]``), level by level, so that
    a party's parent comes before it; ``identifiers``: (party position or -1,
    ``IDENTIFIER_COLUMNS[2:]``); ``details``: ``DETAIL_COLUMNS[1:]``; ``files``: files given
    with the report (JSON Lines, CSV)."""

    provider_report_id: str
    digest: str
    origin: Origin
    format: str
    values: Row
    parties: tuple[tuple[int, int, Row], ...]
    identifiers: tuple[tuple[int, Row], ...]
    details: tuple[Row, ...]
    files: tuple[PreparedFile, ...]


Prepared = PreparedReport | PreparedFile | Rejected


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    raise TypeError(type(value).__name__)


# What ``json.dumps(data, sort_keys=True, default=_json_default, separators=(",", ":"))`` writes,
# by one encoder built once (``dumps`` builds one per call). Digested data is built here and holds
# no cycles, so containers are not tracked to find one: the text is the same.
_DIGEST_ENCODER = json.JSONEncoder(
    sort_keys=True, default=_json_default, separators=(",", ":"), check_circular=False
)


def _digest(data: Any) -> str:
    return hashlib.sha256(_DIGEST_ENCODER.encode(data).encode()).hexdigest()


class Preparer:
    """Turns one source's records into rows; holds the keys for pseudonyms and sealing."""

    def __init__(
        self,
        source: str,
        pseudonymiser: Pseudonymiser,
        sealer: Sealer,
        dialect: Dialect,
        *,
        received_at: datetime,
        run_id: int | None = None,
        media: MediaLookup | None = None,
    ) -> None:
        self.source = source
        self._pseudonymiser = pseudonymiser
        self.sealer = sealer
        self.dialect = dialect
        self.received_at = received_at
        self.run_id = run_id
        self._media = media
        self._pseudonyms: dict[tuple[str, str, str], str] = {}
        self._report_row = row_binder(dialect, ProviderReport, REPORT_COLUMNS)
        self._party_row = row_binder(dialect, ReportParty, PARTY_COLUMNS[2:])
        self._identifier_row = row_binder(dialect, PartyIdentifier, IDENTIFIER_COLUMNS[2:])
        self._detail_row = row_binder(dialect, ReportInternetDetail, DETAIL_COLUMNS[1:])
        self._file_row = row_binder(dialect, ReportedFile, FILE_COLUMNS[1:])
        self._hash_row = row_binder(dialect, FileHash, HASH_COLUMNS[1:])

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
        return _digest(
            [
                file.provider_file_id, file.file_name, file.uploaded_at, file.file_relevance,
                file.viewed_by_esp, file.exif_viewed_by_esp, file.publicly_available,
                sorted(file.annotations), file.industry_classification,
                [(h.kind, h.value, h.quality) for h in file.hashes],
                [self._identifier_key(i) for i in file.identifiers],
            ]
        )  # fmt: skip

    # --- rows -----------------------------------------------------------------------------

    def prepare(self, parsed: Sequence[Parsed]) -> list[Prepared]:
        """The records as rows (rejections pass through unchanged)."""
        prepared: list[Prepared] = []
        for item in parsed:
            if isinstance(item, ReportRecord):
                prepared.append(self.report(item))
            elif isinstance(item, FileDetailsRecord):
                prepared.append(self.file(item.provider_report_id, item.file, item.origin))
            else:
                prepared.append(item)
        return prepared

    def report(self, report: ReportRecord) -> PreparedReport:
        annotations = report.annotations
        digest = self.report_digest(report)
        values = self._report_row(
            (
                self.source, report.provider_report_id, digest,
                report.format, self.run_id, report.incident_type, report.incident_time,
                report.provider, report.platform, report.escalated,
                report.escalation_text_length, report.batched_reason, self.received_at,
                len(report.unknown_elements), [path for path, _ in report.unknown_elements],
                self._seal_unknown(report.unknown_elements),
                *[name in annotations for name in _REPORT_FLAGS],
            )
        )  # fmt: skip
        parties: list[tuple[int, int, Row]] = []
        identifiers: list[tuple[int, Row]] = []
        level: list[tuple[int, Party]] = [(-1, party) for party in report.parties]
        depth = 0
        while level:
            following: list[tuple[int, Party]] = []
            for parent, party in level:
                position = len(parties)
                parties.append(
                    (
                        depth, parent,
                        self._party_row(
                            (
                                party.role, party.esp_service, party.age,
                                party.compromised_account, party.account_temporarily_disabled,
                                party.account_permanently_disabled,
                                party.prior_ct_reports_count, party.location_country,
                                party.location_region,
                            )
                        ),
                    )
                )  # fmt: skip
                identifiers += [(position, self._identifier(i)) for i in party.identifiers]
                following += [(position, associated) for associated in party.associated]
            level = following
            depth += 1
        details: list[Row] = []
        for detail in report.internet_details:
            details.append(
                self._detail_row(
                    (detail.kind, detail.client, list(detail.url_hosts), detail.third_party_hosted)
                )
            )
            identifiers += [(-1, self._identifier(i)) for i in detail.identifiers]
        return PreparedReport(
            report.provider_report_id, digest, report.origin, report.format, values,
            tuple(parties), tuple(identifiers), tuple(details),
            tuple(self.file(report.provider_report_id, f, report.origin) for f in report.files),
        )  # fmt: skip

    def file(self, report_id: str, file: FileRecord, origin: Origin) -> PreparedFile:
        """A file of report ``report_id``, with its media hashed if a media directory is given."""
        media = self._media(report_id, file) if self._media else None
        annotations = file.annotations
        status = (
            "not_supplied"
            if media is None
            else ("unhashable" if media.unhashable_reason else "hashed")
        )
        digest = self.file_digest(file)
        values = self._file_row(
            (
                file.provider_file_id, digest, file.extension, file.uploaded_at,
                file.file_relevance, file.viewed_by_esp, file.exif_viewed_by_esp,
                file.publicly_available, "potentialMeme" in annotations,
                file.industry_classification, status,
                media.unhashable_reason if media else None,
                *[name in annotations for name in _FILE_FLAGS],
            )
        )  # fmt: skip
        return PreparedFile(
            report_id, file.provider_file_id, digest, origin, values,
            tuple(self._hash_row(row) for row in _hashes(file, media)),
            tuple(self._identifier(i) for i in file.identifiers),
        )  # fmt: skip

    def _identifier(self, item: Identifier) -> Row:
        scope = stored_scope(item)[:128]
        return self._identifier_row(
            (item.kind, self._pseudonym(item), scope, item.event_name, item.event_time)
        )

    def _seal_unknown(self, unknown: tuple[tuple[str, bytes], ...]) -> bytes | None:
        if not unknown:
            return None
        payload = json.dumps([[path, raw.decode("utf-8", "replace")] for path, raw in unknown])
        return self.sealer.seal(payload.encode(), "unknown-elements")


def _hashes(file: FileRecord, media: FileDigest | None) -> list[Row]:
    """(kind, value, quality, origin) of the provider's hashes and of those computed here from
    the media. A value given by both is kept once, as the provider's, but with the quality
    computed here if the provider stated none, or the lower of the two: a provider's PDQ hash
    without a quality is matched, and must not hide that the media are too flat to match."""
    rows: dict[tuple[str, str], Row] = {
        (item.kind, item.value): (item.kind, item.value, item.quality, "provider")
        for item in file.hashes
    }
    if media is not None:
        for kind, value in media.hashes.items():
            quality = media.pdq_quality if kind == "pdq" else None
            given = rows.get((kind, value))
            if given is None:
                rows[(kind, value)] = (kind, value, quality, "computed")
            elif quality is not None:
                lower = quality if given[2] is None else min(given[2], quality)
                rows[(kind, value)] = (kind, value, lower, "provider")
    return list(rows.values())


def pdq_values(item: Prepared, min_quality: int) -> list[str]:
    """The PDQ hashes of a prepared record's files that are matched (quality unknown or high
    enough); hash rows hold (kind, value, quality, origin)."""
    if isinstance(item, PreparedFile):
        files: tuple[PreparedFile, ...] = (item,)
    elif isinstance(item, PreparedReport):
        files = item.files
    else:
        return []
    return [
        row[1]
        for f in files
        for row in f.hashes
        if row[0] == "pdq" and (row[2] is None or row[2] >= min_quality)
    ]
