from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.unionfind import UnionFind, members, sorted_positions


def naive_components(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Smallest member of each element's component, by repeated relabelling (obviously right)."""
    label = list(range(n))
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            low = min(label[a], label[b])
            if label[a] != low or label[b] != low:
                label[a] = label[b] = low
                changed = True
    return label


pairs_strategy = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80),
    )
)


@given(pairs_strategy)
def test_vectorised_union_gives_the_components(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, pairs = case
    uf = UnionFind(n)
    uf.union_pairs([a for a, _ in pairs], [b for _, b in pairs])
    assert uf.labels().tolist() == naive_components(n, pairs)


@given(pairs_strategy)
def test_scalar_union_agrees_with_vectorised(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, pairs = case
    one = UnionFind(n)
    for a, b in pairs:
        one.union(a, b)
    many = UnionFind(n)
    many.union_pairs([a for a, _ in pairs], [b for _, b in pairs])
    assert one.labels().tolist() == many.labels().tolist()


@given(pairs_strategy, st.integers(0, 3))
@settings(max_examples=50)
def test_order_and_batching_do_not_matter(
    case: tuple[int, list[tuple[int, int]]], batches: int
) -> None:
    n, pairs = case
    whole = UnionFind(n)
    whole.union_pairs([a for a, _ in pairs], [b for _, b in pairs])
    parts = UnionFind(n)
    shuffled = list(reversed(pairs))
    step = max(1, len(shuffled) // (batches + 1))
    for start in range(0, len(shuffled), step):
        chunk = shuffled[start : start + step]
        parts.union_pairs([b for _, b in chunk], [a for a, _ in chunk])
    assert whole.labels().tolist() == parts.labels().tolist()


@given(st.lists(st.integers(0, 5), min_size=0, max_size=30))
def test_union_groups_joins_exactly_equal_keys(keys: list[int]) -> None:
    uf = UnionFind(len(keys))
    uf.union_groups(np.arange(len(keys)), np.array(keys, dtype=np.int64))
    labels = uf.labels()
    for i, ki in enumerate(keys):
        for j, kj in enumerate(keys):
            assert (labels[i] == labels[j]) == (ki == kj)


def test_sizes_follow_unions_and_growth_keeps_sets() -> None:
    uf = UnionFind(4)
    uf.union(0, 1)
    uf.union(2, 1)
    assert uf.size[uf.find(0)] == 3
    new = uf.add(2)
    assert new.tolist() == [4, 5]
    uf.union_pairs([5], [3])
    assert uf.labels().tolist() == [0, 0, 0, 3, 4, 3]
    assert uf.size[uf.find(3)] == 2


def test_mismatched_pair_arrays_are_refused() -> None:
    uf = UnionFind(3)
    try:
        uf.union_pairs([0, 1], [2])
    except ValueError as exc:
        assert "same length" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


@settings(max_examples=50, deadline=None)
@given(
    labels=st.lists(st.integers(0, 60), max_size=80),
    chosen=st.lists(st.integers(0, 90), max_size=20),
)
def test_members_agrees_with_isin(labels: list[int], chosen: list[int]) -> None:
    got = members(np.array(labels, dtype=np.int64), np.array(chosen, dtype=np.int64))
    assert got.tolist() == np.isin(labels, chosen).tolist()


@given(
    st.lists(st.integers(-50, 50), max_size=40, unique=True),
    st.lists(st.integers(-60, 60), max_size=60),
)
def test_sorted_positions_are_searchsorted(ids: list[int], values: list[int]) -> None:
    ascending = np.array(sorted(ids), dtype=np.int64)
    wanted = np.array(values, dtype=np.int64)
    found = sorted_positions(ascending, wanted)
    assert found.dtype == np.int64
    assert np.array_equal(found, np.searchsorted(ascending, wanted))
