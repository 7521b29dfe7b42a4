"""Content clusters: the same picture or video, seen again across reports.

Files are one cluster when they share an exact hash (MD5, SHA-1, SHA-256 of the same kind), or when
their PDQ hashes are within the match threshold (31 bits of 256, evidence ``pdq.threshold``; only
hashes of sufficient quality take part). Near-duplicates chain: a resized copy of a cropped copy
joins the original's cluster. A cluster is named by its oldest file's id, so adding files never
renames a cluster unless two clusters merge (then the older name survives).

Which files are viral is decided per file, not per cluster (``ViralFiles``). Near-duplicates
chain, so a cluster can hold material far from any one of its files: new material 56 bits from a
meme joins its cluster through a picture 28 bits from each. A file's own neighbourhood is itself
and its direct copies (an exact hash in common, or PDQ within the threshold of it), never a copy
of a copy. A provider's flag reaches the flagged file's neighbourhood (``flagged_copies``), and a
file is viral by spread when the reports holding its neighbourhood number ``viral_min_reports``
(a setting) or more (``spread_files``): reports of material merely chained to a meme do not make
new material viral. Most people who share viral material do so without malicious intent
(evidence ``meta.non_malicious.2020``) and most reported content repeats earlier reports
(``meta.duplicates.2020``); the priority policy uses viral status to lower, not to drop.

A cluster's summary says how it came to hold viral content, each way its own flag so a reason can
say which: a file of it is viral by spread (``large``), a provider annotated a copy as
potentialMeme or viral, or a copy came in a batched report with reason VIRAL_POTENTIAL_MEME. Its
report count bounds every member's neighbourhood, so only files of clusters seen in
``viral_min_reports`` reports are searched for spread.
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
from safeguarding.triage.unionfind import (
    IntArray,
    UnionFind,
    members,
    merged_ids,
    remap,
    star_pairs,
)

DEFAULT_VIRAL_MIN_REPORTS = 50


@dataclass(frozen=True)
class ContentSettings:
    """``max_distance``: PDQ match threshold in bits; ``viral_min_reports``: reports holding a
    file or a direct copy of it that make the file viral by spread."""

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


def copy_pairs(files: FileTable, rows: IntArray, max_distance: int) -> tuple[IntArray, IntArray]:
    """Pairs of the files at ``rows`` (positions) that are direct copies of each other: an exact
    hash in common, or usable PDQ hashes within ``max_distance``; united, they join exactly the
    files the direct-copy relation joins (a star per shared hash, not every pair). Direct copies
    always share a cluster, so a search among a few clusters' files finds all of theirs."""
    chosen = np.zeros(len(files), dtype=np.bool_)
    chosen[rows] = True
    on = chosen[files.exact_file]
    exact_left, exact_right = star_pairs(files.exact_file[on], files.exact_key[on])
    ok = rows[files.pdq_ok[rows]].astype(np.int64)
    distinct, inverse = _distinct_rows(files.pdq[ok])
    same_left, same_right = star_pairs(ok, inverse)
    near_left, near_right = near_pairs(distinct, max_distance)
    first = np.full(distinct.shape[0], -1, dtype=np.int64)
    first[inverse[::-1]] = ok[::-1]  # a representative file for every distinct hash
    return (
        np.concatenate([exact_left, same_left, first[near_left]]).astype(np.int64),
        np.concatenate([exact_right, same_right, first[near_right]]).astype(np.int64),
    )


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
    a flagged file (``flagged_copies``); ``spread``: it and its direct copies are in
    ``viral_min_reports`` reports or more (``spread_files``)."""

    flagged: BoolArray
    spread: BoolArray

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
    clusters: IntArray | None = None,
) -> pl.DataFrame:
    """One row per cluster: size, reports, first and last seen, providers, matches, the flags
    providers gave (only for ``clusters`` when given). Spread is a file's own, counted once the
    reports are known (``with_spread``)."""
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
            (pl.col("meme_files") > 0).alias("annotated"),
            (pl.col("batched_files") > 0).alias("batched"),
        )
        .sort("cluster")
    )
    return summary


def with_spread(summary: pl.DataFrame, file_cluster: IntArray, spread: BoolArray) -> pl.DataFrame:
    """``summary`` (``summarise``) with ``large``, a file of the cluster is viral by spread
    (``spread``: per file), and ``viral``, the cluster holds a viral file: one viral by spread,
    flagged or a copy of a flagged one (which is in the flagged file's cluster)."""
    spreading = pl.Series(np.unique(file_cluster[spread])).implode()
    return summary.with_columns(pl.col("cluster").is_in(spreading).alias("large")).with_columns(
        (pl.col("large") | pl.col("annotated") | pl.col("batched")).alias("viral")
    )


def with_files(summary: pl.DataFrame, addition: pl.DataFrame) -> pl.DataFrame:
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
        (pl.col("meme_files") > 0).alias("annotated"),
        (pl.col("batched_files") > 0).alias("batched"),
    )
    return combined.select(addition.columns).cast(addition.schema).sort("cluster")


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


