"""Content clusters: the same picture or video, seen again across reports.

Files are one cluster when they share an exact hash (MD5, SHA-1, SHA-256 of the same kind), or when
their PDQ hashes are within the match threshold (31 bits of 256, evidence ``pdq.threshold``; only
hashes of sufficient quality take part). Near-duplicates chain: a resized copy of a cropped copy
joins the original's cluster. A cluster is named by its oldest file's id, so adding files never
renames a cluster unless two clusters merge (then the older name survives).

A cluster's summary says how it came to hold viral content, each way its own flag so a reason can
say which: it was reported in many reports (``viral_min_reports``, a setting), a provider
annotated a copy as potentialMeme or viral, or a copy came in a batched report with reason
VIRAL_POTENTIAL_MEME. Most people who share viral material do so without malicious intent
(evidence ``meta.non_malicious.2020``) and most reported content repeats earlier reports
(``meta.duplicates.2020``); the priority policy uses viral status to lower, not to drop.

Which files are viral is decided per file, not per cluster (``ViralFiles``). Near-duplicates
chain, so a cluster can hold material far from the copy a provider flagged: new material 56 bits
from a meme joins its cluster through a picture 28 bits from each. A provider's flag therefore
reaches only the flagged file and its direct copies (an exact hash in common, or PDQ within the
threshold of it; ``flagged_copies``), never a copy of a copy. Spread is the one cluster-wide
measure: a cluster seen in ``viral_min_reports`` reports makes all its files viral.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from safeguarding.triage.pdq_pairs import WordArray, near_pairs, near_pairs_between
from safeguarding.triage.tables import (
    UNASSIGNED,
    BoolArray,
    FileTable,
    ReportTable,
    take_files,
)
from safeguarding.triage.unionfind import IntArray, UnionFind, members, merged_ids, remap

DEFAULT_VIRAL_MIN_REPORTS = 50


@dataclass(frozen=True)
class ContentSettings:
    """``max_distance``: PDQ match threshold in bits; ``viral_min_reports``: reports that make a
    cluster "large" (viral by spread)."""

    max_distance: int = 31
    viral_min_reports: int = DEFAULT_VIRAL_MIN_REPORTS


def _distinct_rows(words: WordArray) -> tuple[WordArray, IntArray]:
    """Distinct rows of ``words`` and, for every row, the index of its distinct row."""
    if words.shape[0] == 0:
        return words, np.zeros(0, dtype=np.int64)
    order = np.lexsort(words.T[::-1])
    ordered = words[order]
    new_group = np.ones(order.shape[0], dtype=np.bool_)
    new_group[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    group_of_sorted = np.cumsum(new_group) - 1
    inverse = np.empty(order.shape[0], dtype=np.int64)
    inverse[order] = group_of_sorted
    return ordered[new_group], inverse


def _exact_rows(table: WordArray, values: IntArray, rows: WordArray) -> IntArray:
    """For each of ``rows``, ``values`` of the equal row of ``table``, or -1 when there is none."""
    names = ["w0", "w1", "w2", "w3"]
    left = pl.DataFrame(rows, schema=names, orient="row").with_row_index("at")
    right = pl.DataFrame(table, schema=names, orient="row").with_columns(pl.Series("value", values))
    joined = left.join(right, on=names, how="left").sort("at")
    return joined["value"].fill_null(-1).to_numpy().astype(np.int64)


def _union_pdq(uf: UnionFind, nodes: IntArray, words: WordArray, max_distance: int) -> None:
    """Unite ``nodes`` whose PDQ hashes are equal or within ``max_distance``."""
    distinct, inverse = _distinct_rows(words)
    uf.union_groups(nodes, inverse)
    left, right = near_pairs(distinct, max_distance)
    if left.size:
        first = np.full(distinct.shape[0], -1, dtype=np.int64)
        first[inverse[::-1]] = nodes[::-1]  # a representative node for every distinct hash
        uf.union_pairs(first[left], first[right])


def cluster_files(files: FileTable, settings: ContentSettings) -> IntArray:
    """The cluster id (smallest file id in the cluster) of every file."""
    uf = UnionFind(len(files))
    uf.union_groups(files.exact_file, files.exact_key)
    ok = np.flatnonzero(files.pdq_ok)
    _union_pdq(uf, ok.astype(np.int64), files.pdq[ok], settings.max_distance)
    return files.file_id[uf.labels()]


def flagged(files: FileTable, reports: ReportTable) -> BoolArray:
    """The files a provider flagged as viral: annotated potentialMeme or viral, or sent in a
    batched report with reason VIRAL_POTENTIAL_MEME (``files.report``: positions in
    ``reports``)."""
    batched = reports.signal("batched_meme")[files.report] > 0
    found: BoolArray = files.flag("potential_meme") | files.flag("viral") | batched
    return found


def copies(
    files: FileTable, candidates: IntArray, sources: IntArray, max_distance: int
) -> BoolArray:
    """For each file at ``candidates``: whether it shares an exact hash with a file at
    ``sources`` or its usable PDQ hash is within ``max_distance`` bits of one's. Direct copies
    only, unlike clusters: a copy of a copy may be another picture."""
    found = np.zeros(candidates.shape[0], dtype=np.bool_)
    if candidates.size == 0 or sources.size == 0:
        return found
    place = np.full(len(files), -1, dtype=np.int64)
    place[candidates] = np.arange(candidates.shape[0], dtype=np.int64)
    is_source = np.zeros(len(files), dtype=np.bool_)
    is_source[sources] = True
    source_keys = np.unique(files.exact_key[is_source[files.exact_file]])
    rows = np.flatnonzero(place[files.exact_file] >= 0)
    shared = np.isin(files.exact_key[rows], source_keys)
    found[place[files.exact_file[rows[shared]]]] = True
    usable = candidates[files.pdq_ok[candidates]]
    usable_sources = sources[files.pdq_ok[sources]]
    if usable.size and usable_sources.size:
        distinct, inverse = _distinct_rows(files.pdq[usable])
        targets, _ = _distinct_rows(files.pdq[usable_sources])
        near, _ = near_pairs_between(distinct, targets, max_distance)
        close = np.zeros(distinct.shape[0], dtype=np.bool_)
        close[near] = True
        found[place[usable[close[inverse]]]] = True
    return found


def flagged_copies(
    files: FileTable,
    reports: ReportTable,
    file_cluster: IntArray,
    settings: ContentSettings,
    previous: tuple[IntArray, BoolArray] | None = None,
) -> BoolArray:
    """Per file: flagged by a provider (``flagged``), or a direct copy of a flagged file
    (``copies``). A copy is in the flagged file's cluster, so only clusters holding a flagged file
    are searched.

    ``previous``: the last pass's clusters of this pass's files (``UNASSIGNED`` for new ones) and
    its answer for its files. Then only the new files are searched, and the earlier files of the
    clusters that new flagged files joined: an earlier answer never turns false (flags of stored
    files do not change, and a file's hashes and the threshold are those of the last pass, else
    it would have clustered afresh)."""
    flag = flagged(files, reports)
    sources = np.flatnonzero(flag)
    found: BoolArray
    if previous is None:
        candidates = np.flatnonzero(~flag & members(file_cluster, np.unique(file_cluster[sources])))
        found = flag.copy()
        found[candidates] = copies(files, candidates, sources, settings.max_distance)
        return found
    previous_cluster, previous_found = previous
    new = previous_cluster == UNASSIGNED
    found = flag | (previous_found & ~new)
    flagged_clusters = np.unique(file_cluster[sources])
    fresh = np.flatnonzero(new & ~flag & members(file_cluster, flagged_clusters))
    near_fresh = sources[members(file_cluster[sources], np.unique(file_cluster[fresh]))]
    found[fresh] = copies(files, fresh, near_fresh, settings.max_distance)
    new_sources = np.flatnonzero(flag & new)
    earlier = np.flatnonzero(
        ~new & ~found & members(file_cluster, np.unique(file_cluster[new_sources]))
    )
    found[earlier] = copies(files, earlier, new_sources, settings.max_distance)
    return found


@dataclass(frozen=True)
class ViralFiles:
    """Why each file counts as viral, if it does: ``flagged`` by a provider or a direct copy of
    a flagged file (``flagged_copies``); ``spread``: in a cluster seen in ``viral_min_reports``
    reports or more."""

    flagged: BoolArray
    spread: BoolArray

    @staticmethod
    def of(flagged_files: BoolArray, file_cluster: IntArray, summary: pl.DataFrame) -> ViralFiles:
        """Spread read from the clusters' summary (``large``), for files in ``file_cluster``."""
        large = summary.filter(pl.col("large"))["cluster"].to_numpy().astype(np.int64)
        spread: BoolArray = members(file_cluster, large)
        return ViralFiles(flagged_files, spread)

    @property
    def viral(self) -> BoolArray:
        found: BoolArray = self.flagged | self.spread
        return found

    def take(self, rows: IntArray) -> ViralFiles:
        return ViralFiles(self.flagged[rows], self.spread[rows])


