"""Fixtures for the web tests: the real app over the real store, one account per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from safeguarding.access import accounts
from safeguarding.access.audit import Actor
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.models.access import UserRow, WebSessionRow
from safeguarding.web.app import create_app
from safeguarding.web.auth import SESSION_COOKIE, AuthState, start_session
from safeguarding.web.options import WebOptions

PASSWORD = "a long test password"
SETUP = Actor("test-setup", "cli", "local")


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    token: str


@pytest.fixture
def accounts_by_role(store: Store) -> dict[Role, Account]:
    """One enabled account per role with an API token (and no password: sessions are made
    directly, which keeps the matrix fast; the login form has its own tests)."""
    made: dict[Role, Account] = {}
    with store.session() as db:
        for role in Role:
            name = f"{role.value}-one"
            accounts.add_user(db, name, role.value, None, SETUP)
            made[role] = Account(name, role, accounts.create_token(db, name, "t", SETUP).secret)
    return made


def make_app(store: Store, **options: object) -> FastAPI:
    """The app with test options: plain-HTTP cookies unless a test asks for Secure ones."""
    merged = {"secure_cookies": False, **options}
    return create_app(store, WebOptions(**merged))  # type: ignore[arg-type]


@pytest.fixture
def app(store: Store) -> FastAPI:
    return make_app(store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def session_cookie(app: FastAPI, store: Store, name: str) -> tuple[str, str]:
    """A signed session cookie for ``name`` and its CSRF token, made as a login would."""
    with store.session() as db:
        user = db.scalar(select(UserRow).where(UserRow.name == name))
        assert user is not None
    state: AuthState = app.state.auth
    cookie, _ = start_session(state, user)
    session_id = state.signer.unsign("session", cookie)
    assert session_id is not None
    with store.session() as db:
        row = db.get(WebSessionRow, accounts.sha256_hex(session_id))
        assert row is not None
        return cookie, row.csrf_token


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token from the next page."""
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": login_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert SESSION_COOKIE in client.cookies
    home = client.get("/")
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', home.text)
    assert match
    return match.group(1)
