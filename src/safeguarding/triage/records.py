"""Parsed reports as plain values: what every format reader produces and the store writer takes.

Identifiers are still raw here; they are pseudonymised when written (``triage.writer``), so the
readers stay pure and need no key. Free text is already reduced to what is kept (the length of an
escalation text); file names are kept only long enough to find the media and take the extension.

Records are named tuples: immutable, and built at the cost of a tuple. A frozen dataclass sets
each field through ``object.__setattr__``: a report and its two files built that way took
about 4 % more of the CPU of their parse and preparation. Equality compares every field,
origin included.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from safeguarding.disclosure.pseudonymise import IdentifierKind
from safeguarding.hashing.kinds import HashKind
from safeguarding.triage.formats.fields import holds_identifier

# Where a record came from: its location (file, line or member) and its raw input, kept so that a
# record refused later (a conflict, a missing report) goes to quarantine with its raw input.
Origin = tuple[str, bytes]

Role = Literal["reported_user", "victim", "intended_recipient", "associated_account"]

INCIDENT_TYPES = (
    "Child Pornography (possession, manufacture, and distribution)",
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
REPORT_ANNOTATIONS = (
    "sextortion",
    "csamSolicitation",
    "minorToMinorInteraction",
    "spam",
    "sadisticOnlineExploitation",
    "informational",
)
FILE_ANNOTATIONS = (
    "animeDrawingVirtualHentai",
    "potentialMeme",
    "viral",
    "possibleSelfProduction",
    "physicalHarm",
    "violenceGore",
    "bestiality",
    "liveStreaming",
    "infant",
    "generativeAi",
)
BATCHED_REASONS = ("VIRAL_POTENTIAL_MEME",)
INDUSTRY_CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
FILE_RELEVANCE = ("Reported", "Supplemental Reported")
IP_EVENTS = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")
INTERNET_DETAIL_KINDS = (
    "web_page",
    "email",
    "newsgroup",
    "chat_im",
    "online_gaming",
    "cell_phone",
    "non_internet",
    "peer2peer",
)


class Identifier(NamedTuple):
    """A raw identifier of a party; ``scope`` is the ESP service or device id type."""

    kind: IdentifierKind
    value: str
    scope: str = ""
    event_name: str | None = None
    event_time: datetime | None = None


# The scope stored with an IP address that is not globally routable (private, loopback,
# link-local, carrier-grade NAT, documentation ranges, or no address at all): such an address is
# in use by unrelated networks at once, so it links no reports (``triage.store_read``). Only the
# stored row carries it; the pseudonym and the report's digest are made from the identifier as
# parsed, so a report sent again digests as before.
IP_NOT_GLOBAL = "not-global"


def stored_scope(item: Identifier) -> str:
    """The scope an identifier is stored with: its own, or ``IP_NOT_GLOBAL`` for an IP address
    that is not globally routable (the raw address is not kept, so this is decided at ingest)."""
    if item.kind != "ip":
        return item.scope
    try:
        routable = ipaddress.ip_address(item.value.strip()).is_global
    except ValueError:
        routable = False
    return item.scope if routable else IP_NOT_GLOBAL


class Party(NamedTuple):
    role: Role
    esp_service: str | None = None
    age: int | None = None
    compromised_account: bool | None = None
    account_temporarily_disabled: bool | None = None
    account_permanently_disabled: bool | None = None
    prior_ct_reports_count: int = 0
    location_country: str | None = None
    location_region: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    associated: tuple[Party, ...] = ()


class InternetDetail(NamedTuple):
    kind: str
    client: str | None = None
    url_hosts: tuple[str, ...] = ()
    third_party_hosted: bool | None = None
    identifiers: tuple[Identifier, ...] = ()


class HashValue(NamedTuple):
    kind: HashKind
    value: str
    quality: int | None = None


class FileRecord(NamedTuple):
    """One file of a report (an NCMEC ``<fileDetails>`` or a file of a JSON line / CSV row)."""

    provider_file_id: str
    file_name: str | None = None
    uploaded_at: datetime | None = None
    file_relevance: str | None = None
    viewed_by_esp: bool | None = None
    exif_viewed_by_esp: bool | None = None
    publicly_available: bool | None = None
    annotations: frozenset[str] = frozenset()
    industry_classification: str | None = None
    hashes: tuple[HashValue, ...] = ()
    identifiers: tuple[Identifier, ...] = ()

    @property
    def extension(self) -> str | None:
        """The file name's extension, lower-case: all that is kept of the name. A suffix that
        is not one (more than 15 characters, or other than letters and digits) is not kept, and
        neither is one that holds an identifier: ``x.0612345678`` would put a phone number in
        clear in the store."""
        if not self.file_name or "." not in self.file_name:
            return None
        suffix = self.file_name.rsplit(".", 1)[1].lower()
        if not (0 < len(suffix) <= 15 and suffix.isalnum()):
            return None
        extension = f".{suffix}"
        return None if holds_identifier(extension) else extension


class ReportRecord(NamedTuple):
    """One report; ``files`` holds files given with it (JSON Lines, CSV), not NCMEC fileDetails."""

    provider_report_id: str
    format: str
    incident_type: str | None = None
    incident_time: datetime | None = None
    provider: str | None = None
    platform: str | None = None
    escalation_text_length: int | None = None
    escalated: bool = False
    annotations: frozenset[str] = frozenset()
    batched_reason: str | None = None
    parties: tuple[Party, ...] = ()
    internet_details: tuple[InternetDetail, ...] = ()
    files: tuple[FileRecord, ...] = ()
    unknown_elements: tuple[tuple[str, bytes], ...] = ()
    origin: Origin = ("", b"")


class FileDetailsRecord(NamedTuple):
    """An NCMEC ``<fileDetails>`` document: a file that belongs to the report ``report_id``."""

    provider_report_id: str
    file: FileRecord
    unknown_elements: tuple[tuple[str, bytes], ...] = ()
    origin: Origin = ("", b"")


# The rule of a submission with nothing in it but blanks: refused, not taken for one of no
# reports; its quarantine record stays open on retry, the input being as empty read again.
EMPTY_BODY = "empty_body"


def storable(text: str) -> str:
    """``text`` with what no store can hold in text written as an escape: a NUL as ``\\x00``
    (PostgreSQL refuses it), a lone surrogate as ``\\udcff`` (no UTF-8 text holds one)."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Rejected:
    """Input that broke a rule: where (file, line or element path), the rule, and the raw input.

    The location and message can quote what was refused (a JSON key, a file name read from the
    disk as it is, undecodable bytes and all) and go to the quarantine, to an HTTP answer and to
    the terminal: they are made storable here, once for every reader, or the refusal itself
    would fail where it is recorded. The raw input is bytes, sealed as it came; the report id
    is one the reader accepted as an id (``fields.report_id_of``) or None."""

    location: str
    rule: str
    message: str
    raw: bytes
    kind: str = "report"
    provider_report_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", storable(self.location))
        object.__setattr__(self, "message", storable(self.message))


Parsed = ReportRecord | FileDetailsRecord | Rejected
