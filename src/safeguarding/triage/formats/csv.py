"""Simple CSV exports: one row per file (or one row for a report without files), UTF-8.

Header (documented in docs/formats.md; column order free, unknown columns refused):
``report_id, incident_type, incident_time, provider, platform, escalated, annotations,
reported_esp_service, reported_esp_id, reported_screen_name, reported_email, reported_phone,
reported_ip, file_id, file_name, md5, sha1, sha256, pdq, pdq_quality``.
``report_id``, ``incident_type`` and ``incident_time`` are required; ``annotations`` is a ``;``
list. Rows of one report must repeat the same report fields; when they disagree the report is
rejected. Each line is decoded on its own, so one line that is not UTF-8 is rejected with its line
number and the rest is read. Fields may not contain line breaks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from safeguarding.disclosure.pseudonymise import IdentifierKind
from safeguarding.hashing.kinds import HashKind, InvalidHashError, normalise_hash
from safeguarding.input_files import repeated_columns, some_names
from safeguarding.triage.formats.fields import (
    UNSTORABLE,
    FieldError,
    bounded,
    clear_text,
    csv_line,
    enum,
    parse_bool,
    parse_datetime,
    parse_int,
    quoted,
    report_id_of,
)
from safeguarding.triage.records import (
    INCIDENT_TYPES,
    REPORT_ANNOTATIONS,
    FileRecord,
    HashValue,
    Identifier,
    Parsed,
    Party,
    Rejected,
    ReportRecord,
)

REQUIRED = ("report_id", "incident_type", "incident_time")
REPORT_COLUMNS = (
    "report_id",
    "incident_type",
    "incident_time",
    "provider",
    "platform",
    "escalated",
    "annotations",
    "reported_esp_service",
    "reported_esp_id",
    "reported_screen_name",
    "reported_email",
    "reported_phone",
    "reported_ip",
)
FILE_COLUMNS = ("file_id", "file_name", "md5", "sha1", "sha256", "pdq", "pdq_quality")
COLUMNS = REPORT_COLUMNS + FILE_COLUMNS
_FIELD_NAMES = {
    "report_id": "reportId",
    "provider": "espName",
    "platform": "platform",
    "reported_esp_service": "espService",
    "reported_esp_id": "espIdentifier",
    "reported_screen_name": "screenName",
    "reported_email": "email",
    "reported_phone": "phone",
    "reported_ip": "ipAddress",
    "file_id": "fileId",
    "file_name": "fileName",
}


_IDENTIFIER_COLUMNS: tuple[tuple[str, IdentifierKind], ...] = (
    ("reported_esp_id", "esp_id"),
    ("reported_screen_name", "screen_name"),
    ("reported_email", "email"),
    ("reported_phone", "phone"),
    ("reported_ip", "ip"),
)


class _RowError(ValueError):
    def __init__(self, column: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.column, self.rule = column, rule


def parse_csv(data: bytes, name: str) -> list[Parsed]:
    """Every report in a CSV document, or the rejections with line, column and rule."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rejected: list[Parsed] = []
    decoded: list[tuple[int, bytes, str]] = []
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r")
        try:
            decoded.append((number, raw, raw.decode("utf-8-sig" if number == 1 else "utf-8")))
        except UnicodeDecodeError as exc:
            rejected.append(
                Rejected(
                    f"{name}:{number}",
                    "not_utf8",
                    f"{name}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})",
                    raw,
                )
            )
    if not decoded or decoded[0][0] != 1:
        return [Rejected(name, "missing_header", f"{name}: no readable header line", data[:4096])]
    header_raw = decoded[0][1]
    fields = csv_line(decoded[0][2])
    if isinstance(fields, str):
        return [Rejected(f"{name}:1", "malformed_csv", f"{name}:1: {fields}", header_raw)]
    header = [h.strip() for h in fields]
    unknown = sorted(set(header) - set(COLUMNS))
    missing = [c for c in REQUIRED if c not in header]
    repeated = repeated_columns(header)
    if unknown or missing or repeated:
        problem = (
            f"unknown columns [{some_names([quoted(name) for name in unknown])}]"
            if unknown
            else f"missing columns {missing}"
            if missing
            else f"columns given twice [{some_names(repeated)}]"
        )
        return [Rejected(f"{name}:1", "bad_header", f"{name}:1: {problem}", header_raw)]
    groups: dict[str, list[tuple[int, bytes, dict[str, str]]]] = defaultdict(list)
    for number, raw, text in decoded[1:]:
        if not text.strip():
            continue
        values = csv_line(text)
        if isinstance(values, str):
            rejected.append(
                Rejected(f"{name}:{number}", "malformed_csv", f"{name}:{number}: {values}", raw)
            )
            continue
        if len(values) != len(header):
            rejected.append(
                Rejected(
                    f"{name}:{number}",
                    "wrong_column_count",
                    f"{name}:{number}: {len(values)} fields, header has {len(header)}",
                    header_raw + b"\n" + raw,
                )
            )
            continue
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        if "\x00" in text:
            # PostgreSQL refuses a NUL in text (SQLite keeps it): refused here, with its column,
            # rather than by one store in the middle of a batch. UTF-8 lines hold no surrogate.
            column = next(c for c, v in row.items() if "\x00" in v)
            rejected.append(
                Rejected(
                    f"{name}:{number}:{column}",
                    "nul_character",
                    f"{name}:{number}: {column}: {UNSTORABLE['nul_character']}",
                    header_raw + b"\n" + raw,
                    provider_report_id=report_id_of(row["report_id"]),
                )
            )
            continue
        if not row["report_id"]:
            # Rows are grouped into reports by their id: rows without one would be taken for one
            # report and refused as disagreeing with each other, which is not what is wrong.
            rejected.append(
                Rejected(
                    f"{name}:{number}:report_id",
                    "missing_field",
                    f"{name}:{number}: report_id: is empty (every row names the report it "
                    "belongs to)",
                    header_raw + b"\n" + raw,
                )
            )
            continue
        groups[row["report_id"]].append((number, raw, row))
    records: list[Parsed] = []
    for report_id, rows in groups.items():
        records.append(_report(report_id, rows, name, header_raw))
    return rejected + records