def _spread_of(
    files: FileTable,
    file_cluster: IntArray,
    index: ContentIndex,
    candidates: IntArray,
    settings: ContentSettings,
) -> BoolArray:
    """For each file at ``candidates``: whether the reports holding it or a direct copy of it
    (an exact hash in common, or a usable PDQ hash within ``max_distance`` bits of its own)
    number ``viral_min_reports`` or more. Exact.

    Counted hash by hash, not copy by copy: a meme's copies are hundreds of thousands of files
    but few hashes, and ``index`` (of every file of this pass) knows how many reports hold each.
    The most reports holding one of a file's hashes, or a PDQ hash near its own, is a lower bound
    of its count, and their sum an upper bound; these decide nearly every file (a meme's copies
    share a hash seen in many reports, new material's hashes are seen in few). Only files between
    the bounds are counted exactly (``_exact_counts``)."""
    minimum = settings.viral_min_reports
    n = candidates.shape[0]
    place = np.full(len(files), -1, dtype=np.int64)
    place[candidates] = np.arange(n, dtype=np.int64)
    own = np.flatnonzero(place[files.exact_file] >= 0)
    own_of, own_key = place[files.exact_file[own]], files.exact_key[own]
    own_reports = index.exact_reports[np.searchsorted(index.exact_key, own_key)]
    most = np.ones(n, dtype=np.int64)  # a file is in its own report
    np.maximum.at(most, own_of, own_reports)
    # PDQ hashes are looked up only for the files their exact hashes leave open: most copies of
    # a meme share an exact hash seen in many reports.
    rows = np.arange(index.pdq.shape[0], dtype=np.int64)
    node = np.full(n, -1, dtype=np.int64)
    usable = np.flatnonzero((most < minimum) & files.pdq_ok[candidates])
    node[usable] = _exact_rows(index.pdq, rows, files.pdq[candidates[usable]])
    most[usable] = np.maximum(most[usable], index.pdq_reports[node[usable]])
    rest = np.flatnonzero(most < minimum)
    # The PDQ hashes near the rest's, among those of their clusters (a near copy is in the same).
    pool = rows[members(index.pdq_cluster, np.unique(file_cluster[candidates[rest]]))]
    queried = np.unique(node[rest][node[rest] >= 0])
    q, near = near_pairs_between(index.pdq[queried], index.pdq[pool], settings.max_distance)
    query, near = queried[q], pool[near]
    near_most = np.zeros(rows.shape[0], dtype=np.int64)
    np.maximum.at(near_most, query, index.pdq_reports[near])
    near_sum = np.bincount(query, weights=index.pdq_reports[near], minlength=rows.shape[0])
    near_sum = near_sum.astype(np.int64)
    has = np.flatnonzero(node >= 0)
    most[has] = np.maximum(most[has], near_most[node[has]])
    found = most >= minimum
    at_most = np.bincount(own_of, weights=own_reports, minlength=n).astype(np.int64)
    at_most[has] += near_sum[node[has]]
    unclear = np.flatnonzero(~found & (at_most >= minimum))
    if unclear.size:
        found[unclear] = _exact_counts(
            files, file_cluster, index, candidates, unclear, node, (own_of, own_key),
            (query, near, near_sum),
        ) >= minimum  # fmt: skip
    return found


