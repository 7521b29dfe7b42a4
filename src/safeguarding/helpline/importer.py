"""``helpline import``: contact reports from CSV or JSON Lines into the store.

Every record is validated against ``ContactReport``; a record that breaks a rule is rejected with
its row, line, field and rule, and the valid records of the file are still stored. The note is
scanned for emails, phone numbers and IP addresses: with ``refuse`` (the default) such a record is
rejected, with ``redact`` the identifier is replaced and a warning names the row (never the value).

Re-importing never duplicates. Each contact gets an import key, a keyed digest of

- the helpline's own ``contact_id`` when the record has one, or else
- the record's full content together with its occurrence number among identical records of the
  same file (so two genuinely separate contacts coded alike both count, and importing the same
  file again adds nothing).

A contact already in the store is left as it is.

CSV layout: one column per field (header names as in ``ContactReport``); multi-selects as
``factor:basis;factor:basis`` for ``risk_factors`` and ``need;need`` for ``help_needs``, ``none``
for "none applies"; an empty cell means ``unknown``. JSON Lines: one object per line with the same
keys; multi-selects as lists (``[{"factor": ..., "basis": ...}]``) or the CSV spelling.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.errors import ValidationError
from safeguarding.helpline.identifiers import IdentifierPolicy, describe, redact
from safeguarding.helpline.notes import NoteCipher, expiry, note_row, retention_days
from safeguarding.helpline.schema import ContactReport, RiskFactorMark
from safeguarding.input_files import (
    UNREADABLE,
    csv_rows,
    load_json,
    read_input_text,
    refuse_repeated_columns,
    some_names,
    why_unreadable,
)
from safeguarding.store import Store
from safeguarding.store.base import Base
from safeguarding.store.models.helpline import (
    HelplineContactRow,
    HelplineHelpNeedRow,
    HelplineNoteRow,
    HelplineRiskFactorRow,
)

FIELDS = tuple(ContactReport.model_fields)
MULTI_SELECT = ("risk_factors", "help_needs")
MARK_FIELDS = tuple(RiskFactorMark.model_fields)
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_CHUNK = 500


@dataclass(frozen=True)
class RowProblem:
    """A rule a record broke (or a warning about it), located by row, line and field."""

    row: int
    line: int
    field: str
    rule: str

    def __str__(self) -> str:
        return f"row {self.row} (line {self.line}), field {self.field}: {self.rule}"


@dataclass
class ImportOutcome:
    """What an import did: counts, and every rejected row and warning."""

    file: str
    read: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({problem.row for problem in self.rejected})

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "read": self.read,
            "imported": self.imported,
            "already_present": self.already_present,
            "rejected_rows": self.rejected_rows,
            "rejected": [vars(p) | {"message": str(p)} for p in self.rejected],
            "warnings": [vars(p) | {"message": str(p)} for p in self.warnings],
        }


@dataclass(frozen=True)
class PreparedContact:
    """A valid report with its import key, ready to store."""

    report: ContactReport
    import_key: str
    synthetic: bool = False


@dataclass(frozen=True)
class IngestKeys:
    """The keys an ingest needs: for import keys and caller pseudonyms, and for notes."""

    pseudonym_secret: bytes
    cipher: NoteCipher
    note_retention_days: int

    @classmethod
    def from_store(cls, store: Store) -> IngestKeys:
        """The keys of ``store``, checked against the ones it was written with."""
        return cls(
            pseudonym_secret=store.secret("pseudonym"),
            cipher=NoteCipher(store.secret("notes")),
            note_retention_days=retention_days(store.settings.section("helpline")),
        )

    def import_key(self, report: ContactReport, occurrence: int) -> str:
        if report.contact_id is not None:
            message = f"helpline-contact-id\x1f{report.contact_id}"
        else:
            content = json.dumps(report.model_dump(mode="json"), sort_keys=True)
            message = f"helpline-content\x1f{content}\x1f{occurrence}"
        return hmac.new(self.pseudonym_secret, message.encode(), hashlib.sha256).hexdigest()

    def caller_key(self, token: str | None) -> str | None:
        if token is None:
            return None
        return Pseudonymiser(self.pseudonym_secret).pseudonym("token", token, scope="helpline")


@dataclass(frozen=True)
class RawRecord:
    row: int
    line: int
    data: dict[str, Any] | None
    problem: str = ""


def _check_columns(path: Path, columns: Iterable[str], line: int) -> None:
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ValidationError(
            f"{path.name} line {line}: unknown field(s) {some_names(unknown)}; "
            f"known: {', '.join(FIELDS)}",
            location=f"{path}:{line}",
            rule="known fields",
        )


def read_csv(path: Path, text: str) -> Iterator[RawRecord]:
    header, rows = csv_rows(text, path.name)
    if not header:
        raise ValidationError(f"{path.name}: empty file, expected a header line")
    _check_columns(path, header, 1)
    refuse_repeated_columns(header, path.name)
    if "month" not in header:
        raise ValidationError(f"{path.name} line 1: the header has no 'month' column")
    for row, record in enumerate(rows, start=1):
        if record.problem:
            where = "" if record.column == "-" else f"{record.column}: "
            yield RawRecord(row, record.line, None, where + record.problem)
        else:
            yield RawRecord(row, record.line, record.cells)


def read_jsonl(text: str) -> Iterator[RawRecord]:
    row = 0
    for number, raw_line in enumerate(text.splitlines(), start=1):
        if not raw_line.strip():
            continue
        row += 1
        try:
            data = load_json(raw_line)
        except json.JSONDecodeError as exc:
            yield RawRecord(row, number, None, f"not valid JSON ({exc.msg})")
            continue
        except UNREADABLE as exc:
            yield RawRecord(row, number, None, f"not JSON we read ({why_unreadable(exc)})")
            continue
        if not isinstance(data, dict):
            yield RawRecord(row, number, None, "each line must be a JSON object")
            continue
        yield RawRecord(row, number, data)


def read_records(path: Path) -> Iterator[RawRecord]:
    """The records of a CSV or JSON Lines file, numbered by row and line."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValidationError(
            f"{path.name}: unknown file type {path.suffix or '(none)'}; "
            "expected .csv, .jsonl or .ndjson",
            location=str(path),
            rule="file type",
        )
    text = read_input_text(path, encoding="utf-8-sig")
    return read_csv(path, text) if kind == "csv" else read_jsonl(text)


