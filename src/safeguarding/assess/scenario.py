"""Scenarios: the parameters of one detection measure, each a distribution with a source.

A scenario is a TOML file. ``[scenario]`` names it; every other table holds parameters of the
funnel (see ``PARAMETERS``). A parameter is a table such as::

    [detection.known]
    sensitivity = { dist = "pert", low = 0.9, mode = 0.98, high = 0.99, evidence = "photodna.fpr",
                    assumption = "the co-developer's ~98% recall, with room below it" }

A numeric field may name an evidence value instead of a number: ``"id:value_name"`` or
``"id:value_name:year"`` (``value = "scientists.whatsapp.2024:tested_share"``); the year is
required where the figure gives the value for several years. The figure's id then counts as the
parameter's source, and the value read (``id:name:year`` with the value's own tag) is kept with
it. Every parameter needs a source: ``evidence`` (one id or a list, each checked against the
shipped evidence base) or ``assumption`` (the reasoning, shown wherever the parameter is shown),
or both.

``extends = "name"`` in ``[scenario]`` starts from another scenario (a shipped name or a path next
to this file) and replaces only the parameters given. The loader refuses a bad file with the file,
the line and the key, because a silently accepted wrong input would flow into every figure the
model produces.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from safeguarding.assess.distributions import (
    KIND_FIELDS,
    MAX_MAGNITUDE,
    MIN_POSITIVE,
    Distribution,
    check,
)
from safeguarding.errors import ValidationError
from safeguarding.evidence import shipped_evidence
from safeguarding.input_files import UNREADABLE, read_input_text, why_unreadable
from safeguarding.triage.formats.fields import UNSTORABLE, unstorable

SCENARIO_DIR = Path(__file__).parent / "scenarios"
TECHNOLOGIES = ("known", "new", "grooming")
TECHNOLOGY_TITLES = {
    "known": "known-material hash matching (images and videos)",
    "new": "new-material classifier (images and videos)",
    "grooming": "grooming classifier (messages)",
}
NOT_DEPLOYED = "technology not deployed in this scenario"
# Rare events (prevalence, false-positive rates) span orders of magnitude and are best described
# lognormally; below this 95th percentile the chance of a draw above 1 is negligible (and capped).
LOGNORMAL_SHARE_MAX = 0.1


@dataclass(frozen=True)
class ParameterSpec:
    """What a parameter means and which values it may take."""

    kind: str  # "share" in [0, 1]; "fraction" in (0, 1]; "volume" >= 0; "positive" > 0
    unit: str
    description: str
    default: float | None = None
    default_reason: str = ""


def _technology_specs() -> dict[str, ParameterSpec]:
    specs: dict[str, ParameterSpec] = {}
    for tech in TECHNOLOGIES:
        scanned = "messages" if tech == "grooming" else "images and videos"
        specs |= {
            f"detection.{tech}.coverage": ParameterSpec(
                "share",
                "share",
                f"share of in-scope {scanned} the {tech} detector scans",
                0.0,
                NOT_DEPLOYED,
            ),
            f"detection.{tech}.prevalence": ParameterSpec(
                "share",
                "share",
                f"share of scanned {scanned} that are {tech} target content",
                0.0,
                NOT_DEPLOYED,
            ),
            f"detection.{tech}.sensitivity": ParameterSpec(
                "share", "share", "share of target items the detector flags", 0.0, NOT_DEPLOYED
            ),
            f"detection.{tech}.false_positive_rate": ParameterSpec(
                "share", "share", "share of innocent items the detector flags", 0.0, NOT_DEPLOYED
            ),
            f"detection.{tech}.review_share": ParameterSpec(
                "share",
                "share",
                "share of its flags a provider's human reviewer looks at",
                0.0,
                NOT_DEPLOYED,
            ),
        }
    return specs


PARAMETERS: dict[str, ParameterSpec] = {
    "volume.messages_per_day": ParameterSpec(
        "volume", "messages/day", "interpersonal messages a day on the services considered"
    ),
    "volume.images_per_day": ParameterSpec(
        "volume", "images/day", "images shared a day on the services considered"
    ),
    "volume.videos_per_day": ParameterSpec(
        "volume", "videos/day", "videos shared a day on the services considered"
    ),
    "volume.scope_share": ParameterSpec(
        "share",
        "share",
        "share of that volume within the measure's scope",
        1.0,
        "the whole volume is in scope",
    ),
    "volume.message_users": ParameterSpec(
        "volume",
        "users",
        "monthly active users of in-scope services whose message volume is unknown (services file)",
        0.0,
        "no services file, or every volume known",
    ),
    "volume.image_users": ParameterSpec(
        "volume",
        "users",
        "monthly active users of in-scope services whose image volume is unknown (services file)",
        0.0,
        "no services file, or every volume known",
    ),
    "volume.video_users": ParameterSpec(
        "volume",
        "users",
        "monthly active users of in-scope services whose video volume is unknown (services file)",
        0.0,
        "no services file, or every volume known",
    ),
    "volume.messages_per_user_per_day": ParameterSpec(
        "volume",
        "messages/user/day",
        "messages a day per monthly active user, where a services file gives users but no volume",
        0.0,
        "used only with a services file",
    ),
    "volume.images_per_user_per_day": ParameterSpec(
        "volume",
        "images/user/day",
        "images a day per monthly active user (services file)",
        0.0,
        "used only with a services file",
    ),
    "volume.videos_per_user_per_day": ParameterSpec(
        "volume",
        "videos/user/day",
        "videos a day per monthly active user (services file)",
        0.0,
        "used only with a services file",
    ),
    **_technology_specs(),
    "review.true_confirmed": ParameterSpec(
        "share", "share", "share of true positives a reviewer confirms"
    ),
    "review.false_confirmed": ParameterSpec(
        "share", "share", "share of false positives a reviewer wrongly confirms"
    ),
    "review.items_per_report": ParameterSpec(
        "positive", "items/report", "flagged items a provider puts in one report"
    ),
    "review.accounts_per_report": ParameterSpec(
        "positive",
        "accounts/report",
        "accounts named in one report",
        1.0,
        "one report names one account",
    ),
    "central.bundling_ratio": ParameterSpec(
        "fraction", "reports/incident", "reports the central body keeps per incident after bundling"
    ),
    "central.unfounded_removed": ParameterSpec(
        "share",
        "share",
        "share of false-positive reports the central body judges manifestly "
        "unfounded and does not forward",
    ),
    "central.duplicate_share": ParameterSpec(
        "share", "share", "share of true reports that duplicate known, viral material"
    ),
    "central.deduplicated": ParameterSpec(
        "share", "share", "share of those duplicates merged before forwarding"
    ),
    "central.jurisdiction_share": ParameterSpec(
        "share", "share", "share of forwarded reports that go to this jurisdiction's police"
    ),
    "police.actionable_share": ParameterSpec(
        "share", "share", "share of true forwarded notifications that are actionable"
    ),
    "police.minutes_per_notification": ParameterSpec(
        "positive", "minutes", "police minutes to assess one forwarded notification"
    ),
    "police.hours_per_investigation": ParameterSpec(
        "positive", "hours", "police hours per investigation of an actionable notification"
    ),
    # Positive, not merely non-negative: the share of capacity consumed, and with it the
    # sensitivity analysis and the charts, is undefined for a team of no hours.
    "police.capacity_hours": ParameterSpec(
        "positive", "hours/year", "police hours a year for online child sexual abuse work"
    ),
    "police.proactive_cases_per_1000_hours": ParameterSpec(
        "volume", "cases/1000 hours", "cases a proactive investigation team yields per 1,000 hours"
    ),
    "police.extra_proactive_hours": ParameterSpec(
        "volume",
        "hours/year",
        "additional police hours a year spent on proactive work",
        0.0,
        "no additional proactive budget",
    ),
    "queue.p1_share": ParameterSpec(
        "share",
        "share",
        "share of forwarded notifications at level P1 (child in imminent danger or ongoing abuse)",
    ),
    "queue.p2_share": ParameterSpec("share", "share", "share of forwarded notifications at P2"),
    "queue.p3_share": ParameterSpec("share", "share", "share of forwarded notifications at P3"),
}
SCENARIO_KEYS = {"name", "title", "region", "description", "extends", "services", "scope"}
# A stored run keeps each scenario's name and region in columns of these lengths
# (``AssessResultRow``): PostgreSQL refuses a longer value where SQLite keeps it, so the loader
# refuses it for both. A name is an identifier (charts and stored rows are keyed by it) and a
# region a short code ("EU", "NL"); the title and description say the rest, at any length.
MAX_NAME_LENGTH = 120
MAX_REGION_LENGTH = 20
SCOPES = ("all", "high-risk")
PARAMETER_KEYS = {"dist", "evidence", "assumption", "note"} | {
    name for fields in KIND_FIELDS.values() for name in fields
}
_REF = re.compile(r"^([a-z0-9_]+(?:\.[a-z0-9_]+)+):([a-z0-9_]+)(?::(\d{4}))?$")


@dataclass(frozen=True)
class ValueRef:
    """One evidence value a parameter's number was taken from, with the value's own tag.

    The figure id alone does not say which year was read, and the figure's tag is not the
    value's: fedpol's figure is P, its 2024 counts S. So the reference keeps both.
    """

    figure: str
    name: str
    year: int | None
    tag: str

    @property
    def reference(self) -> str:
        """``id:name:year`` (``id:name`` for a value without a year)."""
        return f"{self.figure}:{self.name}" + (f":{self.year}" if self.year is not None else "")

    def describe(self) -> str:
        return f"{self.reference} [{self.tag}]"

    def as_dict(self) -> dict[str, str]:
        return {"reference": self.reference, "tag": self.tag}


def evidence_tags(ids: Iterable[str]) -> dict[str, str]:
    """Each cited figure's reliability tag (P primary, S secondary, U unverified), by id: an id
    alone does not say how far its figure can be trusted. Scenarios cite only figures of the
    shipped evidence base (checked when they load)."""
    base = shipped_evidence()
    return {ident: base.get(ident).tag for ident in ids}


@dataclass(frozen=True)
class Source:
    """Where a parameter comes from: evidence ids (and the values read from them), an
    assumption's reasoning, or a data file."""

    evidence: tuple[str, ...] = ()
    assumption: str | None = None
    data: str | None = None
    values: tuple[ValueRef, ...] = ()

    @property
    def label(self) -> str:
        """``data``, ``assumption`` (even when evidence informs it) or ``evidence``."""
        if self.data:
            return "data"
        return "assumption" if self.assumption else "evidence"

    def describe(self) -> str:
        parts = [*self.evidence]
        if self.values:
            parts.append(f"values {', '.join(v.describe() for v in self.values)}")
        if self.data:
            parts.append(self.data)
        if self.assumption:
            parts.append(f"assumption: {self.assumption}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "evidence": list(self.evidence),
            "evidence_tags": evidence_tags(self.evidence),
            "values": [v.as_dict() for v in self.values],
            "assumption": self.assumption,
            "data": self.data,
        }


