"""The probe-and-verify loop of multi-index hashing, compiled (numba) so it runs at memory speed.

For each query and each probe (a chunk and a bucket-address mask) the loop reads the bucket's
slots, keeps the entries whose chunk is close enough, and compares each candidate's hash, first
128 bits, then, only if those are within the radius, the other 128. Nearly every read is a cache
miss into an index of a gigabyte, and a core waits on each for some 100 ns, so what the loop costs
is how many misses it keeps in flight at once. It is built for that:

- the bucket reads of two queries run in one loop of a few instructions a read (one 64-bit load
  takes both slots of a bucket), so the processor's window holds dozens of them at once; a loop
  that also filtered the entries held a few;
- the entries are filtered afterwards, from the cache, in a loop indexed with unsigned integers
  (a signed index makes numba add a negative-index correction to every access, which cost as much
  as the filtering itself);
- the block of a bucket with more than two entries is requested (prefetched) as soon as its slot
  is seen, and read after both queries' entries are filtered, by when it has arrived;
- each candidate's hash is requested a few dozen candidates before it is compared, because the
  comparison loop is too long for the window to run that far ahead by itself.

Over 10 M hashes at radius 31 this halved a query's time against a loop that read, filtered and
compared each probe in turn (docs/benchmarks.md). The loops hold no Python objects and release
the GIL, so threads search query batches on all cores at once.

Compiled once per machine (``cache=True`` keeps the machine code next to this module). Imported
by the first search (``mih._run_kernel``), not with the index: numba takes a third of a second to
load, which commands that never search would pay for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import llvmlite.ir as llvm_ir
import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from safeguarding.hashing.mih import EMPTY, OVERFLOW

# Candidates whose hash is requested ahead of its comparison: far enough for the request to be
# answered by then (about 100 ns at 10 ns a comparison), near enough to stay in the first-level
# cache. 16, 32 and 64 measured alike; 8 was a fifth slower.
AHEAD = 32


def _popcount_typing(typingctx: Any, value: Any) -> Any:
    """Typing and code of the CPU's population count of a uint64 (LLVM ``ctpop``)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


_popcount = cast(Callable[[Any], Any], intrinsic(_popcount_typing))


