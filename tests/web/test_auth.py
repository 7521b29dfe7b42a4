"""Signing in and out, session cookies, CSRF, API tokens, rate limits and security headers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from safeguarding.access import accounts
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.models.access import ApiTokenRow, UserRow
from safeguarding.web.auth import LOGIN_COOKIE, SESSION_COOKIE
from tests.web.conftest import PASSWORD, SETUP, Account, login, login_token, make_app


@pytest.fixture
def analyst(store: Store) -> str:
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", PASSWORD, SETUP)
    return "ana"


def test_login_sets_a_strict_httponly_session_cookie(
    client: TestClient, analyst: str, store: Store
) -> None:
    response = client.post(
        "/login",
        data={"username": analyst, "password": PASSWORD, "csrf_token": login_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # switched off for plain-HTTP loopback in these tests
    assert client.get("/evidence").status_code == 200
    with store.session() as db:
        actions = [r[0] for r in db.execute(text("SELECT action FROM audit_event ORDER BY seq"))]
    assert actions[-1] == "login"


def test_secure_cookies_by_default_and_hsts(store: Store, analyst: str) -> None:
    app = make_app(store, secure_cookies=True)
    with TestClient(app, base_url="https://127.0.0.1") as client:
        response = client.post(
            "/login",
            data={"username": analyst, "password": PASSWORD, "csrf_token": login_token(client)},
            follow_redirects=False,
        )
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("ana", "not the password"),
        ("nobody", PASSWORD),
        ("ana", ""),
        # PostgreSQL refuses a NUL in the name's query: a server error there, where SQLite
        # found no such account.
        ("ana\x00", PASSWORD),
    ],
)
def test_a_wrong_name_or_password_is_refused_and_audited(
    client: TestClient, analyst: str, store: Store, name: str, password: str
) -> None:
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": login_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "Wrong name or password." in response.text
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/evidence", follow_redirects=False).status_code == 303
    with store.session() as db:
        last = db.execute(
            text("SELECT action, actor, target_id FROM audit_event ORDER BY seq DESC")
        ).first()
    assert last is not None and last[0] == "login.failed"
    assert last[1] == "(anonymous)"  # whoever tried, it was not (known to be) the account
    if name == "ana":
        assert last[2] == "ana"
    else:  # no such account: what was typed is not kept, a keyed tag of it is
        assert last[2].startswith("unknown:") and name not in last[2]


def test_a_name_typed_wrong_is_never_written_to_the_audit_log(
    client: TestClient, analyst: str, store: Store
) -> None:
    # People type their password into the name field: the log is kept for good.
    for _ in range(2):
        client.post(
            "/login",
            data={"username": PASSWORD, "password": "", "csrf_token": login_token(client)},
        )
    with store.session() as db:
        rows = db.execute(text("SELECT actor, target_id, detail FROM audit_event")).all()
    tags = {row[1] for row in rows if row[1].startswith("unknown:")}
    assert len(tags) == 1  # the same typed name, the same tag: repeated tries can be seen
    assert not any(PASSWORD in str(value) for row in rows for value in row)


# A token beyond ASCII was a server error: constant-time comparison refuses such text.
@pytest.mark.parametrize("token", ["forged", "\xe9t\xe9"])
def test_login_without_the_form_token_is_refused(
    client: TestClient, analyst: str, token: str
) -> None:
    login_token(client)
    response = client.post(
        "/login",
        data={"username": analyst, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_login_token_from_another_browser_is_refused(
    client: TestClient, analyst: str, store: Store
) -> None:
    token = login_token(client)
    with TestClient(make_app(store), base_url="http://127.0.0.1") as other:
        other.get("/login")
        response = other.post(
            "/login",
            data={"username": analyst, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    assert response.status_code == 403


def test_a_form_without_the_csrf_token_is_refused(
    store: Store, client: TestClient, analyst: str
) -> None:
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
    csrf = login(client, "root")
    without = client.post("/users", data={"name": "eve", "role": "admin"})
    wrong = client.post("/users", data={"name": "eve", "role": "admin", "csrf_token": "x" * 43})
    assert (without.status_code, wrong.status_code) == (403, 403)
    assert "CSRF" in without.text
    with store.session() as db:
        assert accounts.find_user(db, "eve") is None
    ok = client.post(
        "/users",
        data={"name": "eve", "role": "analyst", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with store.session() as db:
        user = accounts.find_user(db, "eve")
        assert user is not None and user.role == "analyst"


def test_the_csrf_token_of_one_session_does_not_work_in_another(
    store: Store, client: TestClient, analyst: str
) -> None:
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
    first = login(client, "root")
    with TestClient(make_app(store), base_url="http://127.0.0.1") as other:
        second = login(other, "root")
        assert first != second
        response = other.post("/users", data={"name": "eve", "role": "admin", "csrf_token": first})
    assert response.status_code == 403


def test_logout_ends_the_session_on_the_server(client: TestClient, analyst: str) -> None:
    csrf = login(client, analyst)
    stolen = client.cookies[SESSION_COOKIE]
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set(SESSION_COOKIE, stolen)
    assert client.get("/evidence", follow_redirects=False).status_code == 303


def test_a_new_password_ends_the_sessions_of_the_old_one(
    client: TestClient, analyst: str, store: Store
) -> None:
    login(client, analyst)
    assert client.get("/evidence", follow_redirects=False).status_code == 200
    with store.session() as db:
        accounts.set_password(db, analyst, "another long password", SETUP)
    assert client.get("/evidence", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_refused(client: TestClient, analyst: str) -> None:
    login(client, analyst)
    value = client.cookies[SESSION_COOKIE]
    tampered = ("B" if value[0] == "A" else "A") + value[1:]
    client.cookies.delete(SESSION_COOKIE)  # else the jar keeps both, the server's one first
    client.cookies.set(SESSION_COOKIE, tampered)
    assert client.get("/evidence", follow_redirects=False).status_code == 303


def test_disabling_an_account_ends_its_sessions_and_tokens(
    client: TestClient, analyst: str, store: Store
) -> None:
    login(client, analyst)
    with store.session() as db:
        token = accounts.create_token(db, analyst, "t", SETUP).secret
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/evidence", headers=bearer).status_code == 200
    with store.session() as db:
        accounts.disable_user(db, analyst, SETUP)
    assert client.get("/evidence", follow_redirects=False).status_code == 303
    assert client.get("/api/evidence", headers=bearer).status_code == 401


def test_tokens_are_stored_hashed_and_stop_working_when_revoked(
    client: TestClient, analyst: str, store: Store
) -> None:
    with store.session() as db:
        issued = accounts.create_token(db, analyst, "ci", SETUP)
    with store.session() as db:
        row = db.get(ApiTokenRow, issued.id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
        dump = " ".join(str(v) for v in db.execute(text("SELECT * FROM access_token")).all())
    assert issued.secret not in dump
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/api/me", headers=bearer).json()["name"] == analyst
    with store.session() as db:
        assert db.get(ApiTokenRow, issued.id).last_used is not None  # type: ignore[union-attr]
        accounts.revoke_token(db, issued.id, SETUP)
    assert client.get("/api/me", headers=bearer).status_code == 401


def test_passwords_are_stored_as_argon2_hashes(analyst: str, store: Store) -> None:
    with store.session() as db:
        user = db.scalar(select(UserRow).where(UserRow.name == analyst))
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_the_api_ignores_the_session_cookie(client: TestClient, analyst: str) -> None:
    login(client, analyst)
    assert client.get("/evidence").status_code == 200
    response = client.get("/api/evidence")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_login_is_rate_limited_per_account_and_address(store: Store, analyst: str) -> None:
    app = make_app(store, login_burst=3, login_per_minute=1.0)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        statuses = []
        for _ in range(4):
            response = client.post(
                "/login",
                data={"username": analyst, "password": "wrong", "csrf_token": login_token(client)},
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429]
        assert 1 <= int(response.headers["retry-after"]) <= 60
        # Even the right password waits: the bucket is per account and address, not per outcome.
        response = client.post(
            "/login",
            data={"username": analyst, "password": PASSWORD, "csrf_token": login_token(client)},
        )
        assert response.status_code == 429
        # Another account from the same address is not held up.
        response = client.post(
            "/login",
            data={"username": "someone", "password": "x", "csrf_token": login_token(client)},
        )
        assert response.status_code == 401


def test_trying_name_after_name_from_one_address_is_held_up(store: Store) -> None:
    app = make_app(store, login_burst=2, login_per_minute=1.0)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        statuses = [
            client.post(
                "/login",
                data={"username": f"name{i}", "password": "x", "csrf_token": login_token(client)},
            ).status_code
            for i in range(9)
        ]
    # Four accounts' budgets (2 each) for the address, whatever the names.
    assert statuses == [401] * 8 + [429]


def test_a_cookie_beyond_ascii_is_refused_not_a_server_error(client: TestClient) -> None:
    # Constant-time comparison refuses text beyond ASCII: such a cookie was a server error,
    # before anyone signed in (a form token likewise: see the login tests above).
    for cookie in (f"{SESSION_COOKIE}=x\xe9y.z\xe9", f"{LOGIN_COOKIE}=abc.d\xe9f"):
        header = {"cookie": cookie.encode("latin-1")}
        assert client.get("/", headers=header, follow_redirects=False).status_code == 303
        assert client.get("/login", headers=header).status_code == 200


def test_a_refused_field_is_named_and_its_value_not_sent_back(
    client: TestClient, analyst: str, accounts_by_role: dict[Role, Account]
) -> None:
    secret = "p" * (accounts.MAX_PASSWORD + 1)
    response = client.post(
        "/login",
        data={"username": analyst, "password": secret, "csrf_token": login_token(client)},
    )
    assert response.status_code == 422
    assert "password" in response.text and secret not in response.text
    with TestClient(client.app, base_url="http://127.0.0.1") as api:
        api.headers["Authorization"] = f"Bearer {accounts_by_role[Role.ADMIN].token}"
        refused = api.post("/api/users", json={"name": "x", "role": "analyst", "password": secret})
    assert refused.status_code == 422 and secret not in refused.text
    assert [item["loc"][-1] for item in refused.json()["detail"]] == ["password"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil"])
def test_login_redirects_only_within_the_site(
    client: TestClient, analyst: str, target: str
) -> None:
    response = client.post(
        "/login",
        data={
            "username": analyst,
            "password": PASSWORD,
            "csrf_token": login_token(client),
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_pages_redirect_to_login_and_come_back(client: TestClient, analyst: str) -> None:
    response = client.get("/evidence?q=ncmec", follow_redirects=False)
    assert response.headers["location"] == "/login?next=%2Fevidence%3Fq%3Dncmec"
    page = client.get(response.headers["location"])
    assert 'name="next" value="/evidence?q=ncmec"' in page.text
    assert LOGIN_COOKIE in client.cookies


def test_every_response_carries_strict_security_headers(client: TestClient) -> None:
    for path in ("/login", "/healthz", "/static/app.css", "/evidence", "/api/me"):
        headers = client.get(path, follow_redirects=False).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_pages_load_nothing_from_elsewhere(client: TestClient, analyst: str) -> None:
    login(client, analyst)
    for path in ("/", "/evidence", "/evidence/ncmec.bundling.2024", "/login"):
        html = client.get(path).text
        for reference in re.findall(r'(?:src|href|action)="([^"]*)"', html):
            assert reference.startswith("/") or reference == "data:,", (path, reference)
        assert "<script>" not in html and "style=" not in html


def test_the_vendored_htmx_matches_its_recorded_checksum() -> None:
    static = Path(__file__).parents[2] / "src/safeguarding/web/static/vendor"
    recorded = re.search(r"`([0-9a-f]{64})`", (static / "README.md").read_text())
    assert recorded is not None
    digest = hashlib.sha256((static / "htmx.min.js").read_bytes()).hexdigest()
    assert digest == recorded.group(1)
    assert "Zero-Clause BSD" in (static / "htmx.LICENSE.txt").read_text()
