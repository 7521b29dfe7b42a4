"""The helpline tables researchers see, protected together.

The monitor report, the statistics page and the statistics API publish one set of tables:
contacts and estimated callers by age band and year, whose margins are the yearly and the
age-band totals; contacts per month of the latest year; the young/older comparisons of that year;
and one-way tables of a coded dimension (channel, caller type, ...). Tables protected each on its
own would give each other away: the months of a year add up to the year's total, so twelve
published months return a yearly total that the age-band table withholds, and a table by year
asked for on its own would publish what that table withholds. So:

- the yearly and age-band totals are read from the margins of the one age-band × year table;
- the month table is protected as if its total were published, so that a small month can rise
  among the other months alone. Where the age-band table withholds that year's total, the months
  withhold it too, with months enough that it can still fall by ``min_cell - 1`` (``_months``):
  the published months are a floor under it. Where the month table needs its total withheld,
  the age-band table is protected again with it;
- a one-way table of a coded dimension withholds its total where the age-band table withholds
  the grand total, and is not published where it would need the grand total withheld itself;
- no other two-way table is published (its margins would be the one-way tables, protected apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeguarding.disclosure.suppression import ProtectedTable
from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.helpline.stats import (
    INDICATORS,
    Breakdown,
    Facts,
    ShareComparison,
    breakdowns,
    compare_young_older,
    unattributed,
)

AGES = ("age_band", "year")
ONE_WAY = ("channel", "contact_kind", "caller_type", "concern", "gender", "action", "referral")
PUBLISHED_BY = ("age_band,year", "age_band", "year", "month", *ONE_WAY)


@dataclass(frozen=True)
class PublishedSet:
    """The tables of the set that do not depend on a request (see the module docstring)."""

    facts: Facts
    min_cell: int
    ages: Breakdown
    latest: int
    months: Breakdown
    comparisons: tuple[ShareComparison, ...]
    unattributed_contacts: int | None


def published_set(facts: Facts, min_cell: int) -> PublishedSet:
    """The age-band × year tables, the latest year's months and comparisons, protected together."""
    if facts.contacts.height == 0:
        raise NotFoundError("no helpline contacts in the store")
    latest = int(facts.contacts["year"].max())  # type: ignore[arg-type]
    of_latest = facts.for_years([latest])
    forced_ages = None
    while True:
        ages = breakdowns(facts, AGES, min_cell=min_cell, withhold=forced_ages)
        column = ages.counted.categories[1].index(str(latest))
        year_withheld = bool(ages.counted.withheld[-1, column])
        months = _months(of_latest, min_cell, year_withheld=year_withheld)
        if year_withheld or not months.counted.withheld[-1, -1]:
            break
        forced_ages = np.zeros_like(ages.counted.withheld)
        forced_ages[-1, column] = True
    comparisons = tuple(
        compare_young_older(
            of_latest, name, min_cell=min_cell, beside=(ages.counted, months.counted)
        )
        for name in INDICATORS
    )
    count = unattributed(facts.contacts)
    return PublishedSet(
        facts=facts,
        min_cell=min_cell,
        ages=ages,
        latest=latest,
        months=months,
        comparisons=comparisons,
        unattributed_contacts=None if 0 < count < min_cell else count,
    )


def _months(of_latest: Facts, min_cell: int, *, year_withheld: bool) -> Breakdown:
    """The latest year's contacts by month, protected as if their total were published, so
    that a small month can rise to ``min_cell`` among the other months alone.

    Where the age-band table withholds the year's total, the months withhold it too, and with
    it enough months that the total can still fall by ``min_cell - 1``: a withheld month is at
    least 1, so the published months and one per withheld month are a floor under the year's
    total, and the age-band table's protection may need that total to fall (when a small count
    of another year rises to the minimum, the grand total staying as it is). The months picked
    are the smallest that make up the shortfall."""
    alone = breakdowns(of_latest, ("month",), min_cell=min_cell)
    if not year_withheld:
        return alone
    withhold = alone.counted.withheld.copy()
    counts = alone.counted.extended[:-1, 0]
    short = min_cell - 1 - sum(int(n) - 1 for n in counts[withhold[:-1, 0]])
    spare = [i for i, n in enumerate(counts) if not withhold[i, 0] and n > 1]
    while short > 0 and spare:
        by_size = sorted(spare, key=lambda i: int(counts[i]))
        pick = next((i for i in by_size if counts[i] - 1 >= short), by_size[-1])
        withhold[pick] = True
        spare.remove(pick)
        short -= int(counts[pick]) - 1
    return breakdowns(
        of_latest, ("month",), min_cell=min_cell, withhold=withhold, withhold_total=True
    )


def check_published(by: tuple[str, ...]) -> None:
    """Refuse a breakdown the set does not publish, naming those it does."""
    if set(by) == set(AGES) or (len(by) == 1 and by[0] in PUBLISHED_BY):
        return
    raise ValidationError(
        f"contacts by {','.join(by)} are not published; published: {', '.join(PUBLISHED_BY)} "
        "(other two-way tables would share margins with these, protected apart)",
        location="by",
        rule="published tables",
    )


def published_tables(found: PublishedSet, by: tuple[str, ...]) -> tuple[ProtectedTable, ...]:
    """The contacts and callers tables by ``by`` as the set publishes them."""
    check_published(by)
    if set(by) == set(AGES):
        return found.ages.contacts, found.ages.callers
    if by[0] in AGES:
        axis = AGES.index(by[0])
        contacts, callers = found.ages.contacts, found.ages.callers
        return margin(contacts, axis, "contacts", by[0]), margin(callers, axis, "callers", by[0])
    if by == ("month",):
        return found.months.contacts, found.months.callers
    total_withheld = bool(found.ages.counted.withheld[-1, -1])
    table = breakdowns(found.facts, by, min_cell=found.min_cell, withhold_total=total_withheld)
    if table.counted.withheld[-1, -1] and not total_withheld:
        raise ValidationError(
            f"contacts by {by[0]} are not published: protecting them would need the total "
            "withheld, which the age-band table publishes",
            location="by",
            rule="published tables",
        )
    return table.contacts, table.callers


def margin(table: ProtectedTable, axis: int, unit: str, dimension: str) -> ProtectedTable:
    """The row (``axis`` 0) or column (``axis`` 1) totals of a protected table as the one-way
    table of ``unit`` by ``dimension``, withheld where they are: the same numbers, never
    protected a second time."""
    if axis == 0:
        labels, values = table.row_labels, table.row_totals
        statuses = [row[-1] for row in table.status[:-1]]
    else:
        labels, values = table.col_labels, table.col_totals
        statuses = list(table.status[-1][:-1])
    corner = table.status[-1][-1]
    return ProtectedTable(
        title=f"{unit} by {dimension}",
        unit=table.unit,
        row_labels=labels,
        col_labels=(unit,),
        cells=tuple((value,) for value in values),
        row_totals=tuple(values),
        col_totals=(table.total,),
        total=table.total,
        status=(*((s, s) for s in statuses), (corner, corner)),
        min_cell=table.min_cell,
        rounding_base=table.rounding_base,
    )