@dataclass(frozen=True)
class Parameter:
    """One input of the model: its distribution, its source, and where it was written."""

    name: str
    dist: Distribution
    source: Source
    location: str
    note: str | None = None

    @property
    def spec(self) -> ParameterSpec:
        return PARAMETERS[self.name]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.spec.unit,
            "distribution": self.dist.as_dict(),
            "describe": self.dist.describe(),
            "source": self.source.as_dict(),
            "location": self.location,
            "note": self.note,
        }


@dataclass(frozen=True)
class Replacement:
    """A parameter replaced after loading (calibration, services file): what, from what, why."""

    name: str
    before: str
    after: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Kept:
    """A parameter a data file might be expected to set but does not: as it was, and why.

    Said beside the replacements so that a reader of a calibrated run does not take the
    parameter for a measured one.
    """

    name: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class Observation:
    """An output observed in practice, to be set beside what the model makes of it."""

    output: str
    value: float
    low: float
    high: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Scenario:
    """A complete, validated set of parameters for the funnel."""

    name: str
    title: str
    region: str
    description: str
    parameters: dict[str, Parameter]
    file: str
    services: Path | None = None
    scope: str = "all"
    replaced: tuple[Replacement, ...] = field(default_factory=tuple)
    kept: tuple[Kept, ...] = field(default_factory=tuple)
    observed: tuple[Observation, ...] = field(default_factory=tuple)
    # Which triage figures calibrated it: "exact" (all of an export's) or "published" (only
    # what the triage section publishes, as a stored run must); None when none did.
    triage_figures: str | None = None

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters.values())

    def __getitem__(self, name: str) -> Parameter:
        return self.parameters[name]

    def deployed(self, tech: str) -> bool:
        return self.parameters[f"detection.{tech}.coverage"].dist.support()[1] > 0

    def evidence_ids(self) -> list[str]:
        return sorted({ident for p in self for ident in p.source.evidence})

    def digest(self) -> str:
        """A fingerprint of what the scenario says: its name, title, description, region, scope,
        services file and every parameter's distribution and source, as resolved (``extends``
        followed, data files applied), and not where its file lies or on which line a value
        was written. Two scenarios with the same digest give the same results for a seed.
        """
        said = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "region": self.region,
            "scope": self.scope,
            "services": self.services.name if self.services else None,
            "parameters": [[p.name, p.dist.as_dict(), p.source.as_dict(), p.note] for p in self],
            "replaced": [r.as_dict() for r in self.replaced],
            "observed": [o.as_dict() for o in self.observed],
        }
        canonical = json.dumps(said, sort_keys=True, ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def keep_parameter(self, name: str, reason: str) -> Scenario:
        """A copy that records why ``name`` keeps its distribution and source."""
        old = self.parameters[name]
        record = Kept(name, f"{old.dist.describe()} ({old.source.describe()})", reason)
        return replace(self, kept=(*self.kept, record))

    def replace_parameter(
        self, name: str, dist: Distribution, source: Source, reason: str
    ) -> Scenario:
        """A copy with ``name`` replaced; the replacement is recorded with its reason."""
        old = self.parameters[name]
        new = Parameter(name, dist, source, location=source.data or reason)
        problem = _check_kind(PARAMETERS[name], dist)
        if problem:
            raise ValidationError(f"{name}: {problem} ({reason})", location=name, rule=problem)
        record = Replacement(
            name,
            f"{old.dist.describe()} ({old.source.describe()})",
            f"{dist.describe()} ({source.describe()})",
            reason,
        )
        return replace(
            self,
            parameters={**self.parameters, name: new},
            replaced=(*self.replaced, record),
        )


class _Lines:
    """Maps dotted key paths of a TOML text to the line where each is written."""

    _TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\" ]+?)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            if match := self._TABLE.match(line):
                table = _dotted(match.group(1))
                self.lines.setdefault(table, number)
            elif match := self._KEY.match(line):
                key = _dotted(match.group(1))
                self.lines.setdefault(f"{table}.{key}" if table else key, number)

    def of(self, path: str) -> int:
        """The line of ``path``, or of its nearest written ancestor (inline tables), or 1."""
        parts = path.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in self.lines:
                return self.lines[candidate]
            parts.pop()
        return 1


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip('"') for part in raw.split("."))


