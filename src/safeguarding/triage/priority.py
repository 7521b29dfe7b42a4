"""Scoring reports against a policy: a level, a score, a route and the reasons, for every report.

Scoring is vectorised over all reports at once: for each rule one boolean column "fires", then
score, floors and caps by column arithmetic, and the rules fired as bits of one integer per report.
The readable reasons ("escalation: incidentSummary.escalateToHighPriority present") are built only
for the reports someone looks at or the store keeps, from the bits and the facts.

Level: the score's band from the policy's thresholds, then capped by lowering rules (``at_most``)
and raised by aggravating rules (``at_least``); a floor wins over a cap, so an escalation stays P1
even for a meme. Route: youth care when a youth-care rule fires, the offender queue otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguarding.triage.facts import ReportFacts, evidence
from safeguarding.triage.policy import LEVEL_CODE, LEVELS, ROUTES, Policy
from safeguarding.triage.unionfind import IntArray

FloatArray = npt.NDArray[np.float64]
ROUTE_CODE = {name: code for code, name in enumerate(ROUTES)}


@dataclass(frozen=True)
class Priorities:
    """Per report: level code (1 = P1 … 4 = informational), score, route code and rules fired."""

    level: npt.NDArray[np.int8]
    score: FloatArray
    route: npt.NDArray[np.int8]
    fired: npt.NDArray[np.uint64]

    def take(self, rows: IntArray) -> Priorities:
        """The priorities of the reports at ``rows`` (positions), in that order."""
        return Priorities(self.level[rows], self.score[rows], self.route[rows], self.fired[rows])

    def level_name(self, index: int) -> str:
        return LEVELS[int(self.level[index]) - 1]

    def route_name(self, index: int) -> str:
        return ROUTES[int(self.route[index])]


def fires(policy: Policy, facts: ReportFacts) -> list[npt.NDArray[np.bool_]]:
    """For every rule of the policy, which reports it fires on."""
    n = len(facts)
    result = []
    for rule in policy.rules:
        mask = np.ones(n, dtype=np.bool_)
        for fact, minimum in rule.when:
            mask &= facts.value(fact) >= minimum
        result.append(mask)
    return result


def score_reports(policy: Policy, facts: ReportFacts) -> Priorities:
    n = len(facts)
    score = np.zeros(n, dtype=np.float64)
    cap = np.full(n, LEVEL_CODE["P1"], dtype=np.int8)
    floor = np.full(n, LEVEL_CODE["informational"], dtype=np.int8)
    route = np.full(n, ROUTE_CODE["offender"], dtype=np.int8)
    fired = np.zeros(n, dtype=np.uint64)
    for bit, (rule, mask) in enumerate(zip(policy.rules, fires(policy, facts), strict=True)):
        score += rule.weight * mask
        if rule.at_most is not None:
            cap = np.where(mask, np.maximum(cap, LEVEL_CODE[rule.at_most]), cap).astype(np.int8)
        if rule.at_least is not None:
            floor = np.where(mask, np.minimum(floor, LEVEL_CODE[rule.at_least]), floor).astype(
                np.int8
            )
        if rule.route is not None:
            route = np.where(mask, np.int8(ROUTE_CODE[rule.route]), route).astype(np.int8)
        fired |= mask.astype(np.uint64) << np.uint64(bit)
    band = np.full(n, LEVEL_CODE["informational"], dtype=np.int8)
    for name, threshold in reversed(policy.thresholds):
        band = np.where(score >= threshold, np.int8(LEVEL_CODE[name]), band).astype(np.int8)
    level = np.minimum(np.maximum(band, cap), floor).astype(np.int8)
    return Priorities(level=level, score=score, route=route, fired=fired)


@dataclass(frozen=True)
class Reason:
    """One rule that contributed, with the evidence in the report that made it fire."""

    rule: str
    description: str
    weight: float
    evidence: tuple[str, ...]
    effect: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "description": self.description,
            "weight": self.weight,
            "effect": self.effect,
            "evidence": list(self.evidence),
        }

    def __str__(self) -> str:
        return f"{self.rule} ({self.weight:+g}): {'; '.join(self.evidence)}"


def effect(policy: Policy, index: int) -> str:
    rule = policy.rules[index]
    parts = []
    if rule.at_least:
        parts.append(f"at least {rule.at_least}")
    if rule.at_most:
        parts.append(f"at most {rule.at_most}")
    if rule.route:
        parts.append(f"route {rule.route}")
    return ", ".join(parts)


class Explainer:
    """Builds the reasons of single reports from the fired bits and the facts."""

    def __init__(self, policy: Policy, facts: ReportFacts, priorities: Priorities) -> None:
        self.policy = policy
        self.facts = facts
        self.priorities = priorities
        files = facts.files
        self._order = np.argsort(files.report, kind="stable")
        self._starts = np.searchsorted(files.report[self._order], np.arange(len(facts) + 1))

    def file_rows(self, report: int) -> IntArray:
        rows = self._order[self._starts[report] : self._starts[report + 1]]
        return rows.astype(np.int64)

    def reasons(self, report: int) -> list[Reason]:
        bits = int(self.priorities.fired[report])
        rows = self.file_rows(report)
        result = []
        for index, rule in enumerate(self.policy.rules):
            if not bits >> index & 1:
                continue
            found: list[str] = []
            for fact, _minimum in rule.when:
                found.extend(evidence(self.facts, report, fact, rows))
            result.append(
                Reason(
                    rule.id,
                    rule.description,
                    rule.weight,
                    tuple(found),
                    effect(self.policy, index),
                )
            )
        return result


def level_changes(previous: IntArray, current: IntArray) -> dict[str, int]:
    """How many reports changed level between two scorings (``0`` codes = not scored before)."""
    scored = previous > 0
    changed = scored & (previous != current)
    return {
        "compared": int(scored.sum()),
        "changed": int(changed.sum()),
        "raised": int((changed & (current < previous)).sum()),
        "lowered": int((changed & (current > previous)).sum()),
    }
