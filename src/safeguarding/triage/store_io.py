"""The store at the edge of triage: stored reports in as columns (``store_read``), results out
as rows.

Writing: cluster assignments, cluster and subject summaries, one decision per report with its
policy and reasons, the run record and the input cache the next run starts from
(``input_cache``; the queue is built from its columns too), all in one transaction. Only what
changed is written: assignments of new files and merged clusters, summaries that differ from the
last run's, decisions whose fingerprint moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from safeguarding.errors import ValidationError
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    PriorityDecision,
    ProviderReport,
    Subject,
    TriageRun,
)
from safeguarding.triage import bulk
from safeguarding.triage.engine import TriageResult
from safeguarding.triage.fingerprint import fingerprints, policy_identity
from safeguarding.triage.input_cache import CacheUnusableError, read_cache, read_meta, write_cache
from safeguarding.triage.policy import LEVELS, ROUTES, Policy
from safeguarding.triage.queue import QueueColumns
from safeguarding.triage.reasons import reasons_json
from safeguarding.triage.store_read import CONTACT_OFFENCE, ENTICEMENT, Loaded, load
from safeguarding.triage.tables import UNASSIGNED
from safeguarding.triage.unionfind import IntArray

__all__ = ["CONTACT_OFFENCE", "ENTICEMENT", "Loaded", "load", "queue_columns", "save"]

_CHUNK = 5_000


DETECTIONS = ("known_match", "allow_list", "no_list_match", "no_files")


def detection(result: TriageResult) -> IntArray:
    """How each scored report's material was detected, as far as the report shows
    (``DETECTIONS``), in the order of ``TriageResult.scored``."""
    values = result.facts.values
    return np.select(
        [values["known_files"] > 0, values["all_allow_listed"] > 0, values["files"] > 0],
        [0, 1, 2],
        3,
    ).astype(np.int64)


def _providers(codes_list: list[int], names: list[str]) -> list[str]:
    return sorted(names[c] for c in codes_list)


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk insert through the intake's driver-level path (``triage.bulk``); ids as given."""
    if rows:
        columns = tuple(rows[0])
        bulk.insert_values(session, model, columns, [[row[c] for c in columns] for row in rows])


def _delete_in(session: Session, column: Any, ids: list[int]) -> None:
    for start in range(0, len(ids), _CHUNK):
        session.execute(delete(column.table).where(column.in_(ids[start : start + _CHUNK])))


def changed_rows(
    previous: pl.DataFrame | None,
    current: pl.DataFrame,
    key: str,
    candidates: IntArray | None = None,
) -> tuple[list[int], pl.DataFrame]:
    """Summary rows to delete (ids gone) and to write (new or changed) to turn the stored
    ``previous`` summary into ``current``; everything when there is no ``previous``.
    ``candidates``: the only ids whose rows can differ, when known."""
    if previous is None:
        return [], current
    if candidates is not None:
        only = pl.col(key).is_in(pl.Series(candidates).implode())
        previous, current = previous.filter(only), current.filter(only)
    joined = current.join(previous, on=key, how="left", suffix="__before")
    differs = pl.lit(False)
    for name in current.columns:
        if name != key:
            differs = differs | pl.col(name).ne_missing(pl.col(f"{name}__before"))
    changed = joined.filter(differs).select(current.columns)
    gone = previous.filter(~pl.col(key).is_in(current[key].implode()))[key]
    return sorted(gone.to_list()), changed


def _save_assignments(session: Session, loaded: Loaded, result: TriageResult) -> None:
    """Cluster assignments: after an incremental pass the new files' and the merges; after a
    full pass every file whose cluster is not the one stored."""
    files = loaded.files
    previous = loaded.previous.file_cluster
    if result.mode == "incremental":
        for old, merged in result.merged_clusters.items():
            session.execute(
                update(FileCluster).where(FileCluster.cluster_id == old).values(cluster_id=merged)
            )
        write = previous == UNASSIGNED
    else:
        write = previous != result.file_cluster
        _delete_in(
            session, FileCluster.file_id, files.file_id[write & (previous != UNASSIGNED)].tolist()
        )
    _insert(
        session,
        FileCluster,
        [
            {"file_id": int(f), "cluster_id": int(c)}
            for f, c in zip(files.file_id[write], result.file_cluster[write], strict=True)
        ],
    )


