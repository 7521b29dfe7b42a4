"""The store at the edge of triage: stored reports in as columns, results out as rows.

Reading: reports with their annotations, the reported user's age and priorCTReports, victims,
files with their annotations and classification, exact and PDQ hashes (PDQ only at or above the
minimum quality), list matches (known or allow) and the reported user's pseudonymised identifiers
(ESP id with its service, email, phone, screen name, IP with its capture time). Nothing is read in
clear that was not already stored pseudonymised; media are never involved.
Writing: cluster assignments, cluster and subject summaries, one decision per report with its
policy and reasons, and the run record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from safeguarding.errors import ValidationError
from safeguarding.hashing.pdq_bits import hex_to_words
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    FileHash,
    HashList,
    HashMatch,
    PartyIdentifier,
    PriorityDecision,
    ProviderReport,
    QueueSnapshot,
    ReportedFile,
    ReportParty,
    Subject,
    TriageRun,
)
from safeguarding.triage.engine import UNASSIGNED, Previous, TriageResult
from safeguarding.triage.fingerprint import fingerprints
from safeguarding.triage.policy import LEVEL_CODE, Policy
from safeguarding.triage.priority import Explainer
from safeguarding.triage.queue import QueueColumns
from safeguarding.triage.tables import FileTable, IdentifierTable, ReportTable, codes
from safeguarding.triage.unionfind import IntArray

ENTICEMENT = "Online Enticement of Children for Sexual Acts"
CONTACT_OFFENCE = "Child Sexual Molestation"  # hands-on abuse: the user has access to a child
LINKING_KINDS = ("esp_id", "email", "phone", "screen_name", "ip")
EXACT_KINDS = ("md5", "sha1", "sha256")
_CHUNK = 5_000


def epoch(value: datetime | None) -> int:
    if value is None:
        return 0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


@dataclass(frozen=True)
class Loaded:
    reports: ReportTable
    files: FileTable
    identifiers: IdentifierTable
    previous: Previous
    provider_names: list[str]
    incident_types: list[str | None]
    received_at: IntArray
    # The stored decisions' fingerprints (``fingerprint.fingerprints``); ``decided``: has a row.
    decided: np.ndarray
    decided_fingerprint: IntArray


def _frame(rows: list[Any], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row")


def load(session: Session, min_quality: int) -> Loaded:
    report_rows = session.execute(
        select(
            ProviderReport.id, ProviderReport.received_at, ProviderReport.incident_time,
            ProviderReport.provider, ProviderReport.incident_type, ProviderReport.escalated,
            ProviderReport.annotation_sextortion, ProviderReport.annotation_csam_solicitation,
            ProviderReport.annotation_sadistic_online_exploitation,
            ProviderReport.annotation_minor_to_minor, ProviderReport.annotation_informational,
            ProviderReport.batched_reason,
        ).order_by(ProviderReport.id)
    ).all()  # fmt: skip
    n = len(report_rows)
    report_id = np.array([r[0] for r in report_rows], dtype=np.int64)
    received = np.array([epoch(r[1]) for r in report_rows], dtype=np.int64)
    happened = np.array([epoch(r[2] or r[1]) for r in report_rows], dtype=np.int64)
    providers = [r[3] or "(unknown provider)" for r in report_rows]
    incident_types = [r[4] for r in report_rows]

    def column(values: list[Any]) -> IntArray:
        return np.array([int(bool(v)) for v in values], dtype=np.int64)

    def position(ids: list[int]) -> IntArray:
        return np.searchsorted(report_id, np.array(ids, dtype=np.int64)).astype(np.int64)

    signals = {
        "escalate": column([r[5] for r in report_rows]),
        "enticement": column([r[4] == ENTICEMENT for r in report_rows]),
        "sextortion": column([r[6] for r in report_rows]),
        "csam_solicitation": column([r[7] for r in report_rows]),
        "sadistic_exploitation": column([r[8] for r in report_rows]),
        "minor_to_minor": column([r[9] for r in report_rows]),
        "informational": column([r[10] for r in report_rows]),
        "batched_meme": column([r[11] == "VIRAL_POTENTIAL_MEME" for r in report_rows]),
        "access_to_children": column([r[4] == CONTACT_OFFENCE for r in report_rows]),
    }
    parties = session.execute(
        select(ReportParty.report_id, ReportParty.role, ReportParty.age,
               ReportParty.prior_ct_reports_count).where(ReportParty.parent_id.is_(None))
    ).all()  # fmt: skip
    victim = np.zeros(n, dtype=np.int64)
    minor = np.zeros(n, dtype=np.int64)
    prior = np.zeros(n, dtype=np.int64)
    for report, role, age, prior_count in parties:
        at = int(np.searchsorted(report_id, report))
        if role == "victim":
            victim[at] = 1
        elif role == "reported_user":
            minor[at] |= int(age is not None and age < 18)
            prior[at] += int(prior_count or 0)
    signals |= {
        "victim_identified": victim,
        "reported_user_minor": minor,
        "prior_ct_reports": prior,
    }
    reports = ReportTable(report_id, happened, codes(providers), signals)

    file_rows = session.execute(
        select(
            ReportedFile.id, ReportedFile.report_id, ReportedFile.uploaded_at,
            ReportedFile.potential_meme, ReportedFile.annotation_viral,
            ReportedFile.annotation_possible_self_production,
            ReportedFile.annotation_live_streaming, ReportedFile.annotation_infant,
            ReportedFile.annotation_physical_harm, ReportedFile.annotation_violence_gore,
            ReportedFile.annotation_bestiality, ReportedFile.industry_classification,
        ).order_by(ReportedFile.id)
    ).all()  # fmt: skip
    file_id = np.array([r[0] for r in file_rows], dtype=np.int64)
    file_report = position([r[1] for r in file_rows])
    ranks = _frame([(i, r) for i, r in enumerate(file_report.tolist())], ["row", "report"])
    file_position = (
        ranks.with_columns(pl.col("row").rank("ordinal").over("report").alias("p"))["p"]
        .to_numpy()
        .astype(np.int64)
        if file_rows
        else np.zeros(0, dtype=np.int64)
    )
    seen = np.array(
        [epoch(r[2]) if r[2] else happened[p] for r, p in zip(file_rows, file_report, strict=True)],
        dtype=np.int64,
    )
    matches = session.execute(
        select(HashMatch.file_id, HashList.kind).join(HashList, HashList.id == HashMatch.list_id)
    ).all()
    known = np.isin(file_id, [f for f, kind in matches if kind == "known"])
    allow = np.isin(file_id, [f for f, kind in matches if kind == "allow"]) & ~known

    def flag(index: int) -> np.ndarray:
        return np.array([bool(r[index]) for r in file_rows], dtype=np.bool_)

    flags = {
        "known": known, "allow": allow, "potential_meme": flag(3), "viral": flag(4),
        "possible_self_production": flag(5), "live_streaming": flag(6), "infant": flag(7),
        "physical_harm": flag(8), "violence_gore": flag(9), "bestiality": flag(10),
        "sex_act_a1_b1": np.array([r[11] in ("A1", "B1") for r in file_rows], dtype=np.bool_),
    }  # fmt: skip
    hashes = session.execute(
        select(FileHash.file_id, FileHash.kind, FileHash.value, FileHash.quality).where(
            FileHash.kind.in_((*EXACT_KINDS, "pdq"))
        )
    ).all()
    exact = [(f, f"{k}:{v.lower()}") for f, k, v, _q in hashes if k in EXACT_KINDS]
    # A provider's PDQ comes without a quality: usable; a computed one below the minimum is not.
    pdq_rows = [
        (f, v, q) for f, k, v, q in hashes if k == "pdq" and (q is None or q >= min_quality)
    ]
    pdq = np.zeros((len(file_rows), 4), dtype=np.uint64)
    pdq_ok = np.zeros(len(file_rows), dtype=np.bool_)
    if pdq_rows:
        rows = np.searchsorted(file_id, np.array([f for f, _v, _q in pdq_rows], dtype=np.int64))
        pdq[rows] = hex_to_words([v.lower() for _f, v, _q in pdq_rows])
        pdq_ok[rows] = True
    files = FileTable(
        file_id=file_id,
        report=file_report,
        position=file_position,
        seen_at=seen,
        pdq=pdq,
        pdq_ok=pdq_ok,
        exact_file=np.searchsorted(file_id, np.array([f for f, _ in exact], dtype=np.int64)),
        exact_key=codes([key for _, key in exact]),
        flags=flags,
    )

    identifier_rows = session.execute(
        select(
            PartyIdentifier.report_id, PartyIdentifier.kind, PartyIdentifier.scope,
            PartyIdentifier.pseudonym, PartyIdentifier.event_time,
        )
        .join(ReportParty, ReportParty.id == PartyIdentifier.party_id)
        .where(ReportParty.role == "reported_user", PartyIdentifier.kind.in_(LINKING_KINDS))
    ).all()  # fmt: skip
    id_report = position([r[0] for r in identifier_rows])
    identifiers = IdentifierTable(
        report=id_report,
        key=codes([f"{r[1]}\x1f{r[2] or ''}\x1f{r[3]}" for r in identifier_rows]),
        is_ip=np.array([r[1] == "ip" for r in identifier_rows], dtype=np.bool_),
        seen_at=np.array(
            [epoch(r[4]) if r[4] else happened[p] for r, p in zip(identifier_rows, id_report,
                                                                   strict=True)],
            dtype=np.int64,
        ),
    )  # fmt: skip

    previous_cluster = np.full(len(file_rows), UNASSIGNED, dtype=np.int64)
    assigned = session.execute(select(FileCluster.file_id, FileCluster.cluster_id)).all()
    if assigned:
        ids = np.array([a for a, _ in assigned], dtype=np.int64)
        previous_cluster[np.searchsorted(file_id, ids)] = [c for _, c in assigned]
    previous_subject = np.full(n, UNASSIGNED, dtype=np.int64)
    previous_level = np.zeros(n, dtype=np.int64)
    has_decision = np.zeros(n, dtype=np.bool_)
    decided_fingerprint = np.zeros(n, dtype=np.int64)
    decided = session.execute(
        select(
            PriorityDecision.report_id, PriorityDecision.subject_id, PriorityDecision.level,
            PriorityDecision.fingerprint,
        )
    ).all()  # fmt: skip
    if decided:
        rows = position([d[0] for d in decided])
        previous_subject[rows] = [d[1] for d in decided]
        previous_level[rows] = [LEVEL_CODE[d[2]] for d in decided]
        # A row from before fingerprints (NULL) counts as not decided: it is rewritten.
        has_decision[rows] = [d[3] is not None for d in decided]
        decided_fingerprint[rows] = [d[3] or 0 for d in decided]
    return Loaded(
        reports,
        files,
        identifiers,
        Previous(previous_cluster, previous_subject, previous_level),
        sorted(set(providers)),
        incident_types,
        received,
        has_decision,
        decided_fingerprint,
    )


DETECTIONS = ("known_match", "allow_list", "no_list_match", "no_files")


def detection(result: TriageResult) -> IntArray:
    """How each report's material was detected, as far as the report shows (``DETECTIONS``)."""
    values = result.facts.values
    return np.select(
        [values["known_files"] > 0, values["all_allow_listed"] > 0, values["files"] > 0],
        [0, 1, 2],
        3,
    ).astype(np.int64)