_COUNTED = ("known_files", "allow_files", "meme_files", "batched_files")


def summarise(
    files: FileTable,
    reports: ReportTable,
    file_cluster: IntArray,
    settings: ContentSettings,
    clusters: IntArray | None = None,
) -> pl.DataFrame:
    """One row per cluster: size, reports, first and last seen, providers, matches, viral flags
    (only for ``clusters`` when given)."""
    if clusters is not None:
        rows = np.flatnonzero(members(file_cluster, clusters)).astype(np.int64)
        files, file_cluster = take_files(files, rows), file_cluster[rows]
    meme = files.flag("potential_meme") | files.flag("viral")
    batched = reports.signal("batched_meme")[files.report] > 0
    frame = pl.DataFrame(
        {
            "cluster": file_cluster,
            "report": files.report,
            "seen_at": files.seen_at,
            "provider": reports.provider[files.report],
            "known": files.flag("known"),
            "allow": files.flag("allow"),
            "meme": meme,
            "batched": batched,
        }
    )
    summary = (
        frame.group_by("cluster")
        .agg(
            pl.len().alias("files"),
            pl.col("report").n_unique().alias("reports"),
            pl.col("seen_at").min().alias("first_seen"),
            pl.col("seen_at").max().alias("last_seen"),
            pl.col("provider").unique().sort().alias("providers"),
            pl.col("known").sum().alias("known_files"),
            pl.col("allow").sum().alias("allow_files"),
            pl.col("meme").sum().alias("meme_files"),
            pl.col("batched").sum().alias("batched_files"),
        )
        .with_columns(
            (pl.col("reports") >= settings.viral_min_reports).alias("large"),
            (pl.col("meme_files") > 0).alias("annotated"),
            (pl.col("batched_files") > 0).alias("batched"),
        )
        .with_columns((pl.col("large") | pl.col("annotated") | pl.col("batched")).alias("viral"))
        .sort("cluster")
    )
    return summary


