"""Small synthetic triage data for the web tests: the sample loader, then one triage run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from safeguarding.store import Store
from safeguarding.store.models import (
    FileCluster,
    FloodFlag,
    HashList,
    HashMatch,
    PriorityDecision,
    ReportedFile,
)
from safeguarding.triage.operations import run_triage
from safeguarding.triage.policy import load_policy
from safeguarding.triage.sample import load_sample


@dataclass(frozen=True)
class Seeded:
    report: int
    subject: int
    cluster: int
    hashlist: str
    hashlist_id: int
    flag: int


def seed_triage(store: Store, reports: int = 12) -> Seeded:
    """Synthetic reports, a known and an allow list, clustered and scored."""
    load_sample(store, seed=5, reports=reports)
    run_triage(store, load_policy())
    with store.session() as db:
        report, subject = db.execute(
            select(PriorityDecision.report_id, PriorityDecision.subject_id)
            .order_by(PriorityDecision.report_id)
            .limit(1)
        ).one()
        cluster = db.scalar(
            select(FileCluster.cluster_id)
            .join(ReportedFile, ReportedFile.id == FileCluster.file_id)
            .order_by(FileCluster.cluster_id)
            .limit(1)
        )
        hashlist, hashlist_id = db.execute(
            select(HashList.name, HashList.id).order_by(HashList.name).limit(1)
        ).one()
        # An open flood flag on a matched entry, as the guard raises once enough files are
        # stored (more than this small sample holds).
        entry, list_id = db.execute(
            select(HashMatch.entry_id, HashMatch.list_id).order_by(HashMatch.id).limit(1)
        ).one()
        files = db.scalar(select(func.count()).select_from(ReportedFile)) or 1
        flag = FloodFlag(
            entry_id=entry, list_id=list_id, matched_files=1, checked_files=files,
            share=1 / files, flagged_at=datetime.now(UTC), status="open",
        )  # fmt: skip
        db.add(flag)
        db.flush()
        flag_id = flag.id
    assert cluster is not None and hashlist is not None
    return Seeded(report, subject, cluster, hashlist, hashlist_id, flag_id)


TRIAGE_ROLES = frozenset({"analyst", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
AGGREGATES = frozenset({"supervisor", "researcher"})
TRIAGE_EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/queue"): TRIAGE_ROLES,
    ("GET", "/api/queue"): TRIAGE_ROLES,
    ("GET", "/reports/{report_id}"): TRIAGE_ROLES,
    ("GET", "/api/reports/{report_id}"): TRIAGE_ROLES,
    ("POST", "/reports/{report_id}/outcome"): TRIAGE_ROLES,
    ("POST", "/api/reports/{report_id}/outcome"): TRIAGE_ROLES,
    ("GET", "/subjects"): TRIAGE_ROLES,
    ("GET", "/api/subjects"): TRIAGE_ROLES,
    ("GET", "/subjects/{subject_id}"): TRIAGE_ROLES,
    ("GET", "/api/subjects/{subject_id}"): TRIAGE_ROLES,
    ("GET", "/clusters"): TRIAGE_ROLES,
    ("GET", "/api/clusters"): TRIAGE_ROLES,
    ("GET", "/clusters/{cluster_id}"): TRIAGE_ROLES,
    ("GET", "/api/clusters/{cluster_id}"): TRIAGE_ROLES,
    ("GET", "/hashlists"): SUPERVISOR,
    ("GET", "/api/hashlists"): SUPERVISOR,
    ("POST", "/hashlists"): SUPERVISOR,
    ("POST", "/api/hashlists"): SUPERVISOR,
    ("POST", "/hashlists/{list_id}/remove"): SUPERVISOR,
    ("DELETE", "/api/hashlists/{name}"): SUPERVISOR,
    ("DELETE", "/api/hashlists/by-id/{list_id}"): SUPERVISOR,
    ("GET", "/triage/run"): SUPERVISOR,
    ("POST", "/triage/run"): SUPERVISOR,
    ("POST", "/api/triage/run"): SUPERVISOR,
    ("GET", "/api/triage/overview"): AGGREGATES,
    ("GET", "/api/flood-flags"): SUPERVISOR,
    ("POST", "/flood-flags/{flag_id}/review"): SUPERVISOR,
    ("POST", "/api/flood-flags/{flag_id}/review"): SUPERVISOR,
}
LIST_CSV = b"hash,type\nd41d8cd98f00b204e9800998ecf8427e,MD5\n"


def triage_call(
    method: str, template: str, seeded: Seeded, csrf: str | None
) -> tuple[str, dict[str, Any]]:
    """The path and body a real user would send to a triage route (for the role matrix)."""
    path = (
        template.replace("{report_id}", str(seeded.report))
        .replace("{subject_id}", str(seeded.subject))
        .replace("{cluster_id}", str(seeded.cluster))
        .replace("{name}", seeded.hashlist)
        .replace("{list_id}", str(seeded.hashlist_id))
        .replace("{flag_id}", str(seeded.flag))
    )
    form: dict[str, str] = {} if csrf is None else {"csrf_token": csrf}
    kwargs: dict[str, Any] = {}
    if method == "POST" and path.endswith("/outcome"):
        body = {"result": "actionable", "minutes": "30"}
        kwargs = {"json": body} if path.startswith("/api/") else {"data": form | body}
    elif method == "POST" and path.endswith("/review"):
        body = {"status": "dismissed"}
        kwargs = {"json": body} if path.startswith("/api/") else {"data": form | body}
    elif method == "POST" and path.endswith("/hashlists"):
        kwargs = {"data": form | {"name": "uploaded", "kind": "known"},
                  "files": {"file": ("uploaded.csv", LIST_CSV, "text/csv")}}  # fmt: skip
    elif method == "POST":
        kwargs = {"data": form} if form else {}
    return path, kwargs