def _providers(codes_list: list[int], names: list[str]) -> list[str]:
    return [names[c] for c in codes_list]


def _insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(table), rows[start : start + _CHUNK])


def save(
    session: Session,
    loaded: Loaded,
    result: TriageResult,
    policy: Policy,
    started: datetime,
) -> tuple[TriageRun, int]:
    """Write the pass's results: summaries replaced, decisions rewritten where they changed, the
    queue's snapshot replaced. Returns the run and how many decisions were written."""
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
    files = loaded.files
    new = loaded.previous.file_cluster == UNASSIGNED
    for old, merged in result.merged_clusters.items():
        session.execute(
            update(FileCluster).where(FileCluster.cluster_id == old).values(cluster_id=merged)
        )
    _insert(
        session,
        FileCluster,
        [
            {"file_id": int(f), "cluster_id": int(c)}
            for f, c in zip(files.file_id[new], result.file_cluster[new], strict=True)
        ],
    )
    session.execute(delete(ContentCluster))
    names = loaded.provider_names
    _insert(
        session,
        ContentCluster,
        [
            {
                "id": row["cluster"],
                "files": row["files"],
                "reports": row["reports"],
                "first_seen": from_epoch(row["first_seen"]),
                "last_seen": from_epoch(row["last_seen"]),
                "providers": _providers(row["providers"], names),
                "known_files": row["known_files"],
                "allow_files": row["allow_files"],
                "meme_files": row["meme_files"],
                "batched_files": row["batched_files"],
                "large": row["large"],
                "annotated": row["annotated"],
                "batched": row["batched"],
                "viral": row["viral"],
            }
            for row in result.content_summary.iter_rows(named=True)
        ],
    )
    session.execute(delete(Subject))
    _insert(
        session,
        Subject,
        [
            {
                "id": row["subject"],
                "reports": row["reports"],
                "files": row["files"],
                "providers": _providers(row["providers"], names),
                "first_report": from_epoch(row["first_report"]),
                "last_report": from_epoch(row["last_report"]),
                "prior_ct_reports": row["prior_ct_reports"],
            }
            for row in result.subject_summary.iter_rows(named=True)
        ],
    )
    written = _save_decisions(session, loaded, result, policy, run.id, now)
    columns = QueueColumns.from_decisions(
        result.work_item, loaded.reports.report_id, result.priorities.level,
        result.priorities.score, loaded.received_at, result.priorities.route,
    )  # fmt: skip
    session.execute(delete(QueueSnapshot))
    session.add(QueueSnapshot(run_id=run.id, reports=len(columns), columns=columns.to_bytes()))
    return run, written


