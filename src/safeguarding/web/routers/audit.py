"""The audit log: browse, verify the hash chain, export.

Reading the log is itself audited (``audit.read``, with the filters and page asked for): the log
holds who read which report and subject, so who looked at that is worth knowing too. The event is
written after the read, in its transaction, so a page does not show its own reading at the top.

The text filters (actor, action, target) are typed into boxes, at times a password by mistake,
and the event is kept for good; so each is recorded as typed only when some event holds it in
that field (the log has it already), and otherwise as a keyed tag, as a failed sign-in records a
typed name that is no account's (``web/auth.py: typed_tag``). The page asked for (``before``,
``limit``) is recorded as it is.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

from anyio import CancelScope
from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from safeguarding.access import audit
from safeguarding.access.audit import Actor, ExportFormat
from safeguarding.store import Store
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.store.models.access import AuditEventRow
from safeguarding.web.auth import Principal, auth_state, typed_tag
from safeguarding.web.roles import require
from safeguarding.web.routers.common import record_read, store_of
from safeguarding.web.templating import is_htmx, render

router = APIRouter()
READ = require("audit.read")
PAGE = 50


def _event(row: AuditEventRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in audit.EXPORT_FIELDS}


def _filters(actor: str, action: str, target: str) -> dict[str, str | None]:
    return {"actor": actor or None, "action": action or None, "target": target or None}


def _asked(view: str, **page: int | None) -> dict[str, str]:
    """The audit event's detail for a read of the log: the view and the page asked for."""
    return {"view": view} | {name: str(value) for name, value in page.items() if value}


def _searched(
    request: Request,
    db: Session,
    rows: list[AuditEventRow],
    actor: str,
    action: str,
    target: str,
) -> dict[str, str]:
    """The text filters for the audit event: each as typed if an event holds it in the field it
    filters (one of the rows found, or else any), otherwise as a keyed tag of what was typed."""
    state = auth_state(request)
    recorded: dict[str, str] = {}
    for name, typed, column in (
        ("actor", actor, AuditEventRow.actor),
        ("action", action, AuditEventRow.action),
        ("target", target, AuditEventRow.target_id),
    ):
        if not typed:
            continue
        held = any(getattr(row, column.key) == typed for row in rows) or (
            db.scalar(select(column).where(column == typed).limit(1)) is not None
        )
        recorded[name] = typed if held else typed_tag(state, "audit-filter", typed)
    return recorded


@router.get("/audit", include_in_schema=False)
def audit_page(
    request: Request,
    actor: str = Query("", max_length=120),
    action: str = Query("", max_length=64),
    target: str = Query("", max_length=200),
    before: int | None = Query(None, ge=1, le=ROW_ID_MAX),
    principal: Principal = Depends(READ),
) -> Response:
    with store_of(request).session() as db:
        rows = audit.events(db, before_seq=before, limit=PAGE, **_filters(actor, action, target))
        total = audit.count(db)
        asked = _asked("list", before=before) | _searched(request, db, rows, actor, action, target)
        record_read(request, principal, "audit", "", asked, session=db)
    context = {
        "rows": rows,
        "actor": actor,
        "action": action,
        "target": target,
        "total": total,
        "older": rows[-1].seq if len(rows) == PAGE else None,
    }
    return render(request, "audit/_rows.html" if is_htmx(request) else "audit/list.html", context)


@router.get("/audit/verify", include_in_schema=False)
def audit_verify_page(request: Request, principal: Principal = Depends(READ)) -> Response:
    with store_of(request).session() as db:
        result = audit.verify(db)
        record_read(request, principal, "audit", "", _asked("verify"), session=db)
    return render(request, "audit/_verify.html", {"result": result})


