"""The platform register, the risk matrix, the regulatory gaps and the platform × stage evidence.

Everything here is about services, not people, and is read under ``aggregates.read``. Importing a
register or case file is a change: supervisors only (``platforms.import``), through the same
parsers and validation as ``safeguarding platforms import`` and ``safeguarding cases import``, and
written to the audit log in the transaction that stores the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from safeguarding.access.roles import allowed
from safeguarding.errors import ValidationError
from safeguarding.platforms.cases import CaseRowError, stage_matrix, year_trend
from safeguarding.platforms.register import (
    RowError,
    Service,
    eu_audiences,
    parse_register_bytes,
)
from safeguarding.platforms.regulation import GapReport, headline
from safeguarding.platforms.risk import ServiceAssessment, factor_label, service_factors
from safeguarding.platforms.storage import (
    AssessmentRun,
    load_mention_frame,
    load_service,
    load_services,
)
from safeguarding.platforms.vocabulary import HARM_LABELS, STAGE_LABELS
from safeguarding.platforms.workflow import (
    ImportSummary,
    cases_text,
    import_cases_text,
    import_register,
    latest_gaps,
    stale_note,
)
from safeguarding.reporting.sections.platforms import (
    REGIME_EVIDENCE,
    cite,
    risk_chart,
    stage_heatmap,
    trend_chart,
)
from safeguarding.store import Store
from safeguarding.web.auth import Principal
from safeguarding.web.roles import require
from safeguarding.web.routers.common import store_of
from safeguarding.web.templating import render

router = APIRouter()
READ = [Depends(require("aggregates.read"))]
IMPORT = require("platforms.import")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ImportKind = Literal["register", "cases"]


@dataclass(frozen=True)
class RiskView:
    """The latest assessment run with its gap reports, or why there is none (``problem``), why
    its gaps are not shown (``gaps_problem``) and what it has not seen (``stale``)."""

    run: AssessmentRun | None
    gaps: list[GapReport]
    problem: str
    stale: str = ""
    gaps_problem: str = ""

    def assessment(self, service_id: str) -> ServiceAssessment | None:
        if self.run is None:
            return None
        return next((a for a in self.run.assessments if a.service_id == service_id), None)


def _risk(store: Store) -> RiskView:
    latest = latest_gaps(store)
    if latest is None:
        return RiskView(None, [], "no assessment run yet")
    return RiskView(latest.run, latest.gaps, "", stale_note(store, latest.run), latest.problem)


def _services(store: Store) -> list[Service]:
    with store.session() as session:
        return load_services(session)


def _sources(service: Service) -> list[tuple[str, str]]:
    """Every source the register gives for one service, labelled by the fact it supports."""
    found = [("register entry", service.source)]
    for label, fact in (
        ("EU monthly active recipients", service.eu_monthly_active_recipients),
        ("UK monthly active users", service.uk_monthly_active_users),
        ("VLOP designation", service.vlop),
        ("volumes", service.volumes),
    ):
        if fact is not None:
            found.append((label, fact.source))
    return found


def harm_labels(harms: tuple[str, ...]) -> str:
    return ", ".join(HARM_LABELS[h] for h in harms)


def _run_dict(view: RiskView) -> dict[str, Any] | None:
    if view.run is None:
        return None
    return {
        "id": view.run.id,
        "rules_version": view.run.rules_version,
        "rules_file": view.run.rules_name,
        "rules_digest": view.run.rules_digest,
        "stale": view.stale or None,
    }


def _stage_cells(store: Store, services: list[Service]) -> dict[str, Any] | None:
    with store.session() as session:
        mentions = load_mention_frame(session)
    if mentions.is_empty():
        return None
    matrix = stage_matrix(mentions, audience=eu_audiences(services))
    trend = year_trend(mentions, groups={s.id: s.type for s in services})
    return {
        "matrix": matrix,
        "trend": trend,
        "cells": matrix.cells(),
        "trend_rows": trend.cells(),
    }


# ---------------------------------------------------------------------------------------- pages


@router.get("/platforms", dependencies=READ, include_in_schema=False)
def register_page(request: Request) -> Response:
    store = store_of(request)
    view = _risk(store)
    services = _services(store)
    principal: Principal = request.state.principal
    return render(
        request,
        "platforms/list.html",
        {
            "services": services,
            "view": view,
            "can_import": allowed(principal.role, "platforms.import"),
            "synthetic": any(s.synthetic for s in services),
        },
    )


@router.get("/platforms/services/{service_id}", dependencies=READ, include_in_schema=False)
def service_page(request: Request, service_id: str) -> Response:
    store = store_of(request)
    with store.session() as session:
        service = load_service(session, service_id)
    view = _risk(store)
    return render(
        request,
        "platforms/service.html",
        {
            "service": service,
            "factors": [(f, factor_label(f)) for f in sorted(service_factors(service))],
            "sources": _sources(service),
            "assessment": view.assessment(service_id),
            "gap": next((g for g in view.gaps if g.service_id == service_id), None),
            "harm_labels": HARM_LABELS,
            "labels": harm_labels,
            "view": view,
        },
    )


@router.get("/platforms/risk", dependencies=READ, include_in_schema=False)
def risk_page(request: Request) -> Response:
    view = _risk(store_of(request))
    chart = ""
    if view.run is not None:
        chart = risk_chart(
            [
                {"service": a.name, "harm": HARM_LABELS[h.harm], "level": h.level}
                for a in view.run.assessments
                for h in a.harms
            ]
        )
    return render(
        request,
        "platforms/risk.html",
        {"view": view, "chart": chart, "harm_labels": HARM_LABELS},
    )


@router.get("/platforms/gaps", dependencies=READ, include_in_schema=False)
def gaps_page(request: Request) -> Response:
    view = _risk(store_of(request))
    return render(
        request,
        "platforms/gaps.html",
        {
            "view": view,
            "top": headline(view.gaps),
            "harm_labels": HARM_LABELS,
            "labels": harm_labels,
            "regime_sources": [cite(i) for i in REGIME_EVIDENCE],
        },
    )


@router.get("/platforms/stages", dependencies=READ, include_in_schema=False)
def stages_page(request: Request) -> Response:
    store = store_of(request)
    services = _services(store)
    data = _stage_cells(store, services)
    context: dict[str, Any] = {"data": data, "stage_labels": STAGE_LABELS}
    if data is not None:
        context["heatmap"] = stage_heatmap(data["cells"], data["matrix"].rows)
        context["trend_svg"] = trend_chart(data["trend_rows"])
    return render(request, "platforms/stages.html", context)


def _refused(summary: ImportSummary) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for error in summary.refused:
        if isinstance(error, RowError):
            rows.append(
                {
                    "line": error.line,
                    "row": error.row,
                    "field": error.field,
                    "message": error.message,
                    "text": str(error),
                }
            )
        elif isinstance(error, CaseRowError):
            rows.append(
                {
                    "line": error.line,
                    "row": None,
                    "field": error.field,
                    "message": error.message,
                    "text": str(error),
                }
            )
    return rows


def import_upload(
    store: Store, principal: Principal, kind: ImportKind, name: str, data: bytes
) -> dict[str, Any]:
    """Validate and store an uploaded register or case file as the CLI does; audit the change.

    The audit event (the file and the counts) is written in the transaction that stores the rows;
    a file that fails as a whole (wrong type, not UTF-8, not YAML) raises ``ValidationError`` and
    changes nothing.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"{name}: larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
            location=name,
            rule="size",
        )
    actor = principal.actor()
    if kind == "register":
        parsed = parse_register_bytes(data, name)
        summary = import_register(store, parsed, name, audit_as=actor)
    else:
        summary = import_cases_text(store, cases_text(data, name), name, audit_as=actor)
    refused = _refused(summary)
    result = {
        "kind": kind,
        "file": name,
        "new": summary.new,
        "existing": summary.existing,
        "refused": refused,
        "labels": [note.as_dict() for note in summary.labels],
        "status": "partial" if refused else "stored",
    }
    return result


