"""The PDQ index is exact: for any data and radius it returns what brute force returns."""

from __future__ import annotations

import json
import mmap
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.errors import SafeguardingError
from safeguarding.hashing.mih import (
    EMPTY,
    OVERFLOW,
    build_segment,
    chunk_layout,
    extract_chunk,
    position_bits,
    probe_masks,
    probe_plan,
    query_chunks,
    run_kernel,
    scans,
    search_segment,
)
from safeguarding.hashing.pdq_bits import distances, hex_to_words, words_to_hex
from safeguarding.hashing.pdq_index import FORMAT_VERSION, PDQIndex
from safeguarding.triage.generate import flip_bits, random_pdq


def _brute(
    db: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int
) -> set[tuple[int, int, int]]:
    found = set()
    for q, query in enumerate(queries):
        d = distances(db, query[None, :])
        for position in np.flatnonzero(d <= radius):
            found.add((q, int(ids[position]), int(d[position])))
    return found


def _hits(index: PDQIndex, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    hits = index.search(queries, radius)
    found = set(zip(hits.query.tolist(), hits.ids.tolist(), hits.distance.tolist(), strict=True))
    # A hash close to a query in several chunks is still reported once.
    assert len(found) == len(hits)
    return found


def _near(db: np.ndarray, seed: int, count: int, max_bits: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = db[rng.integers(0, len(db), size=count)]
    flips = rng.integers(0, max_bits + 1, size=count)
    return hex_to_words(flip_bits(words_to_hex(picks), flips, rng))


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(1, 3000),
    seed=st.integers(0, 2**31),
    radius=st.integers(0, 48),
)
def test_index_equals_brute_force(size: int, seed: int, radius: int) -> None:
    db = random_pdq(size, seed)
    ids = np.arange(size, dtype=np.int64) * 7 + 3
    queries = np.concatenate([_near(db, seed + 1, 20, 40), random_pdq(5, seed + 2)])
    index = PDQIndex()
    index.add_segment("s", ids, db)
    assert _hits(index, queries, radius) == _brute(db, ids, queries, radius)


@settings(max_examples=10, deadline=None)
@given(size=st.integers(1, 2000), seed=st.integers(0, 2**31), radius=st.integers(49, 128))
def test_large_radii_equal_brute_force(size: int, seed: int, radius: int) -> None:
    """A list may set its PDQ threshold up to 128: there the probes outnumber the hashes and
    the segment is scanned; either way the answer is brute force's."""
    db = random_pdq(size, seed)
    ids = np.arange(size, dtype=np.int64)
    queries = np.concatenate([_near(db, seed + 1, 10, 120), random_pdq(5, seed + 2)])
    index = PDQIndex()
    index.add_segment("s", ids, db)
    assert _hits(index, queries, radius) == _brute(db, ids, queries, radius)


def test_a_segment_is_scanned_only_where_its_probes_outnumber_its_hashes() -> None:
    segment = build_segment(np.arange(2000, dtype=np.int64), random_pdq(2000, 5))
    assert not scans(segment, 31) and scans(segment, 128)


@settings(max_examples=40, deadline=None)
@given(width=st.integers(4, 14), data=st.data())
def test_probe_masks_are_the_bucket_addresses_of_every_flip_of_the_chunk(
    width: int, data: st.DataObject
) -> None:
    table_bits = data.draw(st.integers(1, width))
    flips = data.draw(st.integers(0, width))
    enumerated = {
        sum(1 << bit for bit in bits) >> (width - table_bits)
        for count in range(flips + 1)
        for bits in combinations(range(width), count)
    }
    assert probe_masks(width, table_bits, flips).tolist() == sorted(enumerated)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), duplicates=st.integers(1, 50))
def test_clustered_and_duplicate_hashes_are_all_found(seed: int, duplicates: int) -> None:
    # Real lists hold clusters of near-identical hashes: buckets get crowded, never missed.
    base = random_pdq(20, seed)
    db = np.concatenate([base] * duplicates + [_near(base, seed, 200, 10)])
    ids = np.arange(len(db), dtype=np.int64)
    queries = _near(base, seed + 9, 10, 31)
    index = PDQIndex()
    index.add_segment("s", ids, db)
    assert _hits(index, queries, 31) == _brute(db, ids, queries, 31)


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(1, 3000),
    seed=st.integers(0, 2**31),
    radius=st.integers(0, 48),
    duplicates=st.integers(1, 4),
    removed=st.integers(0, 20),
    count=st.integers(1, 9),
)
def test_crowded_buckets_deletions_and_odd_batches_equal_brute_force(
    size: int, seed: int, radius: int, duplicates: int, removed: int, count: int
) -> None:
    # The kernel takes queries two at a time and spills crowded buckets into blocks: an odd
    # batch, buckets of many entries (duplicates) and deleted entries at every radius give
    # brute force's hits, each once, by query and then position.
    base = random_pdq(size, seed)
    db = np.concatenate([base] * duplicates)
    segment = build_segment(np.arange(len(db), dtype=np.int64), db)
    gone = np.random.default_rng(seed).choice(len(db), size=min(removed, len(db)), replace=False)
    segment.deleted[gone] = True
    queries = np.concatenate([_near(base, seed + 1, count, 40), random_pdq(count % 3, seed + 2)])
    owners, positions, distance = search_segment(segment, queries, radius)
    assert sorted(zip(owners.tolist(), positions.tolist(), strict=True)) == list(
        zip(owners.tolist(), positions.tolist(), strict=True)
    )
    live = np.flatnonzero(~segment.deleted)
    found = set(zip(owners.tolist(), positions.tolist(), distance.tolist(), strict=True))
    assert len(found) == len(owners)
    assert found == _brute(db[live], live, queries, radius)


