"""The application factory: ``create_app(store)`` wires routers, security and error handling.

Every route declares its permission with ``require`` (``web/roles.py``); only ``/login``,
``/static`` and ``/healthz`` are open. The OpenAPI description of the JSON API is served at
``/api/openapi.json`` to signed-in accounts; no documentation UI is served, since the usual ones
load scripts from CDNs, which the Content-Security-Policy forbids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

import safeguarding.web.routers.assess as assess_pages
import safeguarding.web.routers.helpline as helpline_pages
import safeguarding.web.routers.platforms as platform_pages
from safeguarding import __version__
from safeguarding.access import accounts
from safeguarding.config import SECRET_NAMES
from safeguarding.errors import (
    ConfigError,
    NotFoundError,
    SafeguardingError,
    StoreError,
    ValidationError,
)
from safeguarding.store import Store
from safeguarding.triage.formats.fields import UNSTORABLE, unstorable
from safeguarding.web.auth import AuthState, ForbiddenError, NotSignedInError, auth_state, is_api
from safeguarding.web.body_limits import FORM_OVERHEAD_BYTES, BodyLimits, RouteCap
from safeguarding.web.options import WebOptions
from safeguarding.web.queue_cache import QueueCache, QueueRefresher
from safeguarding.web.refusals import not_signed_in, server_fault
from safeguarding.web.roles import require
from safeguarding.web.routers import account, audit, evidence, monitor, own_tokens, submit, users
from safeguarding.web.routers import triage as triage_router
from safeguarding.web.security import SecurityHeaders, security_headers
from safeguarding.web.templating import render

STATIC_DIR = Path(__file__).parent / "static"
OPEN_PATHS = ("/login", "/static", "/healthz")


def _forbidden(request: Request, exc: Exception) -> Response:
    reason = exc.reason if isinstance(exc, ForbiddenError) else "forbidden"
    if is_api(request):
        return JSONResponse({"detail": reason}, status_code=403)
    return render(request, "error.html", {"title": "Not allowed", "message": reason}, status=403)


def _invalid(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ConfigError | StoreError):
        return server_fault(request, exc)
    message = str(exc)
    body: dict[str, Any] = {"detail": message}
    if isinstance(exc, ValidationError):
        body |= {"rule": exc.rule, "location": exc.location}
    status, title = (404, "Not found") if isinstance(exc, NotFoundError) else (422, "Not accepted")
    if is_api(request):
        return JSONResponse(body, status_code=status)
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def _request_invalid(request: Request, exc: Exception) -> Response:
    """A request whose fields break their rules: each field named with its rule, and never the
    value sent (FastAPI's own answer echoes it, and a refused value may be a password or a
    note that is sealed once stored)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    fields = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in errors
    ]
    if is_api(request):
        return JSONResponse({"detail": fields}, status_code=422)
    message = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'][1:]) or 'request'}: {item['msg']}"
        for item in fields
    )
    return render(request, "error.html", {"title": "Not accepted", "message": message}, status=422)


def _server_error(request: Request, _exc: Exception) -> Response:
    """An unexpected error (a bug): a short answer that names nothing of the server. Starlette
    sends it from outside every middleware, so it carries the security headers itself; the
    error and its traceback go to the server's log as before."""
    headers = security_headers(hsts=auth_state(request).options.secure_cookies)
    message = "internal error; the server's log has the details"
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=500, headers=headers)
    return HTMLResponse(
        f"<!doctype html><title>Server error</title><h1>Server error</h1><p>{message}</p>",
        status_code=500,
        headers=headers,
    )


async def _storable_parameters(request: Request) -> None:
    """Refuse a path or query parameter no store can hold, naming it. Routes look parameters up
    in stored text (an account's or a list's name, a service id, the audit log's filters), and
    PostgreSQL refuses a NUL in a query: a server error where SQLite answered "not found" or an
    empty list. Nothing stored holds one, so refusing it loses no answer."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if isinstance(value, str) and (rule := unstorable(value)):
            raise ValidationError(f"{name}: {UNSTORABLE[rule]}", location=name, rule=rule)


def create_app(store: Store, options: WebOptions | None = None) -> FastAPI:
    """The web app over ``store``; ``options`` default to the ``[web]`` settings section."""
    opts = options or WebOptions.from_section(store.settings.section("web"))
    store.bound_lock_waits()
    queue = QueueCache()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The limiter of this event loop's worker threads, which run every plain route and
        # every run_in_threadpool.
        to_thread.current_default_thread_limiter().total_tokens = opts.threads
        refresher = QueueRefresher(queue, store, opts.queue_refresh_seconds)
        refresher.start()
        try:
            yield
        finally:
            refresher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="safeguarding",
        version=__version__,
        description=(
            "Triage of provider reports, published evidence and the audit log. Authenticate with "
            "`Authorization: Bearer <token>` (tokens: `safeguarding token create`)."
        ),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(_storable_parameters)],
    )
    # Every key the app uses is checked against the store before it serves: one that does not
    # fit refuses the start in one line (``Store.secret``), where checked on first use it failed
    # request after request, each with a 500.
    for name in SECRET_NAMES:
        store.secret(name)
    app.state.auth = AuthState.build(store, opts)
    accounts.prepare_sign_in()
    app.state.triage_queue = queue
    hash_list_cap = triage_router.MAX_UPLOAD + FORM_OVERHEAD_BYTES
    platform_file_cap = platform_pages.MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
    caps = {
        # capped by the route itself, at the intake's document limit
        "/api/reports": RouteCap(None, "report.submit"),
        "/hashlists": RouteCap(hash_list_cap, "hashlist.manage"),
        "/api/hashlists": RouteCap(hash_list_cap, "hashlist.manage"),
        "/platforms/import": RouteCap(platform_file_cap, "platforms.import"),
        # the body is the file
        "/api/platforms/import": RouteCap(platform_pages.MAX_UPLOAD_BYTES, "platforms.import"),
    }
    app.add_middleware(BodyLimits, caps=caps)
    app.add_middleware(SecurityHeaders, hsts=opts.secure_cookies)  # last added: outermost
    app.add_exception_handler(NotSignedInError, not_signed_in)
    app.add_exception_handler(ForbiddenError, _forbidden)
    app.add_exception_handler(SafeguardingError, _invalid)
    app.add_exception_handler(OperationalError, server_fault)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(Exception, _server_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/api/openapi.json",
        dependencies=[Depends(require("account.self"))],
        include_in_schema=False,
    )
    def openapi() -> dict[str, Any]:
        return get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )

    for router in (
        account.router,
        evidence.router,
        audit.router,
        users.router,
        own_tokens.router,
        monitor.router,
        submit.router,
    ):
        app.include_router(router)
    app.include_router(triage_router.router)
    app.include_router(platform_pages.router)
    app.include_router(assess_pages.router)
    app.include_router(helpline_pages.router)
    return app
