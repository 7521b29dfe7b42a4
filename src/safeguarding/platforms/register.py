"""The register of services: schema, YAML/CSV parsing and row-level validation.

A register row describes one service or part of a service: its type, provider and size, its
audience (each number with its date and source), its Ofcom-style risk factors, its age assurance
and its safeguards. Every row names its source, because a risk call is only as good as the facts
behind it. A bad row is refused with the file, line, row and field and the rule it broke; the
other rows are kept.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError

from safeguarding.errors import ValidationError
from safeguarding.input_files import (
    UNREADABLE,
    YamlKeyError,
    csv_rows,
    load_yaml,
    read_input,
    refuse_nul,
    refuse_repeated_columns,
    some_names,
    strict_yaml_loader,
    why_unreadable,
)
from safeguarding.platforms.vocabulary import (
    AGE_ASSURANCE,
    DSA_ROLES,
    FEATURES,
    MEASURES,
    SAFEGUARD_STATUSES,
    SERVICE_TYPES,
    SIZE_CLASSES,
    AgeAssurance,
    DsaRole,
    Feature,
    Measure,
    SafeguardStatus,
    ServiceType,
    SizeClass,
)

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,79}$"
MAX_ROWS = 100_000
# More users than people on Earth: a larger count is a typo or a spreadsheet artefact, and past
# 2**63 - 1 it cannot even be stored (the database refuses it in the middle of the import).
MAX_USERS = 10_000_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    _text = field_validator("*")(refuse_nul)


class Audience(_Strict):
    """A user count with the date it refers to and where it was published. The count is bounded
    by ``MAX_USERS`` so an impossible number is refused with its row, not by the store."""

    value: int = Field(ge=0, le=MAX_USERS)
    date: dt.date | None = None
    source: str = Field(min_length=1)


class VlopDesignation(_Strict):
    """Whether the Commission designated the service a VLOP (Art. 33 DSA), with the decision."""

    designated: bool
    date: dt.date | None = None
    source: str = Field(min_length=1)


class Volumes(_Strict):
    """Daily volumes the assessment model needs for its targeted scenario."""

    daily_messages: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    daily_images: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    daily_videos: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    source: str = Field(min_length=1)


class Service(_Strict):
    """One service (or part of one) as the register holds it."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    type: ServiceType
    provider: str = Field(min_length=1, max_length=200)
    part_of: str | None = Field(default=None, pattern=ID_PATTERN)
    provider_size: SizeClass | None = None
    dsa_role: DsaRole | None = None
    vlop: VlopDesignation | None = None
    eu_monthly_active_recipients: Audience | None = None
    uk_monthly_active_users: Audience | None = None
    features: tuple[Feature, ...] = ()
    age_assurance: AgeAssurance = "none"
    adult: bool | None = None
    safeguards: dict[Measure, SafeguardStatus] = Field(default_factory=dict)
    report_response_hours: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    volumes: Volumes | None = None
    source: str = Field(min_length=1)
    synthetic: bool = False

    @field_validator("features")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...], _info: ValidationInfo) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a feature is listed twice")
        return tuple(sorted(value))

    @property
    def is_adult(self) -> bool:
        """Adult services: sex advertising always; others when the register says so."""
        return self.adult if self.adult is not None else self.type == "sex_advertising"

    def status(self, measure: str) -> str:
        """absent, claimed or proven."""
        return next((s for m, s in self.safeguards.items() if m == measure), "absent")


def eu_audiences(services: list[Service]) -> dict[str, int]:
    """EU monthly active recipients per service id, where the register knows them: what the
    platform × stage matrix divides by for cases per million recipients."""
    return {
        s.id: s.eu_monthly_active_recipients.value
        for s in services
        if s.eu_monthly_active_recipients is not None
    }


@dataclass(frozen=True)
class RowError:
    """A refused row: where it is, which field, and the rule it broke."""

    file: str
    line: int
    row: int
    service_id: str
    field: str
    message: str

    def __str__(self) -> str:
        who = f" ({self.service_id})" if self.service_id else ""
        return f"{self.file}:{self.line}: row {self.row}{who}: field {self.field}: {self.message}"