def _multi_select(name: str, value: Any) -> Any:
    """The CSV spelling of a multi-select as the list the schema takes."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("", "unknown"):
        return "unknown"
    if text == "none":
        return []
    items = [item.strip() for item in text.split(";") if item.strip()]
    if name == "help_needs":
        return items
    marks: list[Any] = []
    for item in items:
        factor, sep, basis = item.partition(":")
        marks.append({"factor": factor.strip(), "basis": basis.strip()} if sep else item)
    return marks


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        if value is None or (isinstance(value, str) and not value.strip() and key != "note"):
            continue
        cleaned[key] = _multi_select(key, value) if key in MULTI_SELECT else value
    return cleaned


def _problems(row: int, line: int, error: PydanticValidationError) -> list[RowProblem]:
    """Pydantic's errors as row problems; of a union (list or "unknown") keep the list's error."""
    items = error.errors()
    fields_with_detail = {
        str(item["loc"][0])
        for item in items
        if len(item["loc"]) > 1 and not str(item["loc"][1]).startswith("literal[")
    }
    problems = []
    for item in items:
        location = [str(part) for part in item["loc"]]
        name = location[0] if location else "record"
        if name in fields_with_detail and len(location) > 1 and location[1].startswith("literal["):
            continue
        path = [part for part in location[1:] if "[" not in part]
        detail = f" (item {'.'.join(path)})" if path else ""
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "literal_error":
            message = message.replace("Input should be", "must be")
        elif item["type"] == "extra_forbidden":
            known = MARK_FIELDS if name == "risk_factors" and path else FIELDS
            message = f"unknown field; known: {', '.join(known)}"
        elif item["type"] == "model_type" and name == "risk_factors":
            message = (
                "must be factor:basis with basis stated or assessed, "
                "e.g. escalating_pornography:stated"
            )
        problems.append(RowProblem(row, line, name, message + detail))
    return problems


def prepare(
    records: Iterable[RawRecord], keys: IngestKeys, policy: IdentifierPolicy, outcome: ImportOutcome
) -> list[PreparedContact]:
    """Validate records into contacts with import keys; problems go into ``outcome``."""
    prepared: list[PreparedContact] = []
    occurrences: dict[str, int] = {}
    seen_ids: dict[str, str] = {}
    for record in records:
        outcome.read += 1
        if record.data is None:
            outcome.rejected.append(RowProblem(record.row, record.line, "record", record.problem))
            continue
        data = _normalise(record.data)
        note = data.get("note")
        if isinstance(note, str) and note.strip():
            redacted, findings = redact(note)
            if findings and policy == "refuse":
                outcome.rejected.append(
                    RowProblem(
                        record.row,
                        record.line,
                        "note",
                        f"contains {describe(findings)}; remove it or import with --redact",
                    )
                )
                continue
            if findings:
                outcome.warnings.append(
                    RowProblem(record.row, record.line, "note", f"redacted {describe(findings)}")
                )
                data["note"] = redacted
        try:
            report = ContactReport.model_validate(data)
        except PydanticValidationError as exc:
            outcome.rejected.extend(_problems(record.row, record.line, exc))
            continue
        content = json.dumps(report.model_dump(mode="json"), sort_keys=True)
        if report.contact_id is not None:
            earlier = seen_ids.setdefault(report.contact_id, content)
            if earlier != content:
                outcome.rejected.append(
                    RowProblem(
                        record.row,
                        record.line,
                        "contact_id",
                        f"{report.contact_id} appears earlier in this file with other values",
                    )
                )
                continue
        occurrence = occurrences.get(content, 0)
        occurrences[content] = occurrence + 1
        prepared.append(PreparedContact(report, keys.import_key(report, occurrence)))
    return prepared


def store_contacts(
    session: Session,
    contacts: list[PreparedContact],
    keys: IngestKeys,
    *,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Insert the contacts not yet stored; returns (inserted, already present)."""
    moment = now or datetime.now(UTC)
    unique: dict[str, PreparedContact] = {}
    for contact in contacts:
        unique.setdefault(contact.import_key, contact)
    wanted = list(unique)
    existing: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        existing.update(
            session.scalars(
                select(HelplineContactRow.import_key).where(
                    HelplineContactRow.import_key.in_(chunk)
                )
            )
        )
    fresh = [unique[key] for key in wanted if key not in existing]
    if fresh:
        # Plain executemany, then the ids by key: RETURNING over many rows is far slower here.
        session.execute(
            insert(_table(HelplineContactRow)), [_contact_row(c, keys, moment) for c in fresh]
        )
        ids = _ids_by_key(session, [c.import_key for c in fresh])
        _insert_children(session, fresh, ids, keys, moment)
    return len(fresh), len(contacts) - len(fresh)


