"""Linked tables: can an intruder holding contacts and callers tables see a small count?

    .venv/bin/python benchmarks/disclosure_linked_tables.py [--seed 1] [--tables 300]
        [--callers-zeros-published]

Draws random contacts tables (2-5 x 2-4 cells, counts from 0 to 40) and callers tables as a part
of each (each contact counted as a caller with a probability drawn per table), protects them as
the helpline does (contacts, then callers with every value withheld where the contacts value is),
and asks an intruder who knows both published tables, their row and column equations and that
callers never exceed contacts, how large each small contacts count could be. Prints how many
small counts it can tell from one of the minimum cell. ``--callers-zeros-published`` publishes
callers zeros beside withheld contacts (as the helpline did before), for comparison. A callers
value withheld where the contacts value is may be 0, and the intruder knows that; every other
withheld value is at least 1. Needs scipy (in the development extra).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import linprog

from safeguarding.disclosure.suppression import PUBLISHED, Suppression, extend, suppress

MIN_CELL = 10
Grid = list[list[int | None]]


def published(result: Suppression) -> Grid:
    return [
        [
            None if status != PUBLISHED else int(value)
            for value, status in zip(row, srow, strict=True)
        ]
        for row, srow in zip(result.extended, result.status, strict=True)
    ]


def largest(contacts: Grid, callers: Grid, target: tuple[int, int]) -> float:
    """The largest value the intruder finds possible for the withheld contacts ``target``."""
    tables = (contacts, callers)
    unknowns = [
        (t, i, j)
        for t, grid in enumerate(tables)
        for i, row in enumerate(grid)
        for j, value in enumerate(row)
        if value is None
    ]
    index = {key: position for position, key in enumerate(unknowns)}
    size = len(index)
    equalities, equal_to, inequalities, below = [], [], [], []

    def add(terms: list[tuple[float, int, int, int]], into: list, rhs: list) -> None:
        coefficients, constant = np.zeros(size), 0.0
        for sign, t, i, j in terms:
            value = tables[t][i][j]
            if value is None:
                coefficients[index[(t, i, j)]] += sign
            else:
                constant -= sign * value
        if np.any(coefficients):
            into.append(coefficients)
            rhs.append(constant)

    for t, grid in enumerate(tables):
        rows, cols = len(grid), len(grid[0])
        for i in range(rows):
            add(
                [(1.0, t, i, j) for j in range(cols - 1)] + [(-1.0, t, i, cols - 1)],
                equalities,
                equal_to,
            )
        for j in range(cols):
            add(
                [(1.0, t, i, j) for i in range(rows - 1)] + [(-1.0, t, rows - 1, j)],
                equalities,
                equal_to,
            )
    for i, row in enumerate(contacts):
        for j in range(len(row)):
            add([(1.0, 1, i, j), (-1.0, 0, i, j)], inequalities, below)
    bounds = [(0 if t == 1 and contacts[i][j] is None else 1, None) for (t, i, j) in index]
    objective = np.zeros(size)
    objective[index[(0, *target)]] = -1.0
    found = linprog(
        objective,
        A_eq=np.vstack(equalities),
        b_eq=equal_to,
        A_ub=np.vstack(inequalities) if inequalities else None,
        b_ub=below or None,
        bounds=bounds,
        method="highs",
    )
    return float("inf") if found.status == 3 else -float(found.fun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--callers-zeros-published", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    values = [0, 1, 2, 3, 5, 8, 12, 20, 40]
    weights = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.15, 0.1]
    small = seen = 0
    for _ in range(args.tables):
        shape = (int(rng.integers(2, 6)), int(rng.integers(2, 5)))
        counts = rng.choice(values, size=shape, p=weights)
        part = rng.binomial(counts, rng.uniform(0.5, 1.0))
        contacts = suppress(counts, min_cell=MIN_CELL)
        forced = contacts.status != PUBLISHED
        if args.callers_zeros_published:
            forced &= extend(part) > 0
        callers = suppress(part, min_cell=MIN_CELL, withhold=forced)
        for (i, j), value in np.ndenumerate(contacts.extended):
            if 0 < value < MIN_CELL:
                small += 1
                if largest(published(contacts), published(callers), (i, j)) < MIN_CELL - 1e-6:
                    seen += 1
    print(
        f"seed {args.seed}: {args.tables} tables, {small} small contacts counts, "
        f"{seen} seen to be below {MIN_CELL} by an intruder holding both tables"
    )


if __name__ == "__main__":
    main()
