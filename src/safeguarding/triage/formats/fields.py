"""Field rules shared by the readers: lengths, dates, booleans and enumerations.

Each check raises ``FieldError`` naming the rule; the reader adds the file and the path. Maximum
lengths follow the CyberTipline schema where it states them and are generous elsewhere.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from safeguarding.helpline.identifiers import Finding, describe, find_identifiers, redact

MAX_LENGTHS: dict[str, int] = {
    "reportId": 64,
    "fileId": 64,
    "platform": 256,
    "espName": 256,
    "espService": 256,
    "espIdentifier": 255,
    "screenName": 255,
    "email": 255,
    "phone": 64,
    "ipAddress": 64,
    "idType": 64,
    "idValue": 255,
    "fileName": 2048,
    "url": 2048,
    "countryCode": 8,
    "country": 8,
    "region": 64,
    "chatClient": 256,
    "gameName": 256,
    "client": 256,
    "escalateToHighPriority": 3000,
    "incidentDateTimeDescription": 3000,
}
DEFAULT_MAX_LENGTH = 3000
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
TRUE_WORDS = frozenset({"true", "1", "yes", ""})
FALSE_WORDS = frozenset({"false", "0", "no"})


class FieldError(ValueError):
    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


# What a store cannot hold in text, by rule: see ``unstorable``.
UNSTORABLE = {
    "nul_character": "must not contain a NUL character (\\x00)",
    "lone_surrogate": "must not contain a lone surrogate (a \\ud800 to \\udfff escape without "
    "its pair), which is no character",
}


def unstorable(text: str) -> str | None:
    """The rule ``text`` breaks if a store cannot hold it, else None. A NUL character: PostgreSQL
    refuses it in text while SQLite keeps it, so the same input would be stored on one backend
    and fail the other's transaction. A lone surrogate (JSON's ``\\ud800`` escape makes one): no
    UTF-8 text holds it, so both drivers fail. The readers refuse both with the field named."""
    if "\x00" in text:
        return "nul_character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone_surrogate"
    return None


def report_id_of(value: object) -> str | None:
    """The report id a rejection is filed under in the quarantine: ``value`` as the readers take
    an id (text, stripped, 1 to 64 characters, storable), or None. An id that is itself what is
    wrong names no report, and copied as given it could not even be stored."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    fits = 0 < len(text) <= MAX_LENGTHS["reportId"]
    return text if fits and unstorable(text) is None else None


def quoted(text: str, limit: int = 40) -> str:
    """The start of a refused value, quoted, as a refusal's message shows it, with every email
    address, phone number and IP address in it replaced by its kind. The message is stored in
    clear in the quarantine (the input itself is sealed) and shown to whoever reads it, and a
    value refused for its form may be an identifier typed into the wrong field. The whole value
    is scanned, not only the start shown: a phone number may be spread over any length of
    spaces, and cut short it would no longer be one. Only refusals pay for it."""
    return repr(redact(text)[0][:limit])


def bounded(name: str, value: str) -> str:
    """``value`` stripped, if it fits the field's maximum length."""
    text = value.strip()
    limit = MAX_LENGTHS.get(name, DEFAULT_MAX_LENGTH)
    if len(text) > limit:
        raise FieldError(f"{name} has {len(text)} characters, at most {limit} allowed", "too_long")
    return text


