"""Notifications in: provider reports, their parties and files, hash lists, matches, quarantine.

What is stored is what a triage team needs and nothing more:
- identifiers of people (emails, phones, IPs, screen names, provider account ids, device ids) only
  as keyed pseudonyms (``party_identifier``), never raw;
- free text (``escalateToHighPriority``, descriptions, additional info) is not stored; the
  escalation text only as a flag and its length;
- file names are dropped (they can name people); only the extension is kept;
- raw input that must be kept (unknown XML elements, quarantined records) is sealed with AES-GCM
  under the ``notes`` key, which lives outside the database (``triage.sealing``); the element
  names of unknown elements are kept in clear so they can be counted and reviewed.

Media are never stored: a reported file is known by its hashes only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from safeguarding.store.base import Base


class IngestRun(Base):
    """One ``safeguarding ingest`` invocation: what came in and what happened to it."""

    __tablename__ = "ingest_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reports_stored: Mapped[int] = mapped_column(Integer, default=0)
    reports_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    files_stored: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    matches: Mapped[int] = mapped_column(Integer, default=0)


class ProviderReport(Base):
    """One report from a provider (an NCMEC CyberTipline ``<report>``, a JSON line, a CSV row).

    ``(source, provider_report_id)`` is unique; ``content_digest`` (SHA-256 of the canonical parsed
    content) makes re-ingest a no-op and turns a changed report under the same id into a conflict.
    """

    __tablename__ = "provider_report"
    __table_args__ = (UniqueConstraint("source", "provider_report_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(120))
    provider_report_id: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))  # ncmec_xml | jsonl | csv
    ingest_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("ingest_run.id", ondelete="SET NULL"), index=True
    )
    incident_type: Mapped[str | None] = mapped_column(String(80))
    incident_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(256))
    platform: Mapped[str | None] = mapped_column(String(256))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_text_length: Mapped[int | None] = mapped_column(Integer)
    annotation_sextortion: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_csam_solicitation: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_minor_to_minor: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_spam: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_sadistic_online_exploitation: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_informational: Mapped[bool] = mapped_column(Boolean, default=False)
    batched_reason: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unknown_element_count: Mapped[int] = mapped_column(Integer, default=0)
    unknown_element_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    unknown_elements_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class ReportParty(Base):
    """A person or account in a report: the reported user, a victim, an intended recipient, or an
    account associated with one of them (``parent_id``). Names and addresses are not stored."""

    __tablename__ = "report_party"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("provider_report.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("report_party.id", ondelete="CASCADE"))
    # reported_user | victim | intended_recipient | associated_account
    role: Mapped[str] = mapped_column(String(24))
    esp_service: Mapped[str | None] = mapped_column(String(256))
    age: Mapped[int | None] = mapped_column(Integer)
    compromised_account: Mapped[bool | None] = mapped_column(Boolean)
    account_temporarily_disabled: Mapped[bool | None] = mapped_column(Boolean)
    account_permanently_disabled: Mapped[bool | None] = mapped_column(Boolean)
    prior_ct_reports_count: Mapped[int] = mapped_column(Integer, default=0)
    location_country: Mapped[str | None] = mapped_column(String(8))
    location_region: Mapped[str | None] = mapped_column(String(64))


class PartyIdentifier(Base):
    """A pseudonymised identifier (keyed HMAC, ``disclosure.pseudonymise``) seen in a report.

    ``kind``: email, phone, ip, screen_name, esp_id, device_id. ``scope`` separates namespaces (the
    ESP service for esp_id and screen_name, the id type for device_id). For IPs the capture event
    name and time are kept, so linking can use a time window. ``party_id`` is null for identifiers
    from the report's internet details. Subjects are linked through ``(kind, pseudonym)``, in
    memory from a full read: no index on them, whose random keys would cost every bulk intake
    more than any lookup has needed (``triage_0003``).
    """

    __tablename__ = "party_identifier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("provider_report.id", ondelete="CASCADE"), index=True
    )
    party_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_party.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    pseudonym: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(128), default="")
    event_name: Mapped[str | None] = mapped_column(String(32))
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReportInternetDetail(Base):
    """Where the incident happened (``<internetDetails>``): the kind of incident, the client or
    game named, and the host names of URLs (paths and queries are dropped). Addresses, phone
    numbers and IPs in it become ``party_identifier`` rows with no party."""

    __tablename__ = "report_internet_detail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("provider_report.id", ondelete="CASCADE"), index=True
    )
    # web_page | email | newsgroup | chat_im | online_gaming | cell_phone | non_internet | peer2peer
    kind: Mapped[str] = mapped_column(String(16))
    client: Mapped[str | None] = mapped_column(String(256))
    url_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    third_party_hosted: Mapped[bool | None] = mapped_column(Boolean)


class ReportedFile(Base):
    """A file of a report (an NCMEC ``<fileDetails>``): flags and classification, never the media.

    The file name is dropped (names can carry personal data); only its extension is kept.
    ``content_digest`` (SHA-256 of the provider's file details) makes re-ingest a no-op and a
    changed file under the same id a conflict.
    ``media_status``: ``not_supplied`` (hashes from the provider only), ``hashed`` (media read and
    hashed here) or ``unhashable`` with ``unhashable_reason`` (corrupt, truncated, empty, bomb...).
    """

    __tablename__ = "reported_file"
    # Also the index of the files of a report (its leading column).
    __table_args__ = (UniqueConstraint("report_id", "provider_file_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("provider_report.id", ondelete="CASCADE"))
    provider_file_id: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))
    extension: Mapped[str | None] = mapped_column(String(16))
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    file_relevance: Mapped[str | None] = mapped_column(String(32))
    viewed_by_esp: Mapped[bool | None] = mapped_column(Boolean)
    exif_viewed_by_esp: Mapped[bool | None] = mapped_column(Boolean)
    publicly_available: Mapped[bool | None] = mapped_column(Boolean)
    potential_meme: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_anime_drawing: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_viral: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_possible_self_production: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_physical_harm: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_violence_gore: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_bestiality: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_live_streaming: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_infant: Mapped[bool] = mapped_column(Boolean, default=False)
    annotation_generative_ai: Mapped[bool] = mapped_column(Boolean, default=False)
    industry_classification: Mapped[str | None] = mapped_column(String(2))  # A1 | A2 | B1 | B2
    media_status: Mapped[str] = mapped_column(String(16), default="not_supplied")
    unhashable_reason: Mapped[str | None] = mapped_column(String(64))


class FileHash(Base):
    """A hash of a reported file. ``kind``: md5, sha1, sha256 (lower-case hex), pdq (64 hex
    characters, with ``quality`` 0–100), photodna (base64; stored, not matched). ``origin``:
    ``provider`` (given in the report) or ``computed`` (hashed here from the media)."""

    __tablename__ = "file_hash"
    # Hashes are read by file (the constraint's leading column), never looked up by value: an
    # index on the value's random keys would cost every bulk intake (``triage_0003``).
    __table_args__ = (UniqueConstraint("file_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("reported_file.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(256))
    quality: Mapped[int | None] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(16), default="provider")


class HashList(Base):
    """A list of hashes: ``known`` abuse material or ``allow`` (known non-abusive content such as
    viral memes; matches lower priority and never count as known abuse material).

    ``version`` grows with each re-import; ``version_token`` is drawn at random with each new
    version and names the version's PDQ index segment (ids are reused after a list is removed, and
    a restored copy of the database repeats versions: neither may pass for another list's
    segment); ``pdq_threshold`` is this list's maximum PDQ distance (default from evidence
    ``pdq.threshold``); ``flood_share`` the share of the recent incoming files (the flood
    guard's window) above which one entry is flagged for review.
    """

    __tablename__ = "hash_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # known | allow
    format: Mapped[str] = mapped_column(String(8))  # vics | csv
    format_version: Mapped[str | None] = mapped_column(String(16))  # VICS 1.x / 2.0
    source_file: Mapped[str] = mapped_column(String(256))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    version_token: Mapped[str] = mapped_column(String(32))
    pdq_threshold: Mapped[int] = mapped_column(Integer)
    flood_share: Mapped[float] = mapped_column(Float)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_count: Mapped[int] = mapped_column(Integer, default=0)


class HashListState(Base):
    """One row (``id`` 1) whose ``token`` is drawn afresh with every change to any hash list
    (an import that changes a list, a removal).

    A matcher keeps the token it synchronised at; a batch of an ingest or of web submissions
    reads it in its own transaction before matching (one row by key) and synchronises again if
    it changed, so no file is matched against a list version that is gone. A list change takes
    the row ``FOR UPDATE`` and batches read it ``FOR SHARE``: on PostgreSQL a change waits for
    the batches matching under the old lists to commit (its retroactive matching then sees their
    files) and later batches wait for the change. SQLite lets one writer at a time anyway.
    """

    __tablename__ = "hash_list_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


class HashListEntry(Base):
    """One hash of a list, with its category mapped to the internal set (``category``) and as
    given (``source_category`` in ``source_scheme``: vics_us, vics_dhs, or none).

    Internal categories: abuse_material, exploitive_age_difficult, cgi_animation, comparison,
    non_pertinent, uncategorised.
    """

    __tablename__ = "hash_list_entry"
    __table_args__ = (
        UniqueConstraint("list_id", "kind", "value"),
        Index("ix_hash_list_entry_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_list.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(32))
    source_category: Mapped[str | None] = mapped_column(String(16))
    source_scheme: Mapped[str] = mapped_column(String(16))
    source_media_id: Mapped[str | None] = mapped_column(String(64))


class HashMatch(Base):
    """A file hash found on a list: exact (distance 0) or PDQ within the list's threshold."""

    __tablename__ = "hash_match"
    # Also the index of the matches of a file (its leading column).
    __table_args__ = (UniqueConstraint("file_id", "entry_id", "hash_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("reported_file.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_list.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_list_entry.id", ondelete="CASCADE"), index=True
    )
    hash_kind: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int] = mapped_column(Integer)
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FloodFlag(Base):
    """A list entry that matched more than its list's ``flood_share`` of the recently stored files
    (``checked_files``: the flood guard's window, ``[triage] flood_window``): flagged for review
    (a bad or over-broad entry), matches kept. A person closes it: ``dismissed`` (the entry is
    right, the content that common) or ``resolved`` (the entry was wrong and the list put right),
    with who and when; nothing closes it by itself."""

    __tablename__ = "flood_flag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("hash_list_entry.id", ondelete="CASCADE"), unique=True
    )
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_list.id", ondelete="CASCADE"), index=True)
    matched_files: Mapped[int] = mapped_column(Integer)
    checked_files: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    flagged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|dismissed|resolved
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[str | None] = mapped_column(String(120))


class QuarantineRecord(Base):
    """Input that could not be accepted, with where it came from, the rule it broke and the raw
    input sealed (AES-GCM, ``notes`` key: raw reports can hold personal identifiers).

    ``kind``: report, file_details, hash_entry. ``status``: open, resolved (a retry stored it) or
    dismissed. ``raw_digest`` (a keyed digest of the raw input, ``triage/quarantine.py``) keeps a
    re-run from quarantining the same input twice.
    """

    __tablename__ = "quarantine_record"
    __table_args__ = (UniqueConstraint("source", "location", "raw_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(120))
    source_file: Mapped[str] = mapped_column(String(512))
    location: Mapped[str] = mapped_column(String(512))
    rule: Mapped[str] = mapped_column(String(64), index=True)
    error: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    provider_report_id: Mapped[str | None] = mapped_column(String(64))
    hash_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("hash_list.id", ondelete="CASCADE"), index=True
    )
    raw_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    raw_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
