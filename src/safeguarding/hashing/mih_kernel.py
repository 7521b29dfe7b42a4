"""The probe-and-verify loop of multi-index hashing, compiled (numba) so it runs at memory speed.

For each query and each probe (a chunk and a bucket-address mask) the loop reads the bucket's
slots, keeps the entries whose chunk is close enough, and compares each candidate's hash, first
128 bits, then, only if those are within the radius, the other 128. Nearly every read is a cache
miss into an index of a gigabyte, so the loop is built to issue them in long runs of independent
reads and to make as few as it can: a bucket's entries sit in its slots (no bucket-bounds table
to read first), and a candidate costs one cache line of hash. The loop holds no Python objects
and releases the GIL, so threads search query batches on all cores at once.

Compiled once per machine (``cache=True`` keeps the machine code next to this module). Imported
by the first search (``mih._run_kernel``), not with the index: numba takes a third of a second to
load, which commands that never search would pay for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from safeguarding.hashing.mih import EMPTY, OVERFLOW
from safeguarding.hashing.pdq_bits import Words


def _popcount_typing(typingctx: Any, value: Any) -> Any:
    """Typing and code of the CPU's population count of a uint64 (LLVM ``ctpop``)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


_popcount = cast(Callable[[Any], Any], intrinsic(_popcount_typing))


def _probe_and_verify(
    words: Words,
    slots: Any,
    overflow: Any,
    overflow_starts: Any,
    deleted: Any,
    queries: Words,
    addresses: Any,
    lows: Any,
    chunk_of: Any,
    masks: Any,
    budgets: Any,
    position_bits: Any,
    chunk_bits: Any,
    flips: Any,
    radius: int,
    out_query: Any,
    out_position: Any,
    out_distance: Any,
) -> int:
    """Writes every ``(query, position, distance)`` within ``radius`` into the ``out_`` arrays,
    each pair once, and returns how many there are; if that exceeds the arrays' length only the
    first ones are written and the caller retries.

    Per query, in phases of independent memory reads (so the CPU keeps many cache misses in
    flight instead of waiting for each in turn): the two slots of every probed bucket (one
    read: most buckets hold at most two entries, inline); the block sizes of the buckets that
    overflow, then their entries; then the hash of every candidate. An entry carries its
    position and the chunk bits below the bucket address, so a candidate whose whole chunk
    differs from the query's in more bits than the probe allows (``budgets``) is dropped
    before its hash is read.

    A hash close to the query is usually reached through several chunks. It is reported only
    from the first: chunk ``j`` reaches it when the two differ in at most ``flips[j]`` of the
    chunk's bits (``chunk_bits[j]``, one mask per word), so a hit found through chunk ``k`` is
    dropped if an earlier chunk reaches it too. The probes must be grouped by chunk in
    ascending order."""
    capacity = out_query.shape[0]
    found = 0
    limit = np.uint64(radius)
    probes = chunk_of.shape[0]
    # Flat arrays indexed with unsigned offsets: no negative-index handling in the inner loops.
    flat_slots = slots.ravel()
    flat_words = words.ravel()
    buckets = np.uint64(slots.shape[1])
    one = np.uint64(1)
    two = np.uint64(2)
    empty = np.uint64(EMPTY)
    spilled_marker = np.uint64(OVERFLOW)
    slot_base = np.empty(probes, dtype=np.uint64)
    spill_base = np.empty(probes, dtype=np.uint64)
    probe_masks = np.empty(probes, dtype=np.uint64)
    shifts = np.empty(probes, dtype=np.uint64)
    for k in range(probes):
        slot_base[k] = np.uint64(chunk_of[k]) * buckets
        spill_base[k] = np.uint64(overflow_starts[chunk_of[k]])
        probe_masks[k] = np.uint64(masks[k])
        shifts[k] = np.uint64(position_bits[chunk_of[k]])
    first = np.empty(probes, dtype=np.uint64)
    second = np.empty(probes, dtype=np.uint64)
    spill_at = np.empty(probes, dtype=np.uint64)
    spill_probe = np.empty(probes, dtype=np.int64)
    spill_count = np.empty(probes, dtype=np.uint64)
    candidates = np.empty(4 * probes, dtype=np.uint64)
    found_by = np.empty(4 * probes, dtype=np.int64)
    for q in range(queries.shape[0]):
        for k in range(probes):
            slot = (slot_base[k] + (np.uint64(addresses[q, chunk_of[k]]) ^ probe_masks[k])) * two
            first[k] = flat_slots[slot]
            second[k] = flat_slots[slot + one]
        filled = 0
        spilled = 0
        for k in range(probes):
            a = first[k]
            b = second[k]
            if a == spilled_marker:
                spill_at[spilled] = spill_base[k] + b
                spill_probe[spilled] = k
                spilled += 1
                continue
            shift = shifts[k]
            low = np.uint64(lows[q, chunk_of[k]])
            budget = np.uint64(budgets[k])
            # Written always, kept only if it passes: no branch on the entries.
            candidates[filled] = (a & ((one << shift) - one)) * np.uint64(4)
            found_by[filled] = k
            filled += (a != empty) & (_popcount((a >> shift) ^ low) <= budget)
            candidates[filled] = (b & ((one << shift) - one)) * np.uint64(4)
            found_by[filled] = k
            filled += (b != empty) & (_popcount((b >> shift) ^ low) <= budget)
        more = np.uint64(0)
        for i in range(spilled):
            spill_count[i] = np.uint64(overflow[spill_at[i]])
            more += spill_count[i]
        if np.uint64(filled) + more + two > np.uint64(candidates.shape[0]):
            grown = np.empty(2 * (np.uint64(filled) + more + two), dtype=np.uint64)
            grown_by = np.empty(grown.shape[0], dtype=np.int64)
            grown[:filled] = candidates[:filled]
            grown_by[:filled] = found_by[:filled]
            candidates = grown
            found_by = grown_by
        for i in range(spilled):
            k = spill_probe[i]
            shift = shifts[k]
            low = np.uint64(lows[q, chunk_of[k]])
            budget = np.uint64(budgets[k])
            for at in range(spill_at[i] + one, spill_at[i] + one + spill_count[i]):
                entry = np.uint64(overflow[at])
                candidates[filled] = (entry & ((one << shift) - one)) * np.uint64(4)
                found_by[filled] = k
                filled += _popcount((entry >> shift) ^ low) <= budget
        q0 = queries[q, 0]
        q1 = queries[q, 1]
        q2 = queries[q, 2]
        q3 = queries[q, 3]
        for c in range(filled):
            at = candidates[c]
            x0 = flat_words[at] ^ q0
            x1 = flat_words[at + one] ^ q1
            distance = _popcount(x0) + _popcount(x1)
            if distance > limit:
                continue
            x2 = flat_words[at + two] ^ q2
            x3 = flat_words[at + np.uint64(3)] ^ q3
            distance += _popcount(x2) + _popcount(x3)
            position = at >> two
            if distance > limit or deleted[position]:
                continue
            reached_before = False
            for j in range(chunk_of[found_by[c]]):
                differing = (
                    _popcount(x0 & chunk_bits[j, 0])
                    + _popcount(x1 & chunk_bits[j, 1])
                    + _popcount(x2 & chunk_bits[j, 2])
                    + _popcount(x3 & chunk_bits[j, 3])
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
