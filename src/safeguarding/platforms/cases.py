"""Coded case evidence: which platform was used at which stage, and the platform × stage matrix.

Each record is one mention in an anonymised case file: the platform (a register id, another
label, or empty when the file does not say), the unified stage code S1–S10, the role pair, the
year and the source. The case number is replaced by a keyed pseudonym at import, so files can be
re-imported without duplicates and without the store holding the real number.

Counts are distinct cases, not mentions: a case that used one app at one stage ten times counts
once in that cell. Shares are taken over the cases with a known platform (the denominator), which
is always reported, because a share without its denominator hides how little is known.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from safeguarding.errors import ValidationError
from safeguarding.platforms.vocabulary import ROLE_PAIRS, STAGES, RolePair, Stage

CASE_COLUMNS = ("case", "platform", "stage", "role_pair", "year", "source")
UNKNOWN_PLATFORM = {"", "unknown", "-", "n/a"}
MAX_ROWS = 1_000_000


class CaseMention(BaseModel):
    """One coded mention of a platform in a case file, before pseudonymisation."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    case: str = Field(min_length=1, max_length=200)
    platform: str | None = Field(default=None, max_length=200)
    stage: Stage
    role_pair: RolePair
    year: int = Field(ge=1990, le=2100)
    source: str = Field(min_length=1, max_length=500)


