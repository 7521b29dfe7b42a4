"""The PDQ pair search against a plain count of differing bits in Python integers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.pdq_pairs import distances_between, near_pairs_between


def _as_int(row: np.ndarray) -> int:
    return int.from_bytes(b"".join(int(w).to_bytes(8, "big") for w in row), "big")


def _flipped(row: np.ndarray, bits: list[int]) -> np.ndarray:
    copy = row.copy()
    for bit in bits:
        copy[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return copy


@st.composite
def _hash_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """Targets, and queries of which some are targets with a few up to 40 bits flipped."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2**64, size=(draw(st.integers(1, 40)), 4), dtype=np.uint64)
    queries = [
        rng.integers(0, 2**64, size=4, dtype=np.uint64) for _ in range(draw(st.integers(0, 5)))
    ]
    for _ in range(draw(st.integers(0, 25))):
        base = targets[int(rng.integers(targets.shape[0]))]
        flips = int(rng.integers(0, 41))
        queries.append(_flipped(base, rng.choice(256, size=flips, replace=False).tolist()))
    shaped = np.array(queries, dtype=np.uint64).reshape(-1, 4)
    return shaped, targets, draw(st.integers(0, 31))


@settings(max_examples=60, deadline=None)
@given(_hash_sets())
def test_pairs_within_the_distance_are_all_found_and_only_those(
    sets: tuple[np.ndarray, np.ndarray, int],
) -> None:
    queries, targets, max_distance = sets
    q, t = near_pairs_between(queries, targets, max_distance)
    expected = {
        (i, j)
        for i in range(queries.shape[0])
        for j in range(targets.shape[0])
        if (_as_int(queries[i]) ^ _as_int(targets[j])).bit_count() <= max_distance
    }
    assert set(zip(q.tolist(), t.tolist(), strict=True)) == expected
    assert len(expected) == q.shape[0]  # each pair once


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_distances_equal_the_count_of_differing_bits(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    b = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    b[: n // 2] = a[: n // 2]  # some identical rows: distance 0
    left, right = np.arange(n, dtype=np.int64), rng.permutation(n).astype(np.int64)
    found = distances_between(a, left, b, right)
    assert found.tolist() == [
        (_as_int(a[i]) ^ _as_int(b[j])).bit_count() for i, j in zip(left, right, strict=True)
    ]
