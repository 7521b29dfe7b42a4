"""Triage pages and API: the queue, reports with their outcome form, subjects, content clusters,
hash lists and re-running the triage.

Each route declares its permission (``access/roles.py``): analysts and supervisors read the queue,
reports, subjects and clusters and record outcomes; supervisors alone manage hash lists and re-run
the triage under a policy; researchers see only the aggregate overview, under disclosure control.
Every view of a report, subject or cluster, and every page of the queue and of the subject and
cluster lists (with its filters), is audited with the read, every change with the change. The
operations are the command line's (``triage.operations``, ``triage.hashlists``), so the web and
the CLI cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.hashing.kinds import parse_kind
from safeguarding.store import Store
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.store.models import HashList, TriageRun
from safeguarding.triage import hashlists, operations, store_io
from safeguarding.triage.aggregates import triage_aggregates
from safeguarding.triage.context import intake_context
from safeguarding.triage.hashlists import FlagReview
from safeguarding.triage.listformats import ParsedList, Scheme, read_hash_csv, read_vics
from safeguarding.triage.options import triage_options
from safeguarding.triage.outcomes import NOT_CRIMINAL_REASONS, RESULT_MEANING, RESULTS
from safeguarding.triage.policy import load_policy, parse_policy
from safeguarding.triage.queue import PERIOD_DAYS
from safeguarding.web import triage_views as views
from safeguarding.web.auth import Principal
from safeguarding.web.queue_cache import QueueCache, default_capacity, summary
from safeguarding.web.roles import require
from safeguarding.web.routers.common import RowId, record_list, record_read, store_of
from safeguarding.web.templating import render

router = APIRouter()
QUEUE = require("queue.read")
REPORT = require("report.read")
SUBJECT = require("subject.read")
OUTCOME = require("outcome.record")
POLICY = require("policy.manage")
LISTS = require("hashlist.read")
MANAGE_LISTS = require("hashlist.manage")
AGGREGATES = require("aggregates.read")
PAGE = 50
MAX_UPLOAD = 64 * 1024 * 1024
# The refused lines an upload's answer lists (it says how many there are in all): enough to see
# what is wrong with a file, without an answer as long as the file itself.
REJECTED_SHOWN = 100
SCHEMES: dict[str, Scheme] = {"us": "vics_us", "dhs": "vics_dhs", "none": "none"}
Period = Literal["week", "month"]
Route = Literal["offender", "youth_care"]


def _cache(request: Request) -> QueueCache:
    cache: QueueCache = request.app.state.triage_queue
    return cache


def _queue(
    request: Request,
    principal: Principal,
    route: str,
    capacity_hours: float | None,
    period: str,
    page: int,
) -> dict[str, Any]:
    store = store_of(request)
    capacity = default_capacity(store, period) if capacity_hours is None else capacity_hours
    items, plan = _cache(request).plan(store, route, capacity, period)
    total = plan.items.height
    pages = views.last_page(total, PAGE)
    views.check_page(page, pages)  # before the read is audited: a page past the last shows nothing
    rows = plan.rows((page - 1) * PAGE, PAGE)
    asked = {"route": route, "period": period, "capacity_hours": str(capacity), "page": str(page)}
    with store.session() as db:
        links = views.item_links(db, [r for row in rows for r in row["reports"]])
        # The queue is the last run's: reports stored after it are in no item until the next.
        not_in_queue = store_io.reports_since_run(db)
        record_list(request, principal, "queue", asked, session=db)
    for row in rows:
        row["subjects"] = sorted({s for r in row["reports"] for s in links[r]["subjects"]})
        row["clusters"] = sorted({c for r in row["reports"] for c in links[r]["clusters"]})
    return {
        "summary": summary(items, plan, route),
        "reports_not_in_queue": not_in_queue,
        "page": page,
        "pages": pages,
        "items": rows,
    }


CapacityQuery = Query(None, ge=0, le=100_000, description="Hours (default: the settings').")


@router.get("/queue", include_in_schema=False)
def queue_page(
    request: Request,
    route: Route = Query("offender"),
    capacity_hours: float | None = CapacityQuery,
    period: Period = Query("week"),
    page: int = Query(1, ge=1, le=1_000_000),
    principal: Principal = Depends(QUEUE),
) -> Response:
    plan = _queue(request, principal, route, capacity_hours, period, page)
    context = {**plan, "route": route, "period": period, "periods": PERIOD_DAYS}
    return render(request, "triage/queue.html", context)


@router.get("/api/queue", tags=["triage"], summary="The work queue planned against capacity")
def queue_api(
    request: Request,
    route: Route = Query("offender", description="offender (planned) or youth_care (listed)."),
    capacity_hours: float | None = CapacityQuery,
    period: Period = Query("week"),
    page: int = Query(1, ge=1, le=1_000_000),
    principal: Principal = Depends(QUEUE),
) -> dict[str, Any]:
    """Work items in queue order (50 a page) with whether each fits in the period's capacity, its
    expected wait, reports, subjects and content clusters; the summary per level. Audited."""
    return _queue(request, principal, route, capacity_hours, period, page)


def _read(
    request: Request,
    principal: Principal,
    kind: str,
    row_id: int,
    detail: Callable[[Session, int], dict[str, Any]],
    page: int = 1,
) -> dict[str, Any]:
    """A record's view with its read audited in the same transaction. A cluster counts as
    a record: it lists its member reports (level, score, outcome), so seeing it is seeing
    them. A later page of a subject's or cluster's reports is recorded with its number."""
    with store_of(request).session() as db:
        found = detail(db, row_id)
        asked = {"page": str(page)} if page > 1 else None
        record_read(request, principal, kind, str(row_id), asked, session=db)
    return found


def _report(request: Request, principal: Principal, report_id: int) -> dict[str, Any]:
    return _read(request, principal, "report", report_id, views.report_detail)


@router.get("/reports/{report_id}", include_in_schema=False)
def report_page(
    request: Request, report_id: RowId, principal: Principal = Depends(REPORT)
) -> Response:
    context = {
        "report": _report(request, principal, report_id),
        "results": RESULT_MEANING,
        "reasons": NOT_CRIMINAL_REASONS,
        "recorded": request.query_params.get("recorded") == "1",
    }
    return render(request, "triage/report.html", context)


@router.get("/api/reports/{report_id}", tags=["triage"], summary="One report, without media")
def report_api(
    request: Request, report_id: RowId, principal: Principal = Depends(REPORT)
) -> dict[str, Any]:
    """Files with hashes, list matches (list, entry, kind, distance) and content cluster; the
    reported user's pseudonyms (shortened); priority with reasons; the outcome. The read is
    audited."""
    return _report(request, principal, report_id)


class OutcomeIn(BaseModel):
    result: str = Field(max_length=32, description=", ".join(RESULTS))
    minutes: float
    reason: str | None = Field(
        None, max_length=32, description="For not_criminal: " + ", ".join(NOT_CRIMINAL_REASONS)
    )
    note: str | None = Field(
        None,
        max_length=4000,
        description="Sealed; never shown again. Without one an earlier note is kept.",
    )
    clear_note: bool = Field(False, description="Remove the earlier note.")


def _record(
    request: Request, principal: Principal, report_id: int, body: OutcomeIn
) -> dict[str, Any]:
    store = store_of(request)
    recorded = operations.record_outcome(
        store, report_id, body.result, body.minutes, body.reason or None, body.note or None,
        actor=principal.actor(), clear_note=body.clear_note,
    )  # fmt: skip
    _cache(request).refresh(store)  # the queue without this report is ready for the next page
    return recorded


@router.post("/reports/{report_id}/outcome", include_in_schema=False)
def outcome_form(
    request: Request,
    report_id: RowId,
    result: str = Form(..., max_length=32),
    minutes: float = Form(...),
    reason: str = Form("", max_length=32),
    note: str = Form("", max_length=4000),
    principal: Principal = Depends(OUTCOME),
) -> Response:
    body = OutcomeIn(result=result, minutes=minutes, reason=reason or None, note=note or None)
    _record(request, principal, report_id, body)
    return RedirectResponse(f"/reports/{report_id}?recorded=1", status_code=303)


@router.post("/api/reports/{report_id}/outcome", tags=["triage"], summary="Record an outcome")
def outcome_api(
    request: Request, report_id: RowId, body: OutcomeIn, principal: Principal = Depends(OUTCOME)
) -> dict[str, Any]:
    """The same operation as ``safeguarding outcome``; replaces an earlier outcome; audited."""
    return _record(request, principal, report_id, body)


def _paged(total: int, page: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A page of a list; a page past the last is refused (422 naming ``page`` and the last
    page) before the list's read is audited, since it would show nothing."""
    pages = views.last_page(total, PAGE)
    views.check_page(page, pages)
    return {"total": total, "page": page, "pages": pages, "rows": rows}


