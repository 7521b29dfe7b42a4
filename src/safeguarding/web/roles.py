"""``require(permission)``: the one FastAPI dependency every route and page declares.

It finds the signed-in account (``web/auth.py``), checks the role against the permission table
(``access/roles.py``), and on state-changing page requests checks the CSRF token. A route without
it is refused by the tests (``tests/web/test_permissions.py`` walks every route of the app).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from safeguarding.access.roles import PERMISSIONS, allowed
from safeguarding.web.auth import (
    SAFE_METHODS,
    ForbiddenError,
    NotSignedInError,
    Principal,
    check_csrf,
    resolve_principal,
)


class Require:
    """A dependency that lets the request through only for roles holding ``permission``."""

    def __init__(self, permission: str) -> None:
        if permission not in PERMISSIONS:
            raise ValueError(f"permission {permission!r} is not in the permission table")
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        principal = await run_in_threadpool(resolve_principal, request)
        if principal is None:
            raise NotSignedInError()
        if not allowed(principal.role, self.permission):
            raise ForbiddenError(
                f"the role {principal.role.value} may not use this ({self.permission})"
            )
        if principal.via == "session" and request.method not in SAFE_METHODS:
            await check_csrf(request, principal)
        request.state.principal = principal
        return principal


def require(permission: str) -> Require:
    return Require(permission)
