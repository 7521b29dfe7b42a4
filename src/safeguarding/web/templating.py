"""Rendering pages: Jinja2 templates (autoescaped) with the account, its nav and CSRF token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from safeguarding import __version__
from safeguarding.evidence.loader import EvidenceFigure
from safeguarding.reporting.html import figure_tags
from safeguarding.web.auth import CSRF_FIELD, Principal
from safeguarding.web.nav import nav_for

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _figure_tags(figure: EvidenceFigure) -> Markup:
    """A figure's tag and every other tag its values carry, as the monitor report shows them
    (``reporting.html.figure_tags``, which escapes what it writes): the figure's tag alone would
    present values read only in a secondary source as primary."""
    return Markup(figure_tags(figure))  # noqa: S704 - built from escaped parts


templates.env.globals["figure_tags"] = _figure_tags


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    full = {
        "principal": principal,
        "nav": nav_for(principal),
        "csrf_field": CSRF_FIELD,
        "csrf_token": principal.csrf if principal else "",
        "version": __version__,
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, full, status_code=status)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
