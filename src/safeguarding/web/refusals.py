"""The answer to a request without valid credentials.

The app's exception handler gives it, and so does the body limits middleware
(``web/body_limits.py``), which looks up the account in front of every route and so outside
the handlers: a request must get the same answer whether its body was small enough to reach
its route or not.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from safeguarding.web.auth import is_api


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
