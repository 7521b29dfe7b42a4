"""Signing in and out, the home page, and ``/api/me``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from safeguarding.access import accounts, audit
from safeguarding.access.audit import Actor
from safeguarding.access.roles import PERMISSIONS, ROLE_DESCRIPTIONS, allowed
from safeguarding.web.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AuthState,
    Principal,
    auth_state,
    client_ip,
    end_session,
    login_form_token,
    login_form_token_valid,
    start_session,
    typed_tag,
)
from safeguarding.web.ratelimit import retry_after_header
from safeguarding.web.roles import require
from safeguarding.web.templating import render

router = APIRouter()
# The actor of a failed sign-in: whoever tried is not known, and is not the account named (the
# log would show an attacker's attempts as that account's own actions). Parentheses are not
# allowed in account names, so no account can be mistaken for it.
ANONYMOUS = "(anonymous)"


def _safe_next(target: str) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative ``//``."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _login_page(
    request: Request, *, next_path: str, message: str = "", status: int = 200
) -> Response:
    state = auth_state(request)
    token, new_cookie = login_form_token(state, request)
    response = render(
        request,
        "login.html",
        {"login_token": token, "next": _safe_next(next_path), "message": message},
        status=status,
    )
    if new_cookie is not None:
        response.set_cookie(
            LOGIN_COOKIE,
            new_cookie,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=state.options.secure_cookies,
        )
    return response


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    return _login_page(request, next_path=next)


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: str = Form("", max_length=64),
    password: str = Form("", max_length=accounts.MAX_PASSWORD),
    csrf_token: str = Form("", max_length=128),
    next: str = Form("/", max_length=2000),
) -> Response:
    state = auth_state(request)
    ip = client_ip(request)
    if not login_form_token_valid(state, request, csrf_token):
        return _login_page(
            request,
            next_path=next,
            message="The form expired or came from elsewhere; please sign in again.",
            status=403,
        )
    wait = state.login_address_limiter.take(ip) or state.login_limiter.take(
        f"{username.lower()}|{ip}"
    )
    if wait is not None:
        response = _login_page(
            request,
            next_path=next,
            message="Too many attempts; wait a minute and try again.",
            status=429,
        )
        response.headers["Retry-After"] = retry_after_header(wait)
        return response
    with state.store.session() as db:
        user = accounts.authenticate_password(db, username, password)
        if user is None:
            named = _failed_name(state, db, username)
            audit.record(db, Actor(ANONYMOUS, "", ip), "login.failed", "user", named)
        else:
            actor = Actor(user.name, user.role, ip, via="password")
            audit.record(db, actor, "login", "user", user.name)
    if user is None:
        return _login_page(request, next_path=next, message="Wrong name or password.", status=401)
    cookie, lifetime = start_session(state, user)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=lifetime,
        httponly=True,
        samesite="strict",
        secure=state.options.secure_cookies,
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


def _failed_name(state: AuthState, db: Session, username: str) -> str:
    """How a failed sign-in names the account in the audit log: by its name if there is one,
    else by a keyed tag of what was typed. The log is kept for good and shown to supervisors;
    what is typed into the name field is at times a password."""
    if username and accounts.find_user(db, username) is not None:
        return username
    return typed_tag(state, "login-name", username)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, principal: Principal = Depends(require("account.self"))) -> Response:
    state = auth_state(request)
    end_session(state, request)
    with state.store.session() as db:
        audit.record(db, principal.actor(), "logout", "user", principal.name)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/", include_in_schema=False)
def home(request: Request, principal: Principal = Depends(require("account.self"))) -> Response:
    return render(request, "home.html", {"role_description": ROLE_DESCRIPTIONS[principal.role]})


@router.get("/api/me", tags=["account"], summary="The account behind the token")
def me(principal: Principal = Depends(require("account.self"))) -> dict[str, Any]:
    """Name, role and the permissions the role holds."""
    return {
        "name": principal.name,
        "role": principal.role.value,
        "permissions": sorted(p for p in PERMISSIONS if allowed(principal.role, p)),
    }