def _exact_counts(
    files: FileTable,
    file_cluster: IntArray,
    index: ContentIndex,
    candidates: IntArray,
    unclear: IntArray,
    node: IntArray,
    own: tuple[IntArray, IntArray],
    near: tuple[IntArray, IntArray, IntArray],
) -> IntArray:
    """How many reports hold the files at ``candidates[unclear]`` or a direct copy (``node``:
    per candidate, the row of its PDQ hash in ``index.pdq``, -1 for none, known for these;
    ``own``: (candidate, exact hash) of every exact hash of the candidates; ``near``: (query
    row, near row) pairs and, per row, the reports of the rows near it summed).

    Each hash here is held by fewer than ``viral_min_reports`` reports, so listing its reports
    costs little. The reports near a PDQ hash are their sum less those counted more than once:
    only a report holding two of the hashes can be, and few do (a report seldom holds two
    variants of one picture). A file's exact copies add none when every holder of its exact
    hashes has its PDQ hash (the same bytes give the same hash); only files without a usable PDQ
    hash, or with an exact copy whose PDQ hash differs, have their reports listed."""
    own_of, own_key = own
    query, near_node, near_sum = near
    rows = np.arange(index.pdq.shape[0], dtype=np.int64)
    asked = np.isin(query, node[unclear])
    query, near_node = query[asked], near_node[asked]
    # Which reports hold the near PDQ hashes: the files of these clusters holding one.
    wanted = np.unique(near_node)
    pool = np.flatnonzero(
        files.pdq_ok & members(file_cluster, np.unique(file_cluster[candidates[unclear]]))
    )
    held = _exact_rows(index.pdq[wanted], wanted, files.pdq[pool])
    pdq_pairs = _pairs(held[held >= 0], files.report[pool[held >= 0]])
    reached = near_sum - _repeated(pdq_pairs, query, near_node, rows.shape[0])
    # Exact hashes of these files, their reports, and whether their holders share one PDQ hash.
    chosen = np.zeros(candidates.shape[0], dtype=np.bool_)
    chosen[unclear] = True
    mine = chosen[own_of]
    own_of, own_key = own_of[mine], own_key[mine]
    holding = np.flatnonzero(np.isin(files.exact_key, own_key))
    holder = files.exact_file[holding]
    key_pairs = _pairs(files.exact_key[holding], files.report[holder])
    holder_node = np.full(holding.shape[0], -1, dtype=np.int64)
    usable = files.pdq_ok[holder]
    holder_node[usable] = _exact_rows(index.pdq, rows, files.pdq[holder[usable]])
    keys = np.unique(own_key)
    key_at = np.searchsorted(keys, files.exact_key[holding])
    lowest = np.full(keys.shape[0], rows.shape[0], dtype=np.int64)
    highest = np.full(keys.shape[0], -1, dtype=np.int64)
    np.minimum.at(lowest, key_at, holder_node)
    np.maximum.at(highest, key_at, holder_node)
    pure = (lowest == highest) & (lowest >= 0)
    mixed = np.zeros(candidates.shape[0], dtype=np.bool_)
    mixed[own_of[~pure[np.searchsorted(keys, own_key)]]] = True
    total = np.zeros(candidates.shape[0], dtype=np.int64)
    plain = unclear[(node[unclear] >= 0) & ~mixed[unclear]]
    total[plain] = reached[node[plain]]
    listed = unclear[(node[unclear] < 0) | mixed[unclear]]
    if listed.size:
        total[listed] = _listed_count(
            files, candidates, listed, node, reached, (own_of, own_key), (query, near_node),
            (key_pairs, pdq_pairs),
        )  # fmt: skip
    return total[unclear]


def _repeated(pairs: pl.DataFrame, query: IntArray, near: IntArray, size: int) -> IntArray:
    """Per PDQ row (of ``size``): how many times more than once a report is counted when the
    reports of the rows ``near`` it are summed (``pairs``: their distinct (row, report) pairs)."""
    several = pairs.group_by("report").len().filter(pl.col("len") > 1).select("report")
    repeated = (
        pl.DataFrame({"query": query, "node": near})
        .join(pairs.join(several, on="report"), on="node")
        .group_by("query", "report")
        .len()
        .filter(pl.col("len") > 1)
        .group_by("query")
        .agg((pl.col("len") - 1).sum())
    )
    found = np.zeros(size, dtype=np.int64)
    found[repeated["query"].to_numpy()] = repeated["len"].to_numpy()
    return found


