"""How model outputs are written for people: units, magnitudes and intervals."""

import math

from hypothesis import given
from hypothesis import strategies as st

from safeguarding.assess.display import (
    computed_from,
    human,
    interval,
    sample_note,
    undefined_note,
    wait_cell,
    wait_text,
)

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


def test_a_count_that_rounds_up_to_the_next_suffix_takes_it() -> None:
    # 999,600 at three significant digits is 1,000 thousand: it read "1e+03 k".
    assert human(999_600) == "1 M"
    assert human(999.6) == "1 k"
    assert human(-999_960) == "-1 M"
    assert human(999_600_000) == "1 bn"
    assert human(0.9996e12) == "1 tn"
    assert human(1e15) == "1,000 tn"
    assert human(999.6, "ratio") == "1 k×"
    assert human(12_345) == "12.3 k"


def _read_back(written: str) -> float:
    suffix = next((s for s in SUFFIX if written.endswith(s)), "")
    return float(written.removesuffix(suffix).replace(",", "")) * SUFFIX.get(suffix, 1.0)


@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_subnormal=False))
def test_counts_read_back_to_three_significant_digits(value: float) -> None:
    written = human(value)
    assert "e+" not in written, written
    assert math.isclose(_read_back(written), value, rel_tol=5e-3, abs_tol=1e-300)
    ratio = human(value, "ratio")
    assert ratio.endswith("×") and "e+" not in ratio, ratio
    assert math.isclose(_read_back(ratio.removesuffix("×")), value, rel_tol=5e-3, abs_tol=1e-300)


def _wait(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "level": "P1",
        "arrived": 286,
        "handled": 46,
        "median_days": None,
        "median_beyond_horizon": True,
        "p90_days": None,
        "p90_beyond_horizon": True,
        "horizon_days": 365.0,
        "unhandled_share": 0.839,
        "indeterminate": False,
    }
    return base | fields


def test_a_wait_beyond_the_horizon_is_no_number_of_days() -> None:
    assert wait_cell(_wait()) == "> 365 d / > 365 d (16.1%)"
    seen = _wait(median_days=0.0008, median_beyond_horizon=False, p90_days=0.3)
    assert wait_cell(seen | {"p90_beyond_horizon": False}) == "1.15 min / 7.2 h (16.1%)"
    assert wait_text(_wait(median_days=12.5, median_beyond_horizon=False), "median") == "12.5 d"
    assert wait_text(_wait(indeterminate=True), "p90") == "not given"
    quick = _wait(median_days=0.0, median_beyond_horizon=False, p90_days=0.0003)
    assert wait_cell(quick | {"p90_beyond_horizon": False}) == "0 min / < 1 min (16.1%)"
    assert wait_cell(_wait(arrived=0)) == "none arrived"


def test_a_wait_stored_before_the_horizon_says_it_counts_the_handled_only() -> None:
    # Stored before waits were followed past the year: the median of the handled sixth.
    old = {"level": "P1", "arrived": 286, "handled": 49, "median_days": 167.05, "p90_days": 286.6}
    assert wait_text(old | {"unhandled_share": 0.83}, "median") == "167 d (of those handled)"
    assert wait_text(old | {"unhandled_share": 0.0}, "median") == "167 d"


def test_a_queue_followed_on_a_sample_says_so() -> None:
    runs = [{"unit_share": share} for share in (0.2, 0.2, 0.25, 0.2)]
    queue = {"simulated": True, "queue_cap": 20_000, "near_full_max": 100_000, "runs": runs}
    assert sample_note(queue) == (
        "simulated on a representative sample (at most 20,000 notifications a year, 100,000 "
        "near full load; 20.0%–25.0% of the year's notifications), with the same share of the "
        "capacity"
    )
    older = {"simulated": True, "runs": runs[:1]}  # stored before the cap was recorded
    assert sample_note(older) == (
        "simulated on a representative sample (20.0% of the year's notifications), with the "
        "same share of the capacity"
    )
    whole = {"simulated": True, "queue_cap": 20_000, "runs": [{"unit_share": 1.0}]}
    assert sample_note(whole) == sample_note({"simulated": False}) == ""


def test_computed_from_counts_informed_assumptions_apart_from_evidence() -> None:
    inputs = {
        "parameters": ["a", "b", "c", "d", "e"],
        "evidence": ["x.1", "y.2", "z.3"],
        "from_evidence": ["a"],
        "assumptions_with_evidence": ["b", "c"],
        "assumptions_only": ["d"],
        "from_data": ["e"],
    }
    assert computed_from(inputs) == (
        "5 parameters: 1 evidence, 2 assumptions informed by evidence, 1 assumptions only, "
        "1 from data files; 3 evidence ids"
    )
    # Stored before the two were told apart: said as such, not passed off as evidence.
    older = {"parameters": ["a", "b"], "evidence": ["x.1"], "citing_evidence": ["a"]}
    assert computed_from(older | {"assumptions_only": ["b"], "from_data": []}) == (
        "2 parameters: 1 evidence or assumptions informed by it (stored before they were told "
        "apart), 1 assumptions only; 1 evidence ids"
    )