def with_files(
    summary: pl.DataFrame, addition: pl.DataFrame, settings: ContentSettings
) -> pl.DataFrame:
    """``summary`` rows (``summarise``) with the summary of files added to their clusters since
    (``addition``, of the added files alone, of reports not counted in ``summary``): what
    summarising each cluster's files again gives. A cluster only in ``addition`` is new."""
    both = addition.join(summary, on="cluster", how="left", suffix="_before")

    def before(name: str, empty: Any) -> pl.Expr:
        return pl.col(f"{name}_before").fill_null(empty)

    combined = both.select(
        "cluster",
        pl.col("files") + before("files", 0),
        pl.col("reports") + before("reports", 0),
        pl.min_horizontal("first_seen", "first_seen_before"),
        pl.max_horizontal("last_seen", "last_seen_before"),
        pl.concat_list("providers", before("providers", []))
        .list.unique()
        .list.sort()
        .alias("providers"),
        *(pl.col(name) + before(name, 0) for name in _COUNTED),
    ).with_columns(
        (pl.col("reports") >= settings.viral_min_reports).alias("large"),
        (pl.col("meme_files") > 0).alias("annotated"),
        (pl.col("batched_files") > 0).alias("batched"),
    )
    return (
        combined.with_columns(
            (pl.col("large") | pl.col("annotated") | pl.col("batched")).alias("viral")
        )
        .select(addition.columns)
        .cast(addition.schema)
        .sort("cluster")
    )


def _pairs(node: IntArray, report: IntArray) -> pl.DataFrame:
    """The distinct (node, report) pairs: which reports hold each hash (a node)."""
    return pl.DataFrame({"node": node, "report": report}).unique()