PageQuery = Query(1, ge=1, le=1_000_000)


def _subjects(request: Request, principal: Principal, page: int) -> dict[str, Any]:
    with store_of(request).session() as db:
        total, rows = views.subjects_page(db, (page - 1) * PAGE, PAGE)
        paged = _paged(total, page, rows)
        record_list(request, principal, "subject", {"page": str(page)}, session=db)
    return paged


@router.get("/subjects", include_in_schema=False)
def subjects_page(
    request: Request, page: int = PageQuery, principal: Principal = Depends(SUBJECT)
) -> Response:
    return render(request, "triage/subjects.html", _subjects(request, principal, page))


@router.get("/api/subjects", tags=["triage"], summary="Subjects, most reports first; audited")
def subjects_api(
    request: Request, page: int = PageQuery, principal: Principal = Depends(SUBJECT)
) -> dict[str, Any]:
    return _subjects(request, principal, page)


MembersPage = Query(1, ge=1, le=1_000_000, description="A page of the reports, newest first.")


def _subject(request: Request, principal: Principal, subject_id: int, page: int) -> dict[str, Any]:
    def detail(db: Session, row_id: int) -> dict[str, Any]:
        return views.subject_detail(db, row_id, page)

    return _read(request, principal, "subject", subject_id, detail, page)