class _Reader:
    """Reads one file's text, failing with file, line and key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)

    def fail(self, key: str, rule: str) -> ValidationError:
        line = self.lines.of(key)
        return ValidationError(
            f"{self.path.name}:{line}: {key}: {rule}", location=f"{self.path}:{line}", rule=rule
        )

    def location(self, key: str) -> str:
        return f"{self.path.name}:{self.lines.of(key)}"


def _check_kind(spec: ParameterSpec, dist: Distribution) -> str | None:
    # A lognormal is positive: its smallest value is above 0 (and above 1e-15, ``check``), so
    # its 5th percentile stands for its lower end here.
    low = dist["low"] if dist.kind == "lognormal" else dist.support()[0]
    values = [v for k, v in dist.fields.items() if k not in {"alpha", "beta"}]
    if spec.kind == "share":
        if dist.kind == "lognormal" and dist["high"] > LOGNORMAL_SHARE_MAX:
            return (
                f"a lognormal share needs high <= {LOGNORMAL_SHARE_MAX} (draws are capped at 1); "
                "use beta, pert or triangular for larger shares"
            )
        if any(v > 1 for v in values):
            return f"a probability or share must be at most 1 (got {max(values):g})"
        if any(v < 0 for v in values):
            return f"a probability or share must not be negative (got {min(values):g})"
    elif spec.kind == "fraction":
        if low <= 0 or any(v > 1 for v in values) or dist.kind == "lognormal":
            return "must be greater than 0 and at most 1"
        if low < MIN_POSITIVE:
            return f"must be at least {MIN_POSITIVE:g} and at most 1 (got {low:g})"
    elif spec.kind == "volume":
        if low < 0:
            return f"a volume or count must not be negative (got {low:g})"
    elif low <= 0 or dist.kind == "beta":
        return f"must be greater than 0 (got {low:g})"
    elif low < MIN_POSITIVE:
        return f"must be at least {MIN_POSITIVE:g} (got {low:g})"
    return None


def _number(raw: Any, key: str, reader: _Reader, values_used: list[ValueRef]) -> float:
    if isinstance(raw, bool):
        raise reader.fail(key, "must be a number or an evidence reference, not true/false")
    if isinstance(raw, int | float):
        if not -MAX_MAGNITUDE <= raw <= MAX_MAGNITUDE:  # also NaN; TOML reads 1e400 as inf
            shown = f"{len(str(abs(raw)))} digits" if isinstance(raw, int) else f"{raw:g}"
            raise reader.fail(
                key, f"must be between {-MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g} (got {shown})"
            )
        return float(raw)
    if isinstance(raw, str):
        match = _REF.match(raw)
        if not match:
            raise reader.fail(
                key, f"{raw!r} is not a number or an evidence reference 'id:value_name[:year]'"
            )
        ident, name, year = match.group(1), match.group(2), match.group(3)
        base = shipped_evidence()
        if ident not in base:
            raise reader.fail(key, f"no evidence figure with id {ident!r}")
        figure = base.get(ident)
        try:
            value = figure.value(name, int(year) if year else None)
        except KeyError as exc:
            raise reader.fail(key, str(exc.args[0])) from exc
        values_used.append(ValueRef(ident, name, value.year, figure.tag_of(value)))
        return value.value
    raise reader.fail(key, "must be a number or an evidence reference 'id:value_name[:year]'")


def _parameter(name: str, raw: Any, reader: _Reader) -> Parameter:
    if not isinstance(raw, dict):
        raise reader.fail(
            name,
            "a parameter must be a table with a distribution and a source, e.g. "
            '{ value = 0.5, assumption = "why" }',
        )
    unknown = sorted(set(raw) - PARAMETER_KEYS)
    if unknown:
        raise reader.fail(
            f"{name}.{unknown[0]}",
            f"unknown key {unknown[0]!r}; a parameter takes {', '.join(sorted(PARAMETER_KEYS))}",
        )
    kind = raw.get("dist", "fixed")
    # A list or table here is unhashable: test the type first, or the lookup fails with a bare
    # TypeError that names neither the file nor the key.
    if not isinstance(kind, str) or kind not in KIND_FIELDS:
        raise reader.fail(
            f"{name}.dist",
            f"unknown distribution {kind!r}; dist takes one of {', '.join(KIND_FIELDS)} (as text)",
        )
    values_used: list[ValueRef] = []
    fields = {
        key: _number(raw[key], f"{name}.{key}", reader, values_used)
        for key in raw
        if key not in {"dist", "evidence", "assumption", "note"}
    }
    problem = check(kind, fields)
    if problem:
        raise reader.fail(name, problem)
    dist = Distribution(kind, fields)
    problem = _check_kind(PARAMETERS[name], dist)
    if problem:
        raise reader.fail(name, problem)
    declared = raw.get("evidence", [])
    declared = [declared] if isinstance(declared, str) else declared
    if not isinstance(declared, list) or not all(isinstance(x, str) for x in declared):
        raise reader.fail(f"{name}.evidence", "evidence must be an id or a list of ids")
    base = shipped_evidence()
    for ident in declared:
        if ident not in base:
            raise reader.fail(f"{name}.evidence", f"no evidence figure with id {ident!r}")
    assumption = raw.get("assumption")
    if assumption is not None and (not isinstance(assumption, str) or not assumption.strip()):
        raise reader.fail(f"{name}.assumption", "assumption must be non-empty text (the reasoning)")
    ids = tuple(dict.fromkeys([*declared, *(v.figure for v in values_used)]))
    if not ids and assumption is None:
        raise reader.fail(
            name,
            'missing source: give evidence = "<evidence id>" or assumption = "<reasoning>"',
        )
    unverified = [ident for ident in ids if base.get(ident).tag == "U"]
    if unverified and assumption is None:
        raise reader.fail(
            name,
            f"evidence {unverified[0]} is unverified (tag U): cite it only with an "
            'assumption = "<reasoning>" that labels the parameter an assumption',
        )
    if assumption is None:
        contradiction = _contradicted_bound(PARAMETERS[name], dist, ids)
        if contradiction:
            raise reader.fail(name, contradiction)
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise reader.fail(f"{name}.note", "note must be text")
    source = Source(
        evidence=ids,
        assumption=assumption.strip() if assumption else None,
        values=tuple(dict.fromkeys(values_used)),
    )
    return Parameter(name, dist, source, reader.location(name), note)


LOWER_BOUNDS = {"above", "at_least"}
UPPER_BOUNDS = {"below", "at_most"}


def _contradicted_bound(
    spec: ParameterSpec, dist: Distribution, ids: tuple[str, ...]
) -> str | None:
    """Why a parameter resting on evidence alone contradicts a bound its evidence states, or None.

    A cited figure's value in the parameter's unit that is a lower bound ("above", "at least")
    or an upper one ("below", "at most") says where the quantity lies; a distribution that can
    fall on the other side presents the figure as saying what it does not. Reaching beyond it
    (other providers, other years) is reasoning, which an assumption states.
    """
    low, high = dist.support()
    base = shipped_evidence()
    for ident in ids:
        for value in base.get(ident).values:
            if value.unit != spec.unit:
                continue
            if value.bound in LOWER_BOUNDS and low < value.value:
                reached = f"can be {low:g}"
            elif value.bound in UPPER_BOUNDS and high > value.value:
                reached = "has no upper limit" if math.isinf(high) else f"can be {high:g}"
            else:
                continue
            year = f" ({value.year})" if value.year is not None else ""
            stated = f"{value.bound.replace('_', ' ')} {value.value:g}"
            return (
                f"{reached}, but {ident} gives {value.name}{year} {stated}: keep to it, or add an "
                'assumption = "<reasoning>" for the wider range'
            )
    return None


def _refuse_unstorable(value: Any, reader: _Reader, key: str = "") -> None:
    """Refuse text the store cannot hold anywhere in the file, naming its key: a stored run keeps
    the title and region in columns and the rest in its result, and PostgreSQL refuses a NUL in
    text (TOML writes one as ``\\u0000``) that SQLite keeps, so ``assess --save`` failed with a
    database error on one backend only."""
    if isinstance(value, str):
        if rule := unstorable(value):
            raise reader.fail(key, UNSTORABLE[rule])
    elif isinstance(value, dict):
        for name, inner in value.items():
            _refuse_unstorable(inner, reader, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for inner in value:
            _refuse_unstorable(inner, reader, key)


def _walk(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted name, raw value) for every leaf that should be a parameter."""
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in PARAMETERS:
            yield path, value
        elif isinstance(value, dict) and any(p.startswith(f"{path}.") for p in PARAMETERS):
            yield from _walk(value, path)
        else:
            yield path, value


