"""Exact radius search in Hamming space by multi-index hashing (Norouzi, Punjani & Fleet 2012).

A 256-bit hash is cut into ``m = 11`` chunks of 23 or 24 bits. If two hashes are within ``r`` bits,
then (pigeonhole) at least one chunk differs in at most ``r // m`` bits: for r <= 32 that is 2. So
every hash within ``r`` of a query sits in a bucket reached by flipping at most 2 bits of one query
chunk: 1 + 23 + 253 = 277 probes a chunk, about 3,000 a query. With about one hash per bucket
(table bits ≈ log2 n) that is about 3,000 candidates a query, each verified exactly by XOR and
popcount over four 64-bit words. The search is exact: nothing within ``r`` is missed (the tests
compare it with brute force).

A ``Segment`` is immutable and holds, per chunk, the positions of its hashes sorted by bucket
(``order``) and the bucket boundaries (``offsets``, a direct-address table of ``2**table_bits + 1``
entries). All arrays are plain numpy arrays, so a segment can be memory-mapped from ``.npy`` files.
Queries run in batches through a compiled probe-and-verify loop (``mih_kernel``): no Python loop
per candidate, no intermediate arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from itertools import combinations

import numpy as np
import numpy.typing as npt

from safeguarding.hashing.mih_kernel import probe_and_verify
from safeguarding.hashing.pdq_bits import PDQ_BITS, Words

CHUNKS = 11
MIN_TABLE_BITS = 4

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
    """Distinct bucket-address XOR masks for every flip of at most ``flips`` of ``width`` bits."""
    shift = width - table_bits
    masks = {0}
    for count in range(1, flips + 1):
        for positions in combinations(range(width), count):
            value = sum(1 << p for p in positions)
            masks.add(value >> shift)
    return np.array(sorted(masks), dtype=np.int64)


@dataclass(frozen=True)
class Segment:
    """An immutable block of hashes with its chunk tables; ``deleted`` marks removed entries."""

    words: Words  # (n, 4) uint64
    ids: IntArray  # (n,) caller's ids
    order: npt.NDArray[np.uint32]  # (m, n) positions sorted by bucket, per chunk
    offsets: npt.NDArray[np.uint32]  # (m, 2**table_bits + 1) bucket starts, per chunk
    table_bits: int
    deleted: npt.NDArray[np.bool_]  # (n,)

    @property
    def size(self) -> int:
        return int(self.words.shape[0])

    @property
    def live(self) -> int:
        return self.size - int(np.count_nonzero(self.deleted))


def build_segment(ids: IntArray, words: Words, chunks: int = CHUNKS) -> Segment:
    """Chunk tables for ``words``: a counting sort of positions by bucket address, per chunk."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    n = words.shape[0]
    layout = chunk_layout(chunks)
    bits = min(table_bits_for(n, width) for _, width in layout)
    order = np.empty((chunks, n), dtype=np.uint32)
    offsets = np.empty((chunks, (1 << bits) + 1), dtype=np.uint32)
    for j, (start, width) in enumerate(layout):
        address = (extract_chunk(words, start, width) >> np.uint64(width - bits)).astype(np.int64)
        order[j] = np.argsort(address, kind="stable").astype(np.uint32)
        counts = np.bincount(address, minlength=1 << bits)
        offsets[j, 0] = 0
        np.cumsum(counts, out=offsets[j, 1:])
    return Segment(
        words=words,
        ids=np.ascontiguousarray(ids, dtype=np.int64),
        order=order,
        offsets=offsets,
        table_bits=bits,
        deleted=np.zeros(n, dtype=np.bool_),
    )


@dataclass(frozen=True)
class ProbePlan:
    """The probes of a search: per probe its chunk and bucket-address mask; per chunk the most
    address bits a probe flips (-1: chunk not probed) and where its address bits sit in the four
    words (the kernel uses these to report a hit only from the first chunk that reaches it)."""

    chunk_of: IntArray
    masks: IntArray
    flips: IntArray
    address_bits: npt.NDArray[np.uint64]  # (chunks, 4)


@cache
def probe_plan(chunks: int, table_bits: int, radius: int) -> ProbePlan:
    """Chunk radii ``s_j`` are chosen with ``sum(s_j + 1) > radius``: if every chunk differed
    in more than ``s_j`` bits the total would exceed the radius, so each hash within it is
    reached by some probe.

    Within a chunk the probes run in bit-reversed mask order. Masks in numeric order put a
    dozen consecutive probes into the same cache line of the bucket table (they differ only in
    low address bits), so the CPU waits on one memory read at a time; bit-reversed, consecutive
    probes fall into different lines and their reads overlap."""
    base, extra = divmod(radius + 1, chunks)
    chunk_of, masks, flips = [], [], []
    address_bits = np.zeros((chunks, 4), dtype=np.uint64)
    for j, (start, width) in enumerate(chunk_layout(chunks)):
        flips.append(base + (1 if j < extra else 0) - 1)
        for bit in range(start, start + table_bits):
            address_bits[j, bit // 64] |= np.uint64(1 << (63 - bit % 64))
        if flips[j] < 0:
            continue
        found = probe_masks(width, table_bits, flips[j])
        reversed_order = [int(format(int(m), f"0{table_bits}b")[::-1], 2) for m in found]
        chunk_of.append(np.full(len(found), j, dtype=np.int64))
        masks.append(found[np.argsort(reversed_order, kind="stable")])
    return ProbePlan(np.concatenate(chunk_of), np.concatenate(masks), np.array(flips), address_bits)


def search_segment(
    segment: Segment, queries: Words, radius: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Every ``(query index, position, distance)`` with distance <= ``radius``, each pair once."""
    empty = np.zeros(0, dtype=np.int64)
    if segment.size == 0 or len(queries) == 0 or radius < 0:
        return empty, empty, empty
    chunks = segment.order.shape[0]
    bits = segment.table_bits
    plan = probe_plan(chunks, bits, radius)
    addresses = np.stack(
        [
            (extract_chunk(queries, start, width) >> np.uint64(width - bits)).astype(np.int64)
            for start, width in chunk_layout(chunks)
        ],
        axis=1,
    )  # (q, chunks)
    owners, positions, distance = _run_kernel(segment, queries, addresses, plan, radius)
    # The kernel reports each pair once, query by query; within a query, sort by position.
    ordered = np.lexsort((positions, owners))
    return owners[ordered], positions[ordered], distance[ordered]


def _run_kernel(
    segment: Segment, queries: Words, addresses: IntArray, plan: ProbePlan, radius: int
) -> tuple[IntArray, IntArray, IntArray]:
    """The compiled probe-and-verify loop, with output room grown until every hit fits."""
    capacity = 4 * len(queries) + 1024
    while True:
        owners = np.empty(capacity, dtype=np.int64)
        positions = np.empty(capacity, dtype=np.int64)
        distance = np.empty(capacity, dtype=np.int64)
        found = probe_and_verify(
            np.asarray(segment.words),
            np.asarray(segment.order),
            np.asarray(segment.offsets),
            segment.deleted,
            queries,
            addresses,
            plan.chunk_of,
            plan.masks,
            plan.address_bits,
            plan.flips,
            radius,
            owners,
            positions,
            distance,
        )
        if found <= capacity:
            return owners[:found], positions[:found], distance[:found]
        capacity = found