@router.get("/subjects/{subject_id}", include_in_schema=False)
def subject_page(
    request: Request,
    subject_id: RowId,
    page: int = MembersPage,
    principal: Principal = Depends(SUBJECT),
) -> Response:
    subject = _subject(request, principal, subject_id, page)
    return render(request, "triage/subject.html", {"subject": subject})


@router.get("/api/subjects/{subject_id}", tags=["triage"], summary="One subject; audited")
def subject_api(
    request: Request,
    subject_id: RowId,
    page: int = MembersPage,
    principal: Principal = Depends(SUBJECT),
) -> dict[str, Any]:
    """A subject with a page of its reports (200, newest first; ``report_total`` and
    ``report_pages`` say how many), and the identifiers of all its reports (the first 200 by
    kind; ``identifier_total`` says how many)."""
    return _subject(request, principal, subject_id, page)


def _clusters(
    request: Request, principal: Principal, page: int, viral: bool | None
) -> dict[str, Any]:
    asked = {"page": str(page)} | ({} if viral is None else {"viral": str(viral).lower()})
    with store_of(request).session() as db:
        total, rows = views.clusters_page(db, (page - 1) * PAGE, PAGE, viral)
        paged = _paged(total, page, rows)
        record_list(request, principal, "cluster", asked, session=db)
    return paged


