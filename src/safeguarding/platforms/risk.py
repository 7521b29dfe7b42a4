"""Ofcom-style risk levels per service and harm, from risk factors, safeguards and case evidence.

The rules (``rules.py``) say which factors count for which harm; this module applies them:

- a harm is **negligible** when the service lacks what the harm needs (no images, no links, no
  child access) and there is no evidence of it;
- otherwise it starts **low**; **several** factors give at least **medium**; any case evidence
  gives at least **medium** (for harms this severe, a few instances rule out "low");
- a **high trigger** (e.g. network-expansion prompts where children can be reached by direct
  message), "many" factors, or repeated case evidence give **high**;
- **comprehensive proven safeguards** cap the level at **low**, but only without case evidence.

So adding a factor or a case never lowers a level, and adding a proven safeguard never raises
one. The score orders services within and across levels; it is a prioritisation aid (the
project's own calibration), not a legal determination. Every result lists what drove it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from safeguarding.platforms.register import Service
from safeguarding.platforms.rules import RuleSet
from safeguarding.platforms.vocabulary import (
    FEATURE_LABELS,
    HARM_LABELS,
    LEVELS,
    WEAK_AGE_ASSURANCE,
    level_rank,
)


def factor_label(factor: str) -> str:
    if factor.startswith("type."):
        return f"service type {factor.removeprefix('type.').replace('_', ' ')}"
    derived = {
        "child_access_possible": "child access possible",
        "adult_service": "adult service",
        "weak_age_assurance": "no age check beyond self-declaration",
    }
    return derived.get(factor) or FEATURE_LABELS.get(factor, factor)


def service_factors(service: Service) -> frozenset[str]:
    """The factors the rules see: features, the service type and facts derived from the row.

    Child access counts as possible when the register says so, or when ages are not checked
    beyond self-declaration (Ofcom: a self-declared date of birth does not make it impossible).
    """
    factors = set(service.features) | {f"type.{service.type}"}
    weak = service.age_assurance in WEAK_AGE_ASSURANCE
    if weak:
        factors.add("weak_age_assurance")
    if weak or "child_users_possible" in service.features:
        factors.add("child_access_possible")
    if service.is_adult:
        factors.add("adult_service")
    return frozenset(factors)


def proven_safeguards(service: Service) -> frozenset[str]:
    return frozenset(m for m, status in service.safeguards.items() if status == "proven")


@dataclass(frozen=True)
class Driver:
    """One thing that moved a level: a factor, trigger, case evidence, safeguard or precondition."""

    kind: str
    id: str
    text: str
    source: str
    confidence: str

    def as_dict(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass(frozen=True)
class HarmResult:
    harm: str
    level: str
    score: float
    factors: tuple[str, ...]
    evidence_cases: int
    cases_per_million: float | None
    drivers: tuple[Driver, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "harm": self.harm,
            "label": HARM_LABELS[self.harm],
            "level": self.level,
            "score": self.score,
            "factors": list(self.factors),
            "evidence_cases": self.evidence_cases,
            "cases_per_million_recipients": self.cases_per_million,
            "drivers": [d.as_dict() for d in self.drivers],
        }


@dataclass(frozen=True)
class ServiceAssessment:
    service_id: str
    name: str
    type: str
    rules_version: str
    harms: tuple[HarmResult, ...]

    @property
    def score(self) -> float:
        return round(sum(h.score for h in self.harms), 2)

    def level(self, harm: str) -> str:
        return next(h.level for h in self.harms if h.harm == harm)

    @property
    def top_level(self) -> str:
        return max((h.level for h in self.harms), key=level_rank)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service_id,
            "name": self.name,
            "type": self.type,
            "rules_version": self.rules_version,
            "score": self.score,
            "top_level": self.top_level,
            "harms": [h.as_dict() for h in self.harms],
        }


def assess_harm(
    rules: RuleSet,
    harm: str,
    factors: frozenset[str],
    proven: frozenset[str],
    cases: int = 0,
    audience: int | None = None,
    denominator: int = 0,
) -> HarmResult:
    """The level of one harm on a service with these factors, proven safeguards and cases."""
    spec = rules.harms[harm]
    src = rules.source_text
    matched = [f for f in spec.factors if f.id in factors]
    drivers = [
        Driver("factor", f.id, factor_label(f.id), src(f.source), f.confidence) for f in matched
    ]
    needs_all = all(f in factors for f in spec.requires_all)
    needs_any = not spec.requires_any or any(f in factors for f in spec.requires_any)
    per_million = round(cases / (audience / 1e6), 4) if audience and cases else None
    level = 1  # low
    if not (needs_all and needs_any) and cases == 0:
        missing = [f for f in spec.requires_all if f not in factors]
        wanted = missing or list(spec.requires_any)
        drivers.append(
            Driver(
                "precondition",
                harm,
                "lacks " + (" and " if missing else " or ").join(factor_label(f) for f in wanted),
                f"rules {rules.version}: requires_all / requires_any of {harm}",
                "project",
            )
        )
        level = 0
    else:
        several = rules.several_for(harm)
        if len(matched) >= several:
            level = 2
            drivers.append(
                Driver(
                    "several",
                    harm,
                    f"{len(matched)} factors (several = {several})",
                    f"rules {rules.version}: several",
                    "project",
                )
            )
        if cases:
            rate = f", {per_million:.2f} per million recipients" if per_million is not None else ""
            drivers.append(
                Driver(
                    "evidence",
                    harm,
                    f"{cases} of {denominator} cases with a known platform, at stages "
                    f"{', '.join(spec.evidence_stages)}{rate}",
                    src(spec.evidence.source),
                    spec.evidence.confidence,
                )
            )
            if cases >= spec.evidence.medium_at:
                level = max(level, 2)
            if cases >= spec.evidence.high_threshold(denominator):
                level = 3
        for trigger in spec.high_triggers:
            if all(f in factors for f in trigger.all_of):
                level = 3
                drivers.append(
                    Driver(
                        "trigger",
                        trigger.id,
                        " + ".join(factor_label(f) for f in trigger.all_of),
                        src(trigger.source),
                        trigger.confidence,
                    )
                )
        if spec.many is not None and len(matched) >= spec.many:
            level = 3
            drivers.append(
                Driver(
                    "many",
                    harm,
                    f"{len(matched)} factors (many = {spec.many})",
                    f"rules {rules.version}: many",
                    "project",
                )
            )
        guard = spec.comprehensive_safeguards
        if guard is not None and cases == 0 and all(m in proven for m in guard.all_of):
            if level > 1:
                drivers.append(
                    Driver(
                        "safeguards",
                        harm,
                        "proven " + " + ".join(m.replace("_", " ") for m in guard.all_of),
                        src(guard.source),
                        guard.confidence,
                    )
                )
            level = min(level, 1)
    scoring = rules.scoring
    score = (
        scoring.level_points[LEVELS[level]]
        + scoring.per_factor * len(matched)
        + scoring.per_case * min(cases, scoring.case_cap)
    )
    return HarmResult(
        harm=harm,
        level=LEVELS[level],
        score=round(float(score), 2),
        factors=tuple(f.id for f in matched),
        evidence_cases=cases,
        cases_per_million=per_million,
        drivers=tuple(drivers),
    )


def assess_service(
    rules: RuleSet,
    service: Service,
    cases_by_harm: Mapping[str, int] | None = None,
    denominator: int = 0,
) -> ServiceAssessment:
    """Every harm of one service under ``rules`` with its case evidence: distinct cases per harm,
    out of ``denominator`` cases with a known platform."""
    factors = service_factors(service)
    proven = proven_safeguards(service)
    audience = (
        service.eu_monthly_active_recipients.value
        if service.eu_monthly_active_recipients is not None
        else None
    )
    cases = cases_by_harm or {}
    return ServiceAssessment(
        service_id=service.id,
        name=service.name,
        type=service.type,
        rules_version=rules.version,
        harms=tuple(
            assess_harm(rules, harm, factors, proven, cases.get(harm, 0), audience, denominator)
            for harm in HARM_LABELS
        ),
    )


def assess_register(
    rules: RuleSet,
    services: Iterable[Service],
    cases: Mapping[str, Mapping[str, int]] | None = None,
    denominator: int = 0,
) -> list[ServiceAssessment]:
    """All services, highest score first (ties by id, so the order is stable)."""
    evidence = cases or {}
    results = [assess_service(rules, s, evidence.get(s.id), denominator) for s in services]
    return sorted(results, key=lambda a: (-a.score, a.service_id))


def harm_stages(rules: RuleSet) -> dict[str, tuple[str, ...]]:
    """Which case stages count as evidence of which harm, per the rules."""
    return {harm: tuple(spec.evidence_stages) for harm, spec in rules.harms.items()}
