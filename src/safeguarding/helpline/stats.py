"""Statistics of helpline contacts, every table under disclosure control.

What is counted, and in which unit:

- **contacts**: every coded contact;
- **callers** (estimated unique people, counted once per year): distinct caller tokens, plus first
  contacts without a token. Repeat contacts without a token belong to a caller already counted;
  contacts without a token and without first/repeat coding cannot be attributed and are reported
  separately. A caller is described by their first contact of the year.

Shares compare young self-concerned callers (26 or younger, and under 18) with older ones, at the
level of contacts: the share of contacts recording escalating pornography use (stated or
assessed) among contacts whose risk factors were recorded, and the share asking for help (wanting
to stop, treatment or crisis support) among contacts whose help needs were recorded. Each share
has a 95% Wilson score interval.

Only coded columns are read (``FACT_COLUMNS``); the note table is never queried here. Every table
goes through ``disclosure.protect_table`` (minimum cell size, secondary suppression, optional
rounding) or, for repeatedly queried dashboards, through ``disclosure.dp`` with the budget ledger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.disclosure.suppression import (
    DEFAULT_MIN_CELL,
    ProtectedTable,
    extend,
    protect_table,
)
from safeguarding.errors import ConfigError
from safeguarding.helpline.schema import (
    AGE_BAND_LABELS,
    ASKING_FOR_HELP,
    Action,
    AgeBand,
    CallerType,
    Channel,
    Concern,
    ContactKind,
    Gender,
    Referral,
)
from safeguarding.store.models.helpline import (
    HelplineContactRow,
    HelplineHelpNeedRow,
    HelplineRiskFactorRow,
)

Z_95 = 1.959963984540054

# The coded columns statistics may read. The note lives in another table and is not among them.
FACT_COLUMNS = (
    HelplineContactRow.id,
    HelplineContactRow.year,
    HelplineContactRow.month,
    HelplineContactRow.channel,
    HelplineContactRow.contact_kind,
    HelplineContactRow.caller_key,
    HelplineContactRow.caller_type,
    HelplineContactRow.concern,
    HelplineContactRow.age_band,
    HelplineContactRow.gender,
    HelplineContactRow.risk_factors_recorded,
    HelplineContactRow.help_needs_recorded,
    HelplineContactRow.action,
    HelplineContactRow.referral,
    HelplineContactRow.synthetic,
)

# Dimensions a table may be broken down by, with their categories in display order.
DIMENSIONS: dict[str, tuple[str, ...] | None] = {
    "year": None,
    "month": None,
    "channel": get_args(Channel),
    "contact_kind": get_args(ContactKind),
    "caller_type": get_args(CallerType),
    "concern": get_args(Concern),
    "age_band": get_args(AgeBand),
    "gender": get_args(Gender),
    "action": get_args(Action),
    "referral": get_args(Referral),
}

# A partition of the contacts of known age; "≤26" is derived from it (see ``_derived_young``).
AGE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("<18", ("under_18",)),
    ("18–26", ("18_21", "22_26")),
    ("27+", ("27_35", "36_plus")),
)
YOUNG = "≤26"


def min_cell_setting(options: Mapping[str, Any]) -> int:
    """``[helpline] min_cell`` (default 10), checked. Every helpline table the command line, the
    web app and the monitor publish is protected with it, so a value that cannot be a cell size
    is refused, never replaced: a stricter ``20.0`` read as the default would weaken the
    protection without a word, and ``true`` (a ``bool``, which Python counts as an ``int``)
    would be 1 and withhold nothing."""
    value = options.get("min_cell", DEFAULT_MIN_CELL)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"[helpline] min_cell = {value!r}: must be a whole number of at least 1")
    return value


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion ``successes / trials``."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError("successes must lie between 0 and the number of trials")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Facts:
    """Coded contacts and their multi-selects as data frames; no free text anywhere."""

    contacts: pl.DataFrame
    risk_factors: pl.DataFrame
    help_needs: pl.DataFrame

    @property
    def synthetic(self) -> bool:
        return bool(self.contacts.height) and bool(self.contacts["synthetic"].any())

    def for_years(self, years: Sequence[int]) -> Facts:
        """Only the contacts of ``years`` (and their multi-selects)."""
        contacts = self.contacts.filter(pl.col("year").is_in(list(years)))
        ids = contacts["id"]
        return Facts(
            contacts=contacts,
            risk_factors=self.risk_factors.filter(pl.col("contact_id").is_in(ids.to_list())),
            help_needs=self.help_needs.filter(pl.col("contact_id").is_in(ids.to_list())),
        )


def load_facts(session: Session) -> Facts:
    """Read the coded columns of every contact (and nothing else) from the store."""
    names = [column.key for column in FACT_COLUMNS]
    contact_rows = session.execute(select(*FACT_COLUMNS)).all()
    contacts = pl.DataFrame(
        [tuple(row) for row in contact_rows], schema=_contact_schema(names), orient="row"
    )
    factor_rows = session.execute(
        select(HelplineRiskFactorRow.contact_id, HelplineRiskFactorRow.factor)
    ).all()
    need_rows = session.execute(
        select(HelplineHelpNeedRow.contact_id, HelplineHelpNeedRow.need)
    ).all()
    return Facts(
        contacts=contacts,
        risk_factors=pl.DataFrame(
            [tuple(r) for r in factor_rows],
            schema={"contact_id": pl.Int64, "factor": pl.String},
            orient="row",
        ),
        help_needs=pl.DataFrame(
            [tuple(r) for r in need_rows],
            schema={"contact_id": pl.Int64, "need": pl.String},
            orient="row",
        ),
    )


def _contact_schema(names: Sequence[str]) -> dict[str, Any]:
    types: dict[str, Any] = {"id": pl.Int64, "year": pl.Int64, "month": pl.Int64}
    for flag in ("risk_factors_recorded", "help_needs_recorded", "synthetic"):
        types[flag] = pl.Boolean
    return {name: types.get(name, pl.String) for name in names}


def _with_period(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.format("{}-{}", pl.col("year"), pl.col("month").cast(pl.String).str.zfill(2)).alias(
            "period_month"
        ),
        pl.col("year").cast(pl.String).alias("period_year"),
    )


def callers(contacts: pl.DataFrame) -> pl.DataFrame:
    """One row per estimated caller and year: the caller's first contact of that year."""
    attributable = contacts.filter(
        pl.col("caller_key").is_not_null() | (pl.col("contact_kind") == "first")
    ).with_columns(
        pl.coalesce(pl.col("caller_key"), pl.format("contact-{}", pl.col("id"))).alias("caller")
    )
    return (
        attributable.sort(["year", "month", "id"])
        .group_by(["caller", "year"], maintain_order=True)
        .first()
    )