@router.post("/platforms/import", include_in_schema=False)
async def import_page(request: Request, principal: Principal = Depends(IMPORT)) -> Response:
    form = await request.form()
    kind: ImportKind
    match form.get("kind"):
        case "register":
            kind = "register"
        case "cases":
            kind = "cases"
        case _:
            raise ValidationError("choose what the file holds: register or cases", rule="kind")
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise ValidationError("choose a file to upload", rule="file")
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    return await run_in_threadpool(_import_page, request, principal, kind, upload.filename, data)


def _import_page(
    request: Request, principal: Principal, kind: ImportKind, name: str, data: bytes
) -> Response:
    """Imports the file and renders the register with the result. Called in the thread pool, as
    every store access of an ``async`` route: an import waiting for SQLite's write lock (held
    by a command-line import, say) on the event loop held up every other request meanwhile."""
    store = store_of(request)
    result = import_upload(store, principal, kind, name, data)
    view = _risk(store)
    services = _services(store)
    return render(
        request,
        "platforms/list.html",
        {
            "services": services,
            "view": view,
            "can_import": True,
            "synthetic": any(s.synthetic for s in services),
            "imported": result,
        },
        status=200 if not result["refused"] else 422,
    )


# ------------------------------------------------------------------------------------------ API


@router.get(
    "/api/platforms/services", dependencies=READ, tags=["platforms"], summary="The register"
)
def api_services(request: Request) -> list[dict[str, Any]]:
    """Every registered service with its facts and their sources."""
    return [s.model_dump(mode="json") for s in _services(store_of(request))]


