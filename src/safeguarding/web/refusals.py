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
from safeguarding.web.auth import is_api
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
    log.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    if isinstance(exc, StoreError | OperationalError):
        status, message = 503, "the database is not available; try again later"
    else:
        status, message = 500, "the server's settings need attention; the server's log says what"
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    context = {"title": "Not available", "message": message}
    return render(request, "error.html", context, status=status)
