"""The project's own report format: JSON Lines, one report per line, files included.

The schema (documented in docs/formats.md) says everything the NCMEC XML reader keeps, with
plain names. It is strict: an unknown field is an error (a typo must not silently drop data).
Each line is validated on its own: a bad line is rejected with its line number and field path,
the other lines are read. One report on its own (a web submission of ``application/json``) is
read as a JSON document of any layout (``parse_document``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticError

from safeguarding.hashing.kinds import HashKind, InvalidHashError, normalise_hash
from safeguarding.helpline.identifiers import redact
from safeguarding.input_files import UNREADABLE, RepeatedKeyError, load_json, why_unreadable
from safeguarding.triage.formats.fields import (
    IN_CLEAR,
    UNSTORABLE,
    FieldError,
    clear_text,
    parse_datetime,
    report_id_of,
    unstorable,
    url_host,
)
from safeguarding.triage.records import (
    BATCHED_REASONS,
    FILE_ANNOTATIONS,
    FILE_RELEVANCE,
    INCIDENT_TYPES,
    INDUSTRY_CLASSIFICATIONS,
    INTERNET_DETAIL_KINDS,
    IP_EVENTS,
    REPORT_ANNOTATIONS,
    FileRecord,
    HashValue,
    Identifier,
    InternetDetail,
    Parsed,
    Party,
    Rejected,
    ReportRecord,
    Role,
)

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
MAX_LINE_BYTES = 1_000_000


class _Strict(BaseModel):
    # Strict: a JSON true is not an age of 1, nor "13" an age, nor 1 a yes; each is refused.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _when(value: object) -> object:
    """A time as ISO 8601 text, through the same rule as every other format (1990 to
    tomorrow). A number is refused: pydantic would read it as seconds or milliseconds since
    1970 and let a 0 in as a 1970 report."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a time is ISO 8601 text, e.g. 2026-03-04T05:06:07Z")
    try:
        return parse_datetime("date-time", value)
    except FieldError as exc:
        raise ValueError(str(exc)) from exc


def _clear(name: str) -> AfterValidator:
    """``clear_text`` as a field check: a text stored in clear that holds an identifier is
    refused."""

    def check(value: str) -> str:
        try:
            return clear_text(name, value)
        except FieldError as exc:
            raise ValueError(str(exc)) from exc

    return AfterValidator(check)


def _host(value: str) -> str:
    """The host name a URL contributes to ``url_hosts`` (empty if it has none), checked as every
    text stored in clear is: the path and user name are dropped, but the host itself is kept."""
    host = url_host(value)
    if not host:
        return ""
    try:
        return clear_text("url host", host)
    except FieldError as exc:
        raise ValueError(str(exc)) from exc


class IdentifierIn(_Strict):
    """An identifier of a party. ``scope`` is the service (or device id type) it belongs to,
    checked by ``clear_text``; ``event_name`` is one of the CyberTipline's capture events, as in
    XML (free text there would be stored in clear)."""

    kind: Literal["email", "phone", "ip", "screen_name", "esp_id", "device_id"]
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    scope: Annotated[str, StringConstraints(max_length=128), _clear("scope")] = ""
    event_name: Literal[IP_EVENTS] | None = None  # type: ignore[valid-type]
    event_time: datetime | None = None

    _time = field_validator("event_time", mode="before")(_when)


class PartyIn(_Strict):
    esp_service: Annotated[Short, _clear("esp_service")] | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    compromised_account: bool | None = None
    account_temporarily_disabled: bool | None = None
    account_permanently_disabled: bool | None = None
    prior_ct_reports: Annotated[int, Field(ge=0, le=100_000)] = 0
    country: Annotated[str, StringConstraints(max_length=8), _clear("country")] | None = None
    region: Annotated[str, StringConstraints(max_length=64), _clear("region")] | None = None
    identifiers: list[IdentifierIn] = []
    associated_accounts: list[PartyIn] = []

    def record(self, role: Role) -> Party:
        return Party(
            role=role,
            esp_service=self.esp_service,
            age=self.age,
            compromised_account=self.compromised_account,
            account_temporarily_disabled=self.account_temporarily_disabled,
            account_permanently_disabled=self.account_permanently_disabled,
            prior_ct_reports_count=self.prior_ct_reports,
            location_country=self.country.upper() if self.country else None,
            location_region=self.region,
            identifiers=tuple(_identifier(i) for i in self.identifiers),
            associated=tuple(a.record("associated_account") for a in self.associated_accounts),
        )


