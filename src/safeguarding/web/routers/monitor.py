"""The monitor report, rendered from the store on request (the same HTML as ``safeguarding
monitor``).

It is self-contained: inline styles and SVG charts, no scripts. It is served under its own, stricter
Content-Security-Policy: no script at all, inline styles only, and in a sandbox.

Rendering it costs seconds. The assessment section, most of that (some thirty charts, about 12 s
of a demo's 15), is rendered once per stored run (``reporting.sections.assess``); the rest reads
the other areas as they are now (a platforms rules file on disk included), so it is rendered on
each request, and each account has a budget of reports (``[web] monitor_*``, 429 with Retry-After
beyond it).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from safeguarding.reporting.monitor import render_monitor
from safeguarding.web.auth import auth_state
from safeguarding.web.ratelimit import retry_after_header
from safeguarding.web.roles import require
from safeguarding.web.routers.common import store_of
from safeguarding.web.templating import render

router = APIRouter()
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@router.get("/monitor", dependencies=[Depends(require("aggregates.read"))], include_in_schema=False)
async def monitor_report(request: Request) -> Response:
    wait = auth_state(request).monitor_limiter.take(request.state.principal.name)
    if wait is not None:
        retry = retry_after_header(wait)
        message = (
            "too many monitor reports from this account: each takes seconds to render; "
            f"try again in {retry} s"
        )
        page = render(
            request, "error.html", {"title": "Too many reports", "message": message}, status=429
        )
        page.headers["Retry-After"] = retry
        return page
    html = await run_in_threadpool(render_monitor, store_of(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})
