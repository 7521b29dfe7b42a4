"""Exact radius search in Hamming space by multi-index hashing (Norouzi, Punjani & Fleet 2012).

A 256-bit hash is cut into ``m = 11`` chunks of 23 or 24 bits. If two hashes are within ``r`` bits,
then (pigeonhole) at least one chunk differs in at most ``r // m`` bits: for r <= 32 that is 2. So
every hash within ``r`` of a query sits in a bucket reached by flipping at most 2 bits of one query
chunk: 1 + 23 + 253 = 277 probes a chunk, about 3,000 a query. With about one hash per bucket
(table bits ≈ log2 n) that is about 3,000 candidates a query, each verified exactly by XOR and
popcount over four 64-bit words. The search is exact: nothing within ``r`` is missed (the tests
compare it with brute force).

A ``Segment`` is immutable and holds, per chunk, a direct-address table of ``2**table_bits``
buckets (table bits ≈ log2 n, so about one hash a bucket). A bucket's two slots hold its entries
when it has at most two, as most do, so a probe is one memory read; larger buckets point to a
block in an overflow array. An entry holds the hash's position and the chunk bits below the
bucket address, so entries too far from the query in their chunk are dropped before their hash
is read. All arrays are plain numpy arrays, so a segment can be memory-mapped from ``.npy`` files.
Queries run in batches through a compiled probe-and-verify loop (``mih_kernel``): no Python loop
per candidate, no intermediate arrays. (Sorting a large batch's probes by part of the table, so
each cache line is fetched once for all of them, was tried and removed: the sorting cost more
than the reads it saved once the loop kept many reads in flight, docs/benchmarks.md.)
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import combinations

import numpy as np
import numpy.typing as npt

from safeguarding.hashing.pdq_bits import PDQ_BITS, Words, distances

CHUNKS = 11
EMPTY = 0xFFFFFFFF  # a bucket slot without an entry
OVERFLOW = 0xFFFFFFFE  # first slot of a bucket with more than two entries; the second slot
# then holds where its block (count, then entries) starts in the chunk's overflow array
MIN_TABLE_BITS = 4
SCAN_FACTOR = 4  # probes a query may make per hash of a segment before it is scanned instead

IntArray = npt.NDArray[np.int64]


def chunk_layout(chunks: int = CHUNKS) -> list[tuple[int, int]]:
    """``(start bit, width)`` of each chunk; widths differ by at most one bit."""
    base, extra = divmod(PDQ_BITS, chunks)
    layout, start = [], 0
    for j in range(chunks):
        width = base + (1 if j < extra else 0)
        layout.append((start, width))
        start += width
    return layout


def table_bits_for(size: int, width: int) -> int:
    """Bucket address bits: about log2(size), so buckets hold about one hash each."""
    wanted = round(math.log2(size)) if size > 1 else MIN_TABLE_BITS
    return max(MIN_TABLE_BITS, min(width, wanted))


def extract_chunk(words: Words, start: int, width: int) -> npt.NDArray[np.uint64]:
    """Bits ``[start, start + width)`` of each hash (bit 0 is the most significant of word 0)."""
    word, offset = divmod(start, 64)
    mask = np.uint64((1 << width) - 1)
    if offset + width <= 64:
        return (words[:, word] >> np.uint64(64 - offset - width)) & mask
    low_bits = offset + width - 64
    high = (words[:, word] << np.uint64(low_bits)) & mask
    return high | (words[:, word + 1] >> np.uint64(64 - low_bits))


@cache
def probe_masks(width: int, table_bits: int, flips: int) -> npt.NDArray[np.int64]:
    """Distinct bucket-address XOR masks for every flip of at most ``flips`` of ``width`` bits.

    A flip below the bucket address changes no address bit, so the masks are exactly the
    ``table_bits``-bit values with at most ``flips`` bits set: enumerated over the address bits,
    not over the chunk's ``width``. Enumerating the chunk's flips took some 20 s at the 11 flips
    a chunk of radius 128 (four million combinations for a few thousand masks)."""
    assert 0 <= table_bits <= width
    if flips >= table_bits:
        return np.arange(1 << table_bits, dtype=np.int64)
    wanted = sum(math.comb(table_bits, count) for count in range(flips + 1))
    if wanted * 8 > 1 << table_bits:  # most of the table: filter every address
        every = np.arange(1 << table_bits, dtype=np.int64)
        return every[np.bitwise_count(every) <= flips]
    masks = [
        sum(1 << p for p in positions)
        for count in range(flips + 1)
        for positions in combinations(range(table_bits), count)
    ]
    return np.array(sorted(masks), dtype=np.int64)


@dataclass(frozen=True)
class Segment:
    """An immutable block of hashes with its chunk tables; ``deleted`` marks removed entries.

    Per chunk, bucket ``b`` (the chunk's top ``table_bits`` bits) has two uint32 slots in
    ``slots[chunk, b]``: its entries if it has at most two (``EMPTY`` where there is none), else
    ``OVERFLOW`` and the start of its block in that chunk's part of ``overflow`` (from
    ``overflow_starts[chunk]``): the entry count, then the entries. An entry is a position,
    with the chunk's bits below the bucket address above ``position_bits`` of them."""

    words: Words  # (n, 4) uint64
    ids: IntArray  # (n,) caller's ids
    slots: npt.NDArray[np.uint32]  # (m, 2**table_bits, 2)
    overflow: npt.NDArray[np.uint32]  # blocks of the buckets with more than two entries
    overflow_starts: IntArray  # (m + 1,) where each chunk's blocks start in ``overflow``
    table_bits: int
    deleted: npt.NDArray[np.bool_]  # (n,)

    @property
    def size(self) -> int:
        return int(self.words.shape[0])

    @cached_property
    def live(self) -> int:
        """Hashes not deleted: counted once (each search asks; a deletion makes a new segment)."""
        return self.size - int(np.count_nonzero(self.deleted))