@router.get("/api/audit", tags=["audit"], summary="Audit events, newest first; audited")
def list_events(
    request: Request,
    actor: str = Query("", max_length=120),
    action: str = Query("", max_length=64),
    target: str = Query("", max_length=200),
    before: int | None = Query(
        None, ge=1, le=ROW_ID_MAX, description="Only events before this sequence number."
    ),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(READ),
) -> list[dict[str, Any]]:
    with store_of(request).session() as db:
        rows = audit.events(db, before_seq=before, limit=limit, **_filters(actor, action, target))
        found = [_event(row) for row in rows]
        asked = _asked("list", before=before, limit=limit)
        asked |= _searched(request, db, rows, actor, action, target)
        record_read(request, principal, "audit", "", asked, session=db)
    return found


@router.get("/api/audit/verify", tags=["audit"], summary="Verify the chain; audited")
def verify_chain(request: Request, principal: Principal = Depends(READ)) -> dict[str, Any]:
    """Recompute the hash chain; every edited or deleted event is named in ``problems``."""
    with store_of(request).session() as db:
        result = audit.verify(db)
        record_read(request, principal, "audit", "", _asked("verify"), session=db)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "head_seq": result.head_seq,
        "head_hash": result.head_hash,
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in result.problems],
    }


def _failure(exc: BaseException) -> str:
    """The reason an export failed, for its ``audit.export_failed`` event, which is kept for
    good and shown to everyone who reads the log: the kind of failure only. A database's
    message can name its server, files and statement; the server's log has it, with the
    traceback, as for any failed request."""
    if isinstance(exc, GeneratorExit):
        return "the response ended before the whole export was sent"
    return type(exc).__name__


def _exported(
    store: Store, actor: Actor, fmt: ExportFormat, through: int
) -> Generator[str, None, None]:
    """The export of every event up to ``through``, piece by piece, recorded once made whole:
    ``audit.export`` with the format and ``through`` when the last piece is made,
    ``audit.export_failed`` with the format and the reason (as the command records a failed
    export) when making it fails or it is closed unfinished. Recorded before the reading, an
    export that broke off after a batch would be in the log as done, and an auditor would take
    the part sent for the whole. Runs on worker threads (the response's), as the reading does."""
    try:
        yield from audit.export_text(store.read_session, fmt, through)
    except (Exception, GeneratorExit) as exc:
        with store.session() as db:
            detail = {"format": fmt, "error": _failure(exc)}
            audit.record(db, actor, "audit.export_failed", "audit", "", detail)
        raise
    with store.session() as db:
        detail = {"format": fmt, "through": str(through)}
        audit.record(db, actor, "audit.export", "audit", "", detail)


class _ClosedWhenDone(StreamingResponse):
    """A streamed response that closes its body, a generator, on a worker thread however the
    response ends. One left unfinished (the client went away, the server is stopping) is
    otherwise closed whenever it is collected, on whichever thread that is, the event loop's
    included, and a body that records its outcome on closing wrote to the store there."""

    def __init__(
        self, content: Generator[str, None, None], *, media_type: str, headers: dict[str, str]
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: a response cancelled as its client went away must still record that.
            with CancelScope(shield=True):
                await run_in_threadpool(self._content.close)


@router.get("/api/audit/export", tags=["audit"], summary="Export every event")
def export_events(
    request: Request,
    format: Literal["jsonl", "csv"] = Query("jsonl"),
    principal: Principal = Depends(READ),
) -> Response:
    """All events oldest first with their hashes, as JSON Lines or CSV; the export is audited.

    The export is the log as it stood when the export began, and its own event comes after it,
    once the last event has been sent: ``audit.export`` names the last event sent
    (``through``); an export that fails midway (the database fails, the client goes away) is
    ``audit.export_failed`` instead, with the reason. The events are read in short
    read-only transactions and streamed as read, so a long log neither holds the audit log's
    write lock (which every audited request waits for) nor sits in memory whole."""
    store = store_of(request)
    with store.read_session() as db:
        through = audit.head_seq(db)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return _ClosedWhenDone(
        _exported(store, principal.actor(), format, through),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit.{format}"'},
    )
