"""The probe-and-verify loop of multi-index hashing, compiled (numba) so it runs at memory speed.

For each query and each probe (a chunk and a bucket-address mask) the loop reads the bucket's
slots, keeps the entries whose chunk is close enough, and compares each candidate's hash, first
128 bits, then, only if those are within the radius, the other 128. Nearly every read is a cache
miss into an index of a gigabyte, so the loop is built to issue them in long runs of independent
reads and to make as few as it can: a bucket's entries sit in its slots (no bucket-bounds table
to read first), and a candidate costs one cache line of hash. For a batch of thousands of
queries the partitioned loop reads each line once for all its probes instead. The loops hold no
Python objects and release the GIL, so threads search query batches on all cores at once.

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


def _reaches_first(
    x0: Any, x1: Any, x2: Any, x3: Any, chunk: Any, chunk_bits: Any, flips: Any
) -> bool:
    """Whether a chunk before ``chunk`` reaches a hit too (``x0``–``x3``: the hit's hash XOR the
    query's). A hash close to a query is usually reached through several chunks and is reported
    only from the first: chunk ``j`` reaches it when the two differ in at most ``flips[j]`` of
    its bits (``chunk_bits[j]``, one mask per word). Called for hits only, so never hot."""
    for j in range(chunk):
        differing = (
            _popcount(x0 & chunk_bits[j, 0])
            + _popcount(x1 & chunk_bits[j, 1])
            + _popcount(x2 & chunk_bits[j, 2])
            + _popcount(x3 & chunk_bits[j, 3])
        )
        if np.int64(differing) <= flips[j]:
            return True
    return False


_reached_before = numba.njit(nogil=True, cache=True, boundscheck=False)(_reaches_first)


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

    Each pair is reported once, from the first chunk that reaches it (``_reaches_first``). The
    probes must be grouped by chunk in ascending order."""
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
            if _reached_before(x0, x1, x2, x3, chunk_of[found_by[c]], chunk_bits, flips):
                continue
            if found < capacity:
                out_query[found] = q
                out_position[found] = position
                out_distance[found] = distance
            found += 1
    return found


def _partitioned_probe_and_verify(
    index: tuple[Any, ...],
    batch: tuple[Any, ...],
    plan: tuple[Any, ...],
    layout: tuple[int, int, int],
    radius: int,
    out: Any,
) -> int:
    """``probe_and_verify`` for a large batch of queries, chunk by chunk: the batch's probes of
    a chunk are counted and scattered into parts of its bucket table (``2**part_bits`` buckets
    each), then read part by part. Each cache line of the table is then fetched once and read by
    every probe that falls in it, instead of costing a random read per probe. A probe travels as
    one 32-bit word: its query, the query's chunk bits below the bucket address (``low_bits``),
    its budget (``budget_bits``) and its bucket within the part; the caller checks they fit
    (``mih.partition_layout``). The candidates of all chunks are then checked as
    ``probe_and_verify`` checks them. ``layout``: the part, low and budget bits."""
    words, slots, overflow, overflow_starts, deleted = index
    queries, addresses, lows = batch
    chunk_of, masks, budgets, position_bits, chunk_bits, flips = plan
    part_bits, low_bits, budget_bits = layout
    out_query, out_position, out_distance = out
    query_count = queries.shape[0]
    probes = chunk_of.shape[0]
    buckets = slots.shape[1]
    parts = buckets >> part_bits
    flat_words = words.ravel()
    flat_slots = slots.ravel()
    limit = np.uint64(radius)
    one = np.uint64(1)
    empty = np.uint64(EMPTY)
    spilled_marker = np.uint64(OVERFLOW)
    in_part = np.uint32((1 << part_bits) - 1)
    budget_at = np.uint32(part_bits)
    low_at = np.uint32(part_bits + budget_bits)
    query_at = np.uint32(part_bits + budget_bits + low_bits)
    budget_mask = np.uint32((1 << budget_bits) - 1)
    low_mask = np.uint32((1 << low_bits) - 1)
    widest = 0
    begin = 0
    while begin < probes:
        end = begin
        while end < probes and chunk_of[end] == chunk_of[begin]:
            end += 1
        widest = max(widest, end - begin)
        begin = end
    work = np.empty(query_count * widest, dtype=np.uint32)
    starts = np.zeros(parts + 1, dtype=np.int64)
    # A candidate: its query above bit 40, its chunk in bits 36-39, its position below.
    candidates = np.empty(64 * query_count + 4096, dtype=np.uint64)
    count = 0
    begin = 0
    while begin < probes:
        j = chunk_of[begin]
        end = begin
        while end < probes and chunk_of[end] == j:
            end += 1
        starts[:] = 0
        for q in range(query_count):
            address = addresses[q, j]
            for k in range(begin, end):
                starts[((address ^ masks[k]) >> part_bits) + 1] += 1
        for part in range(parts):
            starts[part + 1] += starts[part]
        for q in range(query_count):
            address = addresses[q, j]
            head = (np.uint32(q) << query_at) | (np.uint32(lows[q, j]) << low_at)
            for k in range(begin, end):
                probed = address ^ masks[k]
                part = probed >> part_bits
                at = starts[part]
                starts[part] = at + 1
                allowed = np.uint32(budgets[k]) << budget_at
                work[at] = head | allowed | (np.uint32(probed) & in_part)
        shift = np.uint64(position_bits[j])
        position_mask = (one << shift) - one
        spill_base = overflow_starts[j]
        slot_base = np.uint64(j) * np.uint64(buckets) * np.uint64(2)
        chunk_tag = np.uint64(j) << np.uint64(36)
        total = query_count * (end - begin)
        if count + 2 * total + 4096 > candidates.shape[0]:
            grown = np.empty(2 * (count + 2 * total + 4096), dtype=np.uint64)
            grown[:count] = candidates[:count]
            candidates = grown
        t = 0
        for part in range(parts):
            part_base = np.uint64(part) << np.uint64(part_bits)
            stop = starts[part]
            while t < stop:
                w = work[t]
                t += 1
                q = w >> query_at
                low = np.uint64((w >> low_at) & low_mask)
                budget = np.uint64((w >> budget_at) & budget_mask)
                slot = slot_base + (part_base | np.uint64(w & in_part)) * np.uint64(2)
                a = flat_slots[slot]
                b = flat_slots[slot + one]
                tag = (np.uint64(q) << np.uint64(40)) | chunk_tag
                if a == spilled_marker:
                    at = spill_base + np.int64(b)
                    size = overflow[at]
                    if count + size + 2 > candidates.shape[0]:
                        grown = np.empty(2 * (count + size + 2), dtype=np.uint64)
                        grown[:count] = candidates[:count]
                        candidates = grown
                    for e in range(at + 1, at + 1 + size):
                        entry = np.uint64(overflow[e])
                        candidates[count] = tag | (entry & position_mask)
                        count += _popcount((entry >> shift) ^ low) <= budget
                    continue
                # Written always, kept only if it passes: no branch on the entries.
                first = np.uint64(a)
                candidates[count] = tag | (first & position_mask)
                count += (first != empty) & (_popcount((first >> shift) ^ low) <= budget)
                second = np.uint64(b)
                candidates[count] = tag | (second & position_mask)
                count += (second != empty) & (_popcount((second >> shift) ^ low) <= budget)
        begin = end
    capacity = out_query.shape[0]
    found = 0
    below_chunk = (one << np.uint64(36)) - one
    for c in range(count):
        value = candidates[c]
        owner = np.int64(value >> np.uint64(40))
        chunk = np.int64((value >> np.uint64(36)) & np.uint64(15))
        position = value & below_chunk
        at = position * np.uint64(4)
        x0 = flat_words[at] ^ queries[owner, 0]
        x1 = flat_words[at + one] ^ queries[owner, 1]
        distance = _popcount(x0) + _popcount(x1)
        if distance > limit:
            continue
        x2 = flat_words[at + np.uint64(2)] ^ queries[owner, 2]
        x3 = flat_words[at + np.uint64(3)] ^ queries[owner, 3]
        distance += _popcount(x2) + _popcount(x3)
        if distance > limit or deleted[position]:
            continue
        if _reached_before(x0, x1, x2, x3, chunk, chunk_bits, flips):
            continue
        if found < capacity:
            out_query[found] = owner
            out_position[found] = np.int64(position)
            out_distance[found] = distance
        found += 1
    return found


probe_and_verify = cast(
    Callable[..., int],
    numba.njit(nogil=True, cache=True, boundscheck=False)(_probe_and_verify),
)
partitioned_probe_and_verify = cast(
    Callable[..., int],
    numba.njit(nogil=True, cache=True, boundscheck=False)(_partitioned_probe_and_verify),
)
