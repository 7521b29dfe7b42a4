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
from sqlalchemy import BigInteger, cast, delete, extract, func, select, update
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
from safeguarding.triage import bulk
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


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


@dataclass(frozen=True)
class Loaded:
    reports: ReportTable
    files: FileTable
    identifiers: IdentifierTable
    previous: Previous
    provider_names: list[str]
    received_at: IntArray
    # The stored decisions' fingerprints (``fingerprint.fingerprints``); ``decided``: has a row.
    decided: np.ndarray
    decided_fingerprint: IntArray


_NO_TIME = -(2**62)  # stands for NULL in an epoch column read from the store


def _epoch_sql(session: Session, column: Any) -> Any:
    """``column`` (a timestamp) as whole epoch seconds computed by the database, ``_NO_TIME`` when
    NULL: converting a million timestamps row by row in Python costs more than reading them."""
    if session.get_bind().dialect.name == "sqlite":  # stored as UTC text
        seconds: Any = cast(func.strftime("%s", column), BigInteger)
    else:
        seconds = cast(func.floor(extract("epoch", column)), BigInteger)
    return func.coalesce(seconds, _NO_TIME)


def _read(session: Session, statement: Any, names: list[str]) -> pl.DataFrame:
    """The statement's rows as a frame with ``names`` for columns (Core rows, no ORM objects)."""
    rows = session.connection().execute(statement).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pl.DataFrame(
        {name: pl.Series(name, values, strict=False) for name, values in zip(names, columns,
                                                                             strict=True)}
    )  # fmt: skip


def _ints(frame: pl.DataFrame, name: str) -> IntArray:
    return frame[name].fill_null(0).cast(pl.Int64).to_numpy().astype(np.int64)


def _flags(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].fill_null(False).cast(pl.Boolean).to_numpy().astype(np.bool_)