class InternetDetailIn(_Strict):
    kind: Literal[INTERNET_DETAIL_KINDS]  # type: ignore[valid-type]
    client: Annotated[Short, _clear("client")] | None = None
    url_hosts: list[Annotated[Short, AfterValidator(_host)]] = []  # validated to their hosts
    third_party_hosted: bool | None = None
    identifiers: list[IdentifierIn] = []


class HashIn(_Strict):
    kind: Literal["md5", "sha1", "sha256", "pdq", "photodna"]
    value: Annotated[str, StringConstraints(max_length=512)]
    quality: Annotated[int, Field(ge=0, le=100)] | None = None

    @model_validator(mode="after")
    def _valid(self) -> HashIn:
        try:
            normalise_hash(self.kind, self.value)
        except InvalidHashError as exc:
            raise ValueError(f"invalid hash: {exc}") from exc
        return self

    def normalised(self) -> HashValue:
        kind: HashKind = self.kind
        return HashValue(kind, normalise_hash(kind, self.value), self.quality)


class FileIn(_Strict):
    file_id: Id
    file_name: Annotated[str, StringConstraints(max_length=2048)] | None = None
    uploaded_at: datetime | None = None
    relevance: Literal[FILE_RELEVANCE] | None = None  # type: ignore[valid-type]
    viewed_by_esp: bool | None = None
    exif_viewed_by_esp: bool | None = None
    publicly_available: bool | None = None
    annotations: list[Literal[FILE_ANNOTATIONS]] = []  # type: ignore[valid-type]
    industry_classification: Literal[INDUSTRY_CLASSIFICATIONS] | None = None  # type: ignore[valid-type]
    hashes: list[HashIn] = []

    _time = field_validator("uploaded_at", mode="before")(_when)


class ReportIn(_Strict):
    report_id: Id
    incident_type: Literal[INCIDENT_TYPES]  # type: ignore[valid-type]
    incident_time: datetime
    provider: Annotated[Short, _clear("provider")] | None = None
    platform: Annotated[Short, _clear("platform")] | None = None
    escalate_to_high_priority: Annotated[str, StringConstraints(max_length=3000)] | None = None
    annotations: list[Literal[REPORT_ANNOTATIONS]] = []  # type: ignore[valid-type]
    batched_reason: Literal[BATCHED_REASONS] | None = None  # type: ignore[valid-type]
    reported_user: PartyIn | None = None
    victims: list[PartyIn] = []
    intended_recipients: list[PartyIn] = []
    internet_details: list[InternetDetailIn] = []
    files: list[FileIn] = []

    _time = field_validator("incident_time", mode="before")(_when)


def _identifier(item: IdentifierIn) -> Identifier:
    return Identifier(item.kind, item.value, item.scope, item.event_name, item.event_time)


def _file(item: FileIn) -> FileRecord:
    return FileRecord(
        provider_file_id=item.file_id,
        file_name=item.file_name,
        uploaded_at=item.uploaded_at,
        file_relevance=item.relevance,
        viewed_by_esp=item.viewed_by_esp,
        exif_viewed_by_esp=item.exif_viewed_by_esp,
        publicly_available=item.publicly_available,
        annotations=frozenset(item.annotations),
        industry_classification=item.industry_classification,
        hashes=tuple(h.normalised() for h in item.hashes),
    )


def report_record(item: ReportIn) -> ReportRecord:
    parties = [item.reported_user.record("reported_user")] if item.reported_user else []
    parties += [v.record("victim") for v in item.victims]
    parties += [r.record("intended_recipient") for r in item.intended_recipients]
    return ReportRecord(
        provider_report_id=item.report_id,
        format="jsonl",
        incident_type=item.incident_type,
        incident_time=item.incident_time,
        provider=item.provider,
        platform=item.platform,
        escalation_text_length=(
            len(item.escalate_to_high_priority)
            if item.escalate_to_high_priority is not None
            else None
        ),
        escalated=item.escalate_to_high_priority is not None,
        annotations=frozenset(item.annotations),
        batched_reason=item.batched_reason,
        parties=tuple(parties),
        internet_details=tuple(
            InternetDetail(
                d.kind,
                d.client,
                tuple(sorted({host for host in d.url_hosts if host})),
                d.third_party_hosted,
                tuple(_identifier(i) for i in d.identifiers),
            )
            for d in item.internet_details
        ),
        files=tuple(_file(f) for f in item.files),
    )


def parse_line(raw: bytes, location: str) -> Parsed | None:
    """One line: a report, a rejection, or None for a blank line."""
    if not raw.strip():
        return None
    if len(raw) > MAX_LINE_BYTES:
        return Rejected(
            location,
            "line_too_long",
            f"{location}: line over {MAX_LINE_BYTES} bytes",
            raw[:MAX_LINE_BYTES],
        )
    return parse_document(raw, location)