def parse_datetime(name: str, value: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 date-time (``xs:dateTime``); without an offset it is taken as UTC.

    A time at the edge of the calendar whose offset carries it past year 1 or 9999 in UTC
    (``9999-12-31T23:59:59-23:59``) cannot be converted at all: ``astimezone`` raises
    OverflowError, which no reader catches and which ended the whole run. It is out of range
    like any other time outside 1990 … today, so it is refused with the same rule; the check
    costs nothing on valid input (an exception handler, entered only by such a time)."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FieldError(
            f"{name} is not an ISO 8601 date-time: {quoted(text)}", "bad_datetime"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError as exc:
        raise _out_of_range(name, text) from exc
    latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
    if not EARLIEST <= parsed <= latest:
        raise _out_of_range(name, text)
    return parsed


def _out_of_range(name: str, text: str) -> FieldError:
    return FieldError(
        f"{name} {quoted(text)} is outside {EARLIEST.year} … today", "datetime_out_of_range"
    )


def parse_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise FieldError(f"{name} is not true or false: {quoted(value)}", "bad_boolean")


def parse_int(name: str, value: str, low: int = 0, high: int = 10**12) -> int:
    try:
        number = int(value.strip())
    except ValueError as exc:
        raise FieldError(f"{name} is not a whole number: {quoted(value)}", "bad_number") from exc
    if not low <= number <= high:
        raise FieldError(f"{name} {number} is outside {low}…{high}", "number_out_of_range")
    return number


def enum(name: str, value: str, allowed: Iterable[str]) -> str:
    text = value.strip()
    options = tuple(allowed)
    if text not in options:
        shown = ", ".join(repr(o) for o in options[:8])
        raise FieldError(f"{name} {quoted(text, 60)} is not one of {shown}", "unknown_enum")
    return text


# What is stored for a URL whose host is an IP address: the address itself identifies a person
# or a connection (a home line, a phone), so it is never kept in clear among the host names. The
# marker keeps what helps triage, that the content sat on a bare address rather than a named
# service; brackets cannot occur in a host name ``urlsplit`` gives, so no host is taken for it.
IP_ADDRESS_HOST = "[ip-address]"
_HEX_DIGITS = frozenset("0123456789abcdef")


def url_host(value: str) -> str | None:
    """The host name of a URL (or of a bare host), lower-case; paths, queries and user names
    (which can name people) dropped, and a host that is an IP address replaced by
    ``IP_ADDRESS_HOST``. None when there is no host to read."""
    text = value.strip()
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    return IP_ADDRESS_HOST if _is_ip_address(host) else host.lower()


def _is_ip_address(host: str) -> bool:
    """Whether a browser would take ``host`` for an IP address: IPv6 (``urlsplit`` gives it
    without its brackets, and only it holds a colon), or a host whose last label is a number
    (the WHATWG URL rule: ``198.51.100.77``, but also ``3325256781`` or ``0xc6.0x33.100.77``,
    which name the same address). A string test, no parse: it runs for every URL read."""
    if ":" in host:
        return True
    last = host.rpartition(".")[2] or host[:-1].rpartition(".")[2]  # a root dot ends it
    if last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and _HEX_DIGITS.issuperset(last[2:].lower())


def csv_line(text: str) -> list[str] | str:
    """The fields of one CSV line, or what is wrong with it (a carriage return inside an unquoted
    field, which ``csv`` refuses): the caller rejects that one line and keeps the rest. A NUL
    ``csv`` reads as any other character; the CSV reader refuses it itself."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error as exc:
        return f"not a CSV line ({exc})"


# The fields that name a chat client, game or peer-to-peer client (CyberTipline elements, in the
# order the XML reader looks for them; JSON Lines calls its field ``client``). Providers name a
# client with its version (``Skype 8.110.0.215``), a valid IPv4 address: in these fields alone a
# dotted quad after the product's name is read as its version (``find_identifiers``).
CLIENT_FIELDS = ("chatClient", "gameName", "client")

# Texts already found free of identifiers, read as a client's name or not: a source names a
# handful of services, device id types, regions and clients, so each is scanned once per process
# and the scan is not paid again per record. Apart, since a client's name may hold a version
# that in any other field is an address.
_CLEAN_TEXTS: dict[bool, set[str]] = {False: set(), True: set()}
_MAX_CLEAN_TEXTS = 10_000
IN_CLEAR = "is stored in clear and may not hold an identifier"


def clear_text(name: str, value: str) -> str:
    """A text stored in clear beside the pseudonyms: a label (an ESP service or provider, a
    platform, the scope of an identifier, a device id type, a chat client or game), a region or
    country, a URL's host. It names a service, a kind of id or a place, never a person. One that
    holds an email address, a phone number or an IP address (the helpline's note scanner finds
    them) would put an identifier in the store unpseudonymised, so it is refused; the message
    names the kind found, not the value.

    Refused, not pseudonymised: none of these fields is meant to hold an identifier (the formats
    have identifier fields for them), and a pseudonym in place of a service or region name would
    take from triage what the field is for.

    A field in ``CLIENT_FIELDS`` is read as a client's name: ``Skype 8.110.0.215`` there is the
    client and its version, and is kept, while ``IP 192.0.2.7`` or ``from 192.0.2.7`` is still
    refused. In every field, a number the text marks as a version (``v8.110.0.215``,
    ``Skype/8.110.0.215``) is no address."""
    client_name = name in CLIENT_FIELDS
    if value in _CLEAN_TEXTS[client_name]:  # the common case, answered without a further call
        return value
    findings = _identifiers_in(value, client_name)
    if findings:
        raise FieldError(f"{name} {IN_CLEAR}: it holds {describe(findings)}", "identifier_in_scope")
    return value


def holds_identifier(value: str) -> bool:
    """Whether a text derived from input holds an identifier, for what is not refused but left
    out (a file name's extension); scanned once per distinct text, as ``clear_text`` is."""
    return bool(_identifiers_in(value, client_name=False))


def _identifiers_in(value: str, client_name: bool) -> list[Finding]:
    clean = _CLEAN_TEXTS[client_name]
    if value in clean or not value:
        return []
    findings = find_identifiers(value, client_name=client_name)
    if not findings:
        if len(clean) >= _MAX_CLEAN_TEXTS:
            clean.clear()
        clean.add(value)
    return findings