def _table(model: type[Base]) -> Table:
    """The Core table of a model: bulk inserts through Core skip per-row ORM bookkeeping."""
    return cast(Table, model.__table__)


def _ids_by_key(session: Session, import_keys: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(import_keys), _CHUNK):
        chunk = import_keys[start : start + _CHUNK]
        rows = session.execute(
            select(HelplineContactRow.import_key, HelplineContactRow.id).where(
                HelplineContactRow.import_key.in_(chunk)
            )
        )
        ids.update({key: contact_id for key, contact_id in rows})
    return ids


def _contact_row(contact: PreparedContact, keys: IngestKeys, now: datetime) -> dict[str, Any]:
    report = contact.report
    return {
        "import_key": contact.import_key,
        "contact_ref": report.contact_id,
        "year": report.year,
        "month": report.month_number,
        "channel": report.channel,
        "contact_kind": report.contact_kind,
        "caller_key": keys.caller_key(report.caller_token),
        "caller_type": report.caller_type,
        "concern": report.concern,
        "age_band": report.age_band,
        "gender": report.gender,
        "risk_factors_recorded": report.risk_factors != "unknown",
        "help_needs_recorded": report.help_needs != "unknown",
        "action": report.action,
        "referral": report.referral,
        "synthetic": contact.synthetic,
        "imported_at": now,
    }


def _insert_children(
    session: Session,
    contacts: list[PreparedContact],
    ids: dict[str, int],
    keys: IngestKeys,
    now: datetime,
) -> None:
    factors: list[dict[str, Any]] = []
    needs: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    expires = expiry(now, keys.note_retention_days)
    for contact in contacts:
        contact_id = ids[contact.import_key]
        report = contact.report
        if report.risk_factors != "unknown":
            factors.extend(
                {"contact_id": contact_id, "factor": mark.factor, "basis": mark.basis}
                for mark in report.risk_factors
            )
        if report.help_needs != "unknown":
            needs.extend({"contact_id": contact_id, "need": need} for need in report.help_needs)
        if report.note:
            notes.append(
                note_row(keys.cipher, contact_id, contact.import_key, report.note, expires)
            )
    if factors:
        session.execute(insert(_table(HelplineRiskFactorRow)), factors)
    if needs:
        session.execute(insert(_table(HelplineHelpNeedRow)), needs)
    if notes:
        session.execute(insert(_table(HelplineNoteRow)), notes)


def import_file(
    session: Session, path: Path, keys: IngestKeys, *, policy: IdentifierPolicy = "refuse"
) -> ImportOutcome:
    """Validate and store the contacts of one file; see the module docstring for the rules."""
    outcome = ImportOutcome(file=path.name)
    prepared = prepare(read_records(path), keys, policy, outcome)
    outcome.imported, outcome.already_present = store_contacts(session, prepared, keys)
    return outcome
