"""An intruder who knows every published cell and total, and that a withheld count is at least 1
(zeros are always published).

For each withheld cell it solves two linear programmes (minimise and maximise the cell subject to
every published row and column equation of the extended table) and returns the feasible interval.
The margin equations of a two-way table are totally unimodular, so the LP bounds are whole
numbers and equal the bounds over integer completions: an interval of width 0 means the cell is
recovered exactly. When every total is withheld too, a cell has no upper bound at all.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog

Interval = tuple[float, float]


def feasible_intervals(
    published: list[list[int | None]],
    floors: dict[tuple[int, int], int] | None = None,
) -> dict[tuple[int, int], Interval]:
    """Feasible interval of every withheld (None) cell of an extended table with margins.
    ``floors`` are lower bounds above 1 that the intruder reads from a linked table (a part of
    the same people counted in the same place)."""
    grid = published
    n_rows, n_cols = len(grid), len(grid[0])
    unknown = [(i, j) for i in range(n_rows) for j in range(n_cols) if grid[i][j] is None]
    if not unknown:
        return {}
    index = {cell: k for k, cell in enumerate(unknown)}
    equations: list[NDArray[np.float64]] = []
    rhs: list[float] = []
    # Row i: sum of the interior cells minus the row total is 0; likewise for columns.
    lines = [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
    lines += [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    for line in lines:
        coefficients = np.zeros(len(unknown))
        constant = 0.0
        for position, cell in enumerate(line):
            sign = -1.0 if position == len(line) - 1 else 1.0
            value = grid[cell[0]][cell[1]]
            if value is None:
                coefficients[index[cell]] += sign
            else:
                constant -= sign * value
        if np.any(coefficients):
            equations.append(coefficients)
            rhs.append(constant)
    a_eq = np.vstack(equations)
    b_eq = np.asarray(rhs)
    intervals: dict[tuple[int, int], Interval] = {}
    bounds = [(max(1, (floors or {}).get(cell, 1)), None) for cell in unknown]
    for cell, k in index.items():
        objective = np.zeros(len(unknown))
        objective[k] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert low.status == 0, low.message
        assert high.status in (0, 3), high.message  # 3: unbounded above (nothing published)
        intervals[cell] = (float(low.fun), float("inf") if high.status == 3 else -high.fun)
    return intervals


def primary_only(extended: NDArray[np.int64], min_cell: int) -> list[list[int | None]]:
    """The table as a naive publisher would release it: small cells withheld, nothing else."""
    return [[None if 0 < int(v) < min_cell else int(v) for v in row] for row in extended.tolist()]
