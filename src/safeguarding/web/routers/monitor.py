"""The monitor report, rendered from the store on request (the same HTML as ``safeguarding
monitor``).

It is self-contained: inline styles and SVG charts, no scripts. It is served under its own, stricter
Content-Security-Policy: no script at all, inline styles only, and in a sandbox.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from safeguarding.reporting.monitor import render_monitor
from safeguarding.web.roles import require
from safeguarding.web.routers.common import store_of

router = APIRouter()
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@router.get("/monitor", dependencies=[Depends(require("aggregates.read"))], include_in_schema=False)
async def monitor_report(request: Request) -> HTMLResponse:
    html = await run_in_threadpool(render_monitor, store_of(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})
