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

A cycle is not always room enough. Zeros are published, so a reader knows every withheld count is
at least 1, and a small cell on a cycle of other small cells can move only as far as they can
give: ``[[1, 1], [1, 1]]`` withheld inside published margins is recovered exactly. So a primary
cell must also be able to rise to ``min_cell`` with every published number as it is (then nobody
can tell it is small). How far it can rise is a maximum flow through the other withheld cells
(``_headroom``); where it falls short, the cheapest path of cells that can each carry the whole
rise is withheld as well (``_widening_cycle``), and the bridge test runs again.

What leaves the system says of each value only whether it is withheld, never why: a primary cell
counts 1 to ``min_cell - 1`` and a secondary one at least ``min_cell``, so the reason would bound
every withheld value.

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


def suppress(
    counts: ArrayLike, *, min_cell: int = DEFAULT_MIN_CELL, withhold: ArrayLike | None = None
) -> Suppression:
    """Primary and secondary suppression of a count table published with all its totals.

    ``counts`` is the interior table (rows x columns of non-negative integers); a one-row table
    serves for a one-way frequency table. Every cell (totals included) with
    ``0 < count < min_cell`` is withheld, and then complementary cells until no withheld cell can
    be recovered from the published ones and no small cell can be seen to be small (see the
    module docstring). ``withhold`` (booleans shaped like the extended table) names values a
    linked table needs withheld; they are withheld here too, zeros included: a part published
    as 0 beside a withheld whole would let the rest of its line bound the whole's neighbours.
    """
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    extended = extend(counts)
    status = np.where((extended > 0) & (extended < min_cell), PRIMARY, PUBLISHED).astype(np.int8)
    if withhold is not None:
        forced = np.asarray(withhold, dtype=bool)
        if forced.shape != extended.shape:
            raise ValueError(f"withhold is {forced.shape}, the extended table {extended.shape}")
        status[forced & (status == PUBLISHED)] = SECONDARY
    while True:
        while found := bridges(status != PUBLISHED):
            for cell in _cheapest_cycle(extended, status != PUBLISHED, found[0]):
                status[cell] = SECONDARY
        weak = _weak_cell(extended, status, min_cell)
        if weak is None:
            return Suppression(extended=extended, status=status, min_cell=min_cell)
        for cell in _widening_cycle(extended, status != PUBLISHED, weak, min_cell):
            status[cell] = SECONDARY


def _weak_cell(extended: NDArray[np.int64], status: NDArray[np.int8], min_cell: int) -> Cell | None:
    """A primary cell that the published numbers show to be small, or None.

    Zeros are always published, so an intruder knows every withheld count is at least 1. A
    cycle of withheld cells then protects a small cell only as far as the cells it would take
    from have more than 1 to give: in ``[[1, 1], [1, 1]]`` withheld inside published margins
    every cell is exactly 1. A primary cell is protected when the published numbers allow it
    to be as large as the minimum, so that nobody can tell it is small.
    """
    withheld = status != PUBLISHED
    doubtful = np.argwhere((status == PRIMARY) & ~_four_cycle_safe(extended, withheld, min_cell))
    if len(doubtful) == 0:
        return None
    network = _network(extended, withheld)
    for i, j in doubtful:
        cell = (int(i), int(j))
        needed = min_cell - int(extended[cell])
        if _headroom(network, extended.shape, cell, needed) < needed:
            return cell
    return None


def _four_cycle_safe(
    extended: NDArray[np.int64], withheld: NDArray[np.bool_], min_cell: int
) -> NDArray[np.bool_]:
    """Cells that can rise by ``min_cell - 1`` around one cycle of four withheld cells: the
    quick test that spares most cells the flow computation of ``_headroom``.

    In the negated table (see ``_network``) raising a cell is +t, -t, +t, -t around the cycle
    (-t, +t, -t, +t for a margin). ``down`` marks the cells that can take -t there, ``up`` those
    that can take +t; a primary cell itself can do neither by ``min_cell - 1``, so the products
    count only cycles through three other cells.
    """
    negated = _negated_cells(extended.shape)
    roomy = extended - 1 >= min_cell - 1
    down = (withheld & (negated | roomy)).astype(np.int64)
    up = (withheld & (~negated | roomy)).astype(np.int64)
    rises = (down @ up.T @ down) > 0
    falls = (up @ down.T @ up) > 0
    return np.asarray(np.where(negated, falls, rises))