def _unattributed(contacts: pl.DataFrame) -> pl.DataFrame:
    return contacts.filter(pl.col("caller_key").is_null() & (pl.col("contact_kind") == "unknown"))


def unattributed(contacts: pl.DataFrame) -> int:
    """Contacts that can be tied to no caller: no token and no first/repeat coding."""
    return _unattributed(contacts).height


def published_unattributed(
    contacts: pl.DataFrame, min_cell: int, beside: Sequence[CountedContacts]
) -> int | None:
    """The count of unattributed contacts as it may be published beside the tables ``beside``,
    or None: withheld where it is small, and where it would be a floor under a count withheld
    in one of them (``_floor_raised``). They all lie in the ``unknown`` row of a table by
    contact kind, so beside one that withholds that row they would give it back, and with it
    the small cell it was withheld for."""
    part = _unattributed(contacts)
    if 0 < part.height < min_cell or any(_floor_raised(part, within) for within in beside):
        return None
    return part.height


UNITS = {
    "contacts": "every coded contact",
    "callers": "estimated unique people, counted once per year",
}


def _categories(frame: pl.DataFrame, dimension: str) -> tuple[str, ...]:
    column = {"year": "period_year", "month": "period_month"}.get(dimension, dimension)
    observed = set(frame[column].to_list()) if frame.height else set()
    order = DIMENSIONS[dimension]
    if order is None:
        return tuple(sorted(observed))
    return tuple(value for value in order if value in observed)


def release_categories(dimension: str, years: Sequence[int]) -> tuple[str, ...]:
    """The categories a differentially private release shows for ``dimension``: all of a coded
    dimension's values, and the requested ``years`` (or their months) for time. None may come
    from the data: a row that exists because one contact does says so whatever the noise."""
    if dimension == "year":
        return tuple(str(year) for year in sorted(set(years)))
    if dimension == "month":
        return tuple(f"{year}-{month:02d}" for year in sorted(set(years)) for month in range(1, 13))
    order = DIMENSIONS[dimension]
    if order is None:
        raise ValueError(f"no fixed categories for {dimension}")
    return order


