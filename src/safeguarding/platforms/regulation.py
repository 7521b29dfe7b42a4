"""Which regimes apply to a service, which measures its risk calls for, and the gap list.

The DSA's duties depend on the provider's role and size, not on risk: an online platform run by
a micro or small enterprise is exempt from Arts 20–28 (Art. 19), so Art. 28 (protection of
minors) does not bind it, however large its audience or its risk. Ofcom's codes scale measures
with risk and UK reach (large services above 7 million users; hash matching from 700,000 users
at high risk, or any file-sharing service at high risk). The headline list is the Rapporteur's
target: services at high risk of a harm for which no regime obliges them to act.

Thresholds are read from the evidence base by id, so every regime call cites its source. A regime
whose applicability cannot be decided from the register (no UK user count, no provider size) is
reported as unknown, not as absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from safeguarding.evidence import shipped_evidence
from safeguarding.platforms.register import Service
from safeguarding.platforms.risk import ServiceAssessment, service_factors
from safeguarding.platforms.rules import RuleSet
from safeguarding.platforms.vocabulary import HARMS, level_rank

ROLE_BY_TYPE = {"messaging": "intermediary", "file_sharing": "hosting"}
ROLE_LABELS = {
    "intermediary": "intermediary service (Arts 11–15)",
    "hosting": "hosting service (Arts 11–18)",
    "online_platform": "online platform (Arts 11–28)",
}


@dataclass(frozen=True)
class Regime:
    """One regime or measure and whether it applies: True, False, or None when unknown."""

    id: str
    applies: bool | None
    text: str
    source: str
    obliges_for: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "applies": self.applies,
            "text": self.text,
            "source": self.source,
            "obliges_for": list(self.obliges_for),
        }


@dataclass(frozen=True)
class MissingMeasure:
    """A measure the risk calls for that the service is not shown to have. ``claimed``: the
    register says the service claims it, unverified; a claim does not count as the measure,
    as it does not count as a safeguard in the risk."""

    id: str
    label: str
    reason: str
    source: str
    claimed: bool = False

    @property
    def text(self) -> str:
        """The measure's label, marked when the service only claims it."""
        return f"{self.label} (claimed, unverified)" if self.claimed else self.label


@dataclass(frozen=True)
class GapReport:
    service_id: str
    name: str
    type: str
    dsa_tier: str
    regimes: tuple[Regime, ...]
    missing: tuple[MissingMeasure, ...]
    high_harms: tuple[str, ...]
    unobliged_high_harms: tuple[str, ...]
    score: float

    @property
    def why_unobliged(self) -> str:
        """Why no regime obliges action on the unobliged high harms: the regimes that could."""
        could = [
            r.text
            for r in self.regimes
            if r.applies is not True and set(r.obliges_for) & set(self.unobliged_high_harms)
        ]
        if could:
            return "; ".join(could)
        harms = ", ".join(self.unobliged_high_harms)
        return f"{self.dsa_tier}: no regime covered here obliges action on {harms}"

    @property
    def headline(self) -> bool:
        """High risk of some harm that no regime obliges the service to act on."""
        return bool(self.unobliged_high_harms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service_id,
            "name": self.name,
            "type": self.type,
            "dsa_tier": self.dsa_tier,
            "score": self.score,
            "high_harms": list(self.high_harms),
            "unobliged_high_harms": list(self.unobliged_high_harms),
            "headline": self.headline,
            "why_unobliged": self.why_unobliged if self.headline else None,
            "regimes": [r.as_dict() for r in self.regimes],
            "missing_measures": [{**vars(m), "text": m.text} for m in self.missing],
        }


def _threshold(figure_id: str, name: str) -> tuple[int, str]:
    figure = shipped_evidence().get(figure_id)
    value = figure.value(name)
    return int(value.value), figure.citation([value])


def dsa_role(service: Service) -> str:
    """The DSA role: as the register says, or by type (private messaging is not dissemination to
    the public; file storage is hosting; everything else is an online platform)."""
    return service.dsa_role or ROLE_BY_TYPE.get(service.type, "online_platform")