@dataclass(frozen=True)
class ParsedRegister:
    """The valid services of a file, its refused rows, and where each service is written
    (``places``: id → (line, row)), so a check that needs the store can still name the row."""

    services: list[Service]
    errors: list[RowError]
    places: dict[str, tuple[int, int]] = field(default_factory=dict)


def check_parents(parsed: ParsedRegister, file: str, registered: set[str]) -> ParsedRegister:
    """Refuse each service whose ``part_of`` names no service of this file or of the register
    (``registered``), names itself, or leads back to itself through other services' ``part_of``:
    a part of nothing, or of itself, cannot be assessed or shown as part of a service.
    """
    parents = {s.id: s.part_of for s in parsed.services}
    known = registered | set(parents)
    bad_rows = {e.service_id for e in parsed.errors} - known
    refused: dict[str, str] = {}
    for service in parsed.services:
        parent = service.part_of
        if parent is None:
            continue
        if parent == service.id:
            refused[service.id] = "a service cannot be part of itself"
        elif parent in bad_rows:
            refused[service.id] = f"names {parent!r}, whose row is refused"
        elif parent not in known:
            refused[service.id] = (
                f"names no service of this file or the register ({parent!r}); "
                "import the service it is part of first, or in the same file"
            )
        else:
            chain = [service.id, parent]
            while (following := parents.get(chain[-1])) is not None and following not in chain:
                chain.append(following)
            if following == service.id:
                refused[service.id] = f"makes a cycle: {' → '.join([*chain, service.id])}"
    orphaned = True
    while orphaned:  # a part of a refused service would be a part of nothing
        orphaned = False
        for service in parsed.services:
            parent = service.part_of
            if service.id not in refused and parent in refused and parent not in registered:
                refused[service.id] = f"names {parent!r}, whose row is refused"
                orphaned = True
    errors = [
        RowError(file, *parsed.places[sid], sid, "part_of", message)
        for sid, message in refused.items()
    ]
    return ParsedRegister(
        [s for s in parsed.services if s.id not in refused],
        sorted(parsed.errors + errors, key=lambda e: (e.row, e.line)),
        {sid: place for sid, place in parsed.places.items() if sid not in refused},
    )


_ALLOWED = {
    "type": SERVICE_TYPES,
    "features": FEATURES,
    "age_assurance": AGE_ASSURANCE,
    "safeguards": SAFEGUARD_STATUSES,
    "provider_size": SIZE_CLASSES,
    "dsa_role": DSA_ROLES,
}


def _message(error: Any) -> str:
    kind, loc, given = error["type"], error["loc"], error.get("input")
    top = str(loc[0]) if loc else ""
    if kind == "missing":
        return "is required" + (" (every row names its source)" if loc[-1] == "source" else "")
    if kind == "literal_error":
        known = _ALLOWED.get(top, ())
        what = {"features": "feature", "safeguards": "safeguard status"}.get(top, "value")
        return f"unknown {what} {given!r}; known: {', '.join(known)}"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"must not be negative (got {given!r})"
    if kind == "less_than_equal":
        return f"must be at most {error['ctx']['le']:,} (got {given!r})"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return "must be lower-case letters, digits, '.', '_' or '-' (at most 80)"
    return str(error["msg"]).removeprefix("Value error, ")


