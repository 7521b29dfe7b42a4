"""How model outputs are written for people: units, magnitudes and intervals."""

import math

from hypothesis import given
from hypothesis import strategies as st

from safeguarding.assess.display import human, interval, undefined_note

SUFFIX = {" tn": 1e12, " bn": 1e9, " M": 1e6, " k": 1e3}


def test_units_and_magnitudes() -> None:
    assert human(0.0312, "share") == "3.1%"
    assert human(3.7, "ratio") == "3.7×"
    assert human(12_400_000) == "12.4 M"
    assert human(-2_500) == "-2.5 k"
    assert human(999) == "999"
    assert human(None) == human(math.nan) == human(math.inf) == "–"


def test_a_share_interval_above_one_reads_as_a_ratio() -> None:
    assert interval({"unit": "share", "median": 0.5, "low": 0.25, "high": 0.75}) == (
        "50.0%",
        "25.0%",
        "75.0%",
    )
    assert interval({"unit": "share", "median": 0.9, "low": 0.5, "high": 3.7}) == (
        "0.9×",
        "0.5×",
        "3.7×",
    )
    assert interval({"unit": "hours", "median": 1500, "low": None, "high": 2e9}) == (
        "1.5 k",
        "–",
        "2 bn",
    )


def test_draws_without_a_value_are_said() -> None:
    assert undefined_note({"undefined": 0.125}) == " (12.5% of draws undefined)"
    assert undefined_note({"undefined": 0.00002}) == " (<0.1% of draws undefined)"
    assert undefined_note({"undefined": 0.0}) == undefined_note({}) == ""


@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_subnormal=False))
def test_counts_read_back_to_three_significant_digits(value: float) -> None:
    written = human(value)
    suffix = next((s for s in SUFFIX if written.endswith(s)), "")
    number = float(written.removesuffix(suffix)) * SUFFIX.get(suffix, 1.0)
    assert math.isclose(number, value, rel_tol=5e-3, abs_tol=1e-300)
