"""``POST /api/reports``: providers submit reports; the answer comes after the commit.

The body is read on a worker thread and queued for the submitter's writer, which commits it with
whatever other submissions are waiting; the request awaits that commit without holding a thread.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from safeguarding.web.auth import Principal, auth_state
from safeguarding.web.ratelimit import retry_after_header
from safeguarding.web.roles import require
from safeguarding.web.submission import CONTENT_TYPES, SubmissionResult, Submitter

router = APIRouter()
STATUS_CODES = {"stored": 201, "unchanged": 200, "rejected": 422, "conflict": 409, "partial": 422}


_building = threading.Lock()


def submitter(request: Request) -> Submitter:
    """The app's submitter, built once on first use. Called in the thread pool: building it
    opens the PDQ index from its files and rekeys any quarantine digest an earlier version left
    plain, a write that waits for the database's lock, and on the event loop that held up
    every other request meanwhile."""
    state = request.app.state
    with _building:
        found: Submitter | None = getattr(state, "submitter", None)
        if found is None:
            found = Submitter(auth_state(request).store)
            state.submitter = found
    return found


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _body(result: SubmissionResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "report_ids": result.report_ids,
        "reports_stored": result.reports_stored,
        "reports_unchanged": result.reports_unchanged,
        "files_stored": result.files_stored,
        "files_unchanged": result.files_unchanged,
        "matches": result.matches,
        "rejected": [
            {"location": r.location, "rule": r.rule, "message": r.message} for r in result.rejected
        ],
    }


@router.post(
    "/api/reports",
    tags=["reports"],
    summary="Submit a report (NCMEC XML, or JSON in the project's schema)",
    status_code=201,
    responses={
        200: {"description": "Already stored with the same content: nothing changed."},
        409: {"description": "Same report id with different content: quarantined."},
        413: {"description": "Body larger than the intake's document limit."},
        415: {"description": "Unsupported Content-Type."},
        422: {"description": "Invalid: the rule broken is named; the input is quarantined."},
        429: {"description": "Too many submissions: retry after Retry-After seconds."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def submit_report(
    request: Request, principal: Principal = Depends(require("report.submit"))
) -> JSONResponse:
    """Store one NCMEC ``<report>`` or ``<fileDetails>`` document (``application/xml``), one
    report object in any layout (``application/json``) or JSON Lines of them
    (``application/x-ndjson``).

    Validation, quarantine and idempotency are those of ``safeguarding ingest``. The response is
    sent after the report is committed: 201 stored, 200 unchanged, 409 conflict, 422 invalid (with
    the rule; an empty body is ``empty_body``), each rejected item quarantined.
    """
    state = auth_state(request)
    wait = state.submit_limiter.take(f"{principal.name}|{principal.ip}")
    if wait is not None:
        return JSONResponse(
            {"detail": "too many submissions; slow down"},
            status_code=429,
            headers={"Retry-After": retry_after_header(wait)},
        )
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = CONTENT_TYPES.get(media_type)
    if fmt is None:
        return JSONResponse(
            {"detail": f"Content-Type must be one of {', '.join(sorted(CONTENT_TYPES))}"},
            status_code=415,
        )
    target = await run_in_threadpool(submitter, request)
    limit = target.context.options.max_document_bytes
    body = await _read_capped(request, limit)
    if body is None:
        return JSONResponse(
            {"detail": f"body larger than {limit} bytes", "rule": "document_too_large"},
            status_code=413,
        )
    queued = await run_in_threadpool(
        target.enqueue, body, fmt, principal.actor(), location=f"http:{principal.name}"
    )
    result = await asyncio.wrap_future(queued)
    payload = _body(result)
    if result.rejected:
        first = result.rejected[0]
        payload |= {"detail": first.message, "rule": first.rule, "location": first.location}
    return JSONResponse(payload, status_code=STATUS_CODES[result.status])
