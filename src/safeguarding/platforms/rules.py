"""The risk rules file: schema, loading and validation.

The shipped rules live in ``platforms/data/risk-rules.yaml``; a user passes their own copy with
``--rules FILE``. Every factor, trigger and threshold names its source and confidence, so a level
can always say which rule, resting on what, produced it. A rule that names an unknown factor,
safeguard, harm, stage, source or evidence id, or lists a harm's factor twice, is refused with the
field that is wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from safeguarding.errors import ValidationError
from safeguarding.evidence import shipped_evidence
from safeguarding.input_files import (
    UNREADABLE,
    YamlKeyError,
    load_yaml,
    refuse_nul,
    why_unreadable,
)
from safeguarding.platforms.vocabulary import (
    FEATURES,
    HARMS,
    LEVELS,
    MEASURES,
    SERVICE_TYPES,
    Level,
    Measure,
    Stage,
)

DEFAULT_RULES = Path(__file__).parent / "data" / "risk-rules.yaml"
Confidence = Literal["P", "S", "M", "project"]

# Facts derived from the register row rather than listed as features.
DERIVED_FACTORS = ("child_access_possible", "adult_service", "weak_age_assurance")
FACTOR_IDS: frozenset[str] = frozenset(
    (*FEATURES, *DERIVED_FACTORS, *(f"type.{t}" for t in SERVICE_TYPES))
)


class _Strict(BaseModel):
    """A run stores the rules' version, and PostgreSQL refuses a NUL in text that SQLite keeps
    (YAML writes one as ``"\\0"``): every text of the file is refused holding one, with its
    field, as the register's are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    _text = field_validator("*")(refuse_nul)


class Sourced(_Strict):
    source: str
    confidence: Confidence
    evidence_ids: tuple[str, ...] = ()


class FactorRule(Sourced):
    id: str


class TriggerRule(Sourced):
    id: str
    all_of: tuple[str, ...] = Field(min_length=1)


class EvidenceRule(Sourced):
    """Case thresholds: ``high_share`` of the cases with a known platform, and never fewer than
    ``high_at`` cases, give high; ``medium_at`` cases give at least medium."""

    medium_at: int = Field(ge=1)
    high_at: int = Field(ge=1)
    high_share: float = Field(default=0.0, ge=0, le=1)

    def high_threshold(self, denominator: int) -> float:
        return max(float(self.high_at), self.high_share * denominator)

    @model_validator(mode="after")
    def _ordered(self) -> EvidenceRule:
        if self.high_at < self.medium_at:
            raise ValueError("high_at must be at least medium_at")
        return self


class SafeguardRule(Sourced):
    all_of: tuple[Measure, ...] = Field(min_length=1)


class HarmRules(_Strict):
    label: str
    requires_all: tuple[str, ...] = ()
    requires_any: tuple[str, ...] = ()
    evidence_stages: tuple[Stage, ...] = ()
    evidence: EvidenceRule
    several: int | None = Field(default=None, ge=1)
    many: int | None = Field(default=None, ge=1)
    factors: tuple[FactorRule, ...]
    high_triggers: tuple[TriggerRule, ...] = ()
    comprehensive_safeguards: SafeguardRule | None = None


class MeasureRule(Sourced):
    id: str
    label: str
    harm: str
    at_least: Level
    adult_service: bool = False


class Scoring(_Strict):
    level_points: dict[str, float]
    per_factor: float = Field(ge=0)
    per_case: float = Field(ge=0)
    case_cap: int = Field(ge=0)

    @model_validator(mode="after")
    def _increasing(self) -> Scoring:
        """Each level must score more than the one below: equal points would rank a high risk
        with a lower one, and the score exists to order services by risk."""
        points = [self.level_points.get(level, -1.0) for level in LEVELS]
        rising = all(low < high for low, high in pairwise(points))
        if set(self.level_points) != set(LEVELS) or not rising:
            raise ValueError(
                f"level_points must give {', '.join(LEVELS)} rising points, each more than the "
                "one before"
            )
        return self


class RuleSet(_Strict):
    """A whole rules file: its version, sources, thresholds, harms and measures."""

    format: Literal["safeguarding/platform-risk-rules@1"]
    version: str = Field(min_length=1, max_length=64)
    sources: dict[str, str]
    several: int = Field(ge=1)
    scoring: Scoring
    harms: dict[str, HarmRules]
    measures: tuple[MeasureRule, ...] = ()

    def several_for(self, harm: str) -> int:
        return self.harms[harm].several or self.several

    def source_text(self, key: str) -> str:
        return self.sources.get(key, key)


