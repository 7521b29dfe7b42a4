"""Cell suppression for frequency tables published with their totals.

A count table about people leaves the system only under a minimum cell size: a cell counting
between 1 and ``min_cell - 1`` people (default 10, the ESSnet output-checking rule of thumb) is
withheld (*primary* suppression). Withholding a cell is not enough when the row and column totals
are published, because the cell is then the total minus the rest of its row. *Secondary*
suppression withholds further cells until no withheld cell can be recovered from what is
published.

How the protection is decided
-----------------------------
Publish the table with its margins as one extended ``(r+1) x (c+1)`` table (the last column holds
the row totals, the last row the column totals, the corner the grand total). Flip the sign of the
margins and every row and every column of the extended table sums to zero. The withheld cells are
then the edges of a bipartite graph between extended rows and extended columns, and the published
cells turn into known right-hand sides. Linear algebra on that incidence structure gives the rule
used here: **a withheld cell is determined by the published cells exactly when it is a bridge of
that graph** (no cycle of withheld cells passes through it). Along a cycle one can add ``+t`` and
``-t`` alternately without changing any published number, so every withheld cell on a cycle has a
feasible range wider than a point, as long as the cells on the cycle are positive (they are:
zeros are never withheld and never chosen as complements). A bridgeless pattern also means every
row and column holding a withheld cell holds at least two.

The algorithm: mark the primary cells (interior cells and totals alike, so a small published total
is protected too), then, while a withheld cell is a bridge, close a cycle through it along the path
of *least total published value* (Dijkstra over positive cells; cells already withheld cost 0) and
withhold the cells on that path. Each round removes at least one bridge and adds none, so the loop
reaches a fixed point. A path always exists: through the row total, the grand total and the column
total if nothing cheaper.

Zeros are published: a zero count is not a small group of people, and for these tables (contacts
by age band, year, caller type) the absence of contacts is not itself sensitive.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

DEFAULT_MIN_CELL = 10

PUBLISHED, PRIMARY, SECONDARY = 0, 1, 2
STATUS_NAMES = {PUBLISHED: "published", PRIMARY: "primary", SECONDARY: "secondary"}

Cell = tuple[int, int]


@dataclass(frozen=True)
class Suppression:
    """The outcome on one table: its extended form (with margins) and each cell's status.

    ``extended`` holds the true counts and stays inside the system; what may be published is
    ``published()``, where withheld cells are ``None``.
    """

    extended: NDArray[np.int64]
    status: NDArray[np.int8]
    min_cell: int

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the interior table (without margins)."""
        rows, cols = self.extended.shape
        return rows - 1, cols - 1

    def withheld(self) -> NDArray[np.bool_]:
        return np.asarray(self.status != PUBLISHED)

    def published(self) -> list[list[int | None]]:
        """The extended table as it may leave the system; withheld cells are ``None``."""
        return [
            [None if status else int(value) for value, status in zip(row, srow, strict=True)]
            for row, srow in zip(self.extended, self.status, strict=True)
        ]

    def count(self, kind: int) -> int:
        return int(np.count_nonzero(self.status == kind))


def _as_counts(counts: ArrayLike) -> NDArray[np.int64]:
    array = np.asarray(counts)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"a count table must be 2-dimensional and non-empty, got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError("counts must be whole numbers")
        array = array.astype(np.int64)
    if np.any(array < 0):
        raise ValueError("counts must not be negative")
    return array.astype(np.int64)


def extend(counts: ArrayLike) -> NDArray[np.int64]:
    """The table with its row totals as last column and column totals (and grand total) last row."""
    table = _as_counts(counts)
    with_rows = np.hstack([table, table.sum(axis=1, keepdims=True)])
    return np.vstack([with_rows, with_rows.sum(axis=0, keepdims=True)])


def bridges(withheld: NDArray[np.bool_]) -> list[Cell]:
    """Withheld cells of an extended table that the published cells determine exactly.

    These are the bridges of the bipartite graph whose edges are the withheld cells; an empty list
    means no withheld cell can be recovered by solving the margin equations.
    """
    n_rows = withheld.shape[0]
    adjacency: dict[int, list[tuple[int, Cell]]] = {}
    for i, j in zip(*np.nonzero(withheld), strict=True):
        cell = (int(i), int(j))
        adjacency.setdefault(int(i), []).append((n_rows + int(j), cell))
        adjacency.setdefault(n_rows + int(j), []).append((int(i), cell))
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    found: list[Cell] = []
    counter = 0
    for root in sorted(adjacency):
        if root in order:
            continue
        order[root] = low[root] = counter
        counter += 1
        # Iterative DFS: (node, edge it was entered by, iterator position).
        stack: list[tuple[int, Cell | None, int]] = [(root, None, 0)]
        while stack:
            node, via, position = stack.pop()
            neighbours = adjacency[node]
            if position < len(neighbours):
                stack.append((node, via, position + 1))
                nxt, edge = neighbours[position]
                if edge == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append((nxt, edge, 0))
            elif via is not None:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    found.append(via)
    return sorted(found)