@router.get("/clusters", include_in_schema=False)
def clusters_page(
    request: Request,
    page: int = PageQuery,
    viral: bool | None = Query(None),
    principal: Principal = Depends(REPORT),
) -> Response:
    context = {**_clusters(request, principal, page, viral), "viral": viral}
    return render(request, "triage/clusters.html", context)


@router.get("/api/clusters", tags=["triage"], summary="Content clusters, most reports first")
def clusters_api(
    request: Request,
    page: int = PageQuery,
    viral: bool | None = Query(None),
    principal: Principal = Depends(REPORT),
) -> dict[str, Any]:
    """A page of content clusters with their report counts; audited."""
    return _clusters(request, principal, page, viral)


@router.get("/clusters/{cluster_id}", include_in_schema=False)
def cluster_page(
    request: Request,
    cluster_id: RowId,
    page: int = MembersPage,
    principal: Principal = Depends(REPORT),
) -> Response:
    cluster = _cluster(request, principal, cluster_id, page)
    return render(request, "triage/cluster.html", {"cluster": cluster})


@router.get("/api/clusters/{cluster_id}", tags=["triage"], summary="One content cluster")
def cluster_api(
    request: Request,
    cluster_id: RowId,
    page: int = MembersPage,
    principal: Principal = Depends(REPORT),
) -> dict[str, Any]:
    """A content cluster and a page of its member reports (200, newest first;
    ``report_total`` and ``report_pages`` say how many); audited, as a report is."""
    return _cluster(request, principal, cluster_id, page)


def _cluster(request: Request, principal: Principal, cluster_id: int, page: int) -> dict[str, Any]:
    def detail(db: Session, row_id: int) -> dict[str, Any]:
        return views.cluster_detail(db, row_id, page)

    return _read(request, principal, "cluster", cluster_id, detail, page)


def _lists(request: Request) -> list[dict[str, Any]]:
    with store_of(request).session() as db:
        return hashlists.list_summaries(db)


def _flags(request: Request, list_name: str = "") -> dict[str, Any]:
    store = store_of(request)
    with store.session() as db:
        list_id = None
        if list_name:
            list_id = db.scalar(select(HashList.id).where(HashList.name == list_name))
            if list_id is None:
                raise NotFoundError(f"no hash list named {list_name!r}")
        return hashlists.flood_flags(db, triage_options(store.settings), list_id=list_id)


def _lists_page(request: Request, imported: dict[str, Any] | None) -> Response:
    options = triage_options(store_of(request).settings)
    context = {
        "lists": _lists(request),
        "imported": imported,
        "default_pdq_threshold": options.pdq_threshold,
        "flags": _flags(request),
        "flood_window": options.flood_window,
        "reviewed": request.query_params.get("reviewed"),
    }
    return render(request, "triage/hashlists.html", context)


@router.get("/hashlists", include_in_schema=False, dependencies=[Depends(LISTS)])
def hashlists_page(request: Request) -> Response:
    return _lists_page(request, None)


@router.get("/api/hashlists", tags=["triage"], summary="Hash lists with counts and flood flags")
def hashlists_api(request: Request, _principal: Principal = Depends(LISTS)) -> list[dict[str, Any]]:
    return _lists(request)


@router.get(
    "/api/flood-flags", tags=["triage"], summary="Flood flags of the hash lists, open first"
)
def flood_flags_api(
    request: Request,
    list_name: str = Query("", alias="list", max_length=120, description="Only this list's."),
    _principal: Principal = Depends(LISTS),
) -> dict[str, Any]:
    """Each flag (the first 200 of ``total``): its list and entry (id, hash kind and value,
    category), the matched and checked files and share it was raised with, when, its status
    (open, dismissed, resolved) and review, and ``now``: the entry's matches over the current
    window and whether still over its list's share. Nothing closes a flag but a review."""
    return _flags(request, list_name)


class FlagReviewIn(BaseModel):
    status: FlagReview = Field(
        description="dismissed: the entry is right, the content that common; resolved: the "
        "entry was wrong and the list has been put right."
    )


