"""The published set: the page's, the report's and the API's tables protected together, so that
no number published in one is withheld in another or follows from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from safeguarding.disclosure.suppression import ProtectedTable
from safeguarding.errors import ValidationError
from safeguarding.helpline.importer import import_file
from safeguarding.helpline.published import (
    PUBLISHED_BY,
    PublishedSet,
    published_set,
    published_stats,
    published_tables,
)
from safeguarding.helpline.schema import AGE_BANDS, NOT_APPLICABLE
from safeguarding.helpline.stats import Facts, breakdowns, load_facts, parse_by
from safeguarding.store import Store
from tests.helpline.intruder import FOUND, NOT_FOUND, UNRECORDED, exposures
from tests.helpline.test_stats import KEYS

# Synthetic contacts (96, 2021-2023) whose 2022 and 2023 totals the age-band table withholds,
# while 2023's contacts fall in two months of 12 each.
LINKED = Path(__file__).parent.parent / "data" / "helpline-linked-tables.csv"


@pytest.fixture
def found(store: Store) -> PublishedSet:
    with store.session() as session:
        import_file(session, LINKED, KEYS)
    with store.session() as session:
        facts = load_facts(session)
    return published_set(facts, 10)


def _ages_and_months_intervals(
    ages: ProtectedTable, months: ProtectedTable, column: int
) -> dict[tuple[int, int], tuple[float, float]]:
    """An intruder with both tables: every published number, every row and column sum of the
    age-band × year table, the months adding up to the latest year's total, withheld counts at
    least 1. Returns each withheld age-band × year value's feasible interval."""
    grid = [[*cells, total] for cells, total in zip(ages.cells, ages.row_totals, strict=True)]
    grid.append([*ages.col_totals, ages.total])
    n_rows, n_cols = len(grid), len(grid[0])
    month_values = [cells[0] for cells in months.cells] + [months.total]
    unknown = [(i, j) for i in range(n_rows) for j in range(n_cols) if grid[i][j] is None]
    unknown_months = [k for k, v in enumerate(month_values) if v is None]
    index = {cell: k for k, cell in enumerate(unknown)}
    month_index = {k: len(unknown) + m for m, k in enumerate(unknown_months)}
    size = len(unknown) + len(unknown_months)
    rows, rhs = [], []

    def equation(terms: list[tuple[float, object]]) -> None:
        coefficients, constant = np.zeros(size), 0.0
        for sign, item in terms:
            if isinstance(item, tuple):
                value, position = grid[item[0]][item[1]], index.get(item)
            else:
                value, position = month_values[item], month_index.get(item)  # type: ignore[index]
            if value is None:
                coefficients[position] += sign
            else:
                constant -= sign * value
        if np.any(coefficients):
            rows.append(coefficients)
            rhs.append(constant)

    for i in range(n_rows):
        equation([(1.0, (i, j)) for j in range(n_cols - 1)] + [(-1.0, (i, n_cols - 1))])
    for j in range(n_cols):
        equation([(1.0, (i, j)) for i in range(n_rows - 1)] + [(-1.0, (n_rows - 1, j))])
    last = len(month_values) - 1
    equation([(1.0, k) for k in range(last)] + [(-1.0, last)])
    equation([(1.0, last), (-1.0, (n_rows - 1, column))])
    intervals = {}
    for cell, k in index.items():
        objective = np.zeros(size)
        objective[k] = 1.0
        low = linprog(objective, A_eq=np.vstack(rows), b_eq=rhs, bounds=(1, None))
        high = linprog(-objective, A_eq=np.vstack(rows), b_eq=rhs, bounds=(1, None))
        assert low.status == 0
        intervals[cell] = (low.fun, np.inf if high.status == 3 else -high.fun)
    return intervals


def test_the_months_do_not_give_back_a_withheld_yearly_total(found: PublishedSet) -> None:
    """Twelve and twelve contacts in 2023's two months gave back 2023's total (24), and with it
    2022's, both withheld in the age-band table; every 2022 cell was then at most 7."""
    ages, months = found.ages.contacts, found.months.contacts
    column = ages.col_labels.index(str(found.latest))
    assert ages.col_totals[column] is None
    assert months.total is None and None in [cells[0] for cells in months.cells]
    counts = found.ages.counted.extended
    intervals = _ages_and_months_intervals(ages, months, column)
    for (i, j), (_, high) in intervals.items():
        if 0 < counts[i, j] < 10:
            assert high >= 10, ((i, j), intervals[(i, j)])


def test_the_api_tables_are_the_pages_own(found: PublishedSet) -> None:
    """Asked by year or by age band, the answer is the age-band table's margins, withheld where
    they are; a one-way table of a coded dimension shares only the grand total with it."""
    ages = found.ages.contacts
    by_year = published_tables(found, ("year",))[0]
    assert [c[0] for c in by_year.cells] == list(ages.col_totals)
    by_age = published_tables(found, ("age_band",))[0]
    assert [c[0] for c in by_age.cells] == list(ages.row_totals)
    assert by_year.total == by_age.total == ages.total
    status = by_year.as_dict()["disclosure_control"]["status"]
    assert [row[0] for row in status[:-1]] == [
        "withheld" if v is None else "published" for v in ages.col_totals
    ]
    assert published_tables(found, ("year", "age_band"))[0] is ages
    for name in ("channel", "gender", "caller_type"):
        contacts = published_tables(found, (name,))[0]
        assert contacts.total == ages.total


