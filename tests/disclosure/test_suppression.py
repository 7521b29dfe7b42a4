"""Suppression: primary and secondary cells on crafted tables, and an intruder who fails."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from safeguarding.disclosure.rounding import round_to_base
from safeguarding.disclosure.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    bridges,
    extend,
    protect_table,
    suppress,
)
from tests.disclosure.attacker import feasible_intervals, primary_only

CRAFTED = [[20, 3, 15], [12, 14, 30], [25, 40, 11]]


def test_primary_only_release_is_recovered_by_the_attacker() -> None:
    """The attacker is real: with only the small cell withheld, it solves it exactly."""
    intervals = feasible_intervals(primary_only(extend(CRAFTED), 10))
    assert intervals == {(0, 1): (3.0, 3.0)}


def test_secondary_suppression_chooses_the_cheapest_cycle() -> None:
    result = suppress(CRAFTED)
    # Row totals 38, 56, 76; column totals 57, 57, 56; grand total 170.
    assert result.extended[:, 3].tolist() == [38, 56, 76, 170]
    assert {tuple(c) for c in np.argwhere(result.status == PRIMARY)} == {(0, 1)}
    # Protecting the 3 needs a cycle through it. Candidates closing a 4-cycle:
    # 20+12+14 = 46, 15+30+14 = 59, 15+11+40 = 66, 20+25+40 = 85: the first is cheapest.
    assert {tuple(c) for c in np.argwhere(result.status == SECONDARY)} == {(0, 0), (1, 0), (1, 1)}


def test_attack_on_the_protected_table_fails() -> None:
    result = suppress(CRAFTED)
    intervals = feasible_intervals(result.published())
    assert set(intervals) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    for low, high in intervals.values():
        assert high - low > 0
    # Along the cycle 3(+t) 20(-t) 12(+t) 14(-t) the published margins do not change; every
    # withheld count is at least 1, so t runs from -min(3, 12) + 1 to min(20, 14) - 1: the 3
    # can be anything from 1 to 16.
    assert intervals[(0, 1)] == (1.0, 16.0)


def test_small_cells_on_a_cycle_of_small_cells_are_widened() -> None:
    """Withheld counts are at least 1, so a cycle of ones pins every one of them down."""
    table = [[1, 1], [1, 1], [50, 30], [20, 20]]
    naive = extend(table).tolist()
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]:
        naive[i][j] = None
    assert set(feasible_intervals(naive).values()) == {(1.0, 1.0), (2.0, 2.0)}
    result = suppress(table)
    # the cheapest cells that give the ones room: the row of twenties
    assert {tuple(c) for c in np.argwhere(result.status == SECONDARY)} == {(3, 0), (3, 1), (3, 2)}
    for cell, (_low, high) in feasible_intervals(result.published()).items():
        if result.status[cell] == PRIMARY:
            assert high >= 10, cell


def test_small_totals_are_protected_too() -> None:
    table = [[2, 3, 0], [40, 50, 12], [30, 1, 25]]
    result = suppress(table)
    withheld = result.status != PUBLISHED
    assert withheld[0, 3], "row total 5 is below the minimum and is withheld"
    for i, j in [(0, 0), (0, 1), (2, 1), (0, 3)]:
        assert result.status[i, j] == PRIMARY
    assert not withheld[0, 2], "zeros are published"
    for line in [*withheld, *withheld.T]:
        assert line.sum() == 0 or line.sum() >= 2
    for low, high in feasible_intervals(result.published()).values():
        assert high - low > 0


def test_one_way_table_withholds_a_second_cell() -> None:
    result = suppress([[3, 50, 40, 12]])
    published = result.published()[0]
    assert published == [None, 50, 40, None, 105]
    for low, high in feasible_intervals(result.published()).values():
        assert high - low > 0


def test_minimum_cell_size_is_configurable() -> None:
    assert suppress(CRAFTED, min_cell=3).count(PRIMARY) == 0
    assert suppress(CRAFTED, min_cell=12).count(PRIMARY) == 2  # 3 and 11
    with pytest.raises(ValueError, match="at least 1"):
        suppress(CRAFTED, min_cell=0)


def test_whole_table_below_minimum() -> None:
    result = suppress([[1, 2], [3, 0]])
    assert result.published() == [[None, None, None], [None, 0, None], [None, None, None]]


@pytest.mark.parametrize(
    ("bad", "message"),
    [([[1, -1]], "negative"), ([[1.5, 2]], "whole numbers"), ([1, 2], "2-dimensional")],
)
def test_bad_tables_are_refused(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        suppress(bad)  # type: ignore[arg-type]


def test_protect_table_labels_and_rounding() -> None:
    table = protect_table(
        CRAFTED, ["a", "b", "c"], ["x", "y", "z"], title="t", unit="contacts", rounding_base=5
    )
    assert table.cells == ((None, None, 15), (None, None, 30), (25, 40, 10))
    assert table.row_totals == (40, 55, 75)
    assert table.col_totals == (55, 55, 55)
    assert table.total == 170
    assert table.withheld_count == 4
    # the published form says which values are withheld, not why (primary or secondary)
    assert table.status[0][:2] == ("secondary", "primary")
    assert table.as_dict()["disclosure_control"]["status"][0] == [
        "withheld", "withheld", "published", "published"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="labels"):
        protect_table(CRAFTED, ["a"], ["x"], title="t", unit="u")


def test_rounding_to_base_by_hand() -> None:
    assert round_to_base([0, 1, 2, 3, 7, 8, 12, 13, 170], 5).tolist() == [
        0,
        0,
        0,
        5,
        5,
        10,
        10,
        15,
        170,
    ]
    assert round_to_base([2, 6], 4).tolist() == [4, 8]
    with pytest.raises(ValueError):
        round_to_base([1], 0)


tables = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: arrays(np.int64, shape, elements=st.integers(0, 25))
)


@settings(max_examples=100, deadline=None)
@given(tables, st.integers(2, 12))
def test_no_withheld_cell_can_be_recovered(table: np.ndarray, min_cell: int) -> None:
    result = suppress(table, min_cell=min_cell)
    extended = result.extended
    withheld = result.status != PUBLISHED
    # Every small cell (totals included) is withheld; zeros never are; the rest is unchanged.
    assert np.all(withheld[(extended > 0) & (extended < min_cell)])
    assert not np.any(withheld[extended == 0])
    published = result.published()
    for i, row in enumerate(published):
        for j, value in enumerate(row):
            assert value is None or value == extended[i, j]
    # No line holds exactly one withheld cell, no withheld cell is a bridge ...
    for line in [*withheld, *withheld.T]:
        assert line.sum() != 1
    assert bridges(withheld) == []
    # ... and the intruder, solving the published equations, never pins a cell down, nor
    # finds a small cell to be below the minimum.
    for cell, (low, high) in feasible_intervals(published).items():
        assert high - low > 0.5, (cell, low, high)
        assert low - 1e-6 <= extended[cell] <= high + 1e-6
        if result.status[cell] == PRIMARY:
            assert high >= min_cell - 1e-6, (cell, low, high)