def parse_document(raw: bytes, location: str) -> Parsed:
    """One report as a JSON document, laid out as its writer likes (a web submission of
    ``application/json``, pretty-printed or not): a report or a rejection. Read as a line is,
    so a report reads the same either way; JSON's own errors name the line and column."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(
            location, "not_utf8", f"{location}: not UTF-8 ({exc.reason} at byte {exc.start})", raw
        )
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return Rejected(location, "bad_json", f"{location}: not JSON ({exc.msg} at {where})", raw)
    except RepeatedKeyError as exc:
        problem = f"key {field_path([exc.key])!r} given twice in one object"
        return Rejected(location, "repeated_key", f"{location}: {problem}", raw)
    except UNREADABLE as exc:
        return Rejected(
            location, "bad_json", f"{location}: not JSON we read ({why_unreadable(exc)})", raw
        )
    if not isinstance(data, dict):
        what = _JSON_KINDS.get(type(data), "a number")
        return Rejected(
            location, "wrong_type", f"{location}: a report is one JSON object, not {what}", raw
        )
    report_id = report_id_of(data.get("report_id"))
    if _MAY_BE_UNSTORABLE.search(raw) and (found := _unstorable_text(data)):
        path, rule = found
        return Rejected(
            f"{location}:{path}",
            rule,
            f"{location}: {path}: {UNSTORABLE[rule]}",
            raw,
            provider_report_id=report_id,
        )
    try:
        return report_record(ReportIn.model_validate(data))._replace(origin=(location, raw))
    except PydanticError as exc:
        error = exc.errors()[0]
        path = field_path(error["loc"])
        rule = _rule(error["type"], str(error.get("msg", "")))
        # An id or name with nothing in it (after its spaces) is as good as missing.
        message = "is empty" if error["type"] == "string_too_short" else error["msg"]
        return Rejected(
            f"{location}:{path}",
            rule,
            f"{location}: {path}: {message}",
            raw,
            provider_report_id=report_id,
        )


_JSON_KINDS: dict[type, str] = {
    list: "an array", str: "a string", bool: "true or false", type(None): "null",
}  # fmt: skip


# JSON text can hold a NUL or a lone surrogate only as an escape (a raw NUL is refused as a
# control character, and bytes that decode as UTF-8 never give a surrogate), so a line without
# one of these escapes is not walked: the cost of the check is one search of the line's bytes.
_MAY_BE_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD])")


def _unstorable_text(data: object) -> tuple[str, str] | None:
    """The field path (as pydantic writes it) of the first key or string in ``data`` that no
    store can hold, and the rule it breaks. Walked with a stack of its own: a document nested
    as deep as the JSON reader allows would exhaust the interpreter's."""
    stack: list[tuple[tuple[str | int, ...], object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if rule := unstorable(value):
                return field_path(path), rule
        elif isinstance(value, dict):
            items = []
            for key, item in value.items():
                here = (*path, key)
                if rule := unstorable(key):
                    return field_path(here), rule
                items.append((here, item))
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend(reversed([((*path, i), v) for i, v in enumerate(value)]))
    return None


def field_path(keys: Iterable[str | int]) -> str:
    """A field's path as the refusal names it (``reported_user.age``), with any key that holds an
    email address, phone number or IP address replaced by its kind. An unknown key is named in
    the stored, clear-text location and message of the refusal, and a sender may have used a
    person's address as a key; the sealed input still holds it for whoever may unseal it. Each
    key is redacted alone: joined by dots, a key and its neighbours would read as one address."""
    return ".".join(redact(str(key))[0] for key in keys)


def _rule(error_type: str, message: str) -> str:
    if "invalid hash" in message:
        return "invalid_hash"
    if IN_CLEAR in message:
        return "identifier_in_scope"
    if "ISO 8601" in message:
        return "bad_datetime"
    if "date-time" in message and "outside" in message:
        return "datetime_out_of_range"
    return {
        "literal_error": "unknown_enum",
        "string_too_long": "too_long",
        "extra_forbidden": "unknown_field",
        "missing": "missing_field",
        "string_too_short": "missing_field",
        "datetime_from_date_parsing": "bad_datetime",
        "datetime_parsing": "bad_datetime",
        "value_error": "bad_value",
    }.get(error_type, "wrong_type" if error_type.endswith("_type") else error_type)


def parse_lines(data: bytes, name: str) -> list[Parsed]:
    """Every line of a JSON Lines document."""
    parsed = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        item = parse_line(line, f"{name}:{number}")
        if item is not None:
            parsed.append(item)
    return parsed