def _review(request: Request, principal: Principal, flag_id: int, status: str) -> dict[str, Any]:
    return hashlists.review_flood_flag(store_of(request), flag_id, status, principal.actor())


@router.post("/flood-flags/{flag_id}/review", include_in_schema=False)
def flood_flag_review_form(
    request: Request,
    flag_id: RowId,
    status: FlagReview = Form(...),
    principal: Principal = Depends(MANAGE_LISTS),
) -> Response:
    _review(request, principal, flag_id, status)
    return RedirectResponse(f"/hashlists?reviewed={flag_id}#flags", status_code=303)


@router.post(
    "/api/flood-flags/{flag_id}/review", tags=["triage"], summary="Dismiss or resolve a flag"
)
def flood_flag_review_api(
    request: Request,
    flag_id: RowId,
    body: FlagReviewIn,
    principal: Principal = Depends(MANAGE_LISTS),
) -> dict[str, Any]:
    """Close an open flood flag after looking at its entry; a review is final (the entry is not
    flagged again). Audited (``floodflag.review``)."""
    return _review(request, principal, flag_id, body.status)


async def _read_upload(upload: UploadFile, what: str) -> tuple[bytes, str]:
    data = await upload.read(MAX_UPLOAD + 1)
    name = PurePath(upload.filename or what).name[:256] or what
    if len(data) > MAX_UPLOAD:
        raise ValidationError(
            f"{name}: larger than {MAX_UPLOAD} bytes; import it with the command line",
            location=name,
            rule="file_too_large",
        )
    return data, name


def _parse_list(data: bytes, filename: str, format: str, hash_type: str, scheme: str) -> ParsedList:
    """Read an uploaded list with the command line's readers and its option rules."""
    declared = parse_kind(hash_type) if hash_type else None
    if hash_type and declared in (None, "photodna"):
        raise ValidationError(
            "hash_type: md5, sha1, sha256 or pdq", location="hash_type", rule="unknown_enum"
        )
    if scheme and scheme not in SCHEMES:
        raise ValidationError("scheme: us, dhs or none", location="scheme", rule="unknown_enum")
    chosen = format or ("vics" if filename.lower().endswith(".json") else "csv")
    if chosen == "vics":
        return read_vics(data, filename, SCHEMES[scheme] if scheme else None)
    return read_hash_csv(data, filename, hash_type=declared, scheme=SCHEMES[scheme or "none"])


def _threshold(value: str) -> int | None:
    """The form's PDQ threshold: blank keeps the list's (a new list: the configured one). ASCII
    digits only: ``isdigit`` alone takes '²' (which ``int`` then refuses, a server error) and
    other scripts' digits ('٣', which ``int`` reads as 3)."""
    text = value.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > 128:
        raise ValidationError(
            "pdq_threshold: a whole number 0 to 128, or blank to keep the list's",
            location="pdq_threshold",
            rule="out_of_range",
        )
    return int(text)


def _import(
    store: Store,
    principal: Principal,
    upload: tuple[bytes, str],
    list_format: tuple[str, str, str],
    name: str,
    kind: str,
    pdq_threshold: str,
) -> dict[str, Any]:
    """Reads the upload and imports it with the command line's rules: a kind or threshold left
    blank keeps the list's. Called in the thread pool, reading too: a large list takes seconds
    to parse, and parsed on the event loop it held up every other request meanwhile."""
    name = hashlists.list_name(name)
    threshold = _threshold(pdq_threshold)
    data, filename = upload
    parsed = _parse_list(data, filename, *list_format)
    context = intake_context(store)
    result = hashlists.import_list(
        store, context.matcher, context.sealer, parsed, name=name, kind=kind or None,
        source_file=filename, pdq_threshold=threshold,
        flood_share=context.options.flood_share, actor=principal.actor(),
    )  # fmt: skip
    return {
        "name": result.name, "version": result.version, "changed": result.changed,
        "added": result.added, "removed": result.removed, "recategorised": result.recategorised,
        "entries": result.entries, "quarantined": result.quarantined, "matches": result.matches,
        "settings_changed": {key: list(pair) for key, pair in result.settings_changed.items()},
        "rejected": [
            {"location": r.location, "rule": r.rule, "message": r.message}
            for r in parsed.rejected[:REJECTED_SHOWN]
        ],
        "rejected_total": len(parsed.rejected),
        "quarantine_open": result.quarantine_open,
    }  # fmt: skip


