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
    address_bits: Any,
    flips: Any,
    radius: int,
    out_query: Any,
    out_position: Any,
    out_distance: Any,
) -> int:
    """Writes every ``(query, position, distance)`` within ``radius`` into the ``out_`` arrays,
    each pair once, and returns how many there are; if that exceeds the arrays' length only the
    first ones are written and the caller retries.

    A hash close to the query is usually in a probed bucket of several chunks. It is reported
    only from the first chunk whose probes reach it: chunk ``j`` reaches it when the query and
    the hash differ in at most ``flips[j]`` of that chunk's address bits (``address_bits[j]``,
    one mask per word), so a hit found through chunk ``k`` is dropped if an earlier chunk
    reaches it too. The probes of ``chunk_of`` must be grouped by chunk in ascending order."""
    capacity = out_query.shape[0]
    found = 0
    limit = np.uint64(radius)
    probes = chunk_of.shape[0]
    # Flat arrays indexed with unsigned offsets: no negative-index handling in the inner loops.
    flat_offsets = offsets.ravel()
    flat_order = order.ravel()
    flat_words = words.ravel()
    row = np.uint64(offsets.shape[1])
    size = np.uint64(order.shape[1])
    one = np.uint64(1)
    offsets_base = np.empty(probes, dtype=np.uint64)
    order_base = np.empty(probes, dtype=np.uint64)
    probe_masks = np.empty(probes, dtype=np.uint64)
    for k in range(probes):
        offsets_base[k] = np.uint64(chunk_of[k]) * row
        order_base[k] = np.uint64(chunk_of[k]) * size
        probe_masks[k] = np.uint64(masks[k])
    starts = np.empty(probes, dtype=np.uint64)
    ends = np.empty(probes, dtype=np.uint64)
    candidates = np.empty(16 * probes, dtype=np.uint64)
    found_by = np.empty(16 * probes, dtype=np.int64)
    for q in range(queries.shape[0]):
        # Each phase is a tight loop of independent reads, so the CPU keeps many cache misses
        # in flight at once instead of waiting for each bucket, position and hash in turn.
        total = np.uint64(0)
        for k in range(probes):
            slot = offsets_base[k] + (np.uint64(addresses[q, chunk_of[k]]) ^ probe_masks[k])
            start = np.uint64(flat_offsets[slot])
            end = np.uint64(flat_offsets[slot + one])
            starts[k] = order_base[k] + start
            ends[k] = order_base[k] + end
            total += end - start
        if total > candidates.shape[0]:
            candidates = np.empty(2 * total, dtype=np.uint64)
            found_by = np.empty(2 * total, dtype=np.int64)
        filled = 0
        for k in range(probes):
            for slot in range(starts[k], ends[k]):
                candidates[filled] = np.uint64(flat_order[slot]) * np.uint64(4)
                found_by[filled] = k
                filled += 1
        q0 = queries[q, 0]
        q1 = queries[q, 1]
        q2 = queries[q, 2]
        q3 = queries[q, 3]
        for c in range(filled):
            first = candidates[c]
            distance = _popcount(flat_words[first] ^ q0) + _popcount(flat_words[first + one] ^ q1)
            if distance > limit:
                continue
            x0 = flat_words[first] ^ q0
            x1 = flat_words[first + one] ^ q1
            x2 = flat_words[first + np.uint64(2)] ^ q2
            x3 = flat_words[first + np.uint64(3)] ^ q3
            distance += _popcount(x2) + _popcount(x3)
            position = first >> np.uint64(2)
            if distance > limit or deleted[position]:
                continue
            reached_before = False
            for j in range(chunk_of[found_by[c]]):
                differing = (
                    _popcount(x0 & address_bits[j, 0])
                    + _popcount(x1 & address_bits[j, 1])
                    + _popcount(x2 & address_bits[j, 2])
                    + _popcount(x3 & address_bits[j, 3])
                )
                if np.int64(differing) <= flips[j]:
                    reached_before = True
                    break
            if reached_before:
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
