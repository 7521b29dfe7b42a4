"""How much of a request body the app reads, and for whom.

A route that takes form fields or files has its body parsed by the framework before its
permission is checked, so a cap inside the route comes too late: the upload has already been
read (and spooled to disk) for anyone who sent it. The cap is therefore decided here, in front
of every route, from the declared length and the credentials:

- a request from no signed-in account may send ``ANONYMOUS_BYTES`` (the sign-in form needs less);
- a signed-in account may send ``DEFAULT_BYTES``, or the route's own cap where an upload needs
  more (hash lists, register and case files) if its role holds the route's permission: an
  account the route will refuse gets no more than the default, so its upload is not read and
  spooled whole only to be refused;
- a route that reads its own body with its own cap (report submission, whose cap is the intake's
  document limit) is given the body as it comes, once the account is known to hold the route's
  permission.

A declared ``Content-Length`` above the cap is answered 413 before anything is read; a body
without one is counted as it streams and cut off at the cap (413 as well).

Looking up the account happens here, outside the app's exception handlers, so whatever the route
would answer instead of reading the body is answered here in the same way (``web/refusals.py``):
a refused API token its 401 with the reason, a fault of the settings or the database its fixed
500 or 503. Otherwise an expired token's upload heard only that it was too large for someone not
signed in, and a database fault gave the bare 500 of a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from safeguarding.access.roles import allowed
from safeguarding.web.auth import NotSignedInError, bearer_token, is_api, resolve_principal
from safeguarding.web.refusals import SERVER_FAULTS, not_signed_in, server_fault

ANONYMOUS_BYTES = 64 * 1024
DEFAULT_BYTES = 1024 * 1024
# Room for a multipart upload's boundaries, part headers and small form fields beside the file.
FORM_OVERHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class RouteCap:
    """A route's own cap in bytes (``None``: the route caps its own body) and the permission of
    the route, which an account's role must hold to be given it."""

    limit: int | None
    permission: str


class BodyLimits:
    """ASGI middleware; ``caps`` maps a path to its ``RouteCap`` (other paths: the default)."""

    def __init__(self, app: ASGIApp, *, caps: Mapping[str, RouteCap]) -> None:
        self.app = app
        self.caps = dict(caps)
        self._limited: dict[int, ASGIApp] = {}

    def _limit(self, cap: int) -> ASGIApp:
        if cap not in self._limited:
            self._limited[cap] = RequestBodyLimitMiddleware(self.app, max_body_size=cap)
        return self._limited[cap]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _declared_length(headers)
        streamed = "chunked" in headers.get("transfer-encoding", "").lower()
        if (declared is None and not streamed) or (
            declared is not None and declared <= ANONYMOUS_BYTES
        ):
            # Small enough for anyone: no need to look up who is asking.
            await self._limit(ANONYMOUS_BYTES)(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await run_in_threadpool(resolve_principal, request)
        except NotSignedInError as exc:
            await not_signed_in(request, exc)(scope, receive, send)
            return
        except SERVER_FAULTS as exc:
            await server_fault(request, exc)(scope, receive, send)
            return
        if principal is None and is_api(request) and bearer_token(request) is not None:
            # An unknown or revoked token: the route would refuse it, not the body's size.
            await not_signed_in(request, NotSignedInError())(scope, receive, send)
            return
        signed_in = principal is not None
        route = self.caps.get(str(scope.get("path", "")))
        cap: int | None
        if principal is None:
            cap = ANONYMOUS_BYTES
        elif route is not None and allowed(principal.role, route.permission):
            cap = route.limit
        else:
            cap = DEFAULT_BYTES
        if cap is None:
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > cap:
            who = "" if signed_in else " from an account that is not signed in"
            response = JSONResponse(
                {"detail": f"request body larger than {cap} bytes{who}", "rule": "body_too_large"},
                status_code=413,
            )
            await response(scope, receive, send)
            return
        await self._limit(cap)(scope, receive, send)


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value)