def _provider_texts(
    session: Session, model: Any, providers: pl.Series, names: list[str]
) -> list[Any]:
    """Each row's providers (codes) as the driver receives the JSON column of their sorted
    names; bound once per distinct set (rows share a few hundred sets)."""
    rows = providers.to_list()
    bound = {
        key: bulk.bound_value(session, model, "providers", _providers(list(key), names))
        for key in {tuple(codes) for codes in rows}
    }
    return [bound[tuple(codes)] for codes in rows]


def _write_summary(
    session: Session,
    model: Any,
    gone: list[int],
    rows: pl.DataFrame,
    columns: dict[str, str],
    times: tuple[str, ...],
    names: list[str],
) -> None:
    """Delete the summary rows ``gone``, insert or replace ``rows`` (an upsert on the id), their
    timestamps and providers bound as whole columns. ``columns``: model column -> frame column."""
    _delete_in(session, model.id, gone)
    if rows.height == 0:
        return
    values = {
        column: (
            bulk.bound_epochs(session, model, column, rows[source].to_numpy())
            if column in times
            else _provider_texts(session, model, rows[source], names)
            if column == "providers"
            else rows[source].to_list()
        )
        for column, source in columns.items()
    }
    bulk.upsert_values(
        session, model, tuple(values), list(zip(*values.values(), strict=True)), key=("id",),
        bound_columns=frozenset({"providers", *times}),
    )  # fmt: skip


_CONTENT_COLUMNS = {
    "id": "cluster", "files": "files", "reports": "reports", "first_seen": "first_seen",
    "last_seen": "last_seen", "providers": "providers", "known_files": "known_files",
    "allow_files": "allow_files", "meme_files": "meme_files", "batched_files": "batched_files",
    "large": "large", "annotated": "annotated", "batched": "batched", "viral": "viral",
}  # fmt: skip
_SUBJECT_COLUMNS = {
    "id": "subject", "reports": "reports", "files": "files", "providers": "providers",
    "first_report": "first_report", "last_report": "last_report",
    "prior_ct_reports": "prior_ct_reports",
}  # fmt: skip


def _save_summaries(session: Session, loaded: Loaded, result: TriageResult) -> None:
    """Content cluster and subject summaries that differ from the stored ones."""
    names = loaded.provider_names
    before = loaded.summaries
    if before is None:
        session.execute(delete(ContentCluster))
        session.execute(delete(Subject))
    candidates = result.resummarised or (None, None)
    gone, content = changed_rows(
        None if before is None else before[0], result.content_summary, "cluster", candidates[0]
    )
    _write_summary(
        session, ContentCluster, gone, content, _CONTENT_COLUMNS, ("first_seen", "last_seen"),
        names,
    )  # fmt: skip
    gone, subjects = changed_rows(
        None if before is None else before[1], result.subject_summary, "subject", candidates[1]
    )
    _write_summary(
        session, Subject, gone, subjects, _SUBJECT_COLUMNS, ("first_report", "last_report"), names
    )


