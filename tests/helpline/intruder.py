"""An intruder who holds every helpline table a researcher can see at once: each answer of the
statistics API (every ``by`` the set publishes), which also make up the statistics page and the
monitor report, and the rules of the contact report.

It writes every contact as a point of the joint space of the coded fields the tables count (year
and, in the latest year, month; age band; caller type with concern, where only a self-concerned
caller's concern is coded and every other caller's is ``not_applicable``; contact kind; whether
a caller token was given; channel, gender, action, referral; whether escalating pornography use
and asking for help were recorded, and found). Each published number is then a sum over the
points of that space, and so is each withheld one. The intruder knows every published number,
that counts are not negative, that a withheld count of a contact table is at least 1 (zeros are
published), and which values of each field occur (the rows of the tables show most of them).
For every withheld number it solves two linear programmes, the least and the greatest value the
published numbers allow, and reports a number pinned to one value or shown to lie below
``min_cell``. Callers tables are left out: each callers value is a part of a contacts value
(``helpline.stats.breakdowns``), and their own bounds are not carried over
(``docs/disclosure.md``).

Points that lie in the same published and withheld numbers are merged into one variable (an
exact reduction: a sum over them can be split among them in any way), which keeps the
programmes small. The bounds are those of the linear relaxation, which contain the bounds over
whole counts: what the intruder cannot pin down or show to be small, a search over whole counts
cannot either.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import linprog

from safeguarding.helpline.schema import AGE_BAND_LABELS, ASKING_FOR_HELP, NOT_APPLICABLE
from safeguarding.helpline.stats import AGE_GROUPS, Facts

ATTRIBUTES = (
    "year",
    "month",
    "age_band",
    "caller_type",
    "concern",
    "contact_kind",
    "token",
    "channel",
    "gender",
    "action",
    "referral",
    "escalating_pornography",
    "asking_for_help",
)
ONE_WAY = ("channel", "contact_kind", "caller_type", "concern", "gender", "action", "referral")
BAND_OF_LABEL = {label: band for band, label in AGE_BAND_LABELS.items()}
# An indicator per contact: -1 not recorded, 0 recorded and not found, 1 found.
UNRECORDED, NOT_FOUND, FOUND = -1, 0, 1


@dataclass(frozen=True)
class Count:
    """One number of a published table: where its contacts lie, and its value (None: withheld).
    ``positive``: withheld only when at least 1 (a contacts table publishes its zeros; a
    comparison or the unattributed count may withhold a 0 beside a table)."""

    label: str
    where: Mapping[str, frozenset[Any]]
    value: int | None
    positive: bool = True


def _contact_points(facts: Facts) -> pl.DataFrame:
    """Every contact as its point of the joint space (see the module docstring)."""
    latest = int(facts.contacts["year"].max())  # type: ignore[arg-type]
    porn = set(
        facts.risk_factors.filter(pl.col("factor") == "escalating_pornography")[
            "contact_id"
        ].to_list()
    )
    asking = set(
        facts.help_needs.filter(pl.col("need").is_in(sorted(ASKING_FOR_HELP)))["contact_id"]
    )

    def indicator(recorded: str, found: set[int]) -> pl.Expr:
        return (
            pl.when(~pl.col(recorded))
            .then(UNRECORDED)
            .when(pl.col("id").is_in(sorted(found)))
            .then(FOUND)
            .otherwise(NOT_FOUND)
        )

    return facts.contacts.select(
        pl.col("year"),
        pl.when(pl.col("year") == latest).then(pl.col("month")).otherwise(0).alias("month"),
        *(pl.col(name) for name in ("age_band", "caller_type", "concern", "contact_kind")),
        pl.col("caller_key").is_not_null().alias("token"),
        *(pl.col(name) for name in ("channel", "gender", "action", "referral")),
        indicator("risk_factors_recorded", porn).alias("escalating_pornography"),
        indicator("help_needs_recorded", asking).alias("asking_for_help"),
    )


def _space(points: pl.DataFrame) -> dict[str, NDArray[Any]]:
    """Every point the rules allow from the values that occur, as one array per field."""

    def seen(*names: str) -> list[tuple[Any, ...]]:
        return sorted(points.select(names).unique().rows())

    periods = seen("year", "month")
    callers = []
    concerns = sorted({c for (c,) in seen("concern")} - {NOT_APPLICABLE})
    for (caller_type,) in seen("caller_type"):
        coded = concerns if caller_type == "self_concerned" else [NOT_APPLICABLE]
        callers += [(caller_type, concern) for concern in coded]
    kinds = list(itertools.product(*(sorted(set(points[n])) for n in ("contact_kind", "token"))))
    others = [
        sorted(set(points[name]))
        for name in ATTRIBUTES[7:]  # channel ... asking_for_help
    ]
    rows = [
        (*period, band, *caller, *kind, *rest)
        for period, band, caller, kind, *rest in itertools.product(
            periods, sorted(set(points["age_band"])), callers, kinds, *others
        )
    ]
    columns = list(zip(*rows, strict=True))
    return {name: np.asarray(column) for name, column in zip(ATTRIBUTES, columns, strict=True)}


def _table_counts(
    name: str, table: Mapping[str, Any], where: Mapping[str, frozenset[Any]]
) -> list[Count]:
    """The numbers of a one- or two-way table by ``name`` (dimensions joined by ",")."""
    dims = name.split(",")

    def values(dimension: str, labels: Sequence[str]) -> list[frozenset[Any]]:
        if dimension == "age_band":
            return [frozenset({BAND_OF_LABEL[label]}) for label in labels]
        if dimension == "year":
            return [frozenset({int(label)}) for label in labels]
        if dimension == "month":
            return [frozenset({int(label[5:])}) for label in labels]
        return [frozenset({label}) for label in labels]

    rows = values(dims[0], table["rows"])
    cols = values(dims[1], table["columns"]) if len(dims) == 2 else [frozenset()]
    found: list[Count] = []

    def add(label: str, extra: dict[str, frozenset[Any]], value: int | None) -> None:
        found.append(Count(f"{table['title']} {label}", {**where, **extra}, value))

    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            extra = {dims[0]: row} | ({dims[1]: col} if len(dims) == 2 else {})
            add(f"{table['rows'][i]} × {table['columns'][j]}", extra, table["cells"][i][j])
        add(f"{table['rows'][i]} total", {dims[0]: row}, table["row_totals"][i])
    if len(dims) == 2:
        for j, col in enumerate(cols):
            add(f"total × {table['columns'][j]}", {dims[1]: col}, table["column_totals"][j])
    add("total", {}, table["total"])
    return found


def published_counts(answers: Mapping[str, Mapping[str, Any]], latest: int) -> list[Count]:
    """Every number of every answer (``by`` → the API's JSON), contacts tables only."""
    counts: list[Count] = []
    for by, answer in answers.items():
        contacts = answer["tables"][0]
        where = {"year": frozenset({latest})} if by == "month" else {}
        counts += _table_counts(by, contacts, where)
        for comparison in answer["comparisons"]:
            indicator = comparison["indicator"]
            base = {"year": frozenset({latest}), "caller_type": frozenset({"self_concerned"})}
            groups = {name: frozenset(bands) for name, bands in AGE_GROUPS}
            table = comparison["table"]
            every = frozenset().union(*groups.values())
            shown = {"yes": frozenset({FOUND}), "no": frozenset({NOT_FOUND})}
            recorded = frozenset({FOUND, NOT_FOUND})
            for i, group in enumerate(table["rows"]):
                for j, column in enumerate(table["columns"]):
                    where = base | {"age_band": groups[group], indicator: shown[column]}
                    value = table["cells"][i][j]
                    counts.append(Count(f"{indicator} {group} {column}", where, value, False))
                where = base | {"age_band": groups[group], indicator: recorded}
                value = table["row_totals"][i]
                counts.append(Count(f"{indicator} {group}", where, value, False))
            for j, column in enumerate(table["columns"]):
                where = base | {"age_band": every, indicator: shown[column]}
                value = table["column_totals"][j]
                counts.append(Count(f"{indicator} {column}", where, value, False))
            where = base | {"age_band": every, indicator: recorded}
            counts.append(Count(f"{indicator} compared", where, table["total"], False))
        unattributed = {"contact_kind": frozenset({"unknown"}), "token": frozenset({False})}
        value = answer["unattributed_contacts"]
        counts.append(Count("unattributed contacts", unattributed, value, False))
    # Every answer repeats the comparisons, and the margins repeat the age-band table: one of
    # each number and value is enough (the same number published in one place and withheld
    # in another stays twice, and gives itself away).
    unique: dict[tuple[Any, ...], Count] = {}
    for count in counts:
        key = (tuple(sorted((n, tuple(sorted(v))) for n, v in count.where.items())), count.value)
        unique.setdefault(key, count)
    return list(unique.values())


def exposures(
    answers: Mapping[str, Mapping[str, Any]], facts: Facts, *, parts: bool = False
) -> list[str]:
    """Every withheld number of a contacts table in ``answers`` that the intruder pins to one
    value, or shows to lie below ``min_cell`` while its true value does; empty when nothing
    withheld is given away.

    With ``parts``, the comparisons' counts and the unattributed count are judged too, for
    smallness alone: one withheld beside a table (not for being small) may follow from
    published numbers, having been withheld for what it would add to them. The set checks
    these parts as floors under the tables' counts; a published whole less the other published
    parts in it is also a ceiling over a small part, and that is not checked (see
    ``docs/disclosure.md``)."""
    min_cell = next(iter(answers.values()))["min_cell"]
    points = _contact_points(facts)
    latest = int(points["year"].max())  # type: ignore[arg-type]
    counts = published_counts(answers, latest)
    space = _space(points)
    size = len(space["year"])
    member = np.ones((len(counts), size), dtype=bool)
    for k, count in enumerate(counts):
        for name, allowed in count.where.items():
            member[k] &= np.isin(space[name], list(allowed))
    # Points in the same numbers are one variable; the truth is how many contacts each holds.
    columns, variable = np.unique(member.T, axis=0, return_inverse=True)
    matrix = columns.T.astype(float)
    rows = zip(*(space[name] for name in ATTRIBUTES), strict=True)
    index = {tuple(row): i for i, row in enumerate(rows)}
    truth = np.zeros(matrix.shape[1])
    for *key, n in points.group_by(list(ATTRIBUTES)).len().iter_rows():
        truth[variable[index[tuple(key)]]] += n
    published = [k for k, c in enumerate(counts) if c.value is not None]
    withheld = [k for k, c in enumerate(counts) if c.value is None]
    values = matrix @ truth
    for k in published:  # the model counts what the tables count
        assert values[k] == counts[k].value, (counts[k].label, values[k], counts[k].value)
    a_eq = matrix[published]
    b_eq = np.array([counts[k].value for k in published], dtype=float)
    positive = [k for k in withheld if counts[k].positive]
    assert all(values[k] >= 1 for k in positive), [counts[k].label for k in positive]
    a_ub = -matrix[positive] if positive else None
    b_ub = -np.ones(len(positive)) if positive else None
    found: list[str] = []
    judged = [k for k in withheld if parts or counts[k].positive]
    for k in judged:
        low = linprog(matrix[k], A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, method="highs")
        high = linprog(-matrix[k], A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, method="highs")
        assert low.status == 0, (counts[k].label, low.message)
        top = float("inf") if high.status == 3 else -high.fun
        true = int(values[k])
        small = 0 < true < min_cell
        if top - low.fun < 0.5 and (small or counts[k].positive):
            found.append(f"{counts[k].label}: determined ({true})")
        elif small and top < min_cell - 1e-6:
            found.append(f"{counts[k].label}: at most {top:g} ({true}; minimum {min_cell})")
    return found
