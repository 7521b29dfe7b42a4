"""Who is asking: browser sessions, API tokens, CSRF tokens and the login form's protection.

- Pages authenticate with a session cookie (HttpOnly, SameSite=Strict, Secure unless switched off
  for plain-HTTP loopback), whose value is a random id signed with the ``session`` secret; the
  store keeps only the id's SHA-256, the expiry and the session's CSRF token.
- The JSON API (``/api/...``) authenticates with ``Authorization: Bearer <token>`` only, never with
  the cookie, so a page on another origin cannot make a browser call the API.
- Every state-changing page request carries the session's CSRF token (synchroniser token), as the
  ``csrf_token`` form field or the ``X-CSRF-Token`` header; ``require`` checks it. The login form,
  before any session exists, is protected by a signed nonce cookie and a token derived from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import select, update
from starlette.requests import Request

from safeguarding.access import accounts
from safeguarding.access.audit import Actor
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.models.access import UserRow, WebSessionRow
from safeguarding.web.options import WebOptions
from safeguarding.web.ratelimit import RateLimiter

SESSION_COOKIE = "sg_session"
LOGIN_COOKIE = "sg_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The signed-in account of a request, and how it proved who it is."""

    user_id: int
    name: str
    role: Role
    via: Literal["session", "token"]
    ip: str
    csrf: str = ""
    token_id: int | None = None

    def actor(self) -> Actor:
        """The audit log's actor, naming the credential: a token may be held by someone other
        than its account (an administrator creates tokens), so its events say which token."""
        credential = f"token {self.token_id}" if self.via == "token" else "session"
        return Actor(name=self.name, role=self.role.value, ip=self.ip, via=credential)


class NotSignedInError(Exception):
    """No valid session or token: pages redirect to the login page, the API answers 401 (with
    the message, when there is one: an expired token says so)."""


class ForbiddenError(Exception):
    """Signed in, but the role lacks the permission (or the CSRF token is wrong)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def same_secret(supplied: str, expected: str) -> bool:
    """A constant-time comparison of a value sent by a client with the one expected. Compared
    as UTF-8 bytes: ``hmac.compare_digest`` refuses strings with characters beyond ASCII
    (a TypeError, so a crafted cookie or form field gave a server error instead of a refusal)."""
    return hmac.compare_digest(
        supplied.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


class Signer:
    """HMAC-SHA256 signatures with the ``session`` secret, one sub-key per purpose."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self.mac(purpose, value)}"

    def unsign(self, purpose: str, signed: str) -> str | None:
        value, _, signature = signed.rpartition(".")
        if not value or not same_secret(signature, self.mac(purpose, value)):
            return None
        return value


# Sign-in attempts one address may make: this many accounts' budgets (people behind one
# address, say an office's proxy, may each mistype), while trying name after name is held up.
LOGIN_ACCOUNTS_PER_ADDRESS = 4


@dataclass
class AuthState:
    """What the app's authentication needs, built once by ``create_app``."""

    store: Store
    options: WebOptions
    signer: Signer
    login_limiter: RateLimiter
    login_address_limiter: RateLimiter
    submit_limiter: RateLimiter
    assess_run_limiter: RateLimiter
    monitor_limiter: RateLimiter

    @classmethod
    def build(cls, store: Store, options: WebOptions) -> AuthState:
        return cls(
            store=store,
            options=options,
            signer=Signer(store.secret("session")),
            login_limiter=RateLimiter(options.login_burst, options.login_per_minute / 60.0),
            # Per address, whatever names it tries: a few accounts' worth of attempts.
            login_address_limiter=RateLimiter(
                LOGIN_ACCOUNTS_PER_ADDRESS * options.login_burst,
                LOGIN_ACCOUNTS_PER_ADDRESS * options.login_per_minute / 60.0,
            ),
            submit_limiter=RateLimiter(options.submit_burst, options.submit_per_second),
            assess_run_limiter=RateLimiter(
                options.assess_run_burst, options.assess_run_per_minute / 60.0
            ),
            monitor_limiter=RateLimiter(options.monitor_burst, options.monitor_per_minute / 60.0),
        )