def _field(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    field = ".".join(parts)
    # A key of ``safeguards`` that is not a measure shows up as ``safeguards.<key>.[key]``.
    return field.replace(".[key]", "")


def _validate_row(
    raw: Any, file: str, line: int, row: int, field_names: dict[str, str] | None = None
) -> Service | list[RowError]:
    service_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
    if not isinstance(raw, dict):
        return [RowError(file, line, row, "", "-", "each service must be a mapping of fields")]
    try:
        return Service.model_validate(raw)
    except PydanticValidationError as exc:
        errors = []
        for error in exc.errors():
            field = _field(tuple(error["loc"]))
            if error["type"] == "literal_error" and str(error["loc"][0]) == "safeguards":
                given = error.get("input")
                key = str(error["loc"][1]) if len(error["loc"]) > 1 else ""
                if key not in MEASURES:
                    message = f"unknown measure {key!r}; known: {', '.join(MEASURES)}"
                else:
                    known = ", ".join(SAFEGUARD_STATUSES)
                    message = f"unknown safeguard status {given!r}; known: {known}"
            else:
                message = _message(error)
            if field_names:
                base = re.sub(r"\[\d+\]$", "", field)
                field = field_names.get(base, base)
            errors.append(RowError(file, line, row, service_id, field, message))
        return errors


def _collect(
    rows: list[tuple[int, int, Any]], file: str, names: dict[str, str] | None
) -> ParsedRegister:
    """Validate ``(row, line, raw)`` triples. Each carries its row number: a CSV record refused
    before validation is not among them, and the rows after it keep their numbers."""
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"{file}: more than {MAX_ROWS} rows", location=file, rule="size")
    services: list[Service] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    places: dict[str, tuple[int, int]] = {}
    for row, line, raw in rows:
        result = _validate_row(raw, file, line, row, names)
        if isinstance(result, list):
            errors.extend(result)
        elif result.id in seen:
            errors.append(
                RowError(
                    file,
                    line,
                    row,
                    result.id,
                    "id",
                    f"duplicate id (first in row {seen[result.id]})",
                )
            )
        else:
            seen[result.id] = row
            places[result.id] = (line, row)
            services.append(result)
    return ParsedRegister(services, errors, places)


def parse_yaml(text: str, file: str = "register.yaml") -> ParsedRegister:
    """Parse a YAML register: ``services:`` followed by a list of mappings (or a bare list)."""
    try:
        node = yaml.compose(text, Loader=strict_yaml_loader())
        data = load_yaml(text)
    except YamlKeyError as exc:
        raise exc.refusal(file) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ValidationError(
            f"{file}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})",
            location=f"{file}:{line}",
            rule="yaml",
        ) from exc
    except UNREADABLE as exc:
        raise ValidationError(
            f"{file}: not YAML we read ({why_unreadable(exc)})",
            location=file,
            rule="yaml",
        ) from exc
    items_node: Any = node
    if isinstance(data, dict) and node is not None:
        unknown = sorted(str(k) for k in data if k not in {"services", "description"})
        if unknown or "services" not in data:
            raise ValidationError(
                f"{file}:1: a register holds 'services:' (and optionally 'description:'); "
                f"found {', '.join(unknown) or 'no services'}",
                location=f"{file}:1",
                rule="layout",
            )
        items_node = next(v for k, v in node.value if k.value == "services")
        data = data["services"]
    if not isinstance(data, list) or not isinstance(items_node, yaml.SequenceNode):
        raise ValidationError(
            f"{file}:1: expected a list of services", location=f"{file}:1", rule="layout"
        )
    lines = [item.start_mark.line + 1 for item in items_node.value]
    rows = [(row, line, raw) for row, (line, raw) in enumerate(zip(lines, data, strict=True), 1)]
    return _collect(rows, file, None)