def _resolve(reference: str, relative_to: Path) -> Path:
    candidate = (relative_to / reference).resolve()
    if candidate.is_file():
        return candidate
    shipped = SCENARIO_DIR / f"{reference}.toml"
    return shipped


MEASURE_ORDER = ("status-quo", "detection-orders", "known-only", "targeted", "proactive")


def _shipped_order(name: str) -> tuple[str, int, str]:
    region, _, measure = name.partition("-")
    rank = MEASURE_ORDER.index(measure) if measure in MEASURE_ORDER else len(MEASURE_ORDER)
    return region, rank, name


def shipped_scenarios() -> list[str]:
    """Names of the shipped scenarios, by region, the status quo first in each."""
    return sorted((p.stem for p in SCENARIO_DIR.glob("*.toml")), key=_shipped_order)


@cache
def _shipped_digest(name: str) -> str:
    """The digest of the shipped scenario ``name`` (the package's files do not change)."""
    return load_scenario(name).digest()


def shipped_unchanged(scenario: Scenario) -> bool:
    """Whether ``scenario`` is a shipped scenario as shipped: one of a shipped name that says
    exactly what the shipped file says (``Scenario.digest``), wherever its file lies.

    A file that extends a shipped scenario and keeps its name, or one calibrated with data,
    runs under the shipped name; its results must not be presented as the shipped scenario's.
    """
    return scenario.name in shipped_scenarios() and scenario.digest() == _shipped_digest(
        scenario.name
    )