def _negated_cells(shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """The margins: negated in the table whose every row and column sums to zero (the corner,
    the total of totals, keeps its sign)."""
    negated = np.zeros(shape, dtype=bool)
    negated[-1, :-1] = True
    negated[:-1, -1] = True
    return negated


UNLIMITED = 1 << 62
Network = dict[tuple[int, int], int]  # (from node, to node) -> capacity; rows, then columns


def _network(extended: NDArray[np.int64], cells: NDArray[np.bool_]) -> Network:
    """The flow network in which a change to ``cells`` that keeps every other number is a flow.

    Negate the margins (``_negated_cells``): every row and column of the extended table then sums
    to zero, and a change to the chosen cells that keeps the others is a circulation on the
    bipartite graph of those cells, rows to columns. A count may rise without limit and fall to
    1 (a withheld count is never 0), so an interior cell's edge carries flow from its row to its
    column without limit and back up to ``count - 1``; a margin's the other way round. Each row
    and column meet in one cell, so a pair of nodes names one cell.
    """
    n_rows = extended.shape[0]
    negated = _negated_cells(extended.shape)
    capacity: Network = {}
    for i, j in np.argwhere(cells & (extended > 0)):
        row, col, spare = int(i), n_rows + int(j), int(extended[i, j]) - 1
        forward, back = (spare, UNLIMITED) if negated[i, j] else (UNLIMITED, spare)
        capacity[(row, col)] = forward
        capacity[(col, row)] = back
    return capacity


def _ends(shape: tuple[int, ...], target: Cell) -> tuple[int, int]:
    """Where the flow that raises ``target`` starts and ends: raising it pushes flow along its
    own edge, so the rest of the cycle runs from the far end back to the near one."""
    row, col = target[0], shape[0] + target[1]
    return (row, col) if _negated_cells(shape)[target] else (col, row)


def _headroom(network: Network, shape: tuple[int, ...], target: Cell, needed: int) -> int:
    """How far ``target`` could rise, counted up to ``needed``, with every published number as
    it is and every withheld count at least 1: the maximum flow back through the other withheld
    cells (Edmonds-Karp, stopped at ``needed``)."""
    source, sink = _ends(shape, target)
    row, col = target[0], shape[0] + target[1]
    capacity = dict(network)
    capacity[(row, col)] = capacity[(col, row)] = 0
    neighbours: dict[int, list[int]] = {}
    for a, b in capacity:
        neighbours.setdefault(a, []).append(b)
    flow = 0
    while flow < needed:
        came_from = {source: source}
        queue = [source]
        for node in queue:
            for nxt in neighbours.get(node, ()):
                if nxt not in came_from and capacity[(node, nxt)] > 0:
                    came_from[nxt] = node
                    queue.append(nxt)
            if sink in came_from:
                break
        if sink not in came_from:
            break
        path = []
        node = sink
        while node != source:
            path.append((came_from[node], node))
            node = came_from[node]
        push = min(needed - flow, *(capacity[edge] for edge in path))
        for a, b in path:
            capacity[(a, b)] -= push
            capacity[(b, a)] += push
        flow += push
    return flow


def _widening_cycle(
    extended: NDArray[np.int64], withheld: NDArray[np.bool_], target: Cell, min_cell: int
) -> list[Cell]:
    """Published cells to withhold so that ``target`` can rise to the minimum: the cheapest
    path back (Dijkstra; a withheld cell costs 0, a published one its count) over edges that
    can each carry the whole rise. One always exists: up the target's column total, through
    the grand total and down its row total, all of which may rise without limit."""
    needed = min_cell - int(extended[target])
    n_rows = extended.shape[0]
    source, sink = _ends(extended.shape, target)
    outgoing: dict[int, list[int]] = {}
    for (a, b), amount in _network(extended, np.ones_like(withheld)).items():
        if amount >= needed and {a, b} != {target[0], n_rows + target[1]}:
            outgoing.setdefault(a, []).append(b)

    def cell_of(a: int, b: int) -> Cell:
        return (a, b - n_rows) if a < n_rows else (b, a - n_rows)

    best = {source: 0}
    came_from: dict[int, int] = {}
    heap = [(0, source)]
    while heap:
        cost, node = heapq.heappop(heap)
        if node == sink:
            break
        if cost > best[node]:
            continue
        for nxt in outgoing.get(node, ()):
            cell = cell_of(node, nxt)
            candidate = cost + (0 if withheld[cell] else int(extended[cell]))
            if candidate < best.get(nxt, UNLIMITED):
                best[nxt] = candidate
                came_from[nxt] = node
                heapq.heappush(heap, (candidate, nxt))
    if sink not in came_from:
        raise ValueError(f"no complementary cells can protect cell {target}")
    path: list[Cell] = []
    node = sink
    while node != source:
        previous = came_from[node]
        cell = cell_of(previous, node)
        if not withheld[cell]:
            path.append(cell)
        node = previous
    return path


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
                # Only whether a value is withheld, never why: a primary cell counts 1 to
                # min_cell - 1 and a secondary one at least min_cell, so the reason would
                # bound every withheld value for a reader.
                "status": [
                    ["published" if s == "published" else "withheld" for s in row]
                    for row in self.status
                ],
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
    withhold: ArrayLike | None = None,
) -> ProtectedTable:
    """Suppress (and optionally round) a labelled count table: the one call most callers need.
    ``withhold`` as for ``suppress``."""
    from safeguarding.disclosure.rounding import round_to_base

    result = suppress(counts, min_cell=min_cell, withhold=withhold)
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