ListKind = Literal["", "known", "allow"]  # blank: keep the list's (a new list: known)
ListFormat = Literal["", "vics", "csv"]


@router.post("/hashlists", include_in_schema=False)
async def hashlist_import_form(
    request: Request,
    file: UploadFile = File(...),
    name: str = Form(..., max_length=120),
    kind: ListKind = Form(""),
    format: ListFormat = Form(""),
    hash_type: str = Form("", max_length=16),
    scheme: str = Form("", max_length=8),
    pdq_threshold: str = Form("", max_length=8),
    principal: Principal = Depends(MANAGE_LISTS),
) -> Response:
    upload = await _read_upload(file, "upload")
    imported = await run_in_threadpool(
        _import, store_of(request), principal, upload, (format, hash_type, scheme), name, kind,
        pdq_threshold,
    )  # fmt: skip
    # The page reads the lists and their flags from the store: on a worker thread as well.
    return await run_in_threadpool(_lists_page, request, imported)


@router.post("/api/hashlists", tags=["triage"], summary="Import or update a hash list")
async def hashlist_import_api(
    request: Request,
    file: UploadFile = File(..., description="VICS JSON, CSV or plain-text list."),
    name: str = Form(..., max_length=120),
    kind: ListKind = Form("", description="known or allow; blank keeps the list's (new: known)"),
    format: ListFormat = Form(""),
    hash_type: str = Form("", max_length=16),
    scheme: str = Form("", max_length=8),
    pdq_threshold: str = Form(
        "", max_length=8, description="0 to 128; blank keeps the list's (new: pdq.threshold)"
    ),
    principal: Principal = Depends(MANAGE_LISTS),
) -> dict[str, Any]:
    """The command line's importer: bad entries are quarantined and the rest imports; re-importing
    the same file changes nothing, and a kind or threshold left blank keeps the list's. Audited.

    ``rejected`` names the file's refused lines (location, rule, message; the first 100, of
    ``rejected_total``), each quarantined, whether newly (``quarantined`` counts those) or
    already; ``quarantine_open`` is the list's open quarantine records after the import."""
    upload = await _read_upload(file, "upload")
    return await run_in_threadpool(
        _import, store_of(request), principal, upload, (format, hash_type, scheme), name, kind,
        pdq_threshold,
    )  # fmt: skip


def _remove(store: Store, principal: Principal, name: str) -> dict[str, Any]:
    entries = hashlists.remove_list(store, intake_context(store).matcher, name, principal.actor())
    return {"name": name, "removed_entries": entries}


def _name_of(request: Request, list_id: int) -> str:
    with store_of(request).session() as db:
        return hashlists.list_name_by_id(db, list_id)


@router.post("/hashlists/{list_id}/remove", include_in_schema=False)
def hashlist_remove_form(
    request: Request, list_id: RowId, principal: Principal = Depends(MANAGE_LISTS)
) -> Response:
    """By id: a list named before names were checked may hold a ``/`` or be ``..``, which no
    path can carry, and must still be removable here."""
    _remove(store_of(request), principal, _name_of(request, list_id))
    return RedirectResponse("/hashlists", status_code=303)


@router.delete("/api/hashlists/{name}", tags=["triage"], summary="Remove a hash list")
def hashlist_remove_api(
    request: Request, name: str, principal: Principal = Depends(MANAGE_LISTS)
) -> dict[str, Any]:
    """Removes the list with its entries, matches and flood flags. Audited."""
    return _remove(store_of(request), principal, name)


