"""Differentially private counts for repeatedly queried dashboards, with a privacy-budget ledger.

Suppression protects one release; a dashboard asked the same question every week leaks through
the differences between answers. For those, counts are released with noise from OpenDP's
discrete Laplace mechanism (integer counts, so no floating-point side channel) and every release
spends part of a finite privacy budget (epsilon) kept in the store:

- ``open_budget(session, dataset, total)`` creates the budget of a dataset (once);
- ``release_counts(session, dataset, query, counts, epsilon)`` spends ``epsilon`` and returns the
  noisy counts; it refuses (``BudgetExhaustedError``) when the budget left is too small, and the
  spend and the ledger entry are written in the caller's transaction, so a failed release costs
  nothing;
- ``budget_state(session, dataset)`` says what is spent and what is left.

Unit of privacy: one record of the counted table (e.g. one contact). The counts passed in must be
a histogram where each record falls in exactly one cell; adding or removing a record then changes
the vector by 1 in L1 norm, and one release costs ``epsilon`` for the whole histogram (parallel
composition). A person with several contacts is protected less than one contact's worth; bound
contacts per person first if people are the unit. With ``epsilon`` = 1 the noise on a cell is
within about ±3 in 95% of releases (half-width ln(20)/epsilon).

OpenDP marks the discrete Laplace measurement as a contributed component, so the "contrib"
feature is switched on, as its documentation requires. OpenDP is loaded by the first release,
not with this module: it costs a quarter of a second that commands reading the ledger, or not
touching the helpline at all, would pay for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from types import ModuleType

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from safeguarding.errors import SafeguardingError
from safeguarding.store.models.helpline import DpBudgetRow, DpReleaseRow

MECHANISM = "discrete Laplace (OpenDP make_laplace, integer counts)"
_TOLERANCE = 1e-9


class BudgetExhaustedError(SafeguardingError):
    """A release would spend more epsilon than the dataset has left."""


@dataclass(frozen=True)
class BudgetState:
    dataset: str
    total: float
    spent: float
    releases: int

    @property
    def remaining(self) -> float:
        return max(0.0, self.total - self.spent)


@dataclass(frozen=True)
class NoisyRelease:
    """Noisy counts with what they cost and what the noise scale was."""

    counts: tuple[int, ...]
    epsilon: float
    scale: float
    mechanism: str = MECHANISM


def _check_epsilon(epsilon: float) -> None:
    if not (epsilon > 0 and epsilon < float("inf")):
        raise ValueError("epsilon must be a positive, finite number")


@cache
def _opendp() -> ModuleType:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def noisy_histogram(counts: Sequence[int], epsilon: float) -> NoisyRelease:
    """Discrete Laplace noise on a histogram with L1 sensitivity 1; OpenDP checks the cost."""
    _check_epsilon(epsilon)
    if any(c < 0 for c in counts):
        raise ValueError("counts must not be negative")
    scale = 1.0 / epsilon
    dp = _opendp()
    measurement = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
    )
    cost = float(measurement.map(1))
    if cost > epsilon * (1 + _TOLERANCE):
        raise ValueError(f"OpenDP reports a cost of {cost} for a budget of {epsilon}")
    noisy = measurement([int(c) for c in counts])
    return NoisyRelease(tuple(max(0, int(v)) for v in noisy), epsilon, scale)


def open_budget(session: Session, dataset: str, total: float) -> BudgetState:
    """Create the dataset's budget if it has none; an existing budget is left unchanged."""
    _check_epsilon(total)
    if session.get(DpBudgetRow, dataset) is None:
        session.add(
            DpBudgetRow(
                dataset=dataset,
                epsilon_total=total,
                epsilon_spent=0.0,
                created_at=datetime.now(UTC),
            )
        )
        session.flush()
    return budget_state(session, dataset)


def budget_state(session: Session, dataset: str) -> BudgetState:
    row = session.get(DpBudgetRow, dataset, populate_existing=True)
    if row is None:
        raise SafeguardingError(f"no privacy budget for {dataset!r}")
    releases = session.scalars(select(DpReleaseRow.id).where(DpReleaseRow.dataset == dataset))
    return BudgetState(dataset, row.epsilon_total, row.epsilon_spent, len(list(releases)))


def spend(session: Session, dataset: str, query: str, epsilon: float) -> BudgetState:
    """Record a spend of ``epsilon``; refuses when the budget left is smaller.

    The check and the spend are one conditional UPDATE, so two releases racing for the last of
    the budget cannot both succeed, on SQLite as on PostgreSQL.
    """
    _check_epsilon(epsilon)
    result = session.execute(
        update(DpBudgetRow)
        .where(DpBudgetRow.dataset == dataset)
        .where(DpBudgetRow.epsilon_spent + epsilon <= DpBudgetRow.epsilon_total + _TOLERANCE)
        .values(epsilon_spent=DpBudgetRow.epsilon_spent + epsilon)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        state = budget_state(session, dataset)
        raise BudgetExhaustedError(
            f"privacy budget of {dataset!r} exhausted: {state.spent:g} of {state.total:g} spent, "
            f"{state.remaining:g} left, this release needs {epsilon:g}"
        )
    session.add(
        DpReleaseRow(
            dataset=dataset,
            query=query[:200],
            mechanism=MECHANISM,
            epsilon=epsilon,
            released_at=datetime.now(UTC),
        )
    )
    session.flush()
    return budget_state(session, dataset)


def release_counts(
    session: Session, dataset: str, query: str, counts: Sequence[int], epsilon: float
) -> NoisyRelease:
    """Spend ``epsilon`` from the dataset's budget and return the noisy histogram.

    The noise is drawn first (so bad input costs nothing) and handed out only after the spend is
    recorded; a refused release returns nothing.
    """
    release = noisy_histogram(counts, epsilon)
    spend(session, dataset, query, epsilon)
    return release