@router.get(
    "/api/platforms/services/{service_id}",
    dependencies=READ,
    tags=["platforms"],
    summary="One service",
)
def api_service(request: Request, service_id: str) -> dict[str, Any]:
    """One service: its facts, risk factors, sources and its latest assessment with drivers."""
    store = store_of(request)
    with store.session() as session:
        service = load_service(session, service_id)
    view = _risk(store)
    assessment = view.assessment(service_id)
    return {
        "service": service.model_dump(mode="json"),
        "factors": sorted(service_factors(service)),
        "sources": [{"fact": fact, "source": source} for fact, source in _sources(service)],
        "assessment": assessment.as_dict() if assessment else None,
        "run": _run_dict(view),
    }


@router.get("/api/platforms/risk", dependencies=READ, tags=["platforms"], summary="The risk matrix")
def api_risk(request: Request) -> dict[str, Any]:
    """Level per service and harm with the factors and evidence that drove it (latest run)."""
    view = _risk(store_of(request))
    return {
        "run": _run_dict(view),
        "problem": view.problem or None,
        "services": [a.as_dict() for a in view.run.assessments] if view.run else [],
    }


@router.get("/api/platforms/gaps", dependencies=READ, tags=["platforms"], summary="Regulatory gaps")
def api_gaps(request: Request, headline_only: bool = Query(False)) -> dict[str, Any]:
    """Gap reports of the latest run; ``headline_only`` keeps the high-risk, unobliged ones."""
    view = _risk(store_of(request))
    reports = headline(view.gaps) if headline_only else view.gaps
    return {
        "run": _run_dict(view),
        "problem": view.problem or view.gaps_problem or None,
        "headline": [r.service_id for r in headline(view.gaps)],
        "services": [r.as_dict() for r in reports],
    }


@router.get(
    "/api/platforms/stages",
    dependencies=READ,
    tags=["platforms"],
    summary="Platforms by stage in case files",
)
def api_stages(request: Request) -> dict[str, Any]:
    """Distinct cases per platform and stage, and the yearly trend per service type."""
    store = store_of(request)
    data = _stage_cells(store, _services(store))
    if data is None:
        return {"matrix": None, "trend": None}
    return {"matrix": data["matrix"].as_dict(), "trend": data["trend"].as_dict()}


@router.post(
    "/api/platforms/import",
    tags=["platforms"],
    summary="Import a register or case file",
    responses={422: {"description": "rows refused (the valid rows were stored) or file refused"}},
)
async def api_import(
    request: Request,
    kind: ImportKind = Query(..., description="register (.yaml, .yml, .csv) or cases (.csv)"),
    filename: str = Query(..., min_length=1, max_length=200, pattern=r"^[\w.\-]+$"),
    principal: Principal = Depends(IMPORT),
) -> Response:
    """The request body is the file. Refused rows come back with line, row and field."""
    data = await request.body()
    result = await run_in_threadpool(
        import_upload, store_of(request), principal, kind, filename, data
    )
    return JSONResponse(result, status_code=422 if result["refused"] else 200)
