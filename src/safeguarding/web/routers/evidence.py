"""The evidence base: published figures with their sources and reliability tags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from starlette.requests import Request
from starlette.responses import Response

from safeguarding.evidence import shipped_evidence
from safeguarding.evidence.loader import TAGS, EvidenceFigure
from safeguarding.web.roles import require
from safeguarding.web.templating import is_htmx, render

router = APIRouter()
READ = [Depends(require("evidence.read"))]


def _matching(q: str, tag: str) -> list[EvidenceFigure]:
    needle = q.strip().lower()
    return [
        figure
        for figure in shipped_evidence()
        if (not tag or figure.tag == tag)
        and (
            not needle
            or needle in figure.id.lower()
            or needle in figure.statement.lower()
            or needle in figure.topic.lower()
            or needle in figure.source.lower()
        )
    ]


def _figure(figure_id: str) -> EvidenceFigure:
    try:
        return shipped_evidence().get(figure_id)
    except KeyError:
        raise HTTPException(404, f"no evidence figure with id {figure_id!r}") from None


@router.get("/evidence", dependencies=READ, include_in_schema=False)
def evidence_page(
    request: Request,
    q: str = Query("", max_length=200),
    tag: str = Query("", pattern="^[PSU]?$"),
) -> Response:
    figures = _matching(q, tag)
    context = {
        "figures": figures,
        "q": q,
        "tag": tag,
        "tags": TAGS,
        "total": len(shipped_evidence()),
    }
    return render(
        request, "evidence/_rows.html" if is_htmx(request) else "evidence/list.html", context
    )


@router.get("/evidence/{figure_id}", dependencies=READ, include_in_schema=False)
def figure_page(request: Request, figure_id: str) -> Response:
    return render(request, "evidence/detail.html", {"figure": _figure(figure_id), "tags": TAGS})


@router.get("/api/evidence", dependencies=READ, tags=["evidence"], summary="List figures")
def list_figures(
    q: str = Query("", max_length=200, description="Text to look for in id, statement, source."),
    tag: str = Query("", pattern="^[PSU]?$", description="Only figures with this tag."),
) -> list[dict[str, Any]]:
    """Published figures, each with its source, address, reliability tag and values."""
    return [figure.as_dict() for figure in _matching(q, tag)]


@router.get("/api/evidence/{figure_id}", dependencies=READ, tags=["evidence"], summary="One figure")
def get_figure(figure_id: str) -> dict[str, Any]:
    return _figure(figure_id).as_dict()
