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
- a one-way table of a coded dimension shares the grand total with the age-band table, and is
  published only where both publish it: withheld, its published cells would be a floor under
  it, which the age-band table's protection does not know;
- the tables by caller type and by concern are the two margins of one protected caller type ×
  concern table. Only a self-concerned caller's concern is coded (every other caller's is
  ``not_applicable``), so ``not_applicable`` is the sum of the other caller types, and each
  concern count is a part of the self-concerned count: protected apart, the two tables gave
  back each other's withheld cells;
- the young/older comparisons, and the count of contacts no caller can be tied to, count a part
  of the contacts of every table in the set, so they are checked against all of them, one-way
  tables included (``compare_young_older(..., beside=...)``, ``published_unattributed``);
- no other two-way table is published (its margins would be the one-way tables, protected apart).

Every table of the set is computed at once, whichever one a request asks for: what one answer
withholds, another must not give back, and a reader may ask for them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from safeguarding.disclosure.suppression import ProtectedTable
from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.helpline.stats import (
    INDICATORS,
    Breakdown,
    CountedContacts,
    Facts,
    HelplineStats,
    ShareComparison,
    breakdowns,
    compare_young_older,
    published_unattributed,
)

AGES = ("age_band", "year")
ONE_WAY = ("channel", "contact_kind", "caller_type", "concern", "gender", "action", "referral")
# One-way tables published as the margins of one two-way table (see the module docstring).
LINKED_BY_SCHEMA = ("caller_type", "concern")
PUBLISHED_BY = ("age_band,year", "age_band", "year", "month", *ONE_WAY)


@dataclass(frozen=True)
class PublishedSet:
    """The tables of the set that do not depend on a request (see the module docstring)."""

    facts: Facts
    min_cell: int
    ages: Breakdown
    latest: int
    months: Breakdown
    one_way: Mapping[str, tuple[ProtectedTable, ProtectedTable]]
    comparisons: tuple[ShareComparison, ...]
    unattributed_contacts: int | None


def published_set(facts: Facts, min_cell: int) -> PublishedSet:
    """The age-band × year tables, the latest year's months, the one-way tables, the comparisons
    and the unattributed count, protected together (see the module docstring)."""
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
    one_way, one_way_counted = (
        ({}, []) if ages.counted.withheld[-1, -1] else _one_way_tables(facts, min_cell)
    )
    beside = (ages.counted, months.counted, *one_way_counted)
    comparisons = tuple(
        compare_young_older(of_latest, name, min_cell=min_cell, beside=beside)
        for name in INDICATORS
    )
    return PublishedSet(
        facts=facts,
        min_cell=min_cell,
        ages=ages,
        latest=latest,
        months=months,
        one_way=one_way,
        comparisons=comparisons,
        unattributed_contacts=published_unattributed(facts.contacts, min_cell, beside),
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


def _one_way_tables(
    facts: Facts, min_cell: int
) -> tuple[dict[str, tuple[ProtectedTable, ProtectedTable]], list[CountedContacts]]:
    """The contacts and callers tables of every one-way dimension the set publishes, and their
    counts for the checks of the parts published beside them. A table that would need the
    grand total withheld, which the age-band table publishes, is left out."""
    tables: dict[str, tuple[ProtectedTable, ProtectedTable]] = {}
    counted: list[CountedContacts] = []
    groups = [(name,) for name in ONE_WAY if name not in LINKED_BY_SCHEMA]
    for by in (*groups, LINKED_BY_SCHEMA):
        found = breakdowns(facts, by, min_cell=min_cell)
        if found.counted.withheld[-1, -1]:
            continue
        counted.append(found.counted)
        if len(by) == 1:
            tables[by[0]] = (found.contacts, found.callers)
            continue
        for axis, name in enumerate(by):
            contacts = margin(found.contacts, axis, "contacts", name)
            tables[name] = (contacts, margin(found.callers, axis, "callers", name))
    return tables, counted


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
    if by[0] not in found.one_way:
        raise ValidationError(
            f"contacts by {by[0]} are not published: protecting them would need the grand "
            "total withheld, which the other tables of the set cannot allow for",
            location="by",
            rule="published tables",
        )
    return found.one_way[by[0]]


def published_stats(found: PublishedSet, by: tuple[str, ...]) -> HelplineStats:
    """One answer of the set (``GET /api/helpline/stats?by=...``): the tables by ``by``, with
    the comparisons and the unattributed count every answer shares."""
    return HelplineStats(
        synthetic=found.facts.synthetic,
        tables=published_tables(found, by),
        comparisons=found.comparisons,
        unattributed_contacts=found.unattributed_contacts,
        caveats=(
            f"cells below {found.min_cell} and the cells that would reveal them are withheld",
            f"the young/older comparisons count the contacts of {found.latest}",
            "every table is the statistics page's own, protected with the others",
        ),
    )


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
