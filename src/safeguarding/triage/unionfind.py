"""Union-find (disjoint sets) over integer elements, kept in numpy arrays.

Clustering a million reports means uniting millions of pairs; a Python loop per pair is far too
slow, so ``union_pairs`` unites whole arrays of pairs at once: each round finds the roots of every
pair (pointer jumping, which also compresses paths), hooks the larger root of each still-separate
pair under the smallest root it is paired with, and repeats until every pair shares a root. Hooks
always point from a larger to a smaller root within a round, so no round can create a cycle.

``union`` unites a single pair by size with path compression, for the odd pair added by hand. Both
keep the same invariant: ``parent`` is a forest whose roots are the representatives.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class UnionFind:
    """Disjoint sets over ``0 .. n-1``, growable with ``add``."""

    def __init__(self, n: int = 0) -> None:
        if n < 0:
            raise ValueError("number of elements must be non-negative")
        self.parent: IntArray = np.arange(n, dtype=np.int64)
        self.size: IntArray = np.ones(n, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.parent.shape[0])

    def add(self, count: int) -> IntArray:
        """Add ``count`` new singleton elements; returns their indices."""
        start = len(self)
        new = np.arange(start, start + count, dtype=np.int64)
        self.parent = np.concatenate([self.parent, new])
        self.size = np.concatenate([self.size, np.ones(count, dtype=np.int64)])
        return new

    def find(self, x: int) -> int:
        """Root of ``x``, compressing the path to it."""
        root = int(x)
        while self.parent[root] != root:
            root = int(self.parent[root])
        node = int(x)
        while self.parent[node] != root:
            node, self.parent[node] = int(self.parent[node]), root
        return root

    def union(self, a: int, b: int) -> int:
        """Unite the sets of ``a`` and ``b`` (the smaller under the larger); returns the root."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def compress(self) -> None:
        """Point every element straight at its root (pointer jumping over the whole array)."""
        parent = self.parent
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        self.parent = parent

    def find_many(self, xs: npt.ArrayLike) -> IntArray:
        """Roots of many elements at once (the whole forest is compressed first, so every lookup
        is one step; pointer jumping needs only log2(depth) passes)."""
        self.compress()
        return self.parent[np.asarray(xs, dtype=np.int64)]

    def union_pairs(self, a: npt.ArrayLike, b: npt.ArrayLike) -> None:
        """Unite ``a[i]`` with ``b[i]`` for every ``i``, vectorised."""
        left = np.asarray(a, dtype=np.int64)
        right = np.asarray(b, dtype=np.int64)
        if left.shape != right.shape:
            raise ValueError("pair arrays must have the same length")
        while left.size:
            ra = self.find_many(left)
            rb = self.find_many(right)
            apart = ra != rb
            if not apart.any():
                break
            ra, rb = ra[apart], rb[apart]
            high = np.maximum(ra, rb)
            low = np.minimum(ra, rb)
            np.minimum.at(self.parent, high, low)
            # Sizes are recomputed once at the end; only the pairs still apart go round again.
            left, right = left[apart], right[apart]
        self._recount()

    def union_groups(self, members: npt.ArrayLike, keys: npt.ArrayLike) -> None:
        """Unite all members that share a key (e.g. files with the same hash), vectorised."""
        nodes = np.asarray(members, dtype=np.int64)
        codes = np.asarray(keys)
        if nodes.shape[0] != codes.shape[0]:
            raise ValueError("members and keys must have the same length")
        if nodes.size < 2:
            return
        self.union_pairs(*star_pairs(nodes, codes))

    def roots(self) -> IntArray:
        """The root of every element (after full compression)."""
        self.compress()
        return self.parent.copy()

    def labels(self, values: npt.ArrayLike | None = None) -> IntArray:
        """For every element the smallest value in its set (default: the smallest element).

        A label independent of the order of unions; with stored cluster ids as ``values``,
        an existing cluster keeps its id unless it merges with one of smaller id.
        """
        value = (
            np.arange(len(self), dtype=np.int64)
            if values is None
            else np.asarray(values, dtype=np.int64)
        )
        roots = self.roots()
        smallest = np.full(len(self), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(smallest, roots, value)
        return smallest[roots]

    def _recount(self) -> None:
        roots = self.roots()
        counts = np.bincount(roots, minlength=len(self)).astype(np.int64)
        self.size = np.where(roots == np.arange(len(self)), counts, 1)


def star_pairs(members: IntArray, keys: np.ndarray) -> tuple[IntArray, IntArray]:
    """Pairs joining every member to the first member (in the given order) with its key. A
    star, not a chain: united, the trees stay shallow however large the group."""
    order = np.argsort(keys, kind="stable")
    sorted_keys, sorted_members = keys[order], members[order]
    starts = np.ones(order.shape[0], dtype=np.bool_)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    first = sorted_members[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return first[~starts], sorted_members[~starts]


def sorted_positions(ascending: IntArray, values: IntArray) -> IntArray:
    """``np.searchsorted(ascending, values)``, each distinct value searched once and in order: a
    million binary searches for unordered values (every earlier report's work item) wander the
    whole array and took 0.25–0.5 s; sorting the values first and searching the distinct ones
    in order takes a fifth of that."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.searchsorted(ascending, distinct).astype(np.int64)[inverse.reshape(-1)]


def merged_ids(existing: IntArray, labels: IntArray) -> dict[int, int]:
    """Stored cluster ids whose new label differs: old id → the id it merged into."""
    return {int(old): int(new) for old, new in zip(existing, labels, strict=True) if old != new}


def remap(values: IntArray, merges: dict[int, int]) -> IntArray:
    """``values`` with every id that merged replaced by the id it merged into."""
    if not merges:
        return values.copy()
    old = np.fromiter(merges.keys(), dtype=np.int64)
    new = np.fromiter(merges.values(), dtype=np.int64)
    order = np.argsort(old)
    pos = np.clip(np.searchsorted(old[order], values), 0, old.size - 1)
    hit = old[order][pos] == values
    result: IntArray = np.where(hit, new[order][pos], values)
    return result


def members(labels: IntArray, chosen: IntArray) -> np.ndarray:
    """Which entries of ``labels`` (non-negative ids, such as cluster or subject ids) are among
    ``chosen``: one lookup table instead of ``np.isin``'s sort of a million labels."""
    if labels.size == 0:
        return np.zeros(0, dtype=np.bool_)
    top = max(int(labels.max()), int(chosen.max()) if chosen.size else 0)
    marked = np.zeros(top + 1, dtype=np.bool_)
    marked[chosen] = True
    result: np.ndarray = marked[labels]
    return result
