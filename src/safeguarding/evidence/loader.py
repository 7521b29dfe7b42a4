"""Published figures as data: loading and validating the evidence files.

Each TOML file in ``evidence/data/`` holds one topic and a list of ``[[figure]]`` tables. A figure
has a stable id, the statement as published, the years it describes, its source (title and, where
known, address), a reliability tag and one or more machine-readable values with units:

- **P**: read in the primary source; **S**: from a secondary source citing the primary (shown with
  its tag); **U**: unverified, usable only as a labelled assumption.

The loader refuses a bad file with the file, the line and the rule broken, because a wrong figure
silently accepted would propagate into every model and report that cites it.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from safeguarding.errors import ValidationError
from safeguarding.input_files import read_input

DATA_DIR = Path(__file__).parent / "data"
TAGS = {
    "P": "primary source",
    "S": "secondary source citing the primary",
    "U": "unverified: assumption only",
}
# From least to most reliable: a number resting on several values is only as reliable as the
# least reliable of them, so the weakest tag is the one to show beside it.
TAG_STRENGTH = ("U", "S", "P")
ID_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
MIN_YEAR, MAX_YEAR = 1990, 2035

# Units a value may carry. "share" is a fraction in [0, 1]; everything else is a non-negative
# quantity of the named kind. New kinds of figure add their unit here, deliberately.
SHARE_UNITS = {"share"}
QUANTITY_UNITS = {
    "reports",
    "files",
    "incidents",
    "cases",
    "offences",
    "contacts",
    "people",
    "accounts",
    "messages",
    "messages_per_day",
    "false_positives_per_day",
    "links",
    "officers",
    "victims",
    "users",
    "images",
    "displays",
    "requests",
    "clicks",
    "respondents",
    "count",
    "ratio",
    "eur",
    "eur_per_year",
    "ms",
    "seconds",
    "minutes",
    "hours",
    "bits",
    "gigabytes",
    "years",
    "reports_per_year",
    "lookups_per_second",
}
UNITS = SHARE_UNITS | QUANTITY_UNITS
FIGURE_KEYS = {"id", "statement", "years", "source", "url", "tag", "note", "values"}
VALUE_KEYS = {"name", "value", "unit", "year", "tag", "bound"}
# How a value relates to the published number: "below" and "above" are strict ("fewer than 50
# staff", "> 7 million users"), "at_most" and "at_least" are not ("≤ €10 M", "≥ 45 million").
BOUNDS = {"exact", "at_least", "at_most", "below", "above", "about"}


@dataclass(frozen=True)
class EvidenceValue:
    """One machine-readable number of a figure, e.g. ``reports`` = 32,059,029 in 2022."""

    name: str
    value: float
    unit: str
    year: int | None = None
    tag: str | None = None
    bound: str = "exact"


@dataclass(frozen=True)
class EvidenceFigure:
    """A published figure: the statement, its source, its tag, and its values."""

    id: str
    topic: str
    statement: str
    years: tuple[int, ...]
    source: str
    tag: str
    values: tuple[EvidenceValue, ...]
    url: str | None = None
    note: str | None = None
    file: str = ""
    line: int = 0

    def value(self, name: str, year: int | None = None) -> EvidenceValue:
        """The value called ``name`` (for ``year`` when the figure has one per year).

        Without a year, a name the figure gives for several years is refused rather than read as
        its first year: BKA's criminally relevant share is 65.8% in 2022 and 49.6% in 2023, and a
        silent choice between them would change every number computed from it.
        """
        found = [v for v in self.values if v.name == name and (year is None or v.year == year)]
        if len(found) > 1:
            years = ", ".join(str(v.year) for v in found)
            raise KeyError(
                f"evidence {self.id} has {name} for several years ({years}): name the year, "
                f"as in {self.id}:{name}:{found[-1].year}"
            )
        if found:
            return found[0]
        wanted = f"{name}" + (f" for {year}" if year is not None else "")
        known = ", ".join(sorted({v.name for v in self.values}))
        raise KeyError(f"evidence {self.id} has no value {wanted}; it has: {known}")

    def tag_of(self, value: EvidenceValue) -> str:
        """The value's own tag, or the figure's where the value has none.

        One figure can mix sources (e.g. earlier years from annual reports, the latest year only
        via a newspaper), so whatever shows a value must show this tag, not the figure's.
        """
        return value.tag or self.tag

    def tag_of_values(self, values: Iterable[EvidenceValue]) -> str:
        """The weakest own tag of ``values`` (the figure's tag when there are none).

        A number computed from several values is no more reliable than the least reliable one.
        """
        return weakest_tag([self.tag_of(v) for v in values] or [self.tag])

    def citation(self, values: Iterable[EvidenceValue] = ()) -> str:
        """How the figure is cited next to a number derived from it (from ``values``, if given).

        Given the values the number came from, the tag is theirs (see ``tag_of_values``), so a
        number from a secondary-source value of a primary-source figure is cited as S.
        """
        return f"{self.id} [{self.tag_of_values(values)}] {self.source}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "statement": self.statement,
            "years": list(self.years),
            "source": self.source,
            "url": self.url,
            "tag": self.tag,
            "note": self.note,
            "values": [
                {k: v for k, v in vars(value).items() if v is not None} for value in self.values
            ],
        }


def weakest_tag(tags: Iterable[str]) -> str:
    """The least reliable of ``tags`` (U before S before P); unknown tags count as U."""
    return min(tags, key=lambda t: TAG_STRENGTH.index(t) if t in TAG_STRENGTH else -1)


@dataclass
class EvidenceBase:
    """All figures, looked up by id."""

    figures: dict[str, EvidenceFigure] = field(default_factory=dict)
    version: str = ""

    def __iter__(self) -> Iterator[EvidenceFigure]:
        return iter(self.figures.values())

    def __len__(self) -> int:
        return len(self.figures)

    def __contains__(self, figure_id: object) -> bool:
        return figure_id in self.figures

    def get(self, figure_id: str) -> EvidenceFigure:
        try:
            return self.figures[figure_id]
        except KeyError:
            raise KeyError(f"no evidence figure with id {figure_id!r}") from None

    def with_tag(self, tag: str) -> list[EvidenceFigure]:
        return [figure for figure in self if figure.tag == tag]


_FIGURE_HEADER = re.compile(r"^\s*\[\[\s*figure\s*\]\]\s*(#.*)?$")
_VALUE_HEADER = re.compile(r"^\s*\[\[\s*figure\s*\.\s*values\s*\]\]\s*(#.*)?$")
_QUOTES = ('"""', "'''", '"', "'")


def _scan(text: str) -> tuple[list[bool], list[tuple[int, str]]]:
    """Where TOML syntax is, outside strings and comments: whether each line (0-based) starts
    outside a string, and every bracket or brace with the line it is on.

    A header, a key or a value table written inside a string ("[[figure]]" in a note) is text,
    not structure, so the line finder must not count it.
    """
    starts_in_code = [True] * (text.count("\n") + 1)
    brackets: list[tuple[int, str]] = []
    line = i = 0
    quote = ""
    while i < len(text):
        char = text[i]
        if quote and char == "\\" and quote.startswith('"'):
            i += 1  # an escape: the next character cannot close the string
            char = text[i] if i < len(text) else ""
        elif quote and text.startswith(quote, i):
            i += len(quote)
            quote = ""
            continue
        elif not quote and char == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif not quote and (opening := next((q for q in _QUOTES if text.startswith(q, i)), "")):
            quote = opening
            i += len(opening)
            continue
        elif not quote and char in "[]{}":
            brackets.append((line, char))
        if char == "\n":
            line += 1
            starts_in_code[line] = not quote
        i += 1
    return starts_in_code, brackets


class _Lines:
    """Maps figure tables, their keys and their values back to line numbers in the TOML text,
    for error messages: an error must point at the line to fix, not at a neighbour."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        code, self.brackets = _scan(text)
        self.code = [code[i] for i in range(len(self.lines))]
        self.headers = [
            i + 1
            for i, line in enumerate(self.lines)
            if self.code[i] and _FIGURE_HEADER.match(line)
        ]

    def figure(self, index: int) -> int:
        return self.headers[index] if index < len(self.headers) else 1

    def _end(self, index: int) -> int:
        return self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines) + 1

    def key(self, index: int, key: str) -> int:
        start = self.figure(index)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start, self._end(index)):
            if self.code[number - 1] and pattern.match(self.lines[number - 1]):
                return number
        return start

    def values(self, index: int) -> list[int]:
        """The line each value of figure ``index`` starts on: its inline table in ``values =
        [...]``, or its ``[[figure.values]]`` header."""
        start, end = self.figure(index), self._end(index)
        headers = [
            n
            for n in range(start, end)
            if self.code[n - 1] and _VALUE_HEADER.match(self.lines[n - 1])
        ]
        if headers:
            return headers
        first = self.key(index, "values")
        found: list[int] = []
        depth = 0
        for line, char in self.brackets:
            if line + 1 < first or line + 1 >= end:
                continue
            if char in "[{":
                if depth == 1:
                    found.append(line + 1)
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    break
        return found


def _fail(path: Path, line: int, rule: str) -> ValidationError:
    return ValidationError(f"{path.name}:{line}: {rule}", location=f"{path}:{line}", rule=rule)


def _check_year(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_YEAR <= value <= MAX_YEAR


def _parse_value(raw: Any, path: Path, line: int, figure_id: str) -> EvidenceValue:
    if not isinstance(raw, dict):
        raise _fail(path, line, f"figure {figure_id}: each value must be a table")
    unknown = sorted(set(raw) - VALUE_KEYS)
    if unknown:
        raise _fail(path, line, f"figure {figure_id}: unknown value key(s) {', '.join(unknown)}")
    name, number, unit = raw.get("name"), raw.get("value"), raw.get("unit")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]+", name):
        raise _fail(path, line, f"figure {figure_id}: value name must be snake_case text")
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise _fail(path, line, f"figure {figure_id}: value {name} must be a number")
    # TOML allows nan and inf; no published figure is either, and NaN passes every comparison
    # below unnoticed, then spreads through every model and report that cites it.
    if not math.isfinite(number):
        raise _fail(
            path, line, f"figure {figure_id}: value {name} must be a finite number (got {number})"
        )
    if unit not in UNITS:
        raise _fail(path, line, f"figure {figure_id}: value {name} has unknown unit {unit!r}")
    if number < 0:
        raise _fail(path, line, f"figure {figure_id}: value {name} must not be negative")
    if unit in SHARE_UNITS and number > 1:
        raise _fail(path, line, f"figure {figure_id}: share {name} must be between 0 and 1")
    year = raw.get("year")
    if year is not None and not _check_year(year):
        raise _fail(
            path, line, f"figure {figure_id}: value {name} year must be {MIN_YEAR}-{MAX_YEAR}"
        )
    tag = raw.get("tag")
    if tag is not None and tag not in TAGS:
        raise _fail(path, line, f"figure {figure_id}: value {name} has unknown tag {tag!r}")
    bound = raw.get("bound", "exact")
    if bound not in BOUNDS:
        raise _fail(path, line, f"figure {figure_id}: value {name} has unknown bound {bound!r}")
    return EvidenceValue(name=name, value=float(number), unit=unit, year=year, tag=tag, bound=bound)


def _parse_figure(raw: Any, index: int, topic: str, path: Path, lines: _Lines) -> EvidenceFigure:
    line = lines.figure(index)
    if not isinstance(raw, dict):
        raise _fail(path, line, "each [[figure]] must be a table")
    figure_id = raw.get("id")
    if not isinstance(figure_id, str) or not ID_PATTERN.match(figure_id):
        raise _fail(
            path, lines.key(index, "id"), "figure id must be dotted lower-case text, e.g. a.b.c"
        )
    unknown = sorted(set(raw) - FIGURE_KEYS)
    if unknown:
        raise _fail(
            path, lines.key(index, unknown[0]), f"figure {figure_id}: unknown key {unknown[0]}"
        )
    for key in ("statement", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, lines.key(index, key), f"figure {figure_id}: {key} is required text")
    tag = raw.get("tag")
    if tag not in TAGS:
        raise _fail(
            path,
            lines.key(index, "tag"),
            f"figure {figure_id}: tag must be one of {', '.join(TAGS)} (got {tag!r})",
        )
    years = raw.get("years", [])
    if not isinstance(years, list) or not all(_check_year(y) for y in years) or len(years) > 2:
        raise _fail(
            path,
            lines.key(index, "years"),
            f"figure {figure_id}: years must be [year] or [from, to] within {MIN_YEAR}-{MAX_YEAR}",
        )
    if len(years) == 2 and years[0] > years[1]:
        raise _fail(path, lines.key(index, "years"), f"figure {figure_id}: years run backwards")
    url = raw.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("https://", "http://"))
    ):
        raise _fail(path, lines.key(index, "url"), f"figure {figure_id}: url must be http(s)")
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise _fail(path, lines.key(index, "note"), f"figure {figure_id}: note must be text")
    raw_values = raw.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        raise _fail(
            path, lines.key(index, "values"), f"figure {figure_id}: at least one value is required"
        )
    value_line = lines.key(index, "values")
    found = lines.values(index)
    at = [found[i] if i < len(found) else value_line for i in range(len(raw_values))]
    values = tuple(
        _parse_value(v, path, where, figure_id) for v, where in zip(raw_values, at, strict=True)
    )
    seen: set[tuple[str, int | None]] = set()
    for value, where in zip(values, at, strict=True):
        if (value.name, value.year) in seen:
            raise _fail(path, where, f"figure {figure_id}: a value name/year appears twice")
        seen.add((value.name, value.year))
        # The figure's years are the years it describes: a value for another year contradicts
        # them, and whatever lists the figure by its years would misdate the value.
        if value.year is not None and not (years and years[0] <= value.year <= years[-1]):
            described = "-".join(str(y) for y in years) if years else "no year"
            raise _fail(
                path,
                where,
                f"figure {figure_id}: value {value.name} is for {value.year}, outside the "
                f"figure's years ({described}), which must cover every value's year",
            )
    return EvidenceFigure(
        id=figure_id,
        topic=topic,
        statement=raw["statement"].strip(),
        years=tuple(years),
        source=raw["source"].strip(),
        tag=tag,
        values=values,
        url=url,
        note=note.strip() if isinstance(note, str) else None,
        file=path.name,
        line=line,
    )


def load_file(path: Path) -> list[EvidenceFigure]:
    """Parse and validate one evidence file."""
    raw = read_input(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(path, 1, "file must be UTF-8") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise _fail(path, int(match.group(1)) if match else 1, f"not valid TOML: {exc}") from exc
    lines = _Lines(text)
    topic = data.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise _fail(path, 1, 'file must start with topic = "..."')
    unknown = sorted(set(data) - {"topic", "figure"})
    if unknown:
        raise _fail(path, 1, f"unknown top-level key {unknown[0]}")
    figures = data.get("figure", [])
    if not isinstance(figures, list) or not figures:
        raise _fail(path, 1, "file must hold at least one [[figure]]")
    return [_parse_figure(raw, i, topic, path, lines) for i, raw in enumerate(figures)]


def load_evidence(paths: Iterable[Path] | None = None) -> EvidenceBase:
    """Load and validate evidence files (default: the files shipped with the package)."""
    files = sorted(DATA_DIR.glob("*.toml")) if paths is None else sorted(paths)
    base = EvidenceBase()
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
        for figure in load_file(path):
            if figure.id in base.figures:
                first = base.figures[figure.id]
                raise _fail(
                    path,
                    figure.line,
                    f"duplicate figure id {figure.id} (first in {first.file}:{first.line})",
                )
            base.figures[figure.id] = figure
    base.version = digest.hexdigest()[:16]
    return base


@cache
def shipped_evidence() -> EvidenceBase:
    """The package's own evidence base, loaded once per process."""
    return load_evidence()