def save(
    session: Session,
    loaded: Loaded,
    result: TriageResult,
    policy: Policy,
    started: datetime,
) -> tuple[TriageRun, int, dict[str, int]]:
    """Write the pass's results (only what changed) and the input cache for the next run.
    Returns the run, how many decisions were written and the cache's bytes written."""
    now = datetime.now(UTC)
    run = TriageRun(
        started_at=started, finished_at=now, mode=result.mode, policy=policy.label,
        policy_digest=policy.digest, reports=len(loaded.reports), new_reports=result.new_reports,
        new_files=result.new_files, content_clusters=result.content_summary.height,
        subjects=result.subject_summary.height, merged_clusters=len(result.merged_clusters),
        merged_subjects=len(result.merged_subjects), compared=result.changes["compared"],
        changed_level=result.changes["changed"], raised=result.changes["raised"],
        lowered=result.changes["lowered"],
    )  # fmt: skip
    session.add(run)
    session.flush()
    _save_assignments(session, loaded, result)
    _save_summaries(session, loaded, result)
    written, fingerprint = _save_decisions(session, loaded, result, policy, run.id, now)
    cache_bytes = _save_cache(session, loaded, result, policy, fingerprint, run.id)
    return run, written, cache_bytes


def _save_cache(
    session: Session,
    loaded: Loaded,
    result: TriageResult,
    policy: Policy,
    fingerprint: IntArray,
    run_id: int,
) -> dict[str, int]:
    """The columns the next run starts from, with this run's results and watermarks."""
    if loaded.columns is None or loaded.marks is None:
        return {}
    content, subjects = result.content_index, result.subject_index
    known, allow = loaded.files.flag("known"), loaded.files.flag("allow")
    arrays = dict(loaded.columns) | {
        "p_file_cluster": result.file_cluster, "p_report_subject": result.report_subject,
        "p_level": result.priorities.level, "p_fingerprint": fingerprint,
        "p_work_item": result.work_item, "p_score": result.priorities.score,
        "p_route": result.priorities.route, "p_fired": result.priorities.fired,
        "p_known": known, "p_allow": allow, "p_flagged": result.flagged,
        "p_spread": result.spread,
        "ci_exact_key": content.exact_key, "ci_exact_cluster": content.exact_cluster,
        "ci_exact_reports": content.exact_reports, "ci_pdq": content.pdq,
        "ci_pdq_cluster": content.pdq_cluster, "ci_pdq_reports": content.pdq_reports,
        "si_key": subjects.key, "si_key_subject": subjects.key_subject,
        "si_ip_key": subjects.ip_key, "si_ip_seen_at": subjects.ip_seen_at,
        "si_ip_subject": subjects.ip_subject,
    }  # fmt: skip
    meta = {
        "digest": loaded.digest, "run": run_id, "providers": loaded.provider_names,
        "marks": {name: list(mark) for name, mark in loaded.marks.items()},
        "lists": loaded.lists, "policy": policy_identity(policy),
    }  # fmt: skip
    frames = {"content": result.content_summary, "subjects": result.subject_summary}
    # After an incremental read the input columns are the cached ones with the new rows appended.
    grown = frozenset(loaded.columns) if loaded.read == "incremental" else frozenset()
    return write_cache(session, arrays, frames, meta, loaded.cache, grown)


# The queue's input, as the input cache keeps it after every run.
QUEUE_INPUT = ("p_work_item", "r_id", "p_level", "p_score", "r_received", "p_route")
_QUEUE_READS = 3


def queue_columns(session: Session) -> tuple[int, QueueColumns]:
    """The latest run and the queue's input, read from the columns the run left in the input
    cache (a sixteenth of it: no decision rows are read)."""
    run_id, arrays = _queue_input(session)
    if len({arrays[name].shape for name in QUEUE_INPUT}) != 1:
        raise ValidationError(
            "nothing to plan: the last triage run's columns differ in length; run safeguarding "
            "triage run --full"
        )
    item, report, level, score, received, route = (arrays[name] for name in QUEUE_INPUT)
    return run_id, QueueColumns.from_decisions(item, report, level, score, received, route)


