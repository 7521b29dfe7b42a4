from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.cluster_content import (
    ContentIndex,
    ContentSettings,
    cluster_files,
    flagged_copies,
    place_files,
    spread_files,
    summarise,
    with_spread,
)
from safeguarding.triage.pdq_pairs import distances, near_pairs
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import UNASSIGNED, FileTable, take_files
from safeguarding.triage.unionfind import remap
from tests.triage.helpers import files, reports


def same_partition(found: np.ndarray, truth: np.ndarray) -> bool:
    frame = pl.DataFrame({"found": found, "truth": truth})
    per_found = frame.group_by("found").agg(pl.col("truth").n_unique())["truth"].max()
    per_truth = frame.group_by("truth").agg(pl.col("found").n_unique())["found"].max()
    return per_found == 1 and per_truth == 1


def test_near_duplicate_variants_form_one_cluster_and_unrelated_files_do_not() -> None:
    data = generate(n_reports=1500, n_families=120, seed=11)
    clusters = cluster_files(data.files, ContentSettings())
    assert same_partition(clusters, data.true_family)
    # the ground truth really holds near-duplicates that differ (not only exact copies)
    variants = np.unique(data.files.pdq[data.files.pdq_ok], axis=0).shape[0]
    assert variants > len(np.unique(data.true_family[data.files.pdq_ok]))


