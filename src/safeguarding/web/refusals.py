"""The answers to a request without valid credentials, and to a fault of the server's settings
or database.

The app's exception handlers give them, and so does the body limits middleware
(``web/body_limits.py``), which looks up the account in front of every route and so outside
those handlers: a request must get the same answer whether its body was small enough to reach
its route or not.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from safeguarding.errors import ConfigError, StoreError
from safeguarding.store.engine import BUSY, is_busy
from safeguarding.web.auth import auth_state, is_api
from safeguarding.web.ratelimit import retry_after_header
from safeguarding.web.templating import render

log = logging.getLogger(__name__)


def not_signed_in(request: Request, exc: Exception) -> Response:
    """401 on the API (with the reason, when there is one: an expired token says so); pages
    redirect to the login page."""
    if is_api(request):
        reason = str(exc)
        return JSONResponse(
            {"detail": reason or "not signed in: send Authorization: Bearer <token>"},
            status_code=401,
            # RFC 6750: a refused token is an invalid_token, a missing one just a challenge.
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"' if reason else "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


# The faults of the server's settings or database. ``OperationalError`` is the driver's: the
# database went away, is locked or refuses the connection, in the middle of a request.
SERVER_FAULTS = (ConfigError, StoreError, OperationalError)


def server_fault(request: Request, exc: Exception) -> Response:
    """Settings or the database failed: the server's fault, not the request's. Their messages
    are written for the operator and name secret files, the data directory and the database, so
    they go to the server's log (whose messages hide database passwords and statement values
    already) and the client hears only what kind of fault it was."""
    if is_busy(exc):
        return _busy(request, exc)
    log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    if isinstance(exc, StoreError | OperationalError):
        status, message = 503, "the database is not available; try again later"
    else:
        status, message = 500, "the server's settings need attention; the server's log says what"
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    context = {"title": "Not available", "message": message}
    return render(request, "error.html", context, status=status)


def _busy(request: Request, exc: Exception) -> Response:
    """A lock held by another process (a command-line ingest, import or triage run) for the
    whole busy timeout: SQLite's write lock or, as ``Store.bound_lock_waits`` bounds the wait,
    a PostgreSQL lock. Nothing is wrong with the server or the request, which can be sent again
    once that process has finished. 503 with the command line's message (without the
    database's address, which is the operator's) and a Retry-After of the busy timeout: the
    request has just waited that long, and the writer may well need as long again. The log
    gets the driver's first line, not the statement it was running."""
    timeout = auth_state(request).store.busy_timeout
    cause = str(getattr(exc, "orig", exc)).splitlines()[0]
    log.error(
        "%s %s: database busy: %s (waited the busy timeout, %g s, for another process's lock)",
        request.method,
        request.url.path,
        cause,
        timeout,
    )
    message = f"the database {BUSY}"
    headers = {"Retry-After": retry_after_header(timeout)}
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=503, headers=headers)
    page = render(request, "error.html", {"title": "Busy", "message": message}, status=503)
    page.headers.update(headers)
    return page