def test_the_kernel_reads_a_buckets_slots_in_either_byte_order() -> None:
    # A bucket's two uint32 slots are read as one uint64; on a big-endian machine the first
    # slot is its high half. Given the uint64s such a machine reads and the halves it is told,
    # the kernel finds what it finds here.
    db = random_pdq(3000, 41)
    db = np.concatenate([db, db[:300], db[:100]])  # crowded buckets: overflow blocks too
    segment = build_segment(np.arange(len(db), dtype=np.int64), db)
    queries = _near(db, 42, 7, 31)
    expected = search_segment(segment, queries, 31)
    slots = segment.slots.astype(np.uint64)
    big_endian = ((slots[..., 0] << np.uint64(32)) | slots[..., 1]).reshape(-1)
    chunks, bits = segment.slots.shape[0], segment.table_bits
    addresses, lows = query_chunks(queries, chunks, bits)
    plan = probe_plan(chunks, bits, 31)
    hits = run_kernel(segment, big_endian, (32, 0), queries, addresses, lows, plan, 31)
    found = set(zip(*(part.tolist() for part in hits), strict=True))
    assert len(found) == len(hits[0]) == len(expected[0]) > 0
    assert found == set(zip(*(part.tolist() for part in expected), strict=True))


def test_an_index_file_of_the_other_byte_order_is_refused(tmp_path: Path) -> None:
    index = PDQIndex(tmp_path / "idx")
    index.add_segment("s", np.arange(100), random_pdq(100, 3))
    slots = tmp_path / "idx" / "s" / "slots.npy"
    swapped = np.load(slots)
    np.save(slots, swapped.astype(swapped.dtype.newbyteorder()), allow_pickle=False)
    reopened = PDQIndex(tmp_path / "idx")
    assert reopened.segment_names == []
    assert not reopened.load_segment("s")


def test_batches_of_any_size_give_the_same_hits() -> None:
    db = random_pdq(5000, 31)
    queries = _near(db, 32, 301, 35)
    index = PDQIndex()
    index.add_segment("s", np.arange(5000), db)
    expected = _brute(db, np.arange(5000), queries, 31)
    for size in (1, 2, 9, 256, 1000):
        assert _hits_in_batches(index, queries, size) == expected


def _hits_in_batches(index: PDQIndex, queries: np.ndarray, batch: int) -> set[tuple[int, int, int]]:
    hits = index.search(queries, 31, batch=batch, threads=1)
    return set(zip(hits.query.tolist(), hits.ids.tolist(), hits.distance.tolist(), strict=True))


def test_boundary_distance_31_found_32_not() -> None:
    db = random_pdq(5000, 11)
    rng = np.random.default_rng(5)
    at_31 = hex_to_words(flip_bits(words_to_hex(db[:50]), np.full(50, 31), rng))
    at_32 = hex_to_words(flip_bits(words_to_hex(db[50:100]), np.full(50, 32), rng))
    index = PDQIndex()
    index.add_segment("s", np.arange(5000), db)
    found_31 = index.search(at_31, 31)
    assert sorted(zip(found_31.query.tolist(), found_31.ids.tolist(), strict=True)) == [
        (i, i) for i in range(50)
    ]
    assert set(found_31.distance.tolist()) == {31}
    assert len(index.search(at_32, 31)) == 0