# CSV: one flat row per service. Nested fields get their own columns; lists are ';'-separated.
CSV_COLUMNS: dict[str, str] = {
    "id": "id",
    "name": "name",
    "type": "type",
    "provider": "provider",
    "part_of": "part_of",
    "provider_size": "provider_size",
    "dsa_role": "dsa_role",
    "vlop_designated": "vlop.designated",
    "vlop_date": "vlop.date",
    "vlop_source": "vlop.source",
    "eu_monthly_active_recipients": "eu_monthly_active_recipients.value",
    "eu_mar_date": "eu_monthly_active_recipients.date",
    "eu_mar_source": "eu_monthly_active_recipients.source",
    "uk_monthly_active_users": "uk_monthly_active_users.value",
    "uk_mau_date": "uk_monthly_active_users.date",
    "uk_mau_source": "uk_monthly_active_users.source",
    "features": "features",
    "age_assurance": "age_assurance",
    "adult": "adult",
    "safeguards": "safeguards",
    "report_response_hours": "report_response_hours",
    "daily_messages": "volumes.daily_messages",
    "daily_images": "volumes.daily_images",
    "daily_videos": "volumes.daily_videos",
    "volumes_source": "volumes.source",
    "source": "source",
    "synthetic": "synthetic",
}
_FIELD_TO_COLUMN = {field: column for column, field in CSV_COLUMNS.items()}
_FIELD_TO_COLUMN.update(
    {"vlop": "vlop_source", "eu_monthly_active_recipients": "eu_mar_source"}
    | {"uk_monthly_active_users": "uk_mau_source", "volumes": "volumes_source"}
)


def _csv_row(record: dict[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for column, value in record.items():
        value = (value or "").strip()
        if not value:
            continue
        path = CSV_COLUMNS[column].split(".")
        target = raw
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    if "features" in raw:
        raw["features"] = [f.strip() for f in raw["features"].split(";") if f.strip()]
    if "safeguards" in raw:
        pairs: dict[str, str] = {}
        for item in raw["safeguards"].split(";"):
            if not item.strip():
                continue
            measure, sep, status = item.partition("=")
            if not sep:
                raise ValueError(f"write measure=status, e.g. hash_matching=proven (got {item!r})")
            measure = measure.strip()
            if measure in pairs:
                # Keeping the last would drop the first status without a word, and the YAML
                # reader refuses a measure given twice in one mapping: the formats agree.
                raise ValueError(f"measure {measure!r} given twice; give each measure once")
            pairs[measure] = status.strip()
        raw["safeguards"] = pairs
    return raw


def parse_csv(text: str, file: str = "register.csv") -> ParsedRegister:
    """Parse a CSV register with the columns of ``CSV_COLUMNS`` (a header row first)."""
    header, records = csv_rows(text, file)
    refuse_repeated_columns(header, file)
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown or "id" not in header:
        raise ValidationError(
            f"{file}:1: unknown column(s) {some_names(unknown) or '(no id column)'}; "
            f"known: {', '.join(CSV_COLUMNS)}",
            location=f"{file}:1",
            rule="header",
        )
    rows: list[tuple[int, int, Any]] = []
    errors: list[RowError] = []
    for index, record in enumerate(records, start=1):
        service_id = record.cells.get("id") or ""
        if record.problem:
            errors.append(RowError(file, record.line, index, "", record.column, record.problem))
            continue
        try:
            rows.append((index, record.line, _csv_row(record.cells)))
        except ValueError as exc:
            errors.append(RowError(file, record.line, index, service_id, "safeguards", str(exc)))
    parsed = _collect(rows, file, _FIELD_TO_COLUMN)
    return ParsedRegister(parsed.services, errors + parsed.errors, parsed.places)


def read_register(path: Path) -> ParsedRegister:
    """Read a register file; the suffix says the format (.yaml, .yml or .csv)."""
    _register_suffix(path.name, str(path))
    return parse_register_bytes(read_input(path), path.name, where=str(path))


def _register_suffix(name: str, where: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in {".yaml", ".yml", ".csv"}:
        raise ValidationError(
            f"{where}: unknown register format {suffix or '(none)'}; use .yaml, .yml or .csv",
            location=where,
            rule="format",
        )
    return suffix


def parse_register_bytes(data: bytes, name: str, *, where: str | None = None) -> ParsedRegister:
    """Parse the bytes of a register file called ``name`` (a path or an upload), suffix first."""
    label = where or name
    suffix = _register_suffix(name, label)
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's export starts with a byte-order mark
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{label}: not UTF-8", location=label, rule="encoding") from exc
    file = Path(name).name
    return parse_csv(text, file) if suffix == ".csv" else parse_yaml(text, file)
