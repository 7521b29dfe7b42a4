from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguarding.statistics import wilson


def test_wilson_matches_the_closed_form_for_a_hand_case() -> None:
    # 8 of 10, z = 1.96: centre = (0.8 + 1.9208/10) / 1.38416 = 0.71671;
    # half = 1.96 * sqrt(0.016 + 0.0096040) / 1.38416 = 0.22663 (textbook: 0.4902 .. 0.9433).
    result = wilson(8, 10, z=1.96)
    assert result.value == 0.8
    assert result.low == pytest.approx(0.4902, abs=1e-4)
    assert result.high == pytest.approx(0.9433, abs=1e-4)


def test_no_observations_give_the_whole_range() -> None:
    result = wilson(0, 0)
    assert (result.value, result.low, result.high) == (0.0, 0.0, 1.0)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_interval_contains_the_share_and_stays_in_bounds(case: tuple[int, int]) -> None:
    successes, n = case
    result = wilson(successes, n)
    assert 0.0 <= result.low <= result.value <= result.high <= 1.0
    assert math.isclose(result.value, successes / n)


def test_impossible_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 3)
