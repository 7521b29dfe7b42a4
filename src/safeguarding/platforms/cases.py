"""Coded case evidence: which platform was used at which stage, and the platform × stage matrix.

Each record is one mention in an anonymised case file: the platform (a register id, another
label, or empty when the file does not say), the unified stage code S1–S10, the role pair, the
year and the source. The case number is replaced by a keyed pseudonym at import, so files can be
re-imported without duplicates and without the store holding the real number.

A label is stored as written and matched to the register when it is read: a label that is a
register id but for letter case counts as that id (ids are lower case, so it can name no other),
and every other label that is not an id is reported with the id it resembles, because a mention
that matches no id counts for no service's risk.

Counts are distinct cases, not mentions: a case that used one app at one stage ten times counts
once in that cell. Shares are taken over the cases with a known platform (the denominator), which
is always reported, because a share without its denominator hides how little is known.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from safeguarding.errors import ValidationError
from safeguarding.input_files import csv_rows, refuse_nul, refuse_repeated_columns, some_names
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

    _text = field_validator("*")(refuse_nul)


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
    return str(error["msg"]).removeprefix("Value error, ")


def parse_cases_csv(
    text: str, file: str = "cases.csv"
) -> tuple[list[tuple[int, CaseMention]], list[CaseRowError]]:
    """Parse a case CSV (columns ``CASE_COLUMNS``): good rows with their lines, and errors."""
    header, records = csv_rows(text, file)
    refuse_repeated_columns(header, file)
    missing = [c for c in CASE_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CASE_COLUMNS]
    if missing or unknown:
        raise ValidationError(
            f"{file}:1: columns must be {', '.join(CASE_COLUMNS)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {some_names(unknown)}" if unknown else ""),
            location=f"{file}:1",
            rule="header",
        )
    good: list[tuple[int, CaseMention]] = []
    errors: list[CaseRowError] = []
    for record in records:
        line = record.line
        if len(good) + len(errors) >= MAX_ROWS:
            raise ValidationError(f"{file}: more than {MAX_ROWS} rows", location=file, rule="size")
        if record.problem:
            errors.append(CaseRowError(file, line, record.column, record.problem))
            continue
        raw: dict[str, Any] = {c: record.cells.get(c, "").strip() for c in CASE_COLUMNS}
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


@dataclass(frozen=True)
class LabelNote:
    """A platform label of the case files that is not a register id, and what it is taken for.

    ``counted_as`` is the id the label is but for letter case (its mentions count for it);
    ``near`` an id it only resembles (its mentions count for no service until the file says it).
    """

    label: str
    mentions: int
    counted_as: str | None = None
    near: str | None = None

    def __str__(self) -> str:
        named = f"platform {self.label!r} ({self.mentions} mention(s))"
        if self.counted_as is not None:
            return f"{named} is register id {self.counted_as!r} but for letter case: counted as it"
        if self.near is not None:
            return (
                f"{named} is not a register id; did you mean {self.near!r}? "
                "Its mentions count for no service's risk"
            )
        return f"{named} is not a register id: its mentions count for no service's risk"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "mentions": self.mentions,
            "counted_as": self.counted_as,
            "near": self.near,
            "text": str(self),
        }


def _loose(label: str) -> str:
    """A label as a near-miss is compared: letter case, '_' and spaces do not count."""
    return re.sub(r"[\s_]+", "-", label.strip().casefold())


def register_ids_by_case(labels: Iterable[str], ids: Collection[str]) -> dict[str, str]:
    """The labels that are a register id but for letter case, each with that id."""
    folded = {i.casefold(): i for i in ids}
    return {
        label: folded[label.casefold()]
        for label in labels
        if label not in folded and label.casefold() in folded
    }


def label_notes(counts: Mapping[str, int], ids: Collection[str]) -> list[LabelNote]:
    """A note for each label (with its number of mentions) that is not a register id: the id it
    counts as, or the id it resembles; most mentions first."""
    known = set(ids)
    by_case = register_ids_by_case(counts, known)
    loose: dict[str, str] = {}
    for ident in sorted(known, reverse=True):  # the first id in order wins a shared loose form
        loose[_loose(ident)] = ident
    notes = [
        LabelNote(
            label,
            n,
            counted_as=by_case.get(label),
            near=None if label in by_case else loose.get(_loose(label)),
        )
        for label, n in counts.items()
        if label not in known
    ]
    return sorted(notes, key=lambda note: (-note.mentions, note.label))


def with_register_ids(frame: pl.DataFrame, ids: Collection[str]) -> pl.DataFrame:
    """``frame`` with each platform label that is a register id but for letter case replaced by
    that id, so the matrix, the trend and the risk count its cases for the service it names."""
    labels = frame.get_column("platform").drop_nulls().unique().to_list()
    mapping = register_ids_by_case(labels, ids)
    if not mapping:
        return frame
    return frame.with_columns(pl.col("platform").replace(mapping))


MENTION_SCHEMA = {
    "case": pl.Utf8,
    "platform": pl.Utf8,
    "stage": pl.Utf8,
    "role_pair": pl.Utf8,
    "year": pl.Int64,
}
Mentions = pl.DataFrame | Iterable[StoredMention]


def mention_frame(mentions: Mentions) -> pl.DataFrame:
    """The columns the matrix needs, built column by column, with each case pseudonym replaced
    by an integer code (exact: one code per distinct pseudonym) so distinct counts run fast."""
    if isinstance(mentions, pl.DataFrame):
        frame = mentions.select(list(MENTION_SCHEMA))
    else:
        items = mentions if isinstance(mentions, list | tuple) else list(mentions)
        frame = pl.DataFrame(
            {
                "case": [m.case for m in items],
                "platform": [m.platform for m in items],
                "stage": [m.stage for m in items],
                "role_pair": [m.role_pair for m in items],
                "year": [m.year for m in items],
            },
            schema=MENTION_SCHEMA,
        )
    if frame.schema["case"] == pl.Utf8:
        frame = frame.with_columns(pl.col("case").cast(pl.Categorical).to_physical())
    return frame.with_columns(pl.col("stage").cast(pl.Enum(list(STAGES))))


_CASE_SPAN = 2**32  # case codes are UInt32


@dataclass(frozen=True)
class _Coded:
    """Mentions with a known platform (or group), every column an integer code.

    ``g`` indexes ``labels`` (platform or group), ``s`` indexes ``STAGES``, ``y`` is the year
    minus ``first_year``, ``c`` the case code. Distinct counts then pack (key, case) into one
    64-bit integer and de-duplicate a single column, which is exact and fast.
    """

    frame: pl.DataFrame
    labels: list[str]
    first_year: int
    total_cases: int

    def sizes(self) -> dict[str, int]:
        last = self.frame.select(pl.col("y").max()).item() if self.frame.height else None
        years = int(last) + 1 if last is not None else 1
        return {"g": max(len(self.labels), 1), "s": len(STAGES), "y": years}

    def distinct(self, keys: list[str]) -> dict[tuple[int, ...], int]:
        """Distinct cases per combination of ``keys`` (column names g, s, y)."""
        sizes = self.sizes()
        span = 1
        key = pl.lit(0, dtype=pl.UInt64)
        for name in keys:
            key = key * sizes[name] + pl.col(name).cast(pl.UInt64)
            span *= sizes[name]
        if span >= _CASE_SPAN:
            raise ValueError("too many distinct keys to pack with case codes")
        packed = self.frame.select(key * _CASE_SPAN + pl.col("c")).to_series().unique()
        counted = (packed // _CASE_SPAN).value_counts()
        result: dict[tuple[int, ...], int] = {}
        for code, n in counted.iter_rows():
            parts = []
            for name in reversed(keys):
                code, part = divmod(int(code), sizes[name])
                parts.append(part)
            result[tuple(reversed(parts))] = int(n)
        return result


def only_role(mentions: Mentions, role_pair: str) -> pl.DataFrame:
    """The mentions of one role pair (offender-victim, offender-buyer, victim-buyer)."""
    return mention_frame(mentions).filter(pl.col("role_pair") == role_pair)


def _coded(mentions: Mentions, groups: Mapping[str, str] | None) -> _Coded:
    frame = mention_frame(mentions)
    total = frame.get_column("case").n_unique()
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
    known = frame.filter(pl.col("group").is_not_null())
    labels = sorted(str(v) for v in known.get_column("group").unique().to_list())
    earliest = known.select(pl.col("year").min()).item() if known.height else None
    first_year = int(earliest) if earliest is not None else 0
    coded = known.select(
        pl.col("group").cast(pl.Enum(labels)).to_physical().alias("g"),
        pl.col("stage").to_physical().alias("s"),
        (pl.col("year") - first_year).alias("y"),
        pl.col("case").alias("c"),
    )
    return _Coded(coded, labels, first_year, total)


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

    def cells(self) -> list[dict[str, Any]]:
        """One record per (row, stage) with its cases and share: what the heatmaps draw."""
        return [
            {
                "platform": row,
                "stage": stage,
                "cases": self.counts[row][stage],
                "share": round(self.share(row, stage), 3),
            }
            for row in self.rows
            for stage in STAGES
        ]

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
    mentions: Mentions,
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
    coded = _coded(mentions, groups)
    denominator = coded.frame.get_column("c").n_unique()
    labels = coded.labels
    row_totals = {labels[g]: n for (g,), n in coded.distinct(["g"]).items()}
    rows = sorted(row_totals, key=lambda r: (-row_totals[r], r))
    counts = {row: dict.fromkeys(STAGES, 0) for row in rows}
    for (g, stage), n in coded.distinct(["g", "s"]).items():
        counts[labels[g]][STAGES[stage]] = n
    stage_totals = dict.fromkeys(STAGES, 0)
    for (stage,), n in coded.distinct(["s"]).items():
        stage_totals[STAGES[stage]] = n
    known_audience = {r: int(a) for r, a in (audience or {}).items() if r in row_totals and a > 0}
    per_million = {r: round(row_totals[r] / (a / 1_000_000), 4) for r, a in known_audience.items()}
    return StageMatrix(
        rows=rows,
        counts=counts,
        denominator=denominator,
        total_cases=coded.total_cases,
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

    def cells(self) -> list[dict[str, Any]]:
        """One record per (row, year) with its cases and share: what the trend charts draw."""
        return [
            {
                "type": row,
                "year": year,
                "cases": self.counts[row].get(year, 0),
                "share": round(self.share(row, year), 3),
            }
            for row in sorted(self.counts)
            for year in self.years
        ]

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


def year_trend(mentions: Mentions, *, groups: Mapping[str, str] | None = None) -> YearTrend:
    """Distinct cases per year and row label, with each year's known-platform denominator."""
    coded = _coded(mentions, groups)
    first = coded.first_year
    denominators = {first + y: n for (y,), n in sorted(coded.distinct(["y"]).items())}
    counts: dict[str, dict[int, int]] = {}
    for (g, y), n in coded.distinct(["g", "y"]).items():
        counts.setdefault(coded.labels[g], {})[first + y] = n
    return YearTrend(years=sorted(denominators), denominators=denominators, counts=counts)


def cases_by_platform_and_harm(
    mentions: Mentions, harm_stages: Mapping[str, Iterable[str]]
) -> tuple[dict[str, dict[str, int]], int]:
    """Distinct cases per platform in which it was used at a stage linked to each harm, and the
    denominator: distinct cases with a known platform."""
    coded = _coded(mentions, None)
    denominator = coded.frame.get_column("c").n_unique()
    result: dict[str, dict[str, int]] = {}
    for harm, stages in harm_stages.items():
        wanted = [STAGES.index(stage) for stage in stages]
        if not wanted:
            continue
        subset = _Coded(
            coded.frame.filter(pl.col("s").is_in(wanted)), coded.labels, coded.first_year, 0
        )
        for (g,), n in subset.distinct(["g"]).items():
            result.setdefault(coded.labels[g], {})[harm] = n
    return result, denominator
