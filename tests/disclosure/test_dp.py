"""Differential privacy: noise of the promised scale, and a ledger that refuses overspending."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from safeguarding.disclosure import dp
from safeguarding.store import Store
from safeguarding.store.models.helpline import DpReleaseRow


def test_noise_has_the_discrete_laplace_variance() -> None:
    epsilon = 1.0
    release = dp.noisy_histogram([1000] * 20000, epsilon)
    noise = np.asarray(release.counts) - 1000
    assert release.scale == 1.0
    # Discrete Laplace with scale s: variance 2 e^(-1/s) / (1 - e^(-1/s))^2 = 1.8409 for s = 1.
    q = np.exp(-1.0)
    expected = 2 * q / (1 - q) ** 2
    assert abs(noise.mean()) < 0.05
    assert noise.var() == pytest.approx(expected, rel=0.08)
    assert set(np.unique(noise)) - set(range(-30, 31)) == set()


def test_large_epsilon_leaves_counts_almost_exact_and_never_negative() -> None:
    release = dp.noisy_histogram([0, 5, 40], 50.0)
    assert release.counts == (0, 5, 40)
    assert min(dp.noisy_histogram([0] * 1000, 0.1).counts) == 0


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_epsilon_is_refused(epsilon: float) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        dp.noisy_histogram([1, 2], epsilon)


def test_ledger_records_spends_and_refuses_when_exhausted(store: Store) -> None:
    with store.session() as session:
        state = dp.open_budget(session, "test.counts", 1.0)
        assert (state.total, state.spent, state.releases) == (1.0, 0.0, 0)
        dp.release_counts(session, "test.counts", "by year", [10, 20], 0.4)
        dp.release_counts(session, "test.counts", "by age", [10, 20], 0.4)
    with pytest.raises(dp.BudgetExhaustedError, match="0.8 of 1 spent"), store.session() as s:
        dp.release_counts(s, "test.counts", "by month", [10, 20], 0.4)
    with store.session() as session:
        state = dp.budget_state(session, "test.counts")
        assert state.spent == pytest.approx(0.8)
        assert state.remaining == pytest.approx(0.2)
        assert session.scalar(select(func.count()).select_from(DpReleaseRow)) == 2
        # Opening again keeps the existing budget; the rest can still be spent exactly.
        assert dp.open_budget(session, "test.counts", 99.0).total == 1.0
        dp.release_counts(session, "test.counts", "by month", [10, 20], 0.2)
        assert dp.budget_state(session, "test.counts").remaining == pytest.approx(0.0)


def test_bad_input_costs_nothing(store: Store) -> None:
    with store.session() as session:
        dp.open_budget(session, "test.counts", 1.0)
        with pytest.raises(ValueError, match="negative"):
            dp.release_counts(session, "test.counts", "bad", [-1], 0.5)
        assert dp.budget_state(session, "test.counts").spent == 0.0