def _prefetch_typing(typingctx: Any, array: Any, index: Any) -> Any:
    """Typing and code of a request for the cache line of ``array[index]`` (LLVM ``prefetch``:
    a read, kept in every cache level). It never faults, so the index needs no check."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_pointer = llvm_ir.IntType(8).as_pointer()
        int32 = llvm_ir.IntType(32)
        function_type = llvm_ir.FunctionType(
            llvm_ir.VoidType(), [byte_pointer, int32, int32, int32]
        )
        prefetch = builder.module.declare_intrinsic("llvm.prefetch", [byte_pointer], function_type)
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_pointer)
        read, keep_everywhere, data_cache = (llvm_ir.Constant(int32, v) for v in (0, 3, 1))
        builder.call(prefetch, [address, read, keep_everywhere, data_cache])
        return context.get_dummy_value()

    return types.none(array, index), codegen


_prefetch = cast(Callable[[Any, Any], None], intrinsic(_prefetch_typing))


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


def _keep_inline(
    buckets: Any,
    offset: Any,
    query: int,
    shared: tuple[Any, ...],
    filled: Any,
    chunk_ends: Any,
    spilled: Any,
) -> tuple[Any, Any]:
    """One query's candidates from its buckets (``buckets[offset + k]`` for probe ``k``): the
    positions of the entries whose chunk bits below the bucket address differ from the query's
    in at most the probe's budget, appended to ``candidates`` from ``filled``; the index after
    each chunk's last goes to ``chunk_ends``. A bucket with more than two entries goes to the
    ``spills`` (its block, chunk and budget) and its block is requested. Returns the new ends.
    ``shared``: what both queries of a pair are filtered with (``_probe_and_verify``)."""
    lows, plan, overflow, overflow_starts, halves, candidates, spills = shared
    chunk_starts, budgets, position_bits = plan
    first_half, second_half = halves
    spill_at, spill_chunk, spill_budget = spills
    one = np.uint64(1)
    half_mask = np.uint64(0xFFFFFFFF)
    empty = np.uint64(EMPTY)
    marker = np.uint64(OVERFLOW)
    for j in range(chunk_starts.shape[0] - 1):
        shift = np.uint64(position_bits[j])
        keep = (one << shift) - one
        low = np.uint64(lows[query, j])
        spill_base = np.uint64(overflow_starts[j])
        for k in range(np.uint64(chunk_starts[j]), np.uint64(chunk_starts[j + 1])):
            both = buckets[offset + k]
            a = (both >> first_half) & half_mask
            b = (both >> second_half) & half_mask
            budget = np.uint64(budgets[k])
            if a == marker:
                at = spill_base + b
                _prefetch(overflow, at)
                spill_at[spilled] = at
                spill_chunk[spilled] = np.uint64(j)
                spill_budget[spilled] = budget
                spilled += one
                continue
            # Written always, kept only if it passes: no branch on the entries.
            candidates[filled] = a & keep
            filled += np.uint64((a != empty) & (_popcount((a >> shift) ^ low) <= budget))
            candidates[filled] = b & keep
            filled += np.uint64((b != empty) & (_popcount((b >> shift) ^ low) <= budget))
        chunk_ends[j] = filled
    return filled, spilled


_keep_inline_entries = numba.njit(nogil=True, cache=True, boundscheck=False)(_keep_inline)


def _keep_spilled(
    overflow: Any,
    query: int,
    lows: Any,
    position_bits: Any,
    spills: tuple[Any, Any, Any],
    begin: Any,
    end: Any,
    candidates: Any,
    filled: Any,
) -> Any:
    """The candidates of one query's spilled buckets (``spills[begin:end]``), appended from
    ``filled``; each spill's ``spill_at`` becomes the index after its last candidate."""
    spill_at, spill_chunk, spill_budget = spills
    one = np.uint64(1)
    for s in range(begin, end):
        j = spill_chunk[s]
        shift = np.uint64(position_bits[j])
        keep = (one << shift) - one
        low = np.uint64(lows[query, j])
        budget = spill_budget[s]
        at = spill_at[s]
        for e in range(at + one, at + one + np.uint64(overflow[at])):
            entry = np.uint64(overflow[e])
            candidates[filled] = entry & keep
            filled += np.uint64(_popcount((entry >> shift) ^ low) <= budget)
        spill_at[s] = filled
    return filled


_keep_spilled_entries = numba.njit(nogil=True, cache=True, boundscheck=False)(_keep_spilled)