def queue_columns(session: Session) -> tuple[int, QueueColumns]:
    """The latest run and the queue's input it stored."""
    row = session.execute(
        select(QueueSnapshot.run_id, QueueSnapshot.columns).order_by(QueueSnapshot.run_id.desc())
    ).first()
    if row is None:
        raise ValidationError("nothing to plan: run safeguarding triage run first")
    return int(row[0]), QueueColumns.from_bytes(row[1])


def _save_decisions(
    session: Session,
    loaded: Loaded,
    result: TriageResult,
    policy: Policy,
    run_id: int,
    now: datetime,
) -> int:
    """Write the decisions whose fingerprint moved (new reports included); returns how many."""
    detected = detection(result)
    priorities = result.priorities
    fingerprint = fingerprints(
        f"{policy.label}\x1f{policy.digest}", result.facts, priorities,
        result.report_subject, result.work_item, detected,
    )  # fmt: skip
    changed = ~loaded.decided | (loaded.decided_fingerprint != fingerprint)
    report_ids = loaded.reports.report_id
    stale = report_ids[changed].tolist()
    for start in range(0, len(stale), _CHUNK):
        session.execute(
            delete(PriorityDecision).where(
                PriorityDecision.report_id.in_(stale[start : start + _CHUNK])
            )
        )
    explainer = Explainer(policy, result.facts, priorities)
    rows = np.flatnonzero(changed).tolist()
    _insert(
        session,
        PriorityDecision,
        [
            {
                "report_id": int(report_ids[i]),
                "subject_id": int(result.report_subject[i]),
                "work_item": int(result.work_item[i]),
                "level": priorities.level_name(i),
                "score": float(priorities.score[i]),
                "route": priorities.route_name(i),
                "detection": DETECTIONS[detected[i]],
                "reasons": [reason.as_dict() for reason in explainer.reasons(i)],
                "policy": policy.label,
                "policy_digest": policy.digest,
                "run_id": run_id,
                "decided_at": now,
                "fingerprint": int(fingerprint[i]),
            }
            for i in rows
        ],
    )
    return len(rows)