def _check_references(rules: RuleSet) -> list[str]:
    problems: list[str] = []
    known_evidence = shipped_evidence()
    missing = sorted(set(HARMS) - set(rules.harms))
    unknown = sorted(set(rules.harms) - set(HARMS))
    if missing:
        problems.append(f"harms: missing {', '.join(missing)}")
    if unknown:
        problems.append(f"harms: unknown {', '.join(unknown)}; known: {', '.join(HARMS)}")

    def sourced(where: str, item: Sourced) -> None:
        if item.source not in rules.sources:
            problems.append(f"{where}.source: unknown source {item.source!r}; define it in sources")
        problems.extend(
            f"{where}.evidence_ids: unknown evidence id {e!r}"
            for e in item.evidence_ids
            if e not in known_evidence
        )

    def factors(where: str, ids: tuple[str, ...]) -> None:
        problems.extend(
            f"{where}: unknown factor {f!r} (features, type.<service type>, or "
            f"{', '.join(DERIVED_FACTORS)})"
            for f in ids
            if f not in FACTOR_IDS
        )

    for name, harm in rules.harms.items():
        where = f"harms.{name}"
        factors(f"{where}.requires_all", harm.requires_all)
        factors(f"{where}.requires_any", harm.requires_any)
        sourced(f"{where}.evidence", harm.evidence)
        first: dict[str, int] = {}
        for i, factor in enumerate(harm.factors):
            factors(f"{where}.factors[{i}]", (factor.id,))
            sourced(f"{where}.factors[{i}]", factor)
            if factor.id in first:  # it would count twice towards several, many and the score
                problems.append(
                    f"{where}.factors[{i}].id: factor {factor.id!r} is listed twice (first as "
                    f"factors[{first[factor.id]}]); each factor counts once"
                )
            first.setdefault(factor.id, i)
        for i, trigger in enumerate(harm.high_triggers):
            factors(f"{where}.high_triggers[{i}].all_of", trigger.all_of)
            sourced(f"{where}.high_triggers[{i}]", trigger)
            met_all = set(harm.requires_all) <= set(trigger.all_of)
            met_any = not harm.requires_any or set(harm.requires_any) & set(trigger.all_of)
            if not (met_all and met_any):
                problems.append(
                    f"{where}.high_triggers[{i}].all_of: can never fire alone, it must include "
                    "requires_all and one of requires_any"
                )
        if harm.comprehensive_safeguards is not None:
            sourced(f"{where}.comprehensive_safeguards", harm.comprehensive_safeguards)
    for i, measure in enumerate(rules.measures):
        if measure.harm != "any" and measure.harm not in HARMS:
            problems.append(f"measures[{i}].harm: unknown harm {measure.harm!r}")
        if measure.id not in {*MEASURES, "age_verification"}:
            problems.append(f"measures[{i}].id: unknown measure {measure.id!r}")
        sourced(f"measures[{i}]", measure)
    return problems


def parse_rules(text: str, file: str = "risk-rules.yaml") -> RuleSet:
    """Parse and validate a rules file; refuses it with the field and the rule broken."""
    try:
        data: Any = load_yaml(text)
    except YamlKeyError as exc:
        raise exc.refusal(file) from exc
    except yaml.YAMLError as exc:
        raise ValidationError(
            f"{file}: not valid YAML ({exc})", location=file, rule="yaml"
        ) from exc
    except UNREADABLE as exc:  # nested too deeply to parse: no line to name, the file is named
        raise ValidationError(
            f"{file}: not YAML we read ({why_unreadable(exc)})", location=file, rule="yaml"
        ) from exc
    try:
        rules = RuleSet.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "-"
        raise ValidationError(
            f"{file}: field {field}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""),
            location=f"{file}:{field}",
            rule="schema",
        ) from exc
    problems = _check_references(rules)
    if problems:
        raise ValidationError(
            f"{file}: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            location=file,
            rule="reference",
        )
    return rules


@dataclass(frozen=True)
class LoadedRules:
    """Rules with the digest of the exact text they came from and the file's name."""

    rules: RuleSet
    digest: str
    file: str


def load_rules(path: Path | None = None) -> LoadedRules:
    """The rules in ``path`` (default: the shipped rules, recorded as file "shipped").

    A given file is recorded by its resolved absolute path: a run names the rules it used, and
    the monitor report and the web app reload them from wherever they are started."""
    target = path or DEFAULT_RULES
    try:
        raw = target.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{target}: cannot read rules ({exc})", location=str(target), rule="read"
        ) from exc
    return LoadedRules(
        parse_rules(text, target.name),
        hashlib.sha256(raw).hexdigest(),
        "shipped" if path is None else str(path.resolve()),
    )