def _probe_and_verify(
    index: tuple[Any, ...],
    batch: tuple[Any, ...],
    plan: tuple[Any, ...],
    halves: tuple[Any, Any],
    radius: int,
    out: tuple[Any, Any, Any],
) -> int:
    """Writes every ``(query, position, distance)`` within ``radius`` into the ``out`` arrays,
    each pair once, and returns how many there are; if that exceeds the arrays' length only the
    first ones are written and the caller retries.

    ``index``: the segment's words, bucket slots as one uint64 a bucket (``halves``: the shifts
    that give its first and second slot), overflow blocks, where each chunk's blocks start, and
    the deletions. ``batch``: the queries with their bucket addresses and low chunk bits.
    ``plan``: where each chunk's probes start, their masks and budgets, and per chunk the
    position bits of an entry, its bits in the four words and its flips.

    Queries go two at a time: both queries' buckets are read in one loop; then each query's
    entries are filtered into its candidates (``_keep_inline``), the spilled buckets of both are
    expanded (``_keep_spilled``), and all candidates of the two are compared in one loop, each
    requested ``AHEAD`` candidates early. Each pair is reported once, from the first chunk that
    reaches it (``_reaches_first``)."""
    words, slots, overflow, overflow_starts, deleted = index
    queries, addresses, lows = batch
    chunk_starts, masks, budgets, position_bits, chunk_bits, flips = plan
    out_query, out_position, out_distance = out
    capacity = out_query.shape[0]
    found = 0
    limit = np.uint64(radius)
    probes = np.uint64(masks.shape[0])
    count = queries.shape[0]
    chunks = chunk_starts.shape[0] - 1
    buckets_per_chunk = np.uint64(slots.shape[0] // chunks)
    flat_words = words.ravel()
    zero = np.uint64(0)
    one = np.uint64(1)
    two = np.uint64(2)
    three = np.uint64(3)
    four = np.uint64(4)
    ahead = np.uint64(AHEAD)
    filters = (chunk_starts, budgets, position_bits)
    buckets = np.empty(2 * probes, dtype=np.uint64)
    candidates = np.empty(4 * probes + 16, dtype=np.uint64)
    near = np.empty(candidates.shape[0], dtype=np.uint64)
    chunk_ends = np.empty(2 * chunks, dtype=np.uint64)
    spill_at = np.empty(2 * probes, dtype=np.uint64)
    spill_chunk = np.empty(2 * probes, dtype=np.uint64)
    spill_budget = np.empty(2 * probes, dtype=np.uint64)
    spills = (spill_at, spill_chunk, spill_budget)
    for first in range(0, count, 2):
        second = first + 1 if first + 1 < count else first
        for j in range(chunks):
            base = np.uint64(j) * buckets_per_chunk
            a0 = base + np.uint64(addresses[first, j])
            a1 = base + np.uint64(addresses[second, j])
            for k in range(np.uint64(chunk_starts[j]), np.uint64(chunk_starts[j + 1])):
                mask = np.uint64(masks[k])
                buckets[k] = slots[a0 ^ mask]
                buckets[probes + k] = slots[a1 ^ mask]
        # Candidates: [0, f0) inline of the first query, [f0, f1) of the second, [f1, g0) the
        # first's spilled buckets, [g0, g1) the second's.
        shared = (lows, filters, overflow, overflow_starts, halves, candidates, spills)
        f0, s0 = _keep_inline_entries(buckets, zero, first, shared, zero, chunk_ends[:chunks], zero)
        f1, s1 = f0, s0
        if second != first:
            f1, s1 = _keep_inline_entries(
                buckets, probes, second, shared, f0, chunk_ends[chunks:], s0
            )
        more = zero
        for s in range(s1):
            more += np.uint64(overflow[spill_at[s]])
        if f1 + more + ahead > np.uint64(candidates.shape[0]):
            grown = np.empty(2 * (f1 + more + ahead), dtype=np.uint64)
            grown[:f1] = candidates[:f1]
            candidates = grown
            near = np.empty(grown.shape[0], dtype=np.uint64)
        g0 = _keep_spilled_entries(
            overflow, first, lows, position_bits, spills, zero, s0, candidates, f1
        )
        g1 = _keep_spilled_entries(
            overflow, second, lows, position_bits, spills, s0, s1, candidates, g0
        )
        close = zero
        for c in range(g1):
            if c + ahead < g1:
                _prefetch(flat_words, candidates[c + ahead] * four)
            q = second if ((c >= f0) & (c < f1)) | (c >= g0) else first
            at = candidates[c] * four
            d = _popcount(flat_words[at] ^ queries[q, 0]) + _popcount(
                flat_words[at + one] ^ queries[q, 1]
            )
            near[close] = c
            close += np.uint64(d <= limit)
        for i in range(close):
            c = near[i]
            q = second if ((c >= f0) & (c < f1)) | (c >= g0) else first
            at = candidates[c] * four
            x0 = flat_words[at] ^ queries[q, 0]
            x1 = flat_words[at + one] ^ queries[q, 1]
            x2 = flat_words[at + two] ^ queries[q, 2]
            x3 = flat_words[at + three] ^ queries[q, 3]
            distance = _popcount(x0) + _popcount(x1) + _popcount(x2) + _popcount(x3)
            position = candidates[c]
            if distance > limit or deleted[position]:
                continue
            if c < f0:
                chunk = np.int64(np.searchsorted(chunk_ends[:chunks], c, side="right"))
            elif c < f1:
                chunk = np.int64(np.searchsorted(chunk_ends[chunks:], c, side="right"))
            else:
                chunk = np.int64(spill_chunk[np.searchsorted(spill_at[:s1], c, side="right")])
            if _reached_before(x0, x1, x2, x3, chunk, chunk_bits, flips):
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
