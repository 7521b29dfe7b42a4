"""The audit log: browse, verify the hash chain, export."""

from __future__ import annotations

import io
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from safeguarding.access import audit
from safeguarding.store.models.access import AuditEventRow
from safeguarding.web.auth import Principal
from safeguarding.web.roles import require
from safeguarding.web.routers.common import ROW_ID_MAX, store_of
from safeguarding.web.templating import is_htmx, render

router = APIRouter()
READ = [Depends(require("audit.read"))]
PAGE = 50


def _event(row: AuditEventRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in audit.EXPORT_FIELDS}


def _filters(actor: str, action: str, target: str) -> dict[str, str | None]:
    return {"actor": actor or None, "action": action or None, "target": target or None}


@router.get("/audit", dependencies=READ, include_in_schema=False)
def audit_page(
    request: Request,
    actor: str = Query("", max_length=120),
    action: str = Query("", max_length=64),
    target: str = Query("", max_length=200),
    before: int | None = Query(None, ge=1, le=ROW_ID_MAX),
) -> Response:
    with store_of(request).session() as db:
        rows = audit.events(db, before_seq=before, limit=PAGE, **_filters(actor, action, target))
        total = audit.count(db)
    context = {
        "rows": rows,
        "actor": actor,
        "action": action,
        "target": target,
        "total": total,
        "older": rows[-1].seq if len(rows) == PAGE else None,
    }
    return render(request, "audit/_rows.html" if is_htmx(request) else "audit/list.html", context)


@router.get("/audit/verify", dependencies=READ, include_in_schema=False)
def audit_verify_page(request: Request) -> Response:
    with store_of(request).session() as db:
        result = audit.verify(db)
    return render(request, "audit/_verify.html", {"result": result})


@router.get("/api/audit", dependencies=READ, tags=["audit"], summary="Audit events, newest first")
def list_events(
    request: Request,
    actor: str = Query("", max_length=120),
    action: str = Query("", max_length=64),
    target: str = Query("", max_length=200),
    before: int | None = Query(
        None, ge=1, le=ROW_ID_MAX, description="Only events before this sequence number."
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    with store_of(request).session() as db:
        rows = audit.events(db, before_seq=before, limit=limit, **_filters(actor, action, target))
        return [_event(row) for row in rows]


@router.get("/api/audit/verify", dependencies=READ, tags=["audit"], summary="Verify the chain")
def verify_chain(request: Request) -> dict[str, Any]:
    """Recompute the hash chain; every edited or deleted event is named in ``problems``."""
    with store_of(request).session() as db:
        result = audit.verify(db)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "head_seq": result.head_seq,
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in result.problems],
    }


@router.get("/api/audit/export", tags=["audit"], summary="Export every event")
def export_events(
    request: Request,
    format: Literal["jsonl", "csv"] = Query("jsonl"),
    principal: Principal = Depends(require("audit.read")),
) -> Response:
    """All events oldest first with their hashes, as JSON Lines or CSV; the export is audited."""
    buffer = io.StringIO()
    with store_of(request).session() as db:
        audit.record(db, principal.actor(), "audit.export", "audit", "", {"format": format})
        audit.export(db, buffer, format)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return Response(
        buffer.getvalue(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit.{format}"'},
    )
