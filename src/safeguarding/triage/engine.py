"""One triage pass over plain tables: cluster (fully or incrementally), score, group into work.

Incremental when earlier results exist and every unclustered file and report is newer (a larger id)
than every clustered one: new files and reports are then placed against indexes of the earlier ones
(``place_files``, ``place_reports``), which gives the same clusters as starting over. When that
does not hold (say a file was added to an old report), or when new reports would undo links between
earlier ones (a screen name that gained a second account, a sighting that moved an IP address's
windows), the pass starts over; the answer is the same either way, only the work differs. The
indexes and summaries a pass leaves (``TriageResult.content_index``, ``subject_index``, the
summaries) are what the next pass starts from: only the clusters and subjects new files and reports
touched (or whose list matches changed) are summarised again. Which files are flagged viral or
copies of flagged ones is looked up only for new files and the earlier files of clusters new
flagged files joined (``Previous.flagged``), and which are viral by spread only for new files and
the earlier files they are direct copies of (``Previous.spread``). Facts and scores are computed
for the reports the new ones can have affected (``affected.affected_reports``: new reports, their
subjects, the content clusters that changed, files whose viral status moved, moved work items) when
the earlier decisions are kept (``Previous.kept``, made under the same policy); every other report
keeps its level, score, route and rules fired, which are what its facts would give again. Otherwise
(a full pass, another policy) every report is scored.

Work items join reports through direct copies (``cluster_content.copy_pairs``) of new material
only (``_linking``): viral, known and allow-listed files are decided per file, since a chained
cluster can hold new material too, and a cluster joined through a meme's variants would join
unrelated new pictures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from safeguarding.triage import cluster_content, cluster_subjects
from safeguarding.triage.affected import affected_reports
from safeguarding.triage.cluster_content import ContentIndex, ContentSettings, ViralFiles
from safeguarding.triage.cluster_subjects import SubjectIndex, SubjectSettings
from safeguarding.triage.facts import ReportFacts, compute_facts
from safeguarding.triage.fingerprint import policy_identity
from safeguarding.triage.policy import Policy
from safeguarding.triage.priority import FloatArray, Priorities, level_changes, score_reports
from safeguarding.triage.queue import grown_work_groups, work_groups
from safeguarding.triage.tables import (
    UNASSIGNED,
    BoolArray,
    FileTable,
    IdentifierTable,
    ReportTable,
    take_files,
    take_reports,
)
from safeguarding.triage.unionfind import IntArray, members, remap, sorted_positions


@dataclass(frozen=True)
class Kept:
    """The last pass's decisions of its reports (the first ``len(score)`` of this pass's), made
    under the policy ``policy`` (``fingerprint.policy_identity``): kept for the reports this pass
    cannot have changed."""

    policy: str
    score: FloatArray
    route: npt.NDArray[np.int8]
    fired: npt.NDArray[np.uint64]
    work_item: IntArray


@dataclass(frozen=True)
class Previous:
    """Earlier results per file and report: cluster, subject (``UNASSIGNED`` when new) and level
    code (0 when never scored); ``kept``: the earlier decisions, when known; ``flagged``: per
    file, flagged viral or a copy of a flagged file (``cluster_content.flagged_copies``), and
    ``spread``: per file, viral by spread (``cluster_content.spread_files``), each when known
    (any value for new files)."""

    file_cluster: IntArray
    report_subject: IntArray
    level: IntArray
    kept: Kept | None = None
    flagged: BoolArray | None = None
    spread: BoolArray | None = None

    @staticmethod
    def none(n_reports: int, n_files: int) -> Previous:
        return Previous(
            np.full(n_files, UNASSIGNED, dtype=np.int64),
            np.full(n_reports, UNASSIGNED, dtype=np.int64),
            np.zeros(n_reports, dtype=np.int64),
        )


@dataclass(frozen=True)
class TriageResult:
    mode: str
    file_cluster: IntArray
    report_subject: IntArray
    content_summary: pl.DataFrame
    subject_summary: pl.DataFrame
    # Ids of the clusters and subjects whose summary rows may differ from the earlier ones
    # (replaced or dropped); None when everything was summarised afresh.
    resummarised: tuple[IntArray, IntArray] | None
    # ``facts`` are those of the reports at ``scored`` (ascending positions; all reports unless
    # earlier decisions were kept), in that order; ``priorities`` are every report's.
    scored: IntArray
    facts: ReportFacts
    priorities: Priorities
    work_item: IntArray
    changes: dict[str, int]
    merged_clusters: dict[int, int]
    merged_subjects: dict[int, int]
    new_files: int
    new_reports: int
    content_index: ContentIndex
    subject_index: SubjectIndex
    # Per file: flagged viral or a copy of a flagged file, and viral by spread, for the next
    # pass's ``Previous``.
    flagged: BoolArray
    spread: BoolArray


def _newer(ids: IntArray, assigned: np.ndarray) -> bool:
    """True when some are assigned and every unassigned id is larger than every assigned one."""
    if not assigned.any():
        return False
    if assigned.all():
        return True
    return int(ids[~assigned].min()) > int(ids[assigned].max())


def _content(
    files: FileTable,
    previous: IntArray,
    settings: ContentSettings,
    index: ContentIndex | None,
    recluster: bool,
) -> tuple[str, IntArray, dict[int, int]]:
    assigned = previous != UNASSIGNED
    if recluster or not _newer(files.file_id, assigned):
        return "full", cluster_content.cluster_files(files, settings), {}
    new_rows = np.flatnonzero(~assigned)
    if index is None:
        old_rows = np.flatnonzero(assigned)
        index = ContentIndex.build(take_files(files, old_rows), previous[old_rows])
    update = cluster_content.place_files(index, take_files(files, new_rows), settings)
    result = remap(previous, update.merges)
    result[new_rows] = update.file_cluster
    return "incremental", result, update.merges


def _subjects(
    reports: ReportTable,
    identifiers: IdentifierTable,
    previous: IntArray,
    settings: SubjectSettings,
    index: SubjectIndex | None,
    recluster: bool,
) -> tuple[str, IntArray, dict[int, int]]:
    assigned = previous != UNASSIGNED
    if recluster or not _newer(reports.report_id, assigned):
        return "full", cluster_subjects.cluster_reports(reports, identifiers, settings), {}
    new_rows = np.flatnonzero(~assigned)
    of_old = assigned[identifiers.report]
    old_identifiers = IdentifierTable(
        report=identifiers.report[of_old],
        key=identifiers.key[of_old],
        is_ip=identifiers.is_ip[of_old],
        seen_at=identifiers.seen_at[of_old],
        kind=identifiers.kind[of_old],
    )
    ambiguous = cluster_subjects.ambiguous_screen_names(identifiers)
    # A screen name that a new report's account made ambiguous may have linked earlier reports:
    # those links must go, which placing cannot do.
    newly = np.setdiff1d(ambiguous, cluster_subjects.ambiguous_screen_names(old_identifiers))
    if np.isin(newly, old_identifiers.key).any():
        return "full", cluster_subjects.cluster_reports(reports, identifiers, settings), {}
    if index is None:
        index = SubjectIndex.build(old_identifiers, previous)
    new_reports, new_identifiers = take_reports(reports, identifiers, new_rows)
    update = cluster_subjects.place_reports(
        index, new_reports, new_identifiers, settings, ambiguous
    )
    if update is None:  # a new sighting moved an address's windows: links would have to go
        return "full", cluster_subjects.cluster_reports(reports, identifiers, settings), {}
    result = remap(previous, update.merges)
    result[new_rows] = update.report_subject
    return "incremental", result, update.merges


def _updated_summaries(
    summaries: tuple[pl.DataFrame, pl.DataFrame],
    reports: ReportTable,
    files: FileTable,
    previous: Previous,
    file_cluster: IntArray,
    report_subject: IntArray,
    merged_clusters: dict[int, int],
    merged_subjects: dict[int, int],
    changed_files: IntArray,
) -> tuple[pl.DataFrame, pl.DataFrame, tuple[IntArray, IntArray]]:
    """Earlier summaries with the touched clusters and subjects summarised again, and the ids of
    the clusters and subjects whose rows were replaced or dropped. Clusters that only gained new
    files (of new reports) add the new files' summary to their row; clusters that merged or hold
    a file whose list matches changed are summarised again from all their files. Content rows
    come without spread (``cluster_content.with_spread`` adds it): only clusters that gained
    files can gain a file viral by spread, and they are among the replaced rows."""
    content, subjects = summaries
    content = content.drop("large", "viral")
    new_files = np.flatnonzero(previous.file_cluster == UNASSIGNED)
    # A new file of an earlier report would count that report twice: its cluster is redone.
    of_earlier = new_files[previous.report_subject[files.report[new_files]] != UNASSIGNED]
    redo = np.unique(
        np.concatenate(
            [
                file_cluster[changed_files],
                file_cluster[of_earlier],
                np.fromiter(merged_clusters.values(), dtype=np.int64),
            ]
        )
    )
    grown = np.setdiff1d(np.unique(file_cluster[new_files]), redo)
    content_gone = np.concatenate([redo, grown, np.fromiter(merged_clusters, dtype=np.int64)])
    gone = pl.Series(content_gone).implode()
    fresh = cluster_content.summarise(files, reports, file_cluster, redo)
    added = cluster_content.with_files(
        content.filter(pl.col("cluster").is_in(pl.Series(grown).implode())),
        cluster_content.summarise(
            take_files(files, new_files), reports, file_cluster[new_files], grown
        ),
    )
    content = pl.concat([content.filter(~pl.col("cluster").is_in(gone)), fresh, added]).sort(
        "cluster"
    )
    touched = np.unique(
        np.concatenate(
            [
                report_subject[previous.report_subject == UNASSIGNED],
                np.fromiter(merged_subjects.values(), dtype=np.int64),
            ]
        )
    )
    subjects_gone = np.concatenate([touched, np.fromiter(merged_subjects, dtype=np.int64)])
    gone = subjects_gone.tolist()
    fresh_subjects = cluster_subjects.summarise(reports, files, report_subject, touched)
    subjects = pl.concat([subjects.filter(~pl.col("subject").is_in(gone)), fresh_subjects]).sort(
        "subject"
    )
    return content, subjects, (content_gone, subjects_gone)


def _linking(files: FileTable, viral: ViralFiles) -> BoolArray:
    """The files that join work items through their direct copies: only new material does
    (known and allow-listed content was assessed before, and viral content is shared by many
    unrelated people). Decided per file, as a cluster can hold both."""
    found: BoolArray = ~(viral.viral | files.flag("known") | files.flag("allow"))
    return found


def _viral_moved(
    previous: Previous,
    reports: ReportTable,
    files: FileTable,
    file_cluster: IntArray,
    viral: ViralFiles,
) -> IntArray:
    """Earlier files whose viral status may differ from the last pass's (positions): viral by
    spread or flagged since. Neither ever turns false. Where the last pass's answers are not
    known: every earlier file viral by spread in a cluster new files joined (a file's count grows
    only when a copy of it arrives, in its cluster), and every earlier file of a cluster that a
    new flagged file joined (the ones that became its copies are among them): supersets."""
    old = previous.file_cluster != UNASSIGNED
    if previous.spread is not None:
        moved = old & viral.spread & ~previous.spread
    else:
        moved = old & viral.spread & members(file_cluster, np.unique(file_cluster[~old]))
    if previous.flagged is not None:
        moved |= old & viral.flagged & ~previous.flagged
    else:
        new_flagged = ~old & cluster_content.flagged(files, reports)
        moved |= old & members(file_cluster, np.unique(file_cluster[new_flagged]))
    return np.flatnonzero(moved).astype(np.int64)


def _grown_groups(
    previous: Previous,
    kept: Kept | None,
    reports: ReportTable,
    files: FileTable,
    file_cluster: IntArray,
    report_subject: IntArray,
    linking: BoolArray,
    flipped_files: IntArray,
    max_distance: int,
) -> IntArray | None:
    """Work groups grown from the kept ones (``queue.grown_work_groups``) after an incremental
    pass without merges: the items holding a file of a cluster in which a file started or
    stopped joining items (``flipped_files``: earlier files whose viral or list status moved)
    are formed again, the others only merge along the new reports' links. None when they must
    be formed afresh."""
    if kept is None:
        return None
    n_old = kept.work_item.shape[0]
    flipped = np.unique(file_cluster[flipped_files])
    previous_group = sorted_positions(reports.report_id[:n_old], kept.work_item)
    old_files = np.flatnonzero(previous.file_cluster != UNASSIGNED)
    redo = np.unique(
        previous_group[files.report[old_files[members(file_cluster[old_files], flipped)]]]
    )
    again = np.flatnonzero(members(previous_group, redo))
    again_files = np.flatnonzero(members(files.report, again))
    again_files = again_files[linking[again_files]]
    new_reports = np.arange(n_old, len(reports), dtype=np.int64)
    new_files = np.flatnonzero(previous.file_cluster == UNASSIGNED)
    joining = new_files[linking[new_files]]
    # Subject ids are those of their first report. A joining file's direct copies are in its
    # cluster: the linking files of the joining files' clusters are searched for them.
    first_report = np.searchsorted(reports.report_id, report_subject[new_reports])
    in_clusters = np.flatnonzero(linking & members(file_cluster, np.unique(file_cluster[joining])))
    copy_left, copy_right = cluster_content.copy_pairs(files, in_clusters, max_distance)
    again_left, again_right = cluster_content.copy_pairs(files, again_files, max_distance)
    return grown_work_groups(
        previous_group,
        len(reports),
        np.concatenate([new_reports, files.report[copy_left]]).astype(np.int64),
        np.concatenate([first_report, files.report[copy_right]]).astype(np.int64),
        redo,
        (
            again, report_subject[again], files.report[again_left].astype(np.int64),
            files.report[again_right].astype(np.int64),
        ),
    )  # fmt: skip


def _score_some(
    policy: Policy,
    reports: ReportTable,
    files: FileTable,
    file_cluster: IntArray,
    viral: ViralFiles,
    report_subject: IntArray,
    scored: IntArray,
    level: IntArray,
    kept: Kept,
) -> tuple[ReportFacts, Priorities]:
    """Facts of the reports at ``scored`` and every report's priorities: those computed for
    ``scored``, the kept ones for the others."""
    n = len(reports)
    chosen = np.zeros(n, dtype=np.bool_)
    chosen[scored] = True
    at = np.cumsum(chosen) - 1  # a chosen report's place among the chosen
    file_rows = np.flatnonzero(chosen[files.report]).astype(np.int64)
    some_files = take_files(files, file_rows)
    some_files = dataclasses.replace(some_files, report=at[some_files.report])
    # Earlier reports and size count over the whole subjects of the chosen reports.
    subject_size = np.bincount(report_subject)
    of_subjects = np.zeros(subject_size.shape[0], dtype=np.bool_)
    of_subjects[report_subject[scored]] = True
    in_subjects = np.flatnonzero(of_subjects[report_subject])
    earlier = np.zeros(n, dtype=np.int64)
    earlier[in_subjects] = cluster_subjects.earlier_reports(
        report_subject[in_subjects],
        reports.received_at[in_subjects],
        reports.report_id[in_subjects],
    )
    some_reports = ReportTable(
        report_id=reports.report_id[scored], received_at=reports.received_at[scored],
        provider=reports.provider[scored],
        signals={name: column[scored] for name, column in reports.signals.items()},
    )  # fmt: skip
    subjects = report_subject[scored]
    facts = compute_facts(
        some_reports, some_files, file_cluster[file_rows], viral.take(file_rows), subjects,
        earlier[scored], subject_size[subjects],
    )  # fmt: skip
    some = score_reports(policy, facts)
    n_old = kept.score.shape[0]

    def merged(old: np.ndarray, new: np.ndarray, dtype: Any) -> np.ndarray:
        column = np.zeros(n, dtype=dtype)
        column[:n_old] = old
        column[scored] = new
        return column

    priorities = Priorities(
        level=merged(level[:n_old], some.level, np.int8),
        score=merged(kept.score, some.score, np.float64),
        route=merged(kept.route, some.route, np.int8),
        fired=merged(kept.fired, some.fired, np.uint64),
    )
    return facts, priorities


def run(
    reports: ReportTable,
    files: FileTable,
    identifiers: IdentifierTable,
    previous: Previous,
    policy: Policy,
    content_settings: ContentSettings,
    subject_settings: SubjectSettings,
    content_index: ContentIndex | None = None,
    subject_index: SubjectIndex | None = None,
    previous_summaries: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    *,
    recluster: bool = False,
    changed_files: IntArray | None = None,
) -> TriageResult:
    """One pass. ``content_index``/``subject_index``: indexes of the earlier results kept from
    the previous pass (built from ``previous`` when not given); ``previous_summaries``: its
    content and subject summaries, of which only the clusters and subjects that new files and
    reports touched are recomputed, and the clusters of ``changed_files`` (earlier files whose
    list matches changed). ``recluster``: cluster everything afresh (after a change of settings
    the earlier clusters may no longer hold); ``previous`` then only serves to count changes."""
    content_mode, file_cluster, merged_clusters = _content(
        files, previous.file_cluster, content_settings, content_index, recluster
    )
    subject_mode, report_subject, merged_subjects = _subjects(
        reports, identifiers, previous.report_subject, subject_settings, subject_index, recluster
    )
    incremental = content_mode == subject_mode == "incremental"
    new_files = previous.file_cluster == UNASSIGNED
    new_reports = previous.report_subject == UNASSIGNED
    if content_mode == "incremental" and content_index is not None:
        content_index = content_index.updated(
            files, file_cluster, np.flatnonzero(new_files), merged_clusters
        )
    else:
        content_index = ContentIndex.build(files, file_cluster)
    resummarised: tuple[IntArray, IntArray] | None = None
    if incremental and previous_summaries is not None:
        content_summary, subject_summary, resummarised = _updated_summaries(
            previous_summaries, reports, files, previous, file_cluster, report_subject,
            merged_clusters, merged_subjects,
            np.zeros(0, np.int64) if changed_files is None else changed_files,
        )  # fmt: skip
    else:
        content_summary = cluster_content.summarise(files, reports, file_cluster)
        subject_summary = cluster_subjects.summarise(reports, files, report_subject)
    kept = previous.kept
    changed = np.zeros(0, np.int64) if changed_files is None else changed_files
    flagged = cluster_content.flagged_copies(
        files, reports, file_cluster, content_settings,
        (previous.file_cluster, previous.flagged)
        if content_mode == "incremental" and previous.flagged is not None
        else None,
    )  # fmt: skip
    spread = cluster_content.spread_files(
        files, file_cluster, content_summary, content_index, content_settings,
        (previous.file_cluster, previous.spread)
        if content_mode == "incremental" and previous.spread is not None
        else None,
    )  # fmt: skip
    content_summary = cluster_content.with_spread(content_summary, file_cluster, spread)
    viral = ViralFiles(flagged, spread)
    linking = _linking(files, viral)
    viral_moved: IntArray | None = None
    if resummarised is not None:
        viral_moved = _viral_moved(previous, reports, files, file_cluster, viral)
    groups = (
        _grown_groups(
            previous, kept, reports, files, file_cluster, report_subject, linking,
            np.concatenate([viral_moved, changed]), content_settings.max_distance,
        )
        if viral_moved is not None and not merged_clusters and not merged_subjects
        else None
    )  # fmt: skip
    if groups is None:
        copy_left, copy_right = cluster_content.copy_pairs(
            files, np.flatnonzero(linking).astype(np.int64), content_settings.max_distance
        )
        groups = work_groups(
            np.unique(report_subject, return_inverse=True)[1].astype(np.int64),
            files.report[copy_left].astype(np.int64),
            files.report[copy_right].astype(np.int64),
        )
    work_item = reports.report_id[groups]
    if viral_moved is not None and kept is not None and kept.policy == policy_identity(policy):
        scored = affected_reports(
            previous.file_cluster, previous.report_subject, file_cluster, report_subject,
            work_item, files.report, changed, kept.work_item, viral_moved,
        )  # fmt: skip
        facts, priorities = _score_some(
            policy, reports, files, file_cluster, viral, report_subject, scored,
            previous.level, kept,
        )  # fmt: skip
    else:
        scored = np.arange(len(reports), dtype=np.int64)
        earlier = cluster_subjects.earlier_reports(
            report_subject, reports.received_at, reports.report_id
        )
        facts = compute_facts(reports, files, file_cluster, viral, report_subject, earlier)
        priorities = score_reports(policy, facts)
    if subject_mode == "incremental" and subject_index is not None:
        subject_index = subject_index.updated(
            identifiers, report_subject, new_reports, merged_subjects
        )
    else:
        subject_index = SubjectIndex.build(identifiers, report_subject)
    return TriageResult(
        mode="incremental" if incremental else "full",
        file_cluster=file_cluster,
        report_subject=report_subject,
        content_summary=content_summary,
        subject_summary=subject_summary,
        resummarised=resummarised,
        scored=scored,
        facts=facts,
        priorities=priorities,
        work_item=work_item,
        changes=level_changes(previous.level, priorities.level.astype(np.int64)),
        merged_clusters=merged_clusters,
        merged_subjects=merged_subjects,
        new_files=int(new_files.sum()),
        new_reports=int(new_reports.sum()),
        content_index=content_index,
        subject_index=subject_index,
        flagged=flagged,
        spread=spread,
    )
