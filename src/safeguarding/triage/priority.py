"""Scoring reports against a policy: a level, a score, a route and the reasons, for every report.

Scoring is vectorised over all reports at once: for each rule one boolean column "fires", then
score, floors and caps by column arithmetic, and the rules fired as bits of one integer per report.
The readable reasons ("escalation: incidentSummary.escalateToHighPriority present") are built only
for the reports someone looks at or the store keeps, from the bits and the facts.

Level: the score's band from the policy's thresholds, then capped by lowering rules (``at_most``)
and raised by aggravating rules (``at_least``); a floor wins over a cap, so an escalation stays P1
even for a meme. Route: youth care when any youth-care rule fires, whatever other rules fired
and in whatever order the policy lists them; the offender queue otherwise.

Score: the sum of the weights of the rules fired, added exactly (``math.fsum``) and rounded to
``SCORE_DECIMALS`` places, as the thresholds are. Adding binary fractions in turn is off in the
last bits (0.7 + 0.1 is 0.7999999999999999), which put a report whose weights add up to a
threshold below it, depending on the order of the rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguarding.triage.facts import ReportFacts, evidence
from safeguarding.triage.policy import LEVEL_CODE, LEVELS, ROUTES, Policy
from safeguarding.triage.unionfind import IntArray

FloatArray = npt.NDArray[np.float64]
ROUTE_CODE = {name: code for code, name in enumerate(ROUTES)}
# Scores and thresholds are compared rounded to this many decimal places: finer than any weight
# a policy is written with, coarser than the error of a sum of binary fractions.
SCORE_DECIMALS = 9


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


def _scores(policy: Policy, fired: npt.NDArray[np.uint64]) -> FloatArray:
    """Every report's score from the rules it fired: the weights summed exactly and rounded,
    once per distinct set of rules fired (reports share few of them)."""
    patterns, inverse = np.unique(fired, return_inverse=True)
    weights = [rule.weight for rule in policy.rules]
    sums = [
        round(math.fsum(w for bit, w in enumerate(weights) if pattern >> bit & 1), SCORE_DECIMALS)
        for pattern in patterns.tolist()
    ]
    scores: FloatArray = np.asarray(sums, dtype=np.float64)[inverse.reshape(-1)]
    return scores


def score_reports(policy: Policy, facts: ReportFacts) -> Priorities:
    n = len(facts)
    cap = np.full(n, LEVEL_CODE["P1"], dtype=np.int8)
    floor = np.full(n, LEVEL_CODE["informational"], dtype=np.int8)
    youth_care = np.zeros(n, dtype=np.bool_)
    fired = np.zeros(n, dtype=np.uint64)
    for bit, (rule, mask) in enumerate(zip(policy.rules, fires(policy, facts), strict=True)):
        if rule.at_most is not None:
            cap = np.where(mask, np.maximum(cap, LEVEL_CODE[rule.at_most]), cap).astype(np.int8)
        if rule.at_least is not None:
            floor = np.where(mask, np.minimum(floor, LEVEL_CODE[rule.at_least]), floor).astype(
                np.int8
            )
        if rule.route == "youth_care":
            youth_care |= mask
        fired |= mask.astype(np.uint64) << np.uint64(bit)
    score = _scores(policy, fired)
    route = np.where(youth_care, ROUTE_CODE["youth_care"], ROUTE_CODE["offender"]).astype(np.int8)
    band = np.full(n, LEVEL_CODE["informational"], dtype=np.int8)
    for name, threshold in reversed(policy.thresholds):
        band = np.where(
            score >= round(threshold, SCORE_DECIMALS), np.int8(LEVEL_CODE[name]), band
        ).astype(np.int8)
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