def _dsa(service: Service) -> tuple[str, list[Regime]]:
    role = dsa_role(service)
    vlop_min, vlop_src = _threshold("dsa.vlop_threshold", "monthly_active_recipients")
    _, small_src = _threshold("dsa.small_exemption", "staff")
    designated = service.vlop is not None and service.vlop.designated
    regimes: list[Regime] = []
    recipients = service.eu_monthly_active_recipients
    if designated and service.vlop is not None:
        tier = "very large online platform (designated)"
        regimes.append(
            Regime(
                "dsa.vlop",
                True,
                "designated VLOP: systemic risk assessment and mitigation (Arts 34–35), "
                "including risks to minors",
                f"{service.vlop.source}; {vlop_src}",
                HARMS,
            )
        )
    else:
        tier = ROLE_LABELS[role]
        above = recipients is not None and recipients.value >= vlop_min
        regimes.append(
            Regime(
                "dsa.vlop",
                False,
                (
                    f"{recipients.value:,} EU recipients is above the threshold but the service "
                    "is not designated"
                    if above and recipients is not None
                    else "not designated a VLOP"
                ),
                vlop_src,
            )
        )
    if role in {"hosting", "online_platform"}:
        regimes.append(
            Regime(
                "dsa.notice_and_action",
                True,
                "notice and action, statements of reasons, reporting threats to life or safety "
                "(Arts 16–18): reactive duties, no size exemption",
                "Regulation (EU) 2022/2065 Arts 16–18",
            )
        )
    exempt: bool | None = False
    if role == "online_platform" and not designated:
        size = service.provider_size
        exempt = None if size is None else size in {"micro", "small"}
        regimes.append(
            Regime(
                "dsa.art19_exemption",
                exempt,
                {
                    True: f"{size} enterprise: Arts 20–28 do not apply (Art. 19), so no Art. 28 "
                    "duty to protect minors",
                    False: f"{size} enterprise: not exempt under Art. 19",
                    None: "provider size unknown: Art. 19 exemption cannot be decided",
                }[exempt],
                small_src,
            )
        )
    accessible = "child_access_possible" in service_factors(service)
    if role == "online_platform":
        # Art. 28 binds a platform accessible to minors whose provider is not exempt: one that
        # is not accessible to minors is decided without its size, which only the exemption needs.
        art28: bool | None = False
        if accessible:
            art28 = None if exempt is None else not exempt
        regimes.append(
            Regime(
                "dsa.art28",
                art28,
                {
                    True: "Art. 28: accessible to minors, must ensure a high level of privacy, "
                    "safety and security of minors",
                    False: "Art. 28 does not bind it"
                    + (
                        f" ({service.provider_size} enterprise, exempt under Art. 19)"
                        if exempt
                        else " (not accessible to minors)"
                    ),
                    None: "Art. 28 applicability unknown (provider size unknown)",
                }[art28],
                "Regulation (EU) 2022/2065 Art. 28; " + small_src,
                HARMS,
            )
        )
    return tier, regimes