@dataclass(frozen=True)
class StoredMention:
    """A mention as stored: the case is a pseudonym, the platform ``None`` when unknown."""

    case: str
    platform: str | None
    stage: str
    role_pair: str
    year: int
    source: str

    @property
    def key(self) -> str:
        """Stable identity of the mention, so a re-import never stores it twice."""
        text = "\x1f".join(
            [
                self.case,
                self.platform or "",
                self.stage,
                self.role_pair,
                str(self.year),
                self.source,
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CaseRowError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: field {self.field}: {self.message}"


def _case_message(error: Any) -> str:
    kind, given = error["type"], error.get("input")
    top = str(error["loc"][0]) if error["loc"] else ""
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        known = STAGES if top == "stage" else ROLE_PAIRS
        return f"unknown value {given!r}; known: {', '.join(known)}"
    if kind in {"greater_than_equal", "less_than_equal"}:
        return f"year must be 1990–2100 (got {given!r})"
    if kind == "string_too_short":
        return "must not be empty"
    return str(error["msg"])


def parse_cases_csv(
    text: str, file: str = "cases.csv"
) -> tuple[list[tuple[int, CaseMention]], list[CaseRowError]]:
    """Parse a case CSV (columns ``CASE_COLUMNS``): good rows with their lines, and errors."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _parse_case_rows(reader, file)
    except csv.Error as exc:
        raise ValidationError(
            f"{file}:{reader.line_num}: not valid CSV ({exc})",
            location=f"{file}:{reader.line_num}",
            rule="csv",
        ) from exc


def _parse_case_rows(
    reader: csv.DictReader[str], file: str
) -> tuple[list[tuple[int, CaseMention]], list[CaseRowError]]:
    header = reader.fieldnames or []
    missing = [c for c in CASE_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CASE_COLUMNS]
    if missing or unknown:
        raise ValidationError(
            f"{file}:1: columns must be {', '.join(CASE_COLUMNS)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else ""),
            location=f"{file}:1",
            rule="header",
        )
    good: list[tuple[int, CaseMention]] = []
    errors: list[CaseRowError] = []
    for record in reader:
        line = reader.line_num
        if len(good) + len(errors) >= MAX_ROWS:
            raise ValidationError(f"{file}: more than {MAX_ROWS} rows", location=file, rule="size")
        if None in record:
            errors.append(CaseRowError(file, line, "-", "more cells than columns"))
            continue
        raw: dict[str, Any] = {k: (v or "").strip() for k, v in record.items()}
        if str(raw["platform"]).lower() in UNKNOWN_PLATFORM:
            raw["platform"] = None
        try:
            good.append((line, CaseMention.model_validate(raw)))
        except PydanticValidationError as exc:
            errors.extend(
                CaseRowError(file, line, str(e["loc"][0]) if e["loc"] else "-", _case_message(e))
                for e in exc.errors()
            )
    return good, errors


def read_cases(path: Path) -> tuple[list[tuple[int, CaseMention]], list[CaseRowError]]:
    if path.suffix.lower() != ".csv":
        raise ValidationError(
            f"{path}: case files are CSV with columns {', '.join(CASE_COLUMNS)}",
            location=str(path),
            rule="format",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{path}: not UTF-8", location=str(path), rule="encoding") from exc
    except OSError as exc:
        raise ValidationError(
            f"{path}: cannot read ({exc.strerror or exc})", location=str(path), rule="read"
        ) from exc
    return parse_cases_csv(text, path.name)


def _frame(mentions: Iterable[StoredMention], groups: Mapping[str, str] | None) -> pl.DataFrame:
    rows = [
        {"case": m.case, "platform": m.platform, "stage": m.stage, "year": m.year} for m in mentions
    ]
    frame = pl.DataFrame(
        rows, schema={"case": pl.Utf8, "platform": pl.Utf8, "stage": pl.Utf8, "year": pl.Int64}
    )
    if groups is not None:
        mapping = pl.DataFrame(
            {"platform": list(groups), "group": list(groups.values())},
            schema={"platform": pl.Utf8, "group": pl.Utf8},
        )
        frame = frame.join(mapping, on="platform", how="left").with_columns(
            pl.when(pl.col("platform").is_null())
            .then(None)
            .otherwise(pl.col("group").fill_null("unregistered"))
            .alias("group")
        )
    else:
        frame = frame.with_columns(pl.col("platform").alias("group"))
    return frame


@dataclass(frozen=True)
class StageMatrix:
    """Distinct cases per (platform or group) and stage, with the denominator they share."""

    rows: list[str]
    counts: dict[str, dict[str, int]]
    denominator: int
    total_cases: int
    row_totals: dict[str, int]
    stage_totals: dict[str, int]
    by: str
    per_million: dict[str, float] = field(default_factory=dict)
    audience: dict[str, int] = field(default_factory=dict)

    def share(self, row: str, stage: str) -> float:
        return self.counts[row][stage] / self.denominator if self.denominator else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "denominator": self.denominator,
            "denominator_note": "distinct cases with at least one known platform",
            "total_cases": self.total_cases,
            "cases_platform_unknown": self.total_cases - self.denominator,
            "stages": list(STAGES),
            "rows": [
                {
                    "row": row,
                    "cases": self.row_totals[row],
                    "counts": self.counts[row],
                    "shares": {s: round(self.share(row, s), 4) for s in STAGES},
                    "eu_monthly_active_recipients": self.audience.get(row),
                    "cases_per_million_recipients": self.per_million.get(row),
                }
                for row in self.rows
            ],
            "stage_totals": self.stage_totals,
        }


def stage_matrix(
    mentions: Iterable[StoredMention],
    *,
    groups: Mapping[str, str] | None = None,
    audience: Mapping[str, int] | None = None,
    by: str = "platform",
) -> StageMatrix:
    """The platform × stage matrix of distinct cases.

    ``groups`` maps platform labels to a group (e.g. a register id to its service type); platforms
    not in it fall in "unregistered". ``audience`` (EU monthly active recipients per row label)
    adds cases per million recipients where the audience is known.
    """
    frame = _frame(mentions, groups)
    total = frame.get_column("case").n_unique()
    known = frame.filter(pl.col("group").is_not_null())
    denominator = known.get_column("case").n_unique()
    cells = known.group_by(["group", "stage"]).agg(pl.col("case").n_unique().alias("n"))
    totals = known.group_by("group").agg(pl.col("case").n_unique().alias("n"))
    stage_totals_frame = known.group_by("stage").agg(pl.col("case").n_unique().alias("n"))
    row_totals = {str(g): int(n) for g, n in totals.iter_rows()}
    rows = sorted(row_totals, key=lambda r: (-row_totals[r], r))
    counts = {row: dict.fromkeys(STAGES, 0) for row in rows}
    for group, stage, n in cells.iter_rows():
        counts[str(group)][str(stage)] = int(n)
    stage_totals = dict.fromkeys(STAGES, 0)
    for stage, n in stage_totals_frame.iter_rows():
        stage_totals[str(stage)] = int(n)
    known_audience = {r: int(a) for r, a in (audience or {}).items() if r in row_totals and a > 0}
    per_million = {r: round(row_totals[r] / (a / 1_000_000), 4) for r, a in known_audience.items()}
    return StageMatrix(
        rows=rows,
        counts=counts,
        denominator=denominator,
        total_cases=total,
        row_totals=row_totals,
        stage_totals=stage_totals,
        by=by,
        per_million=per_million,
        audience=known_audience,
    )


@dataclass(frozen=True)
class YearTrend:
    """Per year: cases with a known platform (the denominator) and cases per row label."""

    years: list[int]
    denominators: dict[int, int]
    counts: dict[str, dict[int, int]]

    def share(self, row: str, year: int) -> float:
        d = self.denominators.get(year, 0)
        return self.counts[row].get(year, 0) / d if d else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "years": self.years,
            "denominators": {str(y): n for y, n in self.denominators.items()},
            "rows": [
                {
                    "row": row,
                    "counts": {str(y): self.counts[row].get(y, 0) for y in self.years},
                    "shares": {str(y): round(self.share(row, y), 4) for y in self.years},
                }
                for row in sorted(self.counts)
            ],
        }


def year_trend(
    mentions: Iterable[StoredMention], *, groups: Mapping[str, str] | None = None
) -> YearTrend:
    """Distinct cases per year and row label, with each year's known-platform denominator."""
    known = _frame(mentions, groups).filter(pl.col("group").is_not_null())
    per_year = known.group_by("year").agg(pl.col("case").n_unique().alias("n"))
    cells = known.group_by(["group", "year"]).agg(pl.col("case").n_unique().alias("n"))
    denominators = {int(y): int(n) for y, n in sorted(per_year.iter_rows())}
    counts: dict[str, dict[int, int]] = {}
    for group, year, n in cells.iter_rows():
        counts.setdefault(str(group), {})[int(year)] = int(n)
    return YearTrend(years=sorted(denominators), denominators=denominators, counts=counts)


def cases_by_platform_and_harm(
    mentions: Iterable[StoredMention], harm_stages: Mapping[str, Iterable[str]]
) -> tuple[dict[str, dict[str, int]], int]:
    """Distinct cases per platform in which it was used at a stage linked to each harm, and the
    denominator: distinct cases with a known platform."""
    frame = _frame(mentions, None).filter(pl.col("platform").is_not_null())
    denominator = frame.get_column("case").n_unique()
    result: dict[str, dict[str, int]] = {}
    for harm, stages in harm_stages.items():
        cells = (
            frame.filter(pl.col("stage").is_in(list(stages)))
            .group_by("platform")
            .agg(pl.col("case").n_unique().alias("n"))
        )
        for platform, n in cells.iter_rows():
            result.setdefault(str(platform), {})[harm] = int(n)
    return result, denominator