@router.delete(
    "/api/hashlists/by-id/{list_id}", tags=["triage"], summary="Remove a hash list by its id"
)
def hashlist_remove_by_id_api(
    request: Request, list_id: RowId, principal: Principal = Depends(MANAGE_LISTS)
) -> dict[str, Any]:
    """As ``DELETE /api/hashlists/{name}``, for the list with this ``id`` (from
    ``GET /api/hashlists``): a list named before names were checked may hold a ``/`` or be
    ``..``, which no path can carry. Audited."""
    return _remove(store_of(request), principal, _name_of(request, list_id))


def _runs(request: Request) -> list[TriageRun]:
    with store_of(request).session() as db:
        rows = db.scalars(select(TriageRun).order_by(TriageRun.id.desc()).limit(10)).all()
        db.expunge_all()
    return list(rows)


def _run(
    request: Request, principal: Principal, policy_text: bytes, filename: str
) -> dict[str, Any]:
    store = store_of(request)
    policy = parse_policy(policy_text, filename) if policy_text else load_policy()
    result = operations.run_triage(store, policy, actor=principal.actor())
    _cache(request).refresh(store)  # the new run's queue is ready for the next page
    return result


@router.get("/triage/run", include_in_schema=False, dependencies=[Depends(POLICY)])
def run_page(request: Request, run: int | None = Query(None, ge=1, le=ROW_ID_MAX)) -> Response:
    """The recent runs; ``run``: the one just made by the form, whose page this is after the
    redirect (its stored summary; its levels are the decisions', while it is the latest)."""
    runs = _runs(request)
    done: TriageRun | None = None
    levels: dict[str, int] = {}
    if run is not None:
        with store_of(request).session() as db:
            done = db.get(TriageRun, run)
            if done is None:
                raise NotFoundError(f"no triage run {run}")
            if runs and runs[0].id == run:
                levels = views.level_counts(db)
    return render(request, "triage/run.html", {"runs": runs, "done": done, "levels": levels})


@router.post("/triage/run", include_in_schema=False)
async def run_form(
    request: Request,
    policy: UploadFile | None = File(None),
    principal: Principal = Depends(POLICY),
) -> Response:
    """Runs, then redirects to the run's page (post, redirect, get): a page showing the result
    of the POST itself started another run when reloaded."""
    data, filename = await _read_upload(policy, "policy.toml") if policy else (b"", "")
    result = await run_in_threadpool(_run, request, principal, data, filename)
    return RedirectResponse(f"/triage/run?run={result['run']}", status_code=303)


@router.post("/api/triage/run", tags=["triage"], summary="Re-run the triage under a policy")
async def run_api(
    request: Request,
    policy: UploadFile | None = File(None, description="A policy TOML; default: the shipped."),
    principal: Principal = Depends(POLICY),
) -> dict[str, Any]:
    """Cluster and score every report again (as ``safeguarding triage run``); ``level_changes``
    says how many earlier scored reports changed level. Audited."""
    data, filename = await _read_upload(policy, "policy.toml") if policy else (b"", "")
    return await run_in_threadpool(_run, request, principal, data, filename)


@router.get(
    "/api/triage/overview", tags=["triage"], summary="Aggregate counts under disclosure control"
)
def overview_api(request: Request, _principal: Principal = Depends(AGGREGATES)) -> dict[str, Any]:
    """The monitor's triage figures: reports by level and route, subjects, rule frequencies,
    viral content, the week's queue and outcomes. Counts below ``[triage] min_cell`` and the
    counts that would reveal them are ``null``, each table marking which are withheld;
    ``withheld_parts`` names a part left out whole."""
    found = triage_aggregates(store_of(request))
    return {"policy": None, "reports": None} if found is None else found.as_dict()
