"""Outcomes of assessed reports, and what they teach: observed precision and hours per outcome.

An analyst records for a report what came of it and the minutes it took. The statistics tell a
team which providers, incident types, detection signals and priority levels lead to action, and
the export feeds the assessment model's calibration (format ``safeguarding/triage-outcome-stats@1``,
documented in docs/formats.md). Free-text notes never enter statistics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from safeguarding.errors import ValidationError
from safeguarding.statistics import wilson

RESULTS: tuple[str, ...] = (
    "actionable",
    "not_criminal",
    "duplicate",
    "insufficient_information",
    "youth_care_referral",
    "warning_visit",
)
RESULT_MEANING = {
    "actionable": "investigation opened",
    "not_criminal": "not criminal (reason required)",
    "duplicate": "duplicate of a known case",
    "insufficient_information": "insufficient information to act",
    "youth_care_referral": "referred to youth care",
    "warning_visit": "warning visit",
}
NOT_CRIMINAL_REASONS: tuple[str, ...] = ("adult", "age_indeterminate", "not_sexual", "other")
GROUPINGS: tuple[str, ...] = ("provider", "incident_type", "detection", "level")
EXPORT_FORMAT = "safeguarding/triage-outcome-stats@1"
MAX_MINUTES = 60 * 24 * 7
_SHARES = {
    "actionable_share": "actionable",
    "not_criminal_share": "not_criminal",
    "duplicate_share": "duplicate",
    "insufficient_information_share": "insufficient_information",
    "youth_care_share": "youth_care_referral",
}


def check_outcome(result: str, reason: str | None, minutes: float) -> None:
    """Refuse an outcome that breaks a rule, naming the field (as the API's body names it;
    the command line's options carry the same names). A refused value is not repeated: the web
    app's answer must not send back what was typed (a password in the wrong box, at any length)."""
    if result not in RESULTS:
        raise ValidationError(
            f"result: not a result; use one of {', '.join(RESULTS)}",
            location="result",
            rule="known result",
        )
    if result == "not_criminal":
        if reason not in NOT_CRIMINAL_REASONS:
            raise ValidationError(
                "reason: a not_criminal result needs a reason, one of "
                + ", ".join(NOT_CRIMINAL_REASONS),
                location="reason",
                rule="reason for not criminal",
            )
    elif reason is not None:
        raise ValidationError(
            "reason: only a not_criminal result takes a reason",
            location="reason",
            rule="reason only for not criminal",
        )
    if not 0 < minutes <= MAX_MINUTES:
        raise ValidationError(
            f"minutes: must be more than 0 and at most {MAX_MINUTES} (one week), got {minutes}",
            location="minutes",
            rule="minutes in range",
        )


@dataclass(frozen=True)
class OutcomeRecord:
    """An outcome with the facts it is grouped by (no identifiers, no notes)."""

    report_id: int
    result: str
    reason: str | None
    minutes: float
    recorded_at: datetime
    provider: str
    incident_type: str
    detection: str
    level: str

    def group(self, by: str) -> str:
        value: str = getattr(self, by)
        return value


def _summary(records: Sequence[OutcomeRecord]) -> dict[str, Any]:
    counts = {result: 0 for result in RESULTS}
    minutes: dict[str, float] = defaultdict(float)
    for record in records:
        counts[record.result] += 1
        minutes[record.result] += record.minutes
    n = len(records)
    actionable = wilson(counts["actionable"], n)
    return {
        "n": n,
        "counts": counts,
        "actionable_share": actionable.as_dict(),
        "hours": round(sum(minutes.values()) / 60, 4),
        "hours_per_outcome": {
            result: round(minutes[result] / counts[result] / 60, 4)
            for result in RESULTS
            if counts[result]
        },
    }


def outcome_stats(records: Iterable[OutcomeRecord]) -> dict[str, Any]:
    """Counts, share actionable with its Wilson interval and hours per outcome: overall and by
    provider, incident type, detection signal and level."""
    items = list(records)
    result: dict[str, Any] = {"overall": _summary(items)}
    for by in GROUPINGS:
        groups: dict[str, list[OutcomeRecord]] = defaultdict(list)
        for record in items:
            groups[record.group(by)].append(record)
        result[by] = {key: _summary(groups[key]) for key in sorted(groups)}
    return result


def _mean(values: Sequence[float]) -> dict[str, Any]:
    return {"mean": sum(values) / len(values) if values else 0.0, "n": len(values)}


def check_period(period_from: date | None, period_to: date | None) -> None:
    """Refuse a period that ends before it starts: it would select nothing, silently."""
    if period_from is not None and period_to is not None and period_to < period_from:
        raise ValidationError(
            f"period: end {period_to} is before start {period_from}", rule="period order"
        )


def recorded_within(
    records: Iterable[OutcomeRecord], period_from: date | None, period_to: date | None
) -> list[OutcomeRecord]:
    """The outcomes recorded from ``period_from`` to ``period_to`` inclusive (open where None)."""
    check_period(period_from, period_to)
    return [
        r
        for r in records
        if (period_from is None or period_from <= r.recorded_at.date())
        and (period_to is None or r.recorded_at.date() <= period_to)
    ]


def export_document(
    records: Iterable[OutcomeRecord],
    *,
    period_from: date,
    period_to: date,
    source: str,
    generated_at: datetime,
    levels: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The calibration export: outcomes recorded from ``period_from`` to ``period_to`` inclusive.

    ``levels`` (from ``level_mix``) adds the offender queue's mix of priority levels under the
    policy that set them, so the assessment's queue simulation prioritises as triage does.
    """
    chosen = recorded_within(records, period_from, period_to)
    n = len(chosen)
    rates = {
        name: wilson(sum(1 for r in chosen if r.result == result), n).as_dict()
        for name, result in _SHARES.items()
    }
    return {
        "format": EXPORT_FORMAT,
        "generated_at": generated_at.isoformat(),
        "source": source,
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "reports_with_outcome": n,
        "rates": rates,
        "minutes_per_report": _mean([r.minutes for r in chosen]),
        "hours_per_actionable": _mean([r.minutes / 60 for r in chosen if r.result == "actionable"]),
        **({"levels": levels} if levels is not None else {}),
    }


def level_mix(counts: dict[str, int], policy: str, levels: Sequence[str]) -> dict[str, Any] | None:
    """Share of the offender queue at each level (all levels present), or None with no reports."""
    reports = sum(counts.get(level, 0) for level in levels)
    if reports == 0:
        return None
    return {
        "policy": policy,
        "reports": reports,
        "shares": {level: counts.get(level, 0) / reports for level in levels},
    }