def _ofcom(service: Service, assessment: ServiceAssessment) -> list[Regime]:
    large_min, large_src = _threshold("ofcom.large_service", "monthly_active_uk_users")
    c9_min, c9_src = _threshold("ofcom.c9_threshold", "monthly_uk_users")
    uk = (
        service.uk_monthly_active_users.value
        if service.uk_monthly_active_users is not None
        else None
    )
    image = level_rank(assessment.level("image_csam"))
    links = level_rank(assessment.level("csam_links"))
    grooming = level_rank(assessment.level("grooming"))
    high, medium = 3, 2
    large = None if uk is None else uk > large_min
    above_c9 = None if uk is None else uk > c9_min

    def either(a: bool | None, b: bool | None) -> bool | None:
        if a is True or b is True:
            return True
        return None if a is None or b is None else False

    def both(a: bool | None, b: bool) -> bool | None:
        return False if not b else a

    c9 = either(
        either(both(above_c9, image >= high), image >= high and service.type == "file_sharing"),
        both(large, image >= medium),
    )
    c10 = either(both(large, links >= medium), both(above_c9, links >= high))
    checks_age = service.age_assurance in {"estimation", "verification"}
    f1 = either(grooming >= high and checks_age, both(large, grooming >= medium))
    uk_text = "UK users unknown" if uk is None else f"{uk:,} monthly UK users"

    def uk_gate(applies: bool | None) -> bool | None:
        # Ofcom's codes bind only services with UK users; unknown reach leaves it undecided.
        if uk == 0 or applies is False:
            return False
        return None if uk is None else applies

    c9, c10, f1 = uk_gate(c9), uk_gate(c10), uk_gate(f1)

    def text(applies: bool | None, measure: str) -> str:
        word = {True: "applies", False: "does not apply", None: "unknown"}[applies]
        return f"{measure}: {word} ({uk_text})"

    return [
        Regime("ofcom.large_service", large, text(large, "Ofcom large service"), large_src),
        Regime("ofcom.c9", c9, text(c9, "ICU C9 CSAM hash matching"), c9_src, ("image_csam",)),
        Regime(
            "ofcom.c10",
            c10,
            text(c10, "ICU C10 CSAM URL detection"),
            f"Ofcom Illegal Content Codes of Practice ICU C10; {c9_src}",
            ("csam_links",),
        ),
        Regime(
            "ofcom.f1",
            f1,
            text(f1, "ICU F1 child-safety defaults against grooming"),
            "Ofcom Illegal Content Codes of Practice ICU F1",
            ("grooming",),
        ),
    ]


def _csa(assessment: ServiceAssessment) -> Regime:
    return Regime(
        "eu.csa_proposal",
        False,
        "CSA Regulation proposal (COM(2022) 209) not adopted: its risk categorisation would "
        f"place this service by its highest risk ({assessment.top_level}); no duty today",
        "COM(2022) 209; Council position on risk categorisation (not in force)",
    )


def missing_measures(
    rules: RuleSet, service: Service, assessment: ServiceAssessment
) -> list[MissingMeasure]:
    """Measures the service's risk calls for (per the rules) that it is not shown to have: absent,
    or only claimed (listed as claimed, unverified)."""
    result = []
    for rule in rules.measures:
        harms = HARMS if rule.harm == "any" else (rule.harm,)
        reached = [h for h in harms if level_rank(assessment.level(h)) >= level_rank(rule.at_least)]
        adult = rule.adult_service and service.is_adult
        if not reached and not adult:
            continue
        status = (
            ("proven" if service.age_assurance == "verification" else "absent")
            if rule.id == "age_verification"
            else service.status(rule.id)
        )
        if status == "proven":
            continue
        reasons = ["adult service"] if adult else []
        reasons += [f"{h} at {assessment.level(h)}" for h in reached]
        result.append(
            MissingMeasure(
                rule.id,
                rule.label,
                ", ".join(reasons),
                rules.source_text(rule.source),
                claimed=status == "claimed",
            )
        )
    return result


def gap_report(rules: RuleSet, service: Service, assessment: ServiceAssessment) -> GapReport:
    tier, regimes = _dsa(service)
    regimes += _ofcom(service, assessment)
    regimes.append(_csa(assessment))
    high = tuple(h.harm for h in assessment.harms if h.level == "high")
    unobliged = tuple(
        h for h in high if not any(r.applies is True and h in r.obliges_for for r in regimes)
    )
    return GapReport(
        service_id=service.id,
        name=service.name,
        type=service.type,
        dsa_tier=tier,
        regimes=tuple(regimes),
        missing=tuple(missing_measures(rules, service, assessment)),
        high_harms=high,
        unobliged_high_harms=unobliged,
        score=assessment.score,
    )


def gap_reports(
    rules: RuleSet, services: Iterable[Service], assessments: Iterable[ServiceAssessment]
) -> list[GapReport]:
    """Gap reports in the order of the assessments (highest score first)."""
    by_id = {s.id: s for s in services}
    return [gap_report(rules, by_id[a.service_id], a) for a in assessments if a.service_id in by_id]


def headline(reports: Iterable[GapReport]) -> list[GapReport]:
    """High-risk services that no regime obliges to act: the Rapporteur's target."""
    return [r for r in reports if r.headline]