def test_segments_persist_memory_mapped_and_update_incrementally(tmp_path: Path) -> None:
    first, second = random_pdq(2000, 1), random_pdq(1000, 2)
    index = PDQIndex(tmp_path / "idx")
    index.add_segment("list-1-v1", np.arange(2000), first)
    index.add_segment("list-2-v1", np.arange(5000, 6000), second)
    stamp = (tmp_path / "idx" / "list-1-v1" / "words.npy").stat().st_mtime_ns
    queries = np.concatenate([first[:5], second[:5]])

    reopened = PDQIndex(tmp_path / "idx")
    # Opened memory-mapped, read-only: nothing copied, pages shared between processes.
    words = reopened.segment("list-1-v1").words
    assert isinstance(words.base, mmap.mmap) and not words.flags.writeable
    assert _hits(reopened, queries, 31) == _hits(index, queries, 31)
    assert len(reopened) == 3000

    reopened.remove_segment("list-2-v1")
    assert reopened.segment_names == ["list-1-v1"]
    # Removing one list left the other's files untouched: nothing rebuilt.
    assert (tmp_path / "idx" / "list-1-v1" / "words.npy").stat().st_mtime_ns == stamp
    assert not (tmp_path / "idx" / "list-2-v1").exists()

    assert reopened.remove_ids("list-1-v1", np.array([0, 1])) == 2
    assert len(reopened) == 1998  # counted again after the deletion, not the count of before
    again = PDQIndex(tmp_path / "idx")
    hits = again.search(first[:5], 0)
    assert sorted(hits.ids.tolist()) == [2, 3, 4]
    assert len(again) == 1998


def test_batches_searched_on_threads_give_the_single_thread_answer() -> None:
    first, second = random_pdq(1500, 21), random_pdq(700, 22)
    queries = np.concatenate([_near(first, 23, 60, 35), _near(second, 24, 40, 35)])
    index = PDQIndex()
    index.add_segment("a", np.arange(1500), first)
    index.add_segment("b", np.arange(2000, 2700), second)
    threaded = index.search(queries, 31, batch=9, threads=3)
    serial = index.search(queries, 31, batch=9, threads=1)
    assert threaded.query.tolist() == serial.query.tolist()
    assert threaded.ids.tolist() == serial.ids.tolist()
    assert threaded.segment == serial.segment
    brute = _brute(first, np.arange(1500), queries, 31) | _brute(
        second, np.arange(2000, 2700), queries, 31
    )
    found = zip(
        threaded.query.tolist(), threaded.ids.tolist(), threaded.distance.tolist(), strict=True
    )
    assert set(found) == brute


def test_per_segment_radius() -> None:
    db = random_pdq(100, 3)
    rng = np.random.default_rng(1)
    query = hex_to_words(flip_bits(words_to_hex(db[:1]), np.array([20]), rng))
    index = PDQIndex()
    index.add_segment("strict", np.arange(100), db)
    index.add_segment("loose", np.arange(100, 200), db)
    hits = index.search(query, {"strict": 10, "loose": 31})
    assert hits.segment == ["loose"] and hits.ids.tolist() == [100]


@given(st.binary(min_size=32, max_size=32), st.integers(0, 10))
def test_chunks_reassemble_the_hash(raw: bytes, _unused: int) -> None:
    words = hex_to_words([raw.hex()])
    bits = "".join(
        format(int(extract_chunk(words, start, width)[0]), f"0{width}b")
        for start, width in chunk_layout()
    )
    assert bits == format(int(raw.hex(), 16), "0256b")


def test_an_index_in_an_older_layout_opens_empty_and_is_rebuilt(tmp_path: Path) -> None:
    db = random_pdq(300, 4)
    index = PDQIndex(tmp_path / "idx")
    index.add_segment("list-1-v1", np.arange(300), db)
    manifest = tmp_path / "idx" / "manifest.json"
    older = json.loads(manifest.read_text()) | {"format": FORMAT_VERSION - 1}
    manifest.write_text(json.dumps(older))

    reopened = PDQIndex(tmp_path / "idx")
    assert reopened.segment_names == [] and len(reopened.search(db[:3], 31)) == 0
    assert not (tmp_path / "idx" / "list-1-v1").exists()
    reopened.add_segment("list-1-v1", np.arange(300), db)
    assert PDQIndex(tmp_path / "idx").search(db[:3], 0).ids.tolist() == [0, 1, 2]


def test_an_index_in_an_unknown_layout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps({"format": FORMAT_VERSION + 1}))
    with pytest.raises(SafeguardingError, match="PDQ index format"):
        PDQIndex(tmp_path / "idx")