def _report(
    report_id: str, rows: list[tuple[int, bytes, dict[str, str]]], name: str, header: bytes
) -> Parsed:
    raw = b"\n".join([header] + [r[1] for r in rows])
    first_line = rows[0][0]
    try:
        firsts = {c: rows[0][2].get(c, "") for c in REPORT_COLUMNS}
        for number, _, row in rows[1:]:
            for column in REPORT_COLUMNS:
                if row.get(column, "") != firsts[column]:
                    raise _RowError(
                        column, "conflicting_rows", f"line {number} differs from line {first_line}"
                    )
        record = _record(firsts, [(n, r) for n, _, r in rows])._replace(
            origin=(f"{name}:{first_line}", raw)
        )
    except _RowError as exc:
        return Rejected(
            f"{name}:{first_line}:{exc.column}",
            exc.rule,
            f"{name}:{first_line}: {exc.column}: {exc}",
            raw,
            provider_report_id=report_id_of(report_id),
        )
    return record


def _check(column: str, value: str) -> str:
    try:
        return bounded(_FIELD_NAMES.get(column, column), value)
    except FieldError as exc:
        raise _RowError(column, exc.rule, str(exc)) from exc


def _clear(column: str, value: str) -> str:
    """``_check`` of a column stored in clear (provider, platform, ESP service): refused if it
    holds an identifier (``clear_text``)."""
    text = _check(column, value)
    try:
        return clear_text(column, text)
    except FieldError as exc:
        raise _RowError(column, exc.rule, str(exc)) from exc


def _record(row: dict[str, str], files: Iterable[tuple[int, dict[str, str]]]) -> ReportRecord:
    report_id = _check("report_id", row["report_id"])
    try:
        incident_type = enum("incident_type", row["incident_type"], INCIDENT_TYPES)
        incident_time = parse_datetime("incident_time", row["incident_time"])
        escalated = parse_bool("escalated", row["escalated"]) if row.get("escalated") else False
        annotations = frozenset(
            enum("annotations", a, REPORT_ANNOTATIONS)
            for a in row.get("annotations", "").split(";")
            if a.strip()
        )
    except FieldError as exc:
        column = str(exc).split(" ", 1)[0]
        raise _RowError(column, exc.rule, str(exc)) from exc
    service = _clear("reported_esp_service", row.get("reported_esp_service", ""))
    identifiers = [
        Identifier(kind, value, service if kind in ("esp_id", "screen_name") else "")
        for column, kind in _IDENTIFIER_COLUMNS
        if (value := _check(column, row.get(column, "")))
    ]
    parties = (
        (Party("reported_user", esp_service=service or None, identifiers=tuple(identifiers)),)
        if identifiers or service
        else ()
    )
    return ReportRecord(
        provider_report_id=report_id,
        format="csv",
        incident_type=incident_type,
        incident_time=incident_time,
        provider=_clear("provider", row.get("provider", "")) or None,
        platform=_clear("platform", row.get("platform", "")) or None,
        escalated=escalated,
        annotations=annotations,
        parties=parties,
        files=tuple(f for _, r in files if (f := _file(r)) is not None),
    )


def _file(row: dict[str, str]) -> FileRecord | None:
    file_id = _check("file_id", row.get("file_id", ""))
    if not file_id:
        return None
    hashes = []
    kinds: tuple[HashKind, ...] = ("md5", "sha1", "sha256", "pdq")
    for kind in kinds:
        value = row.get(kind, "")
        if not value:
            continue
        try:
            normalised = normalise_hash(kind, value)
        except InvalidHashError as exc:
            raise _RowError(kind, exc.rule, str(exc)) from exc
        quality = None
        if kind == "pdq" and row.get("pdq_quality"):
            try:
                quality = parse_int("pdq_quality", row["pdq_quality"], 0, 100)
            except FieldError as exc:
                raise _RowError("pdq_quality", exc.rule, str(exc)) from exc
        hashes.append(HashValue(kind, normalised, quality))
    return FileRecord(
        provider_file_id=file_id,
        file_name=_check("file_name", row.get("file_name", "")) or None,
        hashes=tuple(hashes),
    )