def category_label(dimension: str, value: str) -> str:
    """How a category is shown: age bands as ``<18``, ``18–21`` ...; other codes as they are."""
    return AGE_BAND_LABELS[value] if dimension == "age_band" else value


def count_matrix(
    frame: pl.DataFrame,
    by: Sequence[str],
    categories: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> tuple[NDArray[np.int64], tuple[str, ...], tuple[str, ...]]:
    """Counts of rows of ``frame`` by one or two dimensions, as a matrix with its categories
    (those of ``frame``, or the given ``categories`` of a table it is a part of)."""
    frame = _with_period(frame)
    columns = [{"year": "period_year", "month": "period_month"}.get(d, d) for d in by]
    if categories is not None:
        rows, cols = categories
    else:
        rows = _categories(frame, by[0])
        cols = _categories(frame, by[1]) if len(by) == 2 else ("count",)
    matrix = np.zeros((len(rows), len(cols)), dtype=np.int64)
    if frame.height:
        grouped = frame.group_by(columns).len()
        row_index = {value: i for i, value in enumerate(rows)}
        col_index = {value: j for j, value in enumerate(cols)}
        for record in grouped.iter_rows():
            j = col_index[record[1]] if len(by) == 2 else 0
            matrix[row_index[record[0]], j] = record[-1]
    return matrix, rows, cols


def parse_by(text: str) -> tuple[str, ...]:
    """``"age_band,year"`` as a checked tuple of one or two known dimensions."""
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    if not 1 <= len(parts) <= 2:
        raise ValueError("give one or two dimensions, e.g. age_band,year")
    unknown = [p for p in parts if p not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension {unknown[0]}; known: {', '.join(DIMENSIONS)}")
    if len(set(parts)) != len(parts):
        raise ValueError("a dimension is given twice")
    return parts


@dataclass(frozen=True)
class CountedContacts:
    """A contacts table as counted, and which of its values are withheld: what a table of a part
    of the same contacts is checked against before it is published beside it."""

    by: tuple[str, ...]
    categories: tuple[tuple[str, ...], tuple[str, ...]]
    extended: NDArray[np.int64]
    withheld: NDArray[np.bool_]


@dataclass(frozen=True)
class Breakdown:
    """Contacts and callers by the same dimensions, protected together (``breakdowns``)."""

    contacts: ProtectedTable
    callers: ProtectedTable
    counted: CountedContacts


def breakdowns(
    facts: Facts,
    by: Sequence[str],
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    rounding_base: int | None = None,
    withhold: NDArray[np.bool_] | None = None,
    withhold_total: bool = False,
) -> Breakdown:
    """Contacts and callers by one or two dimensions, under disclosure control as linked tables.

    A caller is counted in the cell of one of their contacts, so each callers count is a part of
    the contacts count in the same place. Published beside a withheld contacts count, it would
    be a floor under it (22–26: x contacts, 11 callers says at least 11 contacts), and through
    the contacts table's totals a ceiling on the cells withheld with it. So every callers value
    is withheld where the contacts value is, zeros too (a published 0 lets the rest of its line
    bound the other cells), before the callers table's own suppression runs. ``withhold``
    names contacts values a table published beside these needs withheld (``suppress``), and
    ``withhold_total`` its grand total (in a one-way table also the column total, the same
    number).
    """
    dims = tuple(by)
    matrix, rows, cols = count_matrix(facts.contacts, dims)
    if matrix.size == 0:
        # Nothing to count: one zero cell rather than an empty table.
        rows, cols = ("none",), ("count",)
        matrix = np.zeros((1, 1), dtype=np.int64)
        part = matrix
    else:
        part, _, _ = count_matrix(callers(facts.contacts), dims, (rows, cols))
    row_labels = [category_label(dims[0], r) for r in rows]

    def table(counts: NDArray[np.int64], unit: str, withhold: Any = None) -> ProtectedTable:
        col_labels = [category_label(dims[1], c) for c in cols] if len(dims) == 2 else [unit]
        return protect_table(
            counts,
            row_labels,
            col_labels,
            title=f"{unit} by {' and '.join(dims)}",
            unit=UNITS[unit],
            min_cell=min_cell,
            rounding_base=rounding_base,
            withhold=withhold,
        )

    if withhold_total:
        withhold = np.zeros(extend(matrix).shape, dtype=bool) if withhold is None else withhold
        withhold[-1, -1] = True
        if len(dims) == 1:
            withhold[-1, 0] = True
    contacts = table(matrix, "contacts", withhold)
    withheld = np.array([[s != "published" for s in row] for row in contacts.status])
    counted = CountedContacts(dims, (rows, cols), extend(matrix), withheld)
    return Breakdown(contacts, table(part, "callers", withheld), counted)


def _covered(part: pl.DataFrame, within: CountedContacts) -> pl.DataFrame:
    """The contacts of ``part`` that fall in a category of each dimension of ``within``."""
    periods = _with_period(part)
    keep = pl.lit(True)
    for dimension, values in zip(within.by, within.categories, strict=False):
        column = {"year": "period_year", "month": "period_month"}.get(dimension, dimension)
        keep = keep & pl.col(column).is_in(list(values))
    return part.filter(periods.select(keep.alias("keep"))["keep"])


def _floor_raised(part: pl.DataFrame, within: CountedContacts) -> bool:
    """Whether publishing the size of ``part`` (some of the contacts counted in ``within``)
    would tell a reader more than that a withheld count of ``within`` is at least 1.

    The part's contacts lie in the cells they occupy, so its size less the published and
    withheld counts of the other occupied cells is a floor under each withheld one. The floor
    is computed with the true counts of the other withheld cells, which no reader has and
    which only raise it: a part whose floor is at most 1 everywhere adds nothing to what zeros
    being published already say. Row totals, column totals and the grand total are checked
    the same way. Contacts of the part that ``within`` does not count (another year than a
    month table's) are left out: they lie in cells of at least their own number outside it,
    so leaving both out raises the floor too.
    """
    part = _covered(part, within)
    size = part.height
    if size < 2:
        return False
    occupied = extend(count_matrix(part, within.by, within.categories)[0]) > 0
    rows, cols = within.extended.shape
    views = (
        (slice(0, rows - 1), slice(0, cols - 1)),
        (slice(0, rows - 1), slice(cols - 1, cols)),
        (slice(rows - 1, rows), slice(0, cols - 1)),
        (slice(rows - 1, rows), slice(cols - 1, cols)),
    )
    for view in views:
        held = occupied[view]
        counts = within.extended[view]
        others = int(counts[held].sum())
        floors = size - (others - counts)
        if np.any(held & within.withheld[view] & (floors >= 2)):
            return True
    return False


@dataclass(frozen=True)
class ShareRow:
    """One group's share with its interval, or why it is withheld."""

    group: str
    numerator: int | None
    denominator: int | None
    share: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()


@dataclass(frozen=True)
class ShareComparison:
    """An indicator compared across age groups, with the protected table it was computed from."""

    indicator: str
    population: str
    rows: tuple[ShareRow, ...]
    table: ProtectedTable

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator,
            "population": self.population,
            "interval": "95% Wilson score",
            "groups": [row.as_dict() for row in self.rows],
            "table": self.table.as_dict(),
        }


def _share(group: str, yes: int | None, total: int | None) -> ShareRow:
    if yes is None or total is None or total == 0:
        return ShareRow(group, yes, total, None, None, None)
    low, high = wilson_interval(min(yes, total), total)
    return ShareRow(group, yes, total, yes / total, low, high)


def _derived_young(table: ProtectedTable) -> tuple[int | None, int | None]:
    """The ≤26 row (with, of), only where it follows from published values anyway."""
    under_18, young_adult, older = range(3)

    def column(values: Sequence[int | None], total: int | None) -> int | None:
        first, second, rest = values[under_18], values[young_adult], values[older]
        if first is not None and second is not None:
            return first + second
        if total is not None and rest is not None:
            return total - rest
        return None

    yes = column([row[0] for row in table.cells], table.col_totals[0])
    return yes, column(list(table.row_totals), table.total)


def compare_young_older(
    facts: Facts,
    indicator: str,
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    rounding_base: int | None = None,
    beside: Sequence[CountedContacts] = (),
) -> ShareComparison:
    """Share of contacts with ``indicator`` by age group, among self-concerned callers.

    The compared contacts are a part of the contacts of the tables published ``beside`` it. An
    age group's counts (and the totals over the groups) are withheld where their size would be
    a floor under a count withheld there (``_floor_raised``): 72 contacts aged 18–26 compared
    beside 60 aged 18–21 say that the withheld 22–26 count is at least 12.
    """
    contacts = facts.contacts.filter(pl.col("caller_type") == "self_concerned")
    if indicator == "escalating_pornography":
        eligible = contacts.filter(pl.col("risk_factors_recorded"))
        hits = set(
            facts.risk_factors.filter(pl.col("factor") == "escalating_pornography")[
                "contact_id"
            ].to_list()
        )
        population = "contacts by self-concerned callers of known age with risk factors recorded"
    elif indicator == "asking_for_help":
        eligible = contacts.filter(pl.col("help_needs_recorded"))
        hits = set(
            facts.help_needs.filter(pl.col("need").is_in(sorted(ASKING_FOR_HELP)))[
                "contact_id"
            ].to_list()
        )
        population = "contacts by self-concerned callers of known age with help needs recorded"
    else:
        raise ValueError(f"unknown indicator {indicator}")
    flagged = eligible.with_columns(pl.col("id").is_in(sorted(hits)).alias("hit"))
    matrix = np.zeros((len(AGE_GROUPS), 2), dtype=np.int64)
    withhold = np.zeros((len(AGE_GROUPS) + 1, 3), dtype=bool)
    groups = []
    for i, (_, bands) in enumerate(AGE_GROUPS):
        group = flagged.filter(pl.col("age_band").is_in(bands))
        groups.append(group)
        matrix[i, 0] = group.filter(pl.col("hit")).height
        matrix[i, 1] = group.height - matrix[i, 0]
    compared = pl.concat(groups)
    for within in beside:
        for i, group in enumerate(groups):
            withhold[i] |= _floor_raised(group, within)
        withhold[-1] |= _floor_raised(compared, within)
    # A group is withheld for its size; a 0 in it is no floor under anything, and is published
    # as every other 0 is (a withheld 0 could lie on no cycle of positive cells).
    withhold &= extend(matrix) > 0
    table = protect_table(
        matrix,
        [name for name, _ in AGE_GROUPS],
        ["yes", "no"],
        title=f"{indicator} by age group",
        unit="contacts",
        min_cell=min_cell,
        rounding_base=rounding_base,
        withhold=withhold,
    )
    rows = [
        _share(name, table.cells[i][0], table.row_totals[i])
        for i, (name, _) in enumerate(AGE_GROUPS)
    ]
    rows.insert(2, _share(YOUNG, *_derived_young(table)))
    return ShareComparison(indicator, population, tuple(rows), table)


@dataclass(frozen=True)
class HelplineStats:
    """What ``helpline stats`` reports: tables in both units and the young/older comparisons."""

    synthetic: bool
    tables: tuple[ProtectedTable, ...]
    comparisons: tuple[ShareComparison, ...]
    unattributed_contacts: int | None
    caveats: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "data": "SYNTHETIC sample data" if self.synthetic else "recorded contacts",
            "tables": [t.as_dict() for t in self.tables],
            "comparisons": [c.as_dict() for c in self.comparisons],
            "unattributed_contacts": self.unattributed_contacts,
            "caveats": list(self.caveats),
        }


INDICATORS = ("escalating_pornography", "asking_for_help")


def helpline_stats(
    facts: Facts,
    by: Sequence[str] = ("year",),
    *,
    min_cell: int = DEFAULT_MIN_CELL,
    rounding_base: int | None = None,
) -> HelplineStats:
    """Contacts and callers by ``by``, and the young/older comparisons, all protected."""
    found = breakdowns(facts, by, min_cell=min_cell, rounding_base=rounding_base)
    comparisons = tuple(
        compare_young_older(
            facts,
            name,
            min_cell=min_cell,
            rounding_base=rounding_base,
            beside=(found.counted,),
        )
        for name in INDICATORS
    )
    caveats = [
        f"cells below {min_cell} and the cells that would reveal them are withheld",
    ]
    if rounding_base:
        caveats.append(f"published counts rounded to base {rounding_base}; totals may not add up")
    return HelplineStats(
        synthetic=facts.synthetic,
        tables=(found.contacts, found.callers),
        comparisons=comparisons,
        unattributed_contacts=published_unattributed(facts.contacts, min_cell, (found.counted,)),
        caveats=tuple(caveats),
    )