def _per_node(
    node: IntArray, report: IntArray, size: int, counted: tuple[IntArray, IntArray] | None = None
) -> IntArray:
    """How many distinct reports hold each of ``size`` nodes (``node``: ``0 .. size - 1``, one
    per file holding it, ``report``: the file's report), leaving out the (node, report) pairs
    ``counted`` already. Each pair is packed into one integer and sorted: on millions of pairs
    several times faster than a frame's ``unique`` or numpy's hashing one."""
    pairs = [(node, report)] if counted is None else [(node, report), counted]
    span = max(int(r.max(initial=-1)) for _, r in pairs) + 1
    packed = np.sort(node.astype(np.int64) * span + report)
    packed = packed[np.r_[True, packed[1:] != packed[:-1]]] if packed.size else packed
    if counted is not None:
        packed = packed[~np.isin(packed, counted[0].astype(np.int64) * span + counted[1])]
    return np.bincount(packed // span, minlength=size).astype(np.int64)


@dataclass(frozen=True)
class ContentIndex:
    """What earlier runs leave behind to place new files without reclustering everything, and to
    tell spread without reading every copy of a meme again: every distinct exact-hash code and
    every distinct usable PDQ hash, each with its cluster id and the number of reports holding
    it."""

    exact_key: IntArray
    exact_cluster: IntArray
    exact_reports: IntArray
    pdq: WordArray
    pdq_cluster: IntArray
    pdq_reports: IntArray

    @staticmethod
    def empty() -> ContentIndex:
        none = np.zeros(0, dtype=np.int64)
        return ContentIndex(none, none, none, np.zeros((0, 4), dtype=np.uint64), none, none)

    @staticmethod
    def build(files: FileTable, file_cluster: IntArray) -> ContentIndex:
        clusters = file_cluster[files.exact_file]
        keys, first, key_at = np.unique(files.exact_key, return_index=True, return_inverse=True)
        key_reports = _per_node(key_at, files.report[files.exact_file], keys.shape[0])
        ok = np.flatnonzero(files.pdq_ok)
        distinct, inverse = _distinct_rows(files.pdq[ok])
        pdq_cluster = np.zeros(distinct.shape[0], dtype=np.int64)
        pdq_cluster[inverse] = file_cluster[ok]
        pdq_reports = _per_node(inverse, files.report[ok], distinct.shape[0])
        return ContentIndex(
            keys.astype(np.int64), clusters[first], key_reports, distinct, pdq_cluster, pdq_reports
        )

    def updated(
        self, files: FileTable, file_cluster: IntArray, new_rows: IntArray, merges: dict[int, int]
    ) -> ContentIndex:
        """The index after a pass that placed the files at ``new_rows`` (``file_cluster``: every
        file's cluster after the pass; ``merges``: earlier clusters merged into others). Keys and
        hashes seen before keep their place; new ones are appended (kept sorted for exact keys,
        whose new codes come after the earlier ones when handed out by a ``KeyDictionary``).
        A hash's report count grows by the reports of new files holding it, less those an
        earlier file of the same report holds it in (a file added to an earlier report)."""
        new = take_files(files, new_rows)
        new_cluster = file_cluster[new_rows]
        earlier = np.ones(len(files), dtype=np.bool_)
        earlier[new_rows] = False
        touched = np.zeros(int(files.report.max(initial=-1)) + 1, dtype=np.bool_)
        touched[new.report] = True
        beside = earlier & touched[files.report]  # earlier files in the reports of new ones
        exact_cluster = remap(self.exact_cluster, merges)
        keys, first = np.unique(new.exact_key, return_index=True)
        fresh = ~np.isin(keys, self.exact_key)
        exact_key = np.concatenate([self.exact_key, keys[fresh]])
        exact_cluster = np.concatenate([exact_cluster, new_cluster[new.exact_file[first[fresh]]]])
        exact_reports = np.concatenate([self.exact_reports, np.zeros(int(fresh.sum()), np.int64)])
        if exact_key.size > 1 and not bool(np.all(np.diff(exact_key) > 0)):
            order = np.argsort(exact_key, kind="stable")
            exact_key, exact_cluster = exact_key[order], exact_cluster[order]
            exact_reports = exact_reports[order]
        held = np.flatnonzero(beside[files.exact_file])
        counted = np.searchsorted(exact_key, files.exact_key[held])
        exact_reports += _per_node(
            np.searchsorted(exact_key, new.exact_key), new.report[new.exact_file],
            exact_key.shape[0], (counted, files.report[files.exact_file[held]]),
        )  # fmt: skip
        pdq_cluster = remap(self.pdq_cluster, merges)
        ok = np.flatnonzero(new.pdq_ok)
        distinct, inverse = _distinct_rows(new.pdq[ok])
        cluster_of = np.zeros(distinct.shape[0], dtype=np.int64)
        cluster_of[inverse] = new_cluster[ok]
        at = _exact_rows(self.pdq, np.arange(self.pdq.shape[0], dtype=np.int64), distinct)
        unseen = at < 0
        at[unseen] = self.pdq.shape[0] + np.arange(int(unseen.sum()), dtype=np.int64)
        pdq = np.concatenate([self.pdq, distinct[unseen]])
        pdq_reports = np.concatenate([self.pdq_reports, np.zeros(int(unseen.sum()), np.int64)])
        near_new = np.flatnonzero(beside & files.pdq_ok)
        pdq_reports += _per_node(
            at[inverse], new.report[ok], pdq.shape[0],
            (
                _exact_rows(pdq, np.arange(pdq.shape[0], dtype=np.int64), files.pdq[near_new]),
                files.report[near_new],
            ),
        )  # fmt: skip
        return ContentIndex(
            exact_key.astype(np.int64),
            exact_cluster.astype(np.int64),
            exact_reports,
            pdq,
            np.concatenate([pdq_cluster, cluster_of[unseen]]).astype(np.int64),
            pdq_reports,
        )


@dataclass(frozen=True)
class ContentUpdate:
    """Where new files went: their cluster ids, and older clusters merged into others."""

    file_cluster: IntArray
    merges: dict[int, int]


def place_files(index: ContentIndex, files: FileTable, settings: ContentSettings) -> ContentUpdate:
    """Cluster new files against an index of earlier ones.

    Gives exactly what clustering old and new files together would give, provided every new file
    id is larger than every earlier one (ids grow with arrival).
    """
    k = len(files)
    if (
        k
        and index.exact_cluster.size
        and int(files.file_id.min())
        <= int(max(index.exact_cluster.max(initial=0), index.pdq_cluster.max(initial=0)))
    ):
        raise ValueError("new file ids must be larger than every clustered file id")
    touched_left: list[IntArray] = []
    touched_cluster: list[IntArray] = []
    if files.exact_key.size and index.exact_key.size:
        pos = np.clip(
            np.searchsorted(index.exact_key, files.exact_key), 0, index.exact_key.size - 1
        )
        hit = index.exact_key[pos] == files.exact_key
        touched_left.append(files.exact_file[hit])
        touched_cluster.append(index.exact_cluster[pos[hit]])
    ok = np.flatnonzero(files.pdq_ok).astype(np.int64)
    if ok.size and index.pdq.shape[0]:
        # Most new files repeat a known hash exactly (evidence meta.duplicates.2020). Such a file
        # joins that hash's cluster, and needs no near search: anything within the threshold of
        # it is within the threshold of the indexed hash, so already in that cluster.
        distinct, inverse = _distinct_rows(files.pdq[ok])
        representative = np.zeros(distinct.shape[0], dtype=np.int64)
        representative[inverse[::-1]] = ok[::-1]
        known = _exact_rows(index.pdq, index.pdq_cluster, distinct)
        seen = known >= 0
        touched_left.append(ok[seen[inverse]])
        touched_cluster.append(known[inverse][seen[inverse]])
        fresh = np.flatnonzero(~seen)
        q, t = near_pairs_between(distinct[fresh], index.pdq, settings.max_distance)
        touched_left.append(representative[fresh[q]])
        touched_cluster.append(index.pdq_cluster[t])
    left = np.concatenate(touched_left) if touched_left else np.zeros(0, np.int64)
    cluster = np.concatenate(touched_cluster) if touched_cluster else np.zeros(0, np.int64)
    existing, existing_node = np.unique(cluster, return_inverse=True)

    uf = UnionFind(k + existing.shape[0])
    uf.union_pairs(left, k + existing_node.astype(np.int64))
    uf.union_groups(files.exact_file, files.exact_key)
    _union_pdq(uf, ok, files.pdq[ok], settings.max_distance)

    # Label every set by its smallest id: earlier clusters' ids are all smaller than new file ids.
    label = uf.labels(np.concatenate([files.file_id, existing]))
    merges = merged_ids(existing, label[k:])
    return ContentUpdate(file_cluster=label[:k], merges=merges)