def scenario_path(reference: str) -> Path:
    """A scenario file by path or shipped name."""
    path = Path(reference)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ValidationError(f"{reference}: no such scenario file")
        return path
    shipped = SCENARIO_DIR / f"{reference}.toml"
    if not shipped.is_file():
        raise ValidationError(
            f"{reference}: no such scenario; shipped: {', '.join(shipped_scenarios())}"
        )
    return shipped


def load_scenario(reference: str | Path, *, _chain: tuple[Path, ...] = ()) -> Scenario:
    """Load and validate a scenario file (a path, or the name of a shipped scenario)."""
    path = scenario_path(str(reference)).resolve()
    if path in _chain:
        raise ValidationError(f"{path.name}: extends itself through {_chain[-1].name}")
    text = read_input_text(path, encoding="utf-8-sig")
    reader = _Reader(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else 1
        raise ValidationError(
            f"{path.name}:{line}: not valid TOML ({exc})", location=f"{path}:{line}"
        ) from exc
    except UNREADABLE as exc:
        raise ValidationError(
            f"{path.name}: not TOML we read ({why_unreadable(exc)})",
            location=str(path),
        ) from exc
    head = data.pop("scenario", None)
    if not isinstance(head, dict):
        raise reader.fail("scenario", "the file needs a [scenario] table with name and title")
    unknown = sorted(set(head) - SCENARIO_KEYS)
    if unknown:
        raise reader.fail(
            f"scenario.{unknown[0]}",
            f"unknown key {unknown[0]!r}; [scenario] takes {', '.join(sorted(SCENARIO_KEYS))}",
        )
    for key in head:
        if not isinstance(head[key], str):
            raise reader.fail(f"scenario.{key}", "must be text")
    _refuse_unstorable({"scenario": head, **data}, reader)

    parameters: dict[str, Parameter] = {}
    base: Scenario | None = None
    if "extends" in head:
        base_path = _resolve(head["extends"], path.parent)
        if not base_path.is_file():
            raise reader.fail("scenario.extends", f"no scenario {head['extends']!r} to extend")
        base = load_scenario(base_path, _chain=(*_chain, path))
        parameters.update(base.parameters)

    for name, raw in _walk(data):
        if name not in PARAMETERS:
            raise reader.fail(name, f"unknown key {name!r}; see the list of parameters")
        parameters[name] = _parameter(name, raw, reader)

    for name, spec in PARAMETERS.items():
        if name in parameters:
            continue
        tech = name.split(".")[1] if name.startswith("detection.") else None
        if tech and any(p.startswith(f"detection.{tech}.") for p in parameters):
            raise reader.fail(f"detection.{tech}", f"missing parameter {name} ({spec.description})")
        if spec.default is None:
            raise reader.fail(name.split(".")[0], f"missing parameter {name} ({spec.description})")
        parameters[name] = Parameter(
            name,
            Distribution.fixed(spec.default),
            Source(assumption=spec.default_reason),
            location="default",
        )
    shares = sum(parameters[f"queue.p{i}_share"].dist.mean() for i in (1, 2, 3))
    if shares > 1 + 1e-9:
        raise reader.fail("queue", f"queue level shares add up to {shares:g}, more than 1")

    services: Path | None = base.services if base else None
    if "services" in head:
        services = (path.parent / head["services"]).resolve()
        if not services.is_file():
            raise reader.fail("scenario.services", f"no services file {head['services']!r}")
    scope = head.get("scope") or (base.scope if base else "all")
    if scope not in SCOPES:
        raise reader.fail("scenario.scope", f"scope must be one of {', '.join(SCOPES)}")
    if services is not None and scope != "high-risk":
        raise reader.fail("scenario.services", 'a services file needs scope = "high-risk"')
    name = head.get("name") or path.stem
    if len(name) > MAX_NAME_LENGTH:
        limit = f"a scenario's name is at most {MAX_NAME_LENGTH}"
        raise reader.fail(
            "scenario.name",
            f"{len(name)} characters; {limit}"
            if head.get("name")
            else f"the file's name without .toml names the scenario and is {len(name)} "
            f'characters; {limit}: set name = "..." in [scenario] or rename the file',
        )
    title = head.get("title") or (base.title if base else "")
    if not title:
        raise reader.fail("scenario.title", "a scenario needs a title")
    region = head.get("region") or (base.region if base else "")
    if len(region) > MAX_REGION_LENGTH:
        raise reader.fail(
            "scenario.region",
            f"{len(region)} characters; a region is a short code such as EU or NL, at most "
            f"{MAX_REGION_LENGTH}",
        )
    return Scenario(
        name=name,
        title=title,
        region=region,
        description=head.get("description") or (base.description if base else ""),
        parameters={k: parameters[k] for k in PARAMETERS},
        file=str(path),
        services=services,
        scope=scope,
    )