def load(session: Session, min_quality: int) -> Loaded:
    report = _read(
        session,
        select(
            ProviderReport.id, _epoch_sql(session, ProviderReport.received_at),
            _epoch_sql(session, ProviderReport.incident_time), ProviderReport.provider,
            ProviderReport.incident_type, ProviderReport.escalated,
            ProviderReport.annotation_sextortion, ProviderReport.annotation_csam_solicitation,
            ProviderReport.annotation_sadistic_online_exploitation,
            ProviderReport.annotation_minor_to_minor, ProviderReport.annotation_informational,
            ProviderReport.batched_reason,
        ).order_by(ProviderReport.id),
        ["id", "received", "incident", "provider", "incident_type", "escalated", "sextortion",
         "csam_solicitation", "sadistic", "minor_to_minor", "informational", "batched"],
    )  # fmt: skip
    n = report.height
    report_id = _ints(report, "id")
    received = _ints(report, "received")
    incident = _ints(report, "incident")
    happened = np.where(incident == _NO_TIME, received, incident)
    providers = report["provider"].cast(pl.String).fill_null("(unknown provider)")
    incident_type = report["incident_type"].cast(pl.String)

    def position(ids: IntArray) -> IntArray:
        return np.searchsorted(report_id, ids).astype(np.int64)

    def matches(series: pl.Series, value: str) -> IntArray:
        return (series == value).fill_null(False).cast(pl.Int64).to_numpy().astype(np.int64)

    signals = {
        "escalate": _ints(report, "escalated"),
        "enticement": matches(incident_type, ENTICEMENT),
        "sextortion": _ints(report, "sextortion"),
        "csam_solicitation": _ints(report, "csam_solicitation"),
        "sadistic_exploitation": _ints(report, "sadistic"),
        "minor_to_minor": _ints(report, "minor_to_minor"),
        "informational": _ints(report, "informational"),
        "batched_meme": matches(report["batched"].cast(pl.String), "VIRAL_POTENTIAL_MEME"),
        "access_to_children": matches(incident_type, CONTACT_OFFENCE),
    }
    parties = _read(
        session,
        select(ReportParty.report_id, ReportParty.role, ReportParty.age,
               ReportParty.prior_ct_reports_count).where(ReportParty.parent_id.is_(None)),
        ["report", "role", "age", "prior"],
    )  # fmt: skip
    party_at = position(_ints(parties, "report"))
    role = parties["role"].cast(pl.String)
    victim = np.zeros(n, dtype=np.int64)
    victim[party_at[matches(role, "victim") == 1]] = 1
    user = matches(role, "reported_user") == 1
    age = parties["age"].cast(pl.Int64)
    minor_user = user & (age < 18).fill_null(False).to_numpy().astype(np.bool_)
    minor = np.zeros(n, dtype=np.int64)
    minor[party_at[minor_user]] = 1
    prior = np.bincount(party_at[user], weights=_ints(parties, "prior")[user], minlength=n)
    signals |= {
        "victim_identified": victim,
        "reported_user_minor": minor,
        "prior_ct_reports": prior.astype(np.int64),
    }
    reports = ReportTable(report_id, happened, codes(providers), signals)

    file = _read(
        session,
        select(
            ReportedFile.id, ReportedFile.report_id,
            _epoch_sql(session, ReportedFile.uploaded_at), ReportedFile.potential_meme,
            ReportedFile.annotation_viral, ReportedFile.annotation_possible_self_production,
            ReportedFile.annotation_live_streaming, ReportedFile.annotation_infant,
            ReportedFile.annotation_physical_harm, ReportedFile.annotation_violence_gore,
            ReportedFile.annotation_bestiality, ReportedFile.industry_classification,
        ).order_by(ReportedFile.id),
        ["id", "report", "uploaded", "potential_meme", "viral", "possible_self_production",
         "live_streaming", "infant", "physical_harm", "violence_gore", "bestiality", "class"],
    )  # fmt: skip
    file_id = _ints(file, "id")
    file_report = position(_ints(file, "report"))
    file_position = (
        pl.DataFrame({"report": file_report})
        .with_row_index("row")
        .select(pl.col("row").rank("ordinal").over("report"))["row"]
        .to_numpy()
        .astype(np.int64)
    )
    uploaded = _ints(file, "uploaded")
    seen = np.where(uploaded == _NO_TIME, happened[file_report], uploaded)
    matched = _read(
        session,
        select(HashMatch.file_id, HashList.kind).join(HashList, HashList.id == HashMatch.list_id),
        ["file", "kind"],
    )
    matched_kind = matched["kind"].cast(pl.String)
    known = np.isin(file_id, _ints(matched, "file")[matches(matched_kind, "known") == 1])
    allow = np.isin(file_id, _ints(matched, "file")[matches(matched_kind, "allow") == 1]) & ~known
    flags = {name: _flags(file, name) for name in (
        "potential_meme", "viral", "possible_self_production", "live_streaming", "infant",
        "physical_harm", "violence_gore", "bestiality",
    )} | {
        "known": known, "allow": allow,
        "sex_act_a1_b1": file["class"].cast(pl.String).is_in(["A1", "B1"]).fill_null(False)
        .to_numpy().astype(np.bool_),
    }  # fmt: skip
    hashes = _read(
        session,
        select(FileHash.file_id, FileHash.kind, FileHash.value, FileHash.quality).where(
            FileHash.kind.in_((*EXACT_KINDS, "pdq"))
        ),
        ["file", "kind", "value", "quality"],
    )
    hashes = hashes.with_columns(
        pl.col("kind").cast(pl.String), pl.col("value").cast(pl.String).str.to_lowercase()
    )
    exact = hashes.filter(pl.col("kind").is_in(EXACT_KINDS))
    # A provider's PDQ comes without a quality: usable; a computed one below the minimum is not.
    pdq_rows = hashes.filter(
        (pl.col("kind") == "pdq")
        & (pl.col("quality").is_null() | (pl.col("quality").cast(pl.Int64) >= min_quality))
    )
    pdq = np.zeros((n_files := file.height, 4), dtype=np.uint64)
    pdq_ok = np.zeros(n_files, dtype=np.bool_)
    if pdq_rows.height:
        rows = np.searchsorted(file_id, _ints(pdq_rows, "file"))
        pdq[rows] = hex_to_words(pdq_rows["value"].to_list())
        pdq_ok[rows] = True
    files = FileTable(
        file_id=file_id,
        report=file_report,
        position=file_position,
        seen_at=seen,
        pdq=pdq,
        pdq_ok=pdq_ok,
        exact_file=np.searchsorted(file_id, _ints(exact, "file")),
        exact_key=codes(exact.select(pl.concat_str(["kind", "value"], separator=":")).to_series()),
        flags=flags,
    )

    identifier = _read(
        session,
        select(
            PartyIdentifier.report_id, PartyIdentifier.kind, PartyIdentifier.scope,
            PartyIdentifier.pseudonym, _epoch_sql(session, PartyIdentifier.event_time),
        )
        .join(ReportParty, ReportParty.id == PartyIdentifier.party_id)
        .where(ReportParty.role == "reported_user", PartyIdentifier.kind.in_(LINKING_KINDS)),
        ["report", "kind", "scope", "pseudonym", "event"],
    )  # fmt: skip
    id_report = position(_ints(identifier, "report"))
    event = _ints(identifier, "event")
    keys = identifier.select(
        pl.concat_str(
            [pl.col("kind").cast(pl.String), pl.col("scope").cast(pl.String).fill_null(""),
             pl.col("pseudonym").cast(pl.String)],
            separator="\x1f",
        )
    ).to_series()  # fmt: skip
    identifiers = IdentifierTable(
        report=id_report,
        key=codes(keys),
        is_ip=matches(identifier["kind"].cast(pl.String), "ip").astype(np.bool_),
        seen_at=np.where(event == _NO_TIME, happened[id_report], event).astype(np.int64),
    )

    previous_cluster = np.full(n_files, UNASSIGNED, dtype=np.int64)
    assigned = _read(
        session, select(FileCluster.file_id, FileCluster.cluster_id), ["file", "cluster"]
    )
    if assigned.height:
        previous_cluster[np.searchsorted(file_id, _ints(assigned, "file"))] = _ints(
            assigned, "cluster"
        )
    previous_subject = np.full(n, UNASSIGNED, dtype=np.int64)
    previous_level = np.zeros(n, dtype=np.int64)
    has_decision = np.zeros(n, dtype=np.bool_)
    decided_fingerprint = np.zeros(n, dtype=np.int64)
    decided = _read(
        session,
        select(
            PriorityDecision.report_id, PriorityDecision.subject_id, PriorityDecision.level,
            PriorityDecision.fingerprint,
        ),
        ["report", "subject", "level", "fingerprint"],
    )  # fmt: skip
    if decided.height:
        rows = position(_ints(decided, "report"))
        previous_subject[rows] = _ints(decided, "subject")
        previous_level[rows] = (
            decided["level"].cast(pl.String).replace_strict(LEVEL_CODE, return_dtype=pl.Int64)
        ).to_numpy()
        # A row from before fingerprints (NULL) counts as not decided: it is rewritten.
        has_decision[rows] = decided["fingerprint"].is_not_null().to_numpy()
        decided_fingerprint[rows] = _ints(decided, "fingerprint")
    return Loaded(
        reports,
        files,
        identifiers,
        Previous(previous_cluster, previous_subject, previous_level),
        sorted(set(providers.to_list())),
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


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk insert through the intake's driver-level path (``triage.bulk``); ids as given."""
    if rows:
        columns = tuple(rows[0])
        bulk.insert_values(session, model, columns, [[row[c] for c in columns] for row in rows])


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
        if session.scalar(select(func.count(TriageRun.id))):
            raise ValidationError(
                "nothing to plan: the last triage run was made by an older version that kept no "
                "queue input; run safeguarding triage run again"
            )
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
