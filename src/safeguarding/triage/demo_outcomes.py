"""Synthetic outcomes for the demo: seeded, deterministic, and marked synthetic in the store.

The shares per level are invented for illustration (higher levels lead to action more often);
they are not evidence and are never shown without the word "synthetic".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from safeguarding.triage.outcomes import NOT_CRIMINAL_REASONS, RESULTS
from safeguarding.triage.policy import LEVELS

# Per level: chance of each result, in the order of RESULTS; and mean minutes spent.
_SHARES = {
    "P1": (0.60, 0.10, 0.05, 0.10, 0.05, 0.10),
    "P2": (0.35, 0.20, 0.10, 0.15, 0.10, 0.10),
    "P3": (0.15, 0.30, 0.20, 0.15, 0.10, 0.10),
    "informational": (0.02, 0.50, 0.30, 0.15, 0.03, 0.00),
}
_MINUTES = {"P1": 150, "P2": 90, "P3": 45, "informational": 12}
_START = datetime(2026, 1, 5, 9, tzinfo=UTC)


@dataclass(frozen=True)
class SyntheticOutcome:
    report_id: int
    result: str
    reason: str | None
    minutes: float
    recorded_at: datetime


def synthetic_outcomes(
    report_ids: list[int], levels: list[str], seed: int, share: float = 0.4
) -> list[SyntheticOutcome]:
    """Outcomes for about ``share`` of the reports, chosen and drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = rng.random(len(report_ids)) < share
    outcomes = []
    for index in np.flatnonzero(chosen).tolist():
        level = levels[index]
        if level not in LEVELS:
            continue
        result = RESULTS[int(rng.choice(len(RESULTS), p=_SHARES[level]))]
        reason = (
            NOT_CRIMINAL_REASONS[int(rng.integers(len(NOT_CRIMINAL_REASONS)))]
            if result == "not_criminal"
            else None
        )
        minutes = float(max(5, round(rng.gamma(4.0, _MINUTES[level] / 4.0))))
        outcomes.append(
            SyntheticOutcome(
                report_ids[index],
                result,
                reason,
                minutes,
                _START + timedelta(days=int(rng.integers(0, 28))),
            )
        )
    return outcomes