def _queue_input(session: Session) -> tuple[int, Mapping[str, np.ndarray]]:
    """The last run's id and its ``QUEUE_INPUT`` columns. The run, the cache's meta data and
    the columns are separate reads: a run that commits in between replaces the cache, and the
    read starts again (``_QUEUE_READS`` times at most)."""
    failure = CacheUnusableError("not read")
    for _ in range(_QUEUE_READS):
        last_run = session.scalar(select(func.max(TriageRun.id)))
        if last_run is None:
            raise ValidationError("nothing to plan: run safeguarding triage run first")
        try:
            meta = read_meta(session)
            if meta.get("run") != last_run:
                raise CacheUnusableError("it is older than the last run")
            return int(last_run), read_cache(session, meta, only=QUEUE_INPUT).arrays
        except CacheUnusableError as exc:
            failure = exc
    raise ValidationError(
        f"nothing to plan: the last triage run's columns cannot be read ({failure}); run "
        "safeguarding triage run again"
    ) from failure


def reports_since_run(session: Session) -> int:
    """How many reports were stored after the last run read the store (above the report
    watermark its input cache keeps): the queue is built from that cache and holds none of them.
    """
    try:
        mark = int(read_meta(session)["marks"]["report"][0])
    except (CacheUnusableError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValidationError(
            "nothing to plan: the last triage run's watermarks cannot be read; run safeguarding "
            "triage run again"
        ) from exc
    count = session.scalar(select(func.count()).where(ProviderReport.id > mark))
    return int(count or 0)


def _save_decisions(
    session: Session,
    loaded: Loaded,
    result: TriageResult,
    policy: Policy,
    run_id: int,
    now: datetime,
) -> tuple[int, IntArray]:
    """Write the decisions whose fingerprint moved (new reports included); returns how many, and
    every report's fingerprint. Only the reports the pass scored (``TriageResult.scored``) are
    fingerprinted; the others keep their decisions and the fingerprints the cache holds."""
    scored = result.scored
    detected = detection(result)
    priorities = result.priorities.take(scored)
    fingerprint_scored = fingerprints(
        policy_identity(policy), result.facts, priorities, result.report_subject[scored],
        result.work_item[scored], detected,
    )  # fmt: skip
    if scored.shape[0] == len(loaded.reports):
        fingerprint = fingerprint_scored
    else:
        fingerprint = loaded.decided_fingerprint.copy()
        fingerprint[scored] = fingerprint_scored
    # Positions among the scored reports of those to write: new, or fingerprint moved.
    changed = ~loaded.decided[scored] | (loaded.decided_fingerprint[scored] != fingerprint_scored)
    at = np.flatnonzero(changed).astype(np.int64)
    rows = scored[at]
    report_ids = loaded.reports.report_id
    # Rows of the reports decided before are replaced in place (an upsert): after a full read
    # that includes rows from before fingerprints (not counted as decided).
    columns = (
        "report_id", "subject_id", "work_item", "level", "score", "route", "detection",
        "reasons", "policy", "policy_digest", "run_id", "decided_at", "fingerprint",
    )  # fmt: skip
    level_names = np.array(LEVELS, dtype=object)[priorities.level[at].astype(np.int64) - 1]
    route_names = np.array(ROUTES, dtype=object)[priorities.route[at].astype(np.int64)]
    detected_names = np.array(DETECTIONS, dtype=object)[detected[at]]
    size = rows.shape[0]
    decided_at = bulk.bound_value(session, PriorityDecision, "decided_at", now)
    values = zip(
        report_ids[rows].tolist(), result.report_subject[rows].tolist(),
        result.work_item[rows].tolist(), level_names.tolist(), priorities.score[at].tolist(),
        route_names.tolist(), detected_names.tolist(),
        reasons_json(policy, result.facts, priorities, at),
        [policy.label] * size, [policy.digest] * size, [run_id] * size, [decided_at] * size,
        fingerprint[rows].tolist(), strict=True,
    )  # fmt: skip
    bulk.upsert_values(
        session, PriorityDecision, columns, list(values), key=("report_id",),
        bound_columns=frozenset({"reasons", "decided_at"}),
    )  # fmt: skip
    return int(size), fingerprint