def _cheapest_cycle(
    extended: NDArray[np.int64], withheld: NDArray[np.bool_], bridge: Cell
) -> list[Cell]:
    """Published cells to withhold so that ``bridge`` lies on a cycle of withheld cells.

    Dijkstra from the bridge's row to its column over positive cells, the bridge itself excluded;
    a withheld cell costs 0, a published one its count, ties broken by fewer new cells.
    """
    n_rows, n_cols = extended.shape
    start, goal = bridge[0], n_rows + bridge[1]
    best: dict[int, tuple[int, int]] = {start: (0, 0)}
    came_from: dict[int, tuple[int, Cell]] = {}
    heap: list[tuple[int, int, int]] = [(0, 0, start)]
    while heap:
        cost, new_cells, node = heapq.heappop(heap)
        if best.get(node, (cost, new_cells)) < (cost, new_cells):
            continue
        if node == goal:
            break
        if node < n_rows:
            steps = [((node, j), n_rows + j) for j in range(n_cols)]
        else:
            steps = [((i, node - n_rows), i) for i in range(n_rows)]
        for cell, nxt in steps:
            if cell == bridge or extended[cell] <= 0:
                continue
            free = bool(withheld[cell])
            candidate = (
                cost + (0 if free else int(extended[cell])),
                new_cells + (0 if free else 1),
            )
            if candidate < best.get(nxt, (np.iinfo(np.int64).max, 0)):
                best[nxt] = candidate
                came_from[nxt] = (node, cell)
                heapq.heappush(heap, (candidate[0], candidate[1], nxt))
    if goal not in came_from:
        raise ValueError(f"no complementary cells can protect cell {bridge}")
    path: list[Cell] = []
    node = goal
    while node != start:
        node, cell = came_from[node]
        if not withheld[cell]:
            path.append(cell)
    return path


def suppress(counts: ArrayLike, *, min_cell: int = DEFAULT_MIN_CELL) -> Suppression:
    """Primary and secondary suppression of a count table published with all its totals.

    ``counts`` is the interior table (rows x columns of non-negative integers); a one-row table
    serves for a one-way frequency table. Every cell (totals included) with
    ``0 < count < min_cell`` is withheld, and then complementary cells until no withheld cell can
    be recovered from the published ones (see the module docstring).
    """
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    extended = extend(counts)
    status = np.where((extended > 0) & (extended < min_cell), PRIMARY, PUBLISHED).astype(np.int8)
    while found := bridges(status != PUBLISHED):
        for cell in _cheapest_cycle(extended, status != PUBLISHED, found[0]):
            status[cell] = SECONDARY
    return Suppression(extended=extended, status=status, min_cell=min_cell)


@dataclass(frozen=True)
class ProtectedTable:
    """A labelled count table as it may leave the system: withheld cells are ``None``.

    ``cells[i][j]``, ``row_totals[i]``, ``col_totals[j]`` and ``total`` are the published values
    (rounded when ``rounding_base`` is set); ``status`` names why each withheld value is withheld.
    """

    title: str
    unit: str
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    col_totals: tuple[int | None, ...]
    total: int | None
    status: tuple[tuple[str, ...], ...]
    min_cell: int
    rounding_base: int | None = None

    @property
    def withheld_count(self) -> int:
        return sum(s != "published" for row in self.status for s in row)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "rows": list(self.row_labels),
            "columns": list(self.col_labels),
            "cells": [list(row) for row in self.cells],
            "row_totals": list(self.row_totals),
            "column_totals": list(self.col_totals),
            "total": self.total,
            "disclosure_control": {
                "min_cell": self.min_cell,
                "rounding_base": self.rounding_base,
                "withheld": self.withheld_count,
                "status": [list(row) for row in self.status],
            },
        }


def protect_table(
    counts: ArrayLike,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str,
    unit: str,
    min_cell: int = DEFAULT_MIN_CELL,
    rounding_base: int | None = None,
) -> ProtectedTable:
    """Suppress (and optionally round) a labelled count table: the one call most callers need."""
    from safeguarding.disclosure.rounding import round_to_base

    result = suppress(counts, min_cell=min_cell)
    rows, cols = result.shape
    if (rows, cols) != (len(row_labels), len(col_labels)):
        raise ValueError(f"labels {len(row_labels)}x{len(col_labels)} do not fit {rows}x{cols}")
    values = (
        result.extended if rounding_base is None else round_to_base(result.extended, rounding_base)
    )
    shown: list[list[int | None]] = [
        [None if s else int(v) for v, s in zip(row, srow, strict=True)]
        for row, srow in zip(values, result.status, strict=True)
    ]
    return ProtectedTable(
        title=title,
        unit=unit,
        row_labels=tuple(row_labels),
        col_labels=tuple(col_labels),
        cells=tuple(tuple(row[:cols]) for row in shown[:rows]),
        row_totals=tuple(row[cols] for row in shown[:rows]),
        col_totals=tuple(shown[rows][:cols]),
        total=shown[rows][cols],
        status=tuple(tuple(STATUS_NAMES[int(s)] for s in row) for row in result.status),
        min_cell=min_cell,
        rounding_base=rounding_base,
    )