def test_pdq_pairs_equal_brute_force_at_and_around_the_threshold() -> None:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 2**64, size=(60, 4), dtype=np.uint64)
    words = [base]
    for bits in (30, 31, 32, 33):  # planted pairs right around the threshold
        copy = base.copy()
        for row in range(copy.shape[0]):
            flip = rng.choice(256, size=bits, replace=False)
            for bit in flip:
                copy[row, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        words.append(copy)
    table = np.concatenate(words)
    left, right = near_pairs(table, 31)
    n = table.shape[0]
    i, j = np.triu_indices(n, k=1)
    close = distances(table, i.astype(np.int64), j.astype(np.int64)) <= 31
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == set(
        zip(i[close].tolist(), j[close].tolist(), strict=True)
    )
    found = distances(table, left, right)
    assert found.max() <= 31 and 31 in found.tolist()


def test_thresholds_beyond_the_exact_search_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 31"):
        near_pairs(np.zeros((2, 4), dtype=np.uint64), 32)


def test_incremental_placement_equals_clustering_everything() -> None:
    data = generate(n_reports=1200, n_families=80, seed=3)
    settings = ContentSettings()
    whole = cluster_files(data.files, settings)
    split = len(data.files) * 2 // 3
    old_rows = np.arange(split, dtype=np.int64)
    new_rows = np.arange(split, len(data.files), dtype=np.int64)
    old = take_files(data.files, old_rows)
    index = ContentIndex.build(old, cluster_files(old, settings))
    update = place_files(index, take_files(data.files, new_rows), settings)
    old_after = np.array([update.merges.get(c, c) for c in cluster_files(old, settings)])
    assert np.array_equal(np.concatenate([old_after, update.file_cluster]), whole)
    # The index counts the reports holding each hash, updated as when built from all files
    # (the split may put one report's files on both sides).
    built = ContentIndex.build(data.files, whole)
    holding = pl.DataFrame(
        {"key": data.files.exact_key, "report": data.files.report[data.files.exact_file]}
    )
    per_key = holding.group_by("key").agg(pl.col("report").n_unique()).sort("key")
    assert built.exact_reports.tolist() == per_key["report"].to_list()
    ok = data.files.pdq_ok
    words = pl.DataFrame(data.files.pdq[ok], schema=["w0", "w1", "w2", "w3"], orient="row")
    per_pdq = (
        words.with_columns(report=data.files.report[ok])
        .unique()
        .group_by("w0", "w1", "w2", "w3")
        .len()
    )
    assert dict(zip(map(tuple, built.pdq.tolist()), built.pdq_reports.tolist(), strict=True)) == {
        tuple(row[:4]): row[4] for row in per_pdq.iter_rows()
    }
    grown = index.updated(data.files, whole, new_rows, update.merges)
    assert _index_content(grown) == _index_content(built)


def _index_content(index: ContentIndex) -> tuple[object, object]:
    """What an index says, whatever the order of its PDQ rows: per exact hash and per PDQ hash,
    its cluster and how many reports hold it."""
    exact = list(
        zip(index.exact_key.tolist(), index.exact_cluster.tolist(), index.exact_reports.tolist(),
            strict=True)
    )  # fmt: skip
    pdq = sorted(
        zip(map(tuple, index.pdq.tolist()), index.pdq_cluster.tolist(), index.pdq_reports.tolist(),
            strict=True)
    )  # fmt: skip
    return exact, pdq


def test_incremental_merge_keeps_the_older_name() -> None:
    data = generate(n_reports=40, n_families=3, seed=9, variant_bits=0, low_quality_share=0.0)
    settings = ContentSettings()
    # two old files of different families stay apart; a new file bridging them merges them
    words = data.files.pdq[:2].copy()
    words[1] = words[0]
    for bit in range(20):
        words[1, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    bridge = words[0].copy()
    for bit in range(10):
        bridge[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    assert (
        distances(np.stack([words[0], words[1], bridge]), np.array([0, 1]), np.array([2, 2])).max()
        <= 31
    )
    index = ContentIndex(
        exact_key=np.array([100, 200]),
        exact_cluster=np.array([5, 7]),
        exact_reports=np.array([1, 1]),
        pdq=words,
        pdq_cluster=np.array([5, 7]),
        pdq_reports=np.array([1, 1]),
    )
    new = take_files(data.files, np.array([0]))
    new = type(new)(**{**new.__dict__, "pdq": bridge[None, :], "file_id": np.array([50])})
    update = place_files(index, new, settings)
    assert update.file_cluster.tolist() == [5]
    assert update.merges == {7: 5}


def test_summary_knows_size_reports_providers_matches_and_viral_flags() -> None:
    data = generate(n_reports=2000, n_families=50, seed=4)
    content = ContentSettings(viral_min_reports=100)
    clusters = cluster_files(data.files, content)
    plain = summarise(data.files, data.reports, clusters)
    index = ContentIndex.build(data.files, clusters)
    spread = spread_files(data.files, clusters, plain, index, content)
    summary = with_spread(plain, clusters, spread)
    biggest = summary.sort("reports", descending=True).row(0, named=True)
    members = clusters == biggest["cluster"]
    assert biggest["files"] == int(members.sum())
    assert biggest["reports"] == len(np.unique(data.files.report[members]))
    assert biggest["first_seen"] == int(data.files.seen_at[members].min())
    assert biggest["known_files"] == int(data.files.flag("known")[members].sum())
    assert biggest["providers"] == sorted(
        np.unique(data.reports.provider[data.files.report[members]]).tolist()
    )
    assert biggest["large"] and biggest["viral"]
    # A cluster is large when it holds a file viral by spread, which only one seen in as many
    # reports can.
    large = summary.filter(pl.col("large"))["cluster"].sort().to_list()
    assert large == np.unique(clusters[spread]).tolist()
    assert summary.filter(pl.col("large"))["reports"].min() >= 100
    small = summary.filter(pl.col("reports") < 100)
    assert (small["viral"] == (small["annotated"] | small["batched"])).all()


def test_a_flag_reaches_direct_copies_not_copies_of_copies() -> None:
    """A meme (file 1), a picture 28 bits from it (file 2) and one 28 bits further (file 3) are
    one cluster; only the first two are the meme. File 4 shares file 1's MD5 (an exact copy with
    an unusable PDQ); file 5 is unrelated. Placed later, the flag reaches earlier files too."""
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**64, size=(5, 4), dtype=np.uint64)
    flips = rng.choice(256, size=56, replace=False)
    for k, row in ((28, 1), (56, 2)):
        words[row] = words[0]
        for bit in flips[:k]:
            words[row, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    file_table = dataclasses.replace(
        files([0, 1, 2, 3, 4], potential_meme=[True, False, False, False, False]),
        pdq=words,
        pdq_ok=np.array([True, True, True, False, True]),
        exact_key=np.array([7, 1, 2, 7, 4]),
    )
    report_table = reports(5)
    settings = ContentSettings()
    clusters = cluster_files(file_table, settings)
    assert len(set(clusters[:3].tolist())) == 1
    found = flagged_copies(file_table, report_table, clusters, settings)
    assert found.tolist() == [True, True, False, True, False]
    # The meme arrives last: the earlier files it copies are found from the last pass's answer.
    order = np.array([1, 2, 3, 4, 0])
    later = dataclasses.replace(
        file_table,
        pdq=words[order], pdq_ok=file_table.pdq_ok[order], exact_key=file_table.exact_key[order],
        flags={"potential_meme": np.array([False, False, False, False, True])},
    )  # fmt: skip
    clusters = cluster_files(later, settings)
    earlier = np.r_[clusters[:4], UNASSIGNED]
    before = flagged_copies(take_files(later, np.arange(4)), reports(4), clusters[:4], settings)
    assert not before.any()
    again = flagged_copies(later, report_table, clusters, settings, (earlier, np.r_[before, False]))
    assert again.tolist() == [True, False, True, False, True]
    assert again.tolist() == flagged_copies(later, report_table, clusters, settings).tolist()


def _flip(words: np.ndarray, rng: np.random.Generator, bits: int) -> np.ndarray:
    """``words`` (one PDQ hash) with ``bits`` random bits flipped."""
    out = words.copy()
    for bit in rng.choice(256, size=bits, replace=False):
        out[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return out


def _chained_files(seed: int, n: int, n_reports: int) -> FileTable:
    """``n`` files in ``n_reports`` reports, most derived from an earlier file's PDQ hash by a
    few to 40 flipped bits (so clusters chain through near copies and hold files farther apart
    than the threshold), some with an unusable hash. Exact hashes: an exact copy (no bit
    flipped) mostly has its original's, other files their own; a few files have none, a few
    another file's as well (the same bytes with another PDQ hash, as a provider may give)."""
    rng = np.random.default_rng(seed)
    words = np.zeros((n, 4), dtype=np.uint64)
    key = np.arange(n, dtype=np.int64)
    for i in range(1, n):
        if rng.random() < 0.15:
            words[i] = rng.integers(0, 2**64, size=4, dtype=np.uint64)
            continue
        parent = int(rng.integers(0, i))
        bits = int(rng.choice([0, 0, 6, 20, 28, 40]))
        words[i] = _flip(words[parent], rng, bits)
        if bits == 0 and rng.random() < 0.7:
            key[i] = key[parent]
    has_key = rng.random(n) >= 0.1
    second = np.flatnonzero(rng.random(n) < 0.15)
    exact_file = np.r_[np.flatnonzero(has_key), second].astype(np.int64)
    exact_key = np.r_[key[has_key], key[rng.integers(0, n, size=second.size)]].astype(np.int64)
    report = np.sort(rng.integers(0, n_reports, size=n)).astype(np.int64)
    return dataclasses.replace(
        files(report.tolist()), pdq=words, pdq_ok=rng.random(n) >= 0.1,
        exact_file=exact_file, exact_key=exact_key,
    )  # fmt: skip


def _neighbourhood_reports(file_table: FileTable, max_distance: int) -> list[int]:
    """Per file, by brute force: the reports holding it or a direct copy of it (an exact hash
    in common, or both PDQ hashes usable and within ``max_distance`` bits)."""
    n = len(file_table)
    keys = [set() for _ in range(n)]
    for row, key in zip(file_table.exact_file.tolist(), file_table.exact_key.tolist(), strict=True):
        keys[row].add(key)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    apart = distances(file_table.pdq, i.ravel(), j.ravel()).reshape(n, n)
    ok = file_table.pdq_ok
    near = (apart <= max_distance) & ok[:, None] & ok[None, :]
    return [
        len(
            {
                int(file_table.report[g])
                for g in range(n)
                if g == f or keys[f] & keys[g] or near[f, g]
            }
        )
        for f in range(n)
    ]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 70),
    per_report=st.floats(1.0, 3.0),
    minimum=st.integers(1, 9),
    cut=st.floats(0.0, 1.0),
)
def test_a_file_is_viral_by_spread_exactly_when_its_direct_copies_reach_the_minimum(
    seed: int, n: int, per_report: float, minimum: int, cut: float
) -> None:
    """Whatever the chains: a file is viral by spread when, and only when, the reports holding it
    or a direct copy number ``viral_min_reports`` or more. So a file in fewer reports with its
    copies never is, however many reports its cluster holds; and placed in two passes, the
    second counting only new files and the earlier files they copy, the answer is the same."""
    n_reports = max(1, int(n / per_report))
    file_table = _chained_files(seed, n, n_reports)
    content = ContentSettings(viral_min_reports=minimum)
    report_table = reports(n_reports)
    counted = _neighbourhood_reports(file_table, content.max_distance)
    clusters = cluster_files(file_table, content)
    summary = summarise(file_table, report_table, clusters)
    index = ContentIndex.build(file_table, clusters)
    found = spread_files(file_table, clusters, summary, index, content)
    assert found.tolist() == [count >= minimum for count in counted]
    # The earlier files first (a report's files may be split between the two), then all, from
    # the earlier answer and the earlier index updated with the new files.
    split = int(n * cut)
    new_rows = np.arange(split, n, dtype=np.int64)
    earlier = take_files(file_table, np.arange(split, dtype=np.int64))
    earlier_clusters = cluster_files(earlier, content)
    earlier_index = ContentIndex.build(earlier, earlier_clusters)
    before = spread_files(
        earlier, earlier_clusters, summarise(earlier, report_table, earlier_clusters),
        earlier_index, content,
    )  # fmt: skip
    update = place_files(earlier_index, take_files(file_table, new_rows), content)
    assert np.array_equal(
        np.r_[remap(earlier_clusters, update.merges), update.file_cluster], clusters
    )
    grown = earlier_index.updated(file_table, clusters, new_rows, update.merges)
    assert _index_content(grown) == _index_content(index)
    previous = (
        np.r_[earlier_clusters, np.full(n - split, UNASSIGNED)],
        np.r_[before, np.zeros(n - split, np.bool_)],
    )
    again = spread_files(file_table, clusters, summary, grown, content, previous)
    assert again.tolist() == found.tolist()
