"""Distributions: draws stay in their support and centre where they should; bad fields refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.assess.distributions import (
    Distribution,
    beta_from_counts,
    beta_from_moments,
    check,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def distributions(draw: st.DrawFn) -> Distribution:
    kind = draw(st.sampled_from(["fixed", "uniform", "triangular", "pert", "beta", "lognormal"]))
    if kind == "fixed":
        return Distribution.fixed(draw(finite))
    if kind == "beta":
        a = draw(st.floats(0.2, 500))
        b = draw(st.floats(0.2, 500))
        return Distribution("beta", {"alpha": a, "beta": b})
    if kind == "lognormal":
        low = draw(st.floats(1e-9, 1e5))  # wider ones leave the model's range (test below)
        return Distribution("lognormal", {"low": low, "high": low * draw(st.floats(1, 1e4))})
    values = sorted(draw(st.lists(finite, min_size=3, max_size=3)))
    if kind == "uniform":
        return Distribution("uniform", {"low": values[0], "high": values[2]})
    return Distribution(kind, {"low": values[0], "mode": values[1], "high": values[2]})


@settings(max_examples=150, deadline=None)
@given(distributions(), st.integers(0, 2**32 - 1))
def test_draws_stay_within_the_support(dist: Distribution, seed: int) -> None:
    draws = dist.sample(np.random.default_rng(seed), 2000)
    low, high = dist.support()
    assert draws.shape == (2000,)
    assert np.all(np.isfinite(draws))
    span = max(abs(low), abs(high) if np.isfinite(high) else 0, 1.0)
    assert draws.min() >= low - 1e-9 * span
    assert draws.max() <= high + 1e-9 * span


@settings(max_examples=60, deadline=None)
@given(distributions())
def test_sample_mean_approaches_the_mean(dist: Distribution) -> None:
    draws = dist.sample(np.random.default_rng(7), 200_000)
    sd = float(np.std(draws))
    # Lognormals with a wide interval have heavy tails; compare in log space there.
    if dist.kind == "lognormal":
        expected = np.log(dist["low"] * dist["high"]) / 2
        assert abs(float(np.median(np.log(draws))) - expected) < 0.05 * max(1.0, abs(expected))
    else:
        assert abs(float(draws.mean()) - dist.mean()) <= 5 * sd / np.sqrt(draws.size) + 1e-9


def test_lognormal_interval_is_its_5th_and_95th_percentile() -> None:
    dist = Distribution("lognormal", {"low": 10.0, "high": 1000.0})
    draws = dist.sample(np.random.default_rng(1), 400_000)
    low, high = np.percentile(draws, [5, 95])
    assert low == pytest.approx(10.0, rel=0.02)
    assert high == pytest.approx(1000.0, rel=0.02)


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("normal", {"value": 1.0}, "unknown distribution"),
        ("uniform", {"low": 2.0, "high": 1.0}, "low <= high"),
        ("pert", {"low": 0.0, "mode": 2.0, "high": 1.0}, "low <= mode <= high"),
        ("beta", {"alpha": 0.0, "beta": 1.0}, "alpha > 0"),
        ("lognormal", {"low": 0.0, "high": 1.0}, "low > 0"),
        ("lognormal", {"low": 1e-300, "high": 1e15}, "too wide"),
        ("lognormal", {"low": 1e13, "high": 1e15}, "too wide"),
        ("triangular", {"low": 0.0, "high": 1.0}, "missing mode"),
        ("fixed", {"value": 1.0, "low": 0.0}, "takes only value"),
    ],
)
def test_bad_fields_are_refused(kind: str, fields: dict[str, float], message: str) -> None:
    problem = check(kind, fields)
    assert problem is not None and message in problem
    with pytest.raises(ValueError, match=message):
        Distribution(kind, fields)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_beta_from_counts_centres_on_the_observed_share(a: int, b: int) -> None:
    successes, n = min(a, b), max(a, b)
    dist = beta_from_counts(successes, n)
    assert dist.mean() == pytest.approx((successes + 1) / (n + 2))
    assert dist["alpha"] + dist["beta"] == n + 2


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.9))
def test_beta_from_moments_recovers_mean_and_variance(mean: float, fraction: float) -> None:
    variance = fraction * mean * (1 - mean)
    dist = beta_from_moments(mean, variance)
    a, b = dist["alpha"], dist["beta"]
    assert dist.mean() == pytest.approx(mean)
    assert a * b / ((a + b) ** 2 * (a + b + 1)) == pytest.approx(variance)