def _listed_count(
    files: FileTable,
    candidates: IntArray,
    listed: IntArray,
    node: IntArray,
    reached: IntArray,
    own: tuple[IntArray, IntArray],
    near: tuple[IntArray, IntArray],
    pairs: tuple[pl.DataFrame, pl.DataFrame],
) -> IntArray:
    """How many reports hold the files at ``candidates[listed]`` or a direct copy: those holding
    a PDQ hash near the file's (``reached``, per PDQ row), and, listed, those of its exact hashes
    and its own report that are not among them. ``node``: each candidate's PDQ row (-1 for
    none); ``own``: (candidate, exact hash) of the candidates' exact hashes; ``near``: (query
    row, near row) pairs; ``pairs``: the distinct (hash, report) pairs of exact hashes and of
    PDQ rows."""
    key_pairs, pdq_pairs = pairs
    own_of, own_key = own
    query, near_node = near
    asked = np.isin(query, node[listed])
    by_query = (
        pl.DataFrame({"query": query[asked], "node": near_node[asked]})
        .join(pdq_pairs, on="node")
        .select("query", "report")
        .unique()
    )
    chosen = np.zeros(candidates.shape[0], dtype=np.bool_)
    chosen[listed] = True
    mine = chosen[own_of]
    by_key = (
        pl.DataFrame({"candidate": own_of[mine], "node": own_key[mine]})
        .join(key_pairs, on="node")
        .select("candidate", "report")
    )
    itself = pl.DataFrame({"candidate": listed, "report": files.report[candidates[listed]]})
    theirs = pl.concat([by_key, itself]).unique()
    others = (
        theirs.with_columns(pl.Series("query", node[theirs["candidate"].to_numpy()]))
        .join(by_query, on=["query", "report"], how="anti")
        .group_by("candidate")
        .len()
    )
    extra = np.zeros(candidates.shape[0], dtype=np.int64)
    extra[others["candidate"].to_numpy()] = others["len"].to_numpy()
    total = extra[listed]
    usable = node[listed] >= 0
    total[usable] += reached[node[listed][usable]]
    return total


def spread_files(
    files: FileTable,
    file_cluster: IntArray,
    summary: pl.DataFrame,
    index: ContentIndex,
    settings: ContentSettings,
    previous: tuple[IntArray, BoolArray] | None = None,
) -> BoolArray:
    """Per file: viral by spread, the reports holding it or a direct copy of it numbering
    ``viral_min_reports`` or more (``_spread_of``; ``index``: of every file here). A copy is in
    the file's cluster, so only files of clusters seen in that many reports (``summary``'s
    ``reports``) are counted.

    ``previous``: the last pass's clusters of this pass's files (``UNASSIGNED`` for new ones) and
    its answer for its files. Then only the new files are counted, and the earlier files not
    viral by spread yet that are direct copies of a new one: an earlier answer never turns false,
    and an earlier file's count moves only when a copy of it arrives (stored files do not go
    away, and a file's hashes and the threshold are those of the last pass, else it would have
    clustered afresh)."""
    seen_clusters = summary.filter(pl.col("reports") >= settings.viral_min_reports)["cluster"]
    seen = members(file_cluster, seen_clusters.to_numpy().astype(np.int64))
    if previous is None:
        found = np.zeros(len(files), dtype=np.bool_)
        candidates = np.flatnonzero(seen)
    else:
        previous_cluster, previous_found = previous
        new = previous_cluster == UNASSIGNED
        found = previous_found & ~new
        fresh = np.flatnonzero(new & seen)
        earlier = np.flatnonzero(
            ~new & ~found & members(file_cluster, np.unique(file_cluster[fresh]))
        )
        earlier = earlier[copies(files, earlier, fresh, settings.max_distance)]
        candidates = np.concatenate([fresh, earlier]).astype(np.int64)
    if candidates.size:
        found[candidates] = _spread_of(files, file_cluster, index, candidates, settings)
    return found


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