def auth_state(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _session_principal(state: AuthState, request: Request) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    session_id = state.signer.unsign("session", cookie)
    if session_id is None:
        return None
    with state.store.session() as db:
        found = db.execute(
            select(WebSessionRow, UserRow)
            .join(UserRow, UserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.id_hash == accounts.sha256_hex(session_id))
        ).one_or_none()
        if found is None:
            return None
        row, user = found
        if row.ended is not None or user.disabled or accounts.aware(row.expires) <= accounts.now():
            return None
        return Principal(
            user_id=user.id,
            name=user.name,
            role=Role(user.role),
            via="session",
            ip=client_ip(request),
            csrf=row.csrf_token,
        )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if the request sends one."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _token_principal(state: AuthState, request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    with state.store.session() as db:
        try:
            held = accounts.authenticate_token(db, token)
        except accounts.TokenExpiredError as exc:
            raise NotSignedInError(str(exc)) from None
        if held is None:
            return None
        return Principal(
            user_id=held.user.id,
            name=held.user.name,
            role=Role(held.user.role),
            via="token",
            ip=client_ip(request),
            token_id=held.token_id,
        )


def typed_tag(state: AuthState, purpose: str, typed: str) -> str:
    """A keyed tag standing in the audit log for text someone typed that names nothing the
    system knows: the log is kept for good and shown to supervisors, and what is typed into a
    name or search box is at times a password. The same text gives the same tag (so repeats
    still show, and are found by searching for the tag); the text is not recovered from it
    without the ``session`` secret."""
    return "unknown:" + state.signer.mac(purpose, typed)[:16]


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def resolve_principal(request: Request) -> Principal | None:
    """The account behind the request: by token on the API, by session cookie on pages. None
    without valid credentials; ``NotSignedInError`` when they are refused for a reason the
    caller should hear (an expired token)."""
    state = auth_state(request)
    return (
        _token_principal(state, request) if is_api(request) else _session_principal(state, request)
    )


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a state-changing page request without the session's CSRF token."""
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            supplied = value if isinstance(value, str) else ""
    if not supplied or not same_secret(supplied, principal.csrf):
        raise ForbiddenError("the form's CSRF token is missing or wrong; reload the page and retry")


def start_session(state: AuthState, user: UserRow) -> tuple[str, int]:
    """Create a session for ``user``; returns the signed cookie value and its lifetime (s)."""
    session_id = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=state.options.session_hours)
    moment = accounts.now()
    with state.store.session() as db:
        db.add(
            WebSessionRow(
                id_hash=accounts.sha256_hex(session_id),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created=moment,
                expires=moment + lifetime,
            )
        )
    return state.signer.sign("session", session_id), int(lifetime.total_seconds())


def end_session(state: AuthState, request: Request) -> None:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    session_id = state.signer.unsign("session", cookie) if cookie else None
    if session_id is None:
        return
    with state.store.session() as db:
        db.execute(
            update(WebSessionRow)
            .where(WebSessionRow.id_hash == accounts.sha256_hex(session_id))
            .values(ended=accounts.now())
        )


def login_form_token(state: AuthState, request: Request) -> tuple[str, str | None]:
    """The login form's CSRF token and, when the browser has no nonce cookie yet, a new one."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    nonce = state.signer.unsign("login-nonce", cookie) if cookie else None
    new_cookie = None
    if nonce is None:
        nonce = secrets.token_urlsafe(16)
        new_cookie = state.signer.sign("login-nonce", nonce)
    return state.signer.mac("login-csrf", nonce), new_cookie


def login_form_token_valid(state: AuthState, request: Request, supplied: str) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    nonce = state.signer.unsign("login-nonce", cookie) if cookie else None
    if nonce is None or not supplied:
        return False
    return same_secret(supplied, state.signer.mac("login-csrf", nonce))