@settings(max_examples=20, deadline=None)
@given(size=st.integers(1, 2000), seed=st.integers(0, 2**31), copies=st.integers(1, 6))
def test_every_hash_sits_once_in_its_bucket_of_every_chunk(
    size: int, seed: int, copies: int
) -> None:
    # Repeated hashes crowd buckets past their two inline slots into the overflow blocks.
    db = np.concatenate([random_pdq(size, seed)] * copies)
    segment = build_segment(np.arange(len(db)), db)
    bits = segment.table_bits
    for j, (start, width) in enumerate(chunk_layout()):
        shift = position_bits(width, bits)
        blocks = segment.overflow[segment.overflow_starts[j] : segment.overflow_starts[j + 1]]
        stored = []
        for bucket, (first, second) in enumerate(segment.slots[j].tolist()):
            if first == OVERFLOW:
                entries = blocks[second + 1 : second + 1 + blocks[second]].tolist()
                assert len(entries) > 2
            else:
                entries = [e for e in (first, second) if e != EMPTY]
            stored += [(bucket, e >> shift, e & ((1 << shift) - 1)) for e in entries]
        value = extract_chunk(db, start, width)
        low = width - bits
        expected = zip(
            (value >> np.uint64(low)).tolist(),
            (value & np.uint64((1 << low) - 1)).tolist(),
            range(len(db)),
            strict=True,
        )
        assert sorted(stored) == sorted(expected)


def test_empty_and_single_hash_segments_persist(tmp_path: Path) -> None:
    # A list without PDQ entries still gets a segment; it must load and search empty.
    one = random_pdq(1, 8)
    index = PDQIndex(tmp_path / "idx")
    index.add_segment("empty", np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.uint64))
    index.add_segment("one", np.array([42]), one)
    reopened = PDQIndex(tmp_path / "idx")
    assert reopened.segment_names == ["empty", "one"] and len(reopened) == 1
    hits = reopened.search(np.concatenate([one, random_pdq(3, 9)]), 31)
    assert (hits.query.tolist(), hits.segment, hits.ids.tolist()) == ([0], ["one"], [42])


_KILLED_BETWEEN_RENAMES = """
import os, pathlib, sys
import numpy as np
from safeguarding.hashing.pdq_index import PDQIndex
from safeguarding.triage.generate import random_pdq

rename = pathlib.Path.rename


def dying_rename(self, target):
    moved = rename(self, target)
    if pathlib.Path(target).name.endswith("-old"):
        os._exit(9)  # killed after the old segment moved aside, before the new one moved in
    return moved


pathlib.Path.rename = dying_rename
PDQIndex(pathlib.Path(sys.argv[1])).add_segment("list-1-v1", np.arange(300), random_pdq(300, 6))
"""


def test_a_writer_killed_while_replacing_a_segment_leaves_an_index_that_opens(
    tmp_path: Path,
) -> None:
    # A process killed between moving a segment aside and moving its replacement in left the
    # manifest naming a directory that was gone: every later open failed ("unreadable PDQ
    # index segment"), every import and ingest with it, and the leftovers stayed.
    directory = tmp_path / "idx"
    first, second = random_pdq(300, 4), random_pdq(200, 5)
    index = PDQIndex(directory)
    index.add_segment("list-1-v1", np.arange(300), first)
    index.add_segment("list-2-v1", np.arange(1000, 1200), second)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(directory)], check=False
    )
    assert killed.returncode == 9
    assert not (directory / "list-1-v1").exists()
    assert {p.name for p in directory.iterdir() if p.name.startswith(".list-1-v1-")}

    reopened = PDQIndex(directory)
    # The segment that cannot be read is dropped (its list adds it again), the rest opens, and
    # what the killed writer left behind is cleared.
    assert reopened.segment_names == ["list-2-v1"]
    assert reopened.search(second[:2], 0).ids.tolist() == [1000, 1001]
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "list-2-v1", "manifest.json"]
    assert json.loads((directory / "manifest.json").read_text())["segments"] == {"list-2-v1": 200}
    reopened.add_segment("list-1-v1", np.arange(300), first)
    assert PDQIndex(directory).search(first[:1], 0).ids.tolist() == [0]


def test_a_segment_whose_files_are_damaged_is_dropped_on_open(tmp_path: Path) -> None:
    directory = tmp_path / "idx"
    index = PDQIndex(directory)
    index.add_segment("a", np.arange(10), random_pdq(10, 1))
    index.add_segment("b", np.arange(10), random_pdq(10, 2))
    (directory / "a" / "meta.json").unlink()
    (directory / "b" / "words.npy").write_bytes(b"not an array")
    assert PDQIndex(directory).segment_names == []
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "manifest.json"]


def test_processes_sharing_an_index_keep_each_others_segments(tmp_path: Path) -> None:
    # Each process wrote the manifest from the segments it had open, so the last writer
    # dropped a segment another process had added meanwhile.
    directory = tmp_path / "idx"
    one, other = PDQIndex(directory), PDQIndex(directory)
    one.add_segment("a", np.arange(10), random_pdq(10, 1))
    other.add_segment("b", np.arange(10), random_pdq(10, 2))
    assert PDQIndex(directory).segment_names == ["a", "b"]
    one.remove_segment("a")
    assert PDQIndex(directory).segment_names == ["b"]
