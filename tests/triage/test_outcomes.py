from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from safeguarding.errors import ValidationError
from safeguarding.statistics import wilson
from safeguarding.triage.outcomes import (
    EXPORT_FORMAT,
    OutcomeRecord,
    check_outcome,
    export_document,
    outcome_stats,
)


def record(
    result: str, minutes: float, provider: str = "A", day: int = 1, level: str = "P2"
) -> OutcomeRecord:
    return OutcomeRecord(
        report_id=day * 100 + int(minutes),
        result=result,
        reason="adult" if result == "not_criminal" else None,
        minutes=minutes,
        recorded_at=datetime(2026, 3, day, 12, tzinfo=UTC),
        provider=provider,
        incident_type="Child Pornography (possession, manufacture, and distribution)",
        detection="known_match",
        level=level,
    )


RECORDS = [
    record("actionable", 120, "A", 1, "P1"),
    record("actionable", 90, "A", 2),
    record("not_criminal", 30, "A", 3),
    record("duplicate", 10, "B", 4),
    record("youth_care_referral", 45, "B", 5),
    record("insufficient_information", 20, "B", 6),
    record("warning_visit", 60, "B", 7),
]


def test_statistics_equal_hand_computed_values() -> None:
    stats = outcome_stats(RECORDS)
    overall = stats["overall"]
    assert overall["n"] == 7
    assert overall["counts"]["actionable"] == 2
    assert overall["actionable_share"]["value"] == pytest.approx(2 / 7)
    assert overall["hours"] == pytest.approx(375 / 60, abs=1e-4)
    assert overall["hours_per_outcome"]["actionable"] == pytest.approx(105 / 60, abs=1e-4)
    by_provider = stats["provider"]
    assert by_provider["A"]["actionable_share"]["value"] == pytest.approx(2 / 3)
    assert by_provider["B"]["counts"]["actionable"] == 0
    assert by_provider["B"]["actionable_share"]["high"] == pytest.approx(wilson(0, 4).high)
    assert stats["level"]["P1"]["n"] == 1


def test_export_matches_the_documented_format_and_hand_values() -> None:
    document = export_document(
        RECORDS,
        period_from=date(2026, 3, 2),
        period_to=date(2026, 3, 7),
        source="test store",
        generated_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert list(document) == [
        "format", "generated_at", "source", "period", "reports_with_outcome", "rates",
        "minutes_per_report", "hours_per_actionable",
    ]  # fmt: skip
    assert document["format"] == EXPORT_FORMAT
    assert document["period"] == {"from": "2026-03-02", "to": "2026-03-07"}
    assert document["reports_with_outcome"] == 6  # 1 March is outside the period
    rates = document["rates"]
    assert list(rates) == [
        "actionable_share", "not_criminal_share", "duplicate_share",
        "insufficient_information_share", "youth_care_share",
    ]  # fmt: skip
    assert rates["actionable_share"]["successes"] == 1 and rates["actionable_share"]["n"] == 6
    assert rates["youth_care_share"]["value"] == pytest.approx(1 / 6)
    low, high = wilson(1, 6).low, wilson(1, 6).high
    assert (rates["duplicate_share"]["low"], rates["duplicate_share"]["high"]) == (low, high)
    assert document["minutes_per_report"] == {"mean": pytest.approx(255 / 6), "n": 6}
    assert document["hours_per_actionable"] == {"mean": 1.5, "n": 1}


@pytest.mark.parametrize(
    ("result", "reason", "minutes", "message"),
    [
        ("solved", None, 10, "result: not a result; use one of actionable"),
        ("not_criminal", None, 10, "needs a reason"),
        ("actionable", "adult", 10, "only a not_criminal"),
        ("actionable", None, 0, "minutes: must be more than 0"),
    ],
)
def test_bad_outcomes_are_refused_naming_the_field(
    result: str, reason: str | None, minutes: float, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        check_outcome(result, reason, minutes)
