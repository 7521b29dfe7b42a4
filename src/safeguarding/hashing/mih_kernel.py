"""The probe-and-verify loop of multi-index hashing, compiled (numba) so it runs at memory speed.

For each query and each probe (a chunk and a bucket-address mask) the loop reads the bucket's
bounds, then for each hash in the bucket compares the first 128 bits, and only if those are within
the radius the other 128. Done with numpy, every step is a separate pass over a batch's few
million intermediate values; here each candidate costs one bucket read, one position read and one
or two cache lines of hash, with no intermediate arrays. The loop holds no Python objects and
releases the GIL, so threads search query batches on all cores at once.

Compiled once per machine (``cache=True`` keeps the machine code next to this module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from safeguarding.hashing.pdq_bits import Words


def _popcount_typing(typingctx: Any, value: Any) -> Any:
    """Typing and code of the CPU's population count of a uint64 (LLVM ``ctpop``)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


_popcount = cast(Callable[[Any], Any], intrinsic(_popcount_typing))


def _probe_and_verify(
    words: Words,
    order: Any,
    offsets: Any,
    deleted: Any,
    queries: Words,
    addresses: Any,
    chunk_of: Any,
    masks: Any,
    radius: int,
    out_query: Any,
    out_position: Any,
    out_distance: Any,
) -> int:
    """Writes every ``(query, position, distance)`` within ``radius`` into the ``out_`` arrays
    (a hash reached through several chunks once per chunk) and returns how many there are; if
    that exceeds the arrays' length only the first ones are written and the caller retries."""
    capacity = out_query.shape[0]
    found = 0
    limit = np.uint64(radius)
    probes = chunk_of.shape[0]
    starts = np.empty(probes, dtype=np.int64)
    ends = np.empty(probes, dtype=np.int64)
    candidates = np.empty(16 * probes, dtype=np.int64)
    for q in range(queries.shape[0]):
        # Each phase is a tight loop of independent reads, so the CPU keeps many cache misses
        # in flight at once instead of waiting for each bucket, position and hash in turn.
        total = 0
        for k in range(probes):
            chunk = chunk_of[k]
            address = addresses[q, chunk] ^ masks[k]
            starts[k] = offsets[chunk, address]
            ends[k] = offsets[chunk, address + 1]
        for k in range(probes):
            total += ends[k] - starts[k]
        if total > candidates.shape[0]:
            candidates = np.empty(2 * total, dtype=np.int64)
        filled = 0
        for k in range(probes):
            chunk = chunk_of[k]
            for slot in range(starts[k], ends[k]):
                candidates[filled] = order[chunk, slot]
                filled += 1
        q0 = queries[q, 0]
        q1 = queries[q, 1]
        q2 = queries[q, 2]
        q3 = queries[q, 3]
        for c in range(filled):
            position = candidates[c]
            distance = _popcount(words[position, 0] ^ q0) + _popcount(words[position, 1] ^ q1)
            if distance > limit:
                continue
            distance += _popcount(words[position, 2] ^ q2) + _popcount(words[position, 3] ^ q3)
            if distance > limit or deleted[position]:
                continue
            if found < capacity:
                out_query[found] = q
                out_position[found] = position
                out_distance[found] = distance
            found += 1
    return found


probe_and_verify = cast(
    Callable[..., int],
    numba.njit(nogil=True, cache=True, boundscheck=False)(_probe_and_verify),
)