@pytest.mark.parametrize("by", [("gender", "year"), ("channel", "gender"), ("month", "age_band")])
def test_other_two_way_tables_are_not_published(found: PublishedSet, by: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError, match="are not published; published: age_band,year"):
        published_tables(found, by)
    assert ",".join(by) not in PUBLISHED_BY


def test_protected_apart_the_months_would_give_the_years_away(found: PublishedSet) -> None:
    """The intruder above is real: with the month table protected on its own, a small 2022
    count is seen to be small."""
    of_latest = found.facts.for_years([found.latest])
    alone = breakdowns(of_latest, ("month",), min_cell=10).contacts
    assert alone.total == 24
    ages = found.ages.contacts
    column = ages.col_labels.index(str(found.latest))
    intervals = _ages_and_months_intervals(ages, alone, column)
    counts = found.ages.counted.extended
    small = [cell for cell in intervals if 0 < counts[cell] < 10]
    assert any(intervals[cell][1] < 10 for cell in small)


# ------------------------------------------------------------------------- the whole set at once

SELF = "self_concerned"
CALLERS = (
    (SELF, "viewing_csam"),
    (SELF, "feelings_no_offence"),
    (SELF, "unknown"),
    ("relative_partner", NOT_APPLICABLE),
    ("professional", NOT_APPLICABLE),
    ("other", NOT_APPLICABLE),
)
# Groups of contacts alike in every coded field the tables count; a group counts 1-12 contacts
# (small, to be withheld) or 15-90.
GROUPS = st.lists(
    st.tuples(
        st.sampled_from([(2023, 5), (2024, 1), (2024, 2), (2024, 3)]),
        st.sampled_from(AGE_BANDS),
        st.sampled_from(CALLERS),
        st.sampled_from(["first", "repeat", "unknown"]),
        st.booleans(),
        st.sampled_from(["phone", "chat"]),
        st.sampled_from([UNRECORDED, NOT_FOUND, FOUND]),
        st.sampled_from([UNRECORDED, NOT_FOUND, FOUND]),
        st.one_of(st.integers(1, 12), st.integers(15, 90)),
    ),
    min_size=2,
    max_size=12,
)


def _facts(groups: list[tuple[Any, ...]]) -> Facts:
    """The facts the store would give for these groups of contacts (``load_facts``)."""
    contacts: list[dict[str, Any]] = []
    factors: list[tuple[int, str]] = []
    needs: list[tuple[int, str]] = []
    for g, (period, age, caller, kind, token, channel, porn, asks, n) in enumerate(groups):
        for i in range(n):
            contact_id = len(contacts) + 1
            contacts.append(
                {
                    "id": contact_id,
                    "year": period[0],
                    "month": period[1],
                    "channel": channel,
                    "contact_kind": kind,
                    "caller_key": f"caller-{g}-{i % 3}" if token else None,
                    "caller_type": caller[0],
                    "concern": caller[1],
                    "age_band": age,
                    "gender": "unknown",
                    "risk_factors_recorded": porn != UNRECORDED,
                    "help_needs_recorded": asks != UNRECORDED,
                    "action": "unknown",
                    "referral": "unknown",
                    "synthetic": True,
                }
            )
            if porn == FOUND:
                factors.append((contact_id, "escalating_pornography"))
            if asks == FOUND:
                needs.append((contact_id, "wants_to_stop"))
    text = {"channel", "contact_kind", "caller_key", "caller_type", "concern", "age_band"}
    schema: dict[str, Any] = {
        name: pl.String if name in text | {"gender", "action", "referral"} else pl.Int64
        for name in ("id", "year", "month", *text, "gender", "action", "referral")
    } | {flag: pl.Boolean for flag in ("risk_factors_recorded", "help_needs_recorded", "synthetic")}
    return Facts(
        contacts=pl.DataFrame(contacts, schema=schema),
        risk_factors=pl.DataFrame(
            factors, schema={"contact_id": pl.Int64, "factor": pl.String}, orient="row"
        ),
        help_needs=pl.DataFrame(
            needs, schema={"contact_id": pl.Int64, "need": pl.String}, orient="row"
        ),
    )


def answers(found: PublishedSet) -> dict[str, dict[str, Any]]:
    """Every answer of the statistics API for the set, as it sends them."""
    sent = {}
    for by in PUBLISHED_BY:
        try:
            result = published_stats(found, parse_by(by))
        except ValidationError:  # a one-way table the set does not publish
            continue
        sent[by] = {"min_cell": found.min_cell, **result.as_dict()}
    return sent


@settings(max_examples=30, deadline=None)
@given(GROUPS)
def test_no_withheld_count_follows_from_every_table_of_the_set(groups: list[Any]) -> None:
    """An intruder with every answer of the API (the page's and the monitor's tables among
    them) and the rules of the contact report pins no withheld count down and shows none to
    be small (``tests/helpline/intruder.py``)."""
    facts = _facts(groups)
    assert exposures(answers(published_set(facts, 10)), facts) == []
