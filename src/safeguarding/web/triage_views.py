"""What the triage pages and API show, read from the store as plain dictionaries.

Never media, never an identifier in clear: the store holds only pseudonyms (keyed HMAC), and these
views shorten them further (``short``), enough to tell two apart on one page, not to look one up
elsewhere. Hash values are shown: they identify content for matching, not a person. Every query is
bounded (one report, one subject, one cluster, one page), so a page costs the same over a million
reports as over a hundred.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    FileHash,
    HashList,
    HashListEntry,
    HashMatch,
    PartyIdentifier,
    PriorityDecision,
    ProviderReport,
    ReportedFile,
    ReportParty,
    Subject,
    TriageOutcome,
)
from safeguarding.triage.policy import LEVELS
from safeguarding.triage.reasons import shown, subjects_referred

PSEUDONYM_SHOWN = 10
ANNOTATIONS = (
    "escalated", "annotation_sextortion", "annotation_csam_solicitation",
    "annotation_minor_to_minor", "annotation_spam", "annotation_sadistic_online_exploitation",
    "annotation_informational",
)  # fmt: skip
FILE_FLAGS = (
    "potential_meme", "annotation_anime_drawing", "annotation_viral",
    "annotation_possible_self_production", "annotation_physical_harm",
    "annotation_violence_gore", "annotation_bestiality", "annotation_live_streaming",
    "annotation_infant", "annotation_generative_ai",
)  # fmt: skip
MEMBERS_PAGE = 200
IDENTIFIERS_SHOWN = 200


def short(pseudonym: str) -> str:
    """A pseudonym shortened for display."""
    return pseudonym[:PSEUDONYM_SHOWN] + "…"


def _flags(row: Any, names: tuple[str, ...]) -> list[str]:
    return [name.removeprefix("annotation_") for name in names if getattr(row, name)]


def _outcome(row: TriageOutcome | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "result": row.result, "reason": row.reason, "minutes": row.minutes, "level": row.level,
        "recorded_at": row.recorded_at, "note": "sealed" if row.note_sealed else None,
        "synthetic": row.synthetic,
    }  # fmt: skip


def _priority(db: Session, row: PriorityDecision | None) -> dict[str, Any] | None:
    """The decision with its reasons as shown: counts the reasons refer to (a subject's reports)
    read from the subject rows as they are now."""
    if row is None:
        return None
    referred = sorted(subjects_referred(row.reasons))
    counts = {
        subject: reports
        for subject, reports in db.execute(
            select(Subject.id, Subject.reports).where(Subject.id.in_(referred))
        )
    }
    return {
        "level": row.level, "score": round(row.score, 2), "route": row.route,
        "detection": row.detection, "reasons": shown(row.reasons, counts), "policy": row.policy,
        "decided_at": row.decided_at, "run": row.run_id, "subject": row.subject_id,
        "work_item": row.work_item,
    }  # fmt: skip


def _identifiers(db: Session, reports: Any) -> list[dict[str, Any]]:
    """The reported users' pseudonymised identifiers of ``reports`` (ids, or a query of them),
    shortened and distinct; at most ``IDENTIFIERS_SHOWN``, ordered by kind and pseudonym."""
    rows = db.execute(_identifier_query(reports).limit(IDENTIFIERS_SHOWN)).all()
    return [{"kind": k, "scope": s or "", "pseudonym": short(p)} for k, s, p in rows]


def _identifier_query(reports: Any) -> Any:
    return (
        select(PartyIdentifier.kind, PartyIdentifier.scope, PartyIdentifier.pseudonym)
        .join(ReportParty, ReportParty.id == PartyIdentifier.party_id)
        .where(PartyIdentifier.report_id.in_(reports), ReportParty.role == "reported_user")
        .distinct()
        .order_by(PartyIdentifier.kind, PartyIdentifier.pseudonym)
    )


def last_page(total: int, size: int) -> int:
    """The number of pages of ``total`` rows, ``size`` a page: at least one, if empty."""
    return max(1, math.ceil(total / size))


def check_page(page: int, pages: int) -> None:
    """Refuse a page past the last: it would show nothing, and the caller is told where the
    rows end rather than shown an empty list."""
    if page > pages:
        raise ValidationError(
            f"page: {page} is past the last page, {pages}",
            location="page",
            rule="page_out_of_range",
        )


def report_detail(db: Session, report_id: int) -> dict[str, Any]:
    report = db.get(ProviderReport, report_id)
    if report is None:
        raise NotFoundError(f"no report with id {report_id}")
    files = list(
        db.scalars(
            select(ReportedFile)
            .where(ReportedFile.report_id == report_id)
            .order_by(ReportedFile.id)
        )
    )
    file_ids = [f.id for f in files]
    hashes: dict[int, list[dict[str, Any]]] = {f: [] for f in file_ids}
    for h in db.scalars(
        select(FileHash).where(FileHash.file_id.in_(file_ids)).order_by(FileHash.id)
    ):
        hashes[h.file_id].append(
            {"kind": h.kind, "value": h.value, "quality": h.quality, "origin": h.origin}
        )
    matches: dict[int, list[dict[str, Any]]] = {f: [] for f in file_ids}
    for file_id, list_name, list_kind, entry_id, category, hash_kind, distance in db.execute(
        select(
            HashMatch.file_id, HashList.name, HashList.kind, HashMatch.entry_id,
            HashListEntry.category, HashMatch.hash_kind, HashMatch.distance,
        )
        .join(HashList, HashList.id == HashMatch.list_id)
        .join(HashListEntry, HashListEntry.id == HashMatch.entry_id)
        .where(HashMatch.file_id.in_(file_ids))
        .order_by(HashMatch.file_id, HashMatch.distance, HashMatch.id)
    ):  # fmt: skip
        matches[file_id].append(
            {"list": list_name, "list_kind": list_kind, "entry": entry_id, "category": category,
             "hash_kind": hash_kind, "distance": distance}
        )  # fmt: skip
    clusters = dict(
        db.execute(
            select(FileCluster.file_id, FileCluster.cluster_id).where(
                FileCluster.file_id.in_(file_ids)
            )
        ).all()
    )
    return {
        "id": report.id,
        "source": report.source,
        "provider_report_id": report.provider_report_id,
        "provider": report.provider,
        "incident_type": report.incident_type,
        "incident_time": report.incident_time,
        "received_at": report.received_at,
        "annotations": _flags(report, ANNOTATIONS),
        "files": [
            {
                "id": f.id,
                "extension": f.extension,
                "media_status": f.media_status,
                "classification": f.industry_classification,
                "flags": _flags(f, FILE_FLAGS),
                "cluster": clusters.get(f.id),
                "hashes": hashes[f.id],
                "matches": matches[f.id],
            }
            for f in files
        ],
        "reported_user": _identifiers(db, [report_id]),
        "priority": _priority(db, db.get(PriorityDecision, report_id)),
        "outcome": _outcome(db.get(TriageOutcome, report_id)),
    }


def _subject(row: Subject) -> dict[str, Any]:
    return {
        "id": row.id, "reports": row.reports, "files": row.files, "providers": row.providers,
        "first_report": row.first_report, "last_report": row.last_report,
        "prior_ct_reports": row.prior_ct_reports,
    }  # fmt: skip


def _cluster(row: ContentCluster) -> dict[str, Any]:
    return {
        "id": row.id, "files": row.files, "reports": row.reports, "first_seen": row.first_seen,
        "last_seen": row.last_seen, "providers": row.providers, "known_files": row.known_files,
        "allow_files": row.allow_files, "viral": row.viral, "large": row.large,
        "annotated": row.annotated, "batched": row.batched,
    }  # fmt: skip


def subjects_page(db: Session, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    total = db.scalar(select(func.count()).select_from(Subject)) or 0
    rows = db.scalars(
        select(Subject).order_by(Subject.reports.desc(), Subject.id).offset(offset).limit(limit)
    )
    return total, [_subject(r) for r in rows]


def _member_reports(db: Session, where: Any, page: int) -> dict[str, Any]:
    """A page of member reports, newest first (the last stored first, by report id), with how
    many there are: a subject or cluster can hold thousands, and showing some of them must say
    so. A page past the last is refused (``check_page``)."""
    members = (
        select(ProviderReport.id)
        .join(PriorityDecision, PriorityDecision.report_id == ProviderReport.id)
        .where(where)
    )
    total = db.scalar(select(func.count()).select_from(members.subquery())) or 0
    pages = last_page(total, MEMBERS_PAGE)
    check_page(page, pages)
    rows = db.execute(
        select(
            ProviderReport.id, ProviderReport.provider, ProviderReport.incident_type,
            ProviderReport.received_at, PriorityDecision.level, PriorityDecision.score,
            TriageOutcome.result,
        )
        .join(PriorityDecision, PriorityDecision.report_id == ProviderReport.id)
        .outerjoin(TriageOutcome, TriageOutcome.report_id == ProviderReport.id)
        .where(where)
        .order_by(ProviderReport.id.desc())
        .offset((page - 1) * MEMBERS_PAGE)
        .limit(MEMBERS_PAGE)
    ).all()  # fmt: skip
    return {
        "report_total": total,
        "report_page": page,
        "report_pages": pages,
        "report_page_size": MEMBERS_PAGE,
        "report_list": [
            {"id": r[0], "provider": r[1], "incident_type": r[2], "received_at": r[3],
             "level": r[4], "score": round(r[5], 2), "outcome": r[6]}
            for r in rows
        ],
    }  # fmt: skip


def subject_detail(db: Session, subject_id: int, page: int = 1) -> dict[str, Any]:
    """A subject with a page of its reports, and the identifiers of all its reports (the first
    ``IDENTIFIERS_SHOWN``, with how many there are)."""
    row = db.get(Subject, subject_id)
    if row is None:
        raise NotFoundError(f"no subject with id {subject_id}")
    where = PriorityDecision.subject_id == subject_id
    reports = select(PriorityDecision.report_id).where(where)
    identifiers = _identifier_query(reports).order_by(None).subquery()
    return {
        **_subject(row),
        **_member_reports(db, where, page),
        "identifiers": _identifiers(db, reports),
        "identifier_total": db.scalar(select(func.count()).select_from(identifiers)) or 0,
    }


def clusters_page(
    db: Session, offset: int, limit: int, viral: bool | None
) -> tuple[int, list[dict[str, Any]]]:
    query = select(ContentCluster)
    count = select(func.count()).select_from(ContentCluster)
    if viral is not None:
        query = query.where(ContentCluster.viral == viral)
        count = count.where(ContentCluster.viral == viral)
    rows = db.scalars(
        query.order_by(ContentCluster.reports.desc(), ContentCluster.id).offset(offset).limit(limit)
    )
    return db.scalar(count) or 0, [_cluster(r) for r in rows]


def cluster_detail(db: Session, cluster_id: int, page: int = 1) -> dict[str, Any]:
    row = db.get(ContentCluster, cluster_id)
    if row is None:
        raise NotFoundError(f"no content cluster with id {cluster_id}")
    in_cluster = (
        select(ReportedFile.report_id)
        .join(FileCluster, FileCluster.file_id == ReportedFile.id)
        .where(FileCluster.cluster_id == cluster_id)
    )
    return {**_cluster(row), **_member_reports(db, ProviderReport.id.in_(in_cluster), page)}


def level_counts(db: Session) -> dict[str, int]:
    """Reports per level of the stored decisions, in the policy's order of levels."""
    counts = dict(
        db.execute(
            select(PriorityDecision.level, func.count()).group_by(PriorityDecision.level)
        ).all()
    )
    return {level: counts[level] for level in LEVELS if level in counts}


def item_links(db: Session, report_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """For the reports of one queue page: their subject and content clusters (by report)."""
    links: dict[int, dict[str, list[int]]] = {
        r: {"subjects": [], "clusters": []} for r in report_ids
    }
    for report, subject in db.execute(
        select(PriorityDecision.report_id, PriorityDecision.subject_id).where(
            PriorityDecision.report_id.in_(report_ids)
        )
    ):
        links[report]["subjects"].append(subject)
    for report, cluster in db.execute(
        select(ReportedFile.report_id, FileCluster.cluster_id)
        .join(FileCluster, FileCluster.file_id == ReportedFile.id)
        .where(ReportedFile.report_id.in_(report_ids))
        .distinct()
    ):
        links[report]["clusters"].append(cluster)
    return links