def position_bits(width: int, table_bits: int) -> int:
    """Bits of an entry that hold the position: the rest (below ``EMPTY`` and ``OVERFLOW``,
    so the top bit stays clear) holds the chunk's ``width - table_bits`` low bits."""
    return 31 - (width - table_bits)


def build_segment(ids: IntArray, words: Words, chunks: int = CHUNKS) -> Segment:
    """Chunk tables for ``words``: per chunk, positions sorted by bucket address, put into the
    buckets' slots or, for buckets of more than two, into overflow blocks."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    n = words.shape[0]
    layout = chunk_layout(chunks)
    bits = min(table_bits_for(n, width) for _, width in layout)
    limit = min(position_bits(width, bits) for _, width in layout)
    if n > 1 << limit:
        raise ValueError(f"{n} hashes in one segment: at most {1 << limit}")
    slots = np.empty((chunks, 1 << bits, 2), dtype=np.uint32)
    blocks = []
    for j, (start, width) in enumerate(layout):
        slots[j], block = _chunk_table(extract_chunk(words, start, width), width, bits)
        blocks.append(block)
    return Segment(
        words=words,
        ids=np.ascontiguousarray(ids, dtype=np.int64),
        slots=slots,
        overflow=np.concatenate(blocks),
        overflow_starts=np.concatenate([[0], np.cumsum([len(b) for b in blocks])]).astype(np.int64),
        table_bits=bits,
        deleted=np.zeros(n, dtype=np.bool_),
    )


def _chunk_table(
    value: npt.NDArray[np.uint64], width: int, bits: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """The bucket slots and overflow blocks of one chunk (``value``: the chunk of each hash)."""
    n = value.shape[0]
    low = np.uint64(width - bits)
    address = (value >> low).astype(np.int64)
    entry = (
        (value & ((np.uint64(1) << low) - np.uint64(1))) << np.uint64(position_bits(width, bits))
    ) | np.arange(n, dtype=np.uint64)
    order = np.argsort(address, kind="stable")
    entries = entry[order].astype(np.uint32)
    counts = np.bincount(address, minlength=1 << bits)
    starts = np.zeros(counts.shape[0], dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    slots = np.full((counts.shape[0], 2), EMPTY, dtype=np.uint32)
    inline = (counts >= 1) & (counts <= 2)
    slots[inline, 0] = entries[starts[inline]]
    pair = counts == 2
    slots[pair, 1] = entries[starts[pair] + 1]
    big = np.flatnonzero(counts > 2)
    sizes = counts[big] + 1
    block_starts = np.zeros(big.shape[0], dtype=np.int64)
    np.cumsum(sizes[:-1], out=block_starts[1:])
    block = np.empty(int(sizes.sum()), dtype=np.uint32)
    block[block_starts] = counts[big]
    first_entry = np.zeros(counts.shape[0], dtype=np.int64)
    first_entry[big] = block_starts + 1
    member = np.repeat(counts > 2, counts)
    rank = np.arange(n, dtype=np.int64) - np.repeat(starts, counts)
    block[np.repeat(first_entry, counts)[member] + rank[member]] = entries[member]
    slots[big, 0] = OVERFLOW
    slots[big, 1] = block_starts
    return slots, block


@dataclass(frozen=True)
class ProbePlan:
    """The probes of a search, chunk by chunk (``chunk_starts[j]``: chunk ``j``'s first). Per
    probe: its bucket-address mask and how many more bits the chunk's low bits may differ in
    (``budgets``). Per chunk: the most bits the chunk
    may differ in (``flips``, -1: chunk not probed), where its bits sit in the four words
    (``chunk_bits``; the kernel reports a hit only from the first chunk that reaches it) and
    where an entry's position ends (``position_bits``)."""

    chunk_starts: IntArray  # (chunks + 1,)
    masks: IntArray
    budgets: IntArray
    flips: IntArray
    chunk_bits: npt.NDArray[np.uint64]  # (chunks, 4)
    position_bits: IntArray


def chunk_flips(chunks: int, radius: int) -> list[int]:
    """The bits a probe may flip in each chunk (``s_j``; -1 where a chunk is not probed)."""
    base, extra = divmod(radius + 1, chunks)
    return [base + (1 if j < extra else 0) - 1 for j in range(chunks)]


def probe_count(chunks: int, table_bits: int, radius: int) -> int:
    """Probes a query makes at ``radius``, counted without building them."""
    return sum(
        min(1 << table_bits, sum(math.comb(table_bits, k) for k in range(flips + 1)))
        for flips in chunk_flips(chunks, radius)
        if flips >= 0
    )


def scans(segment: Segment, radius: int) -> bool:
    """Whether ``segment`` is searched at ``radius`` by comparing every hash: where a query
    would make more than ``SCAN_FACTOR`` probes per hash of the segment. The probes grow
    combinatorially with the radius (about 8 M a query at radius 128 over a 1 M-hash segment,
    2,131 at radius 31), each a random read, where a scan reads each hash once, in order."""
    probes = probe_count(segment.slots.shape[0], segment.table_bits, radius)
    return probes > SCAN_FACTOR * segment.size


@cache
def probe_plan(chunks: int, table_bits: int, radius: int) -> ProbePlan:
    """Chunk radii ``s_j`` are chosen with ``sum(s_j + 1) > radius``: if every chunk differed
    in more than ``s_j`` bits the total would exceed the radius, so each hash within it is
    reached by some probe: through the bucket whose address differs from the query's in the
    same bits, where its low bits differ in the rest.

    Within a chunk the probes run in bit-reversed mask order. Masks in numeric order put many
    consecutive probes into the same cache line of the bucket table (they differ only in low
    address bits), so the CPU waits on few memory reads at a time; bit-reversed, consecutive
    probes fall into different lines and their reads overlap."""
    flips = chunk_flips(chunks, radius)
    starts, masks, budgets, positions = [0], [], [], []
    chunk_bits = np.zeros((chunks, 4), dtype=np.uint64)
    for j, (start, width) in enumerate(chunk_layout(chunks)):
        positions.append(position_bits(width, table_bits))
        for bit in range(start, start + width):
            chunk_bits[j, bit // 64] |= np.uint64(1 << (63 - bit % 64))
        if flips[j] < 0:
            starts.append(starts[-1])
            continue
        found = probe_masks(width, table_bits, flips[j])
        found = found[np.argsort(_reversed(found, table_bits), kind="stable")]
        starts.append(starts[-1] + len(found))
        masks.append(found)
        budgets.append(flips[j] - np.bitwise_count(found).astype(np.int64))
    return ProbePlan(
        chunk_starts=np.array(starts, dtype=np.int64),
        masks=np.concatenate(masks),
        budgets=np.concatenate(budgets),
        flips=np.array(flips, dtype=np.int64),
        chunk_bits=chunk_bits,
        position_bits=np.array(positions, dtype=np.int64),
    )


def _reversed(values: IntArray, bits: int) -> IntArray:
    """Each value's lowest ``bits`` bits in reverse order."""
    result = np.zeros_like(values)
    for bit in range(bits):
        result |= ((values >> bit) & 1) << (bits - 1 - bit)
    return result


def search_segment(
    segment: Segment, queries: Words, radius: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Every ``(query index, position, distance)`` with distance <= ``radius``, each pair once,
    by query and then position."""
    empty = np.zeros(0, dtype=np.int64)
    if segment.size == 0 or len(queries) == 0 or radius < 0:
        return empty, empty, empty
    if scans(segment, radius):
        return _scan(segment, queries, radius)
    chunks = segment.slots.shape[0]
    bits = segment.table_bits
    plan = probe_plan(chunks, bits, radius)
    addresses, lows = query_chunks(queries, chunks, bits)
    buckets, halves = bucket_words(segment.slots)
    owners, positions, distance = run_kernel(
        segment, buckets, halves, queries, addresses, lows, plan, radius
    )
    # The kernel reports each pair once, two queries at a time, in no order within them.
    ordered = np.lexsort((positions, owners))
    return owners[ordered], positions[ordered], distance[ordered]


def _scan(segment: Segment, queries: Words, radius: int) -> tuple[IntArray, IntArray, IntArray]:
    """``search_segment``'s answer by comparing each query with every live hash."""
    words = np.asarray(segment.words)
    live = ~segment.deleted
    owners, positions, distance = [], [], []
    for number, query in enumerate(queries):
        apart = distances(words, query)
        (near,) = np.nonzero((apart <= radius) & live)
        owners.append(np.full(near.size, number, dtype=np.int64))
        positions.append(near.astype(np.int64))
        distance.append(apart[near])
    return np.concatenate(owners), np.concatenate(positions), np.concatenate(distance)


def query_chunks(queries: Words, chunks: int, table_bits: int) -> tuple[IntArray, IntArray]:
    """Per query and chunk: its bucket address (the chunk's top ``table_bits`` bits) and the
    chunk's bits below it, which the kernel compares with an entry's."""
    addresses = np.empty((len(queries), chunks), dtype=np.int64)
    lows = np.empty_like(addresses)
    for j, (start, width) in enumerate(chunk_layout(chunks)):
        value = extract_chunk(queries, start, width)
        below = np.uint64(width - table_bits)
        addresses[:, j] = value >> below
        lows[:, j] = value & ((np.uint64(1) << below) - np.uint64(1))
    return addresses, lows


def bucket_words(slots: npt.NDArray[np.uint32]) -> tuple[npt.NDArray[np.uint64], tuple[int, int]]:
    """A segment's bucket slots as one uint64 a bucket (a view, no copy), and the shifts that
    give its first and second slot: which half is the first depends on the byte order of the
    machine, which wrote and reads the arrays in its own (``pdq_index`` refuses other files)."""
    halves = (0, 32) if sys.byteorder == "little" else (32, 0)
    return np.asarray(slots).view(np.uint64).reshape(-1), halves


def run_kernel(
    segment: Segment,
    buckets: npt.NDArray[np.uint64],
    halves: tuple[int, int],
    queries: Words,
    addresses: IntArray,
    lows: IntArray,
    plan: ProbePlan,
    radius: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """The compiled probe-and-verify loop over ``segment`` read through ``buckets``
    (``bucket_words``), with output room grown until every hit fits; each pair once, unordered."""
    # numba: by the first search
    from safeguarding.hashing.mih_kernel import probe_and_verify

    index = (
        np.asarray(segment.words),
        buckets,
        np.asarray(segment.overflow),
        np.asarray(segment.overflow_starts),
        segment.deleted,
    )
    batch = (queries, addresses, lows)
    probes = (
        plan.chunk_starts,
        plan.masks,
        plan.budgets,
        plan.position_bits,
        plan.chunk_bits,
        plan.flips,
    )
    shifts = (np.uint64(halves[0]), np.uint64(halves[1]))
    capacity = 4 * len(queries) + 1024
    while True:
        owners = np.empty(capacity, dtype=np.int64)
        positions = np.empty(capacity, dtype=np.int64)
        distance = np.empty(capacity, dtype=np.int64)
        out = (owners, positions, distance)
        found = probe_and_verify(index, batch, probes, shifts, radius, out)
        if found <= capacity:
            return owners[:found], positions[:found], distance[:found]
        capacity = found
