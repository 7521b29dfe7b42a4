"""Error answers: every one carries the security headers, and none tells a client about the
server (its files, its database) when the fault is the server's."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from markupsafe import escape
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from safeguarding.access import accounts
from safeguarding.access.roles import Role
from safeguarding.config import load_settings
from safeguarding.errors import ConfigError, StoreError
from safeguarding.store import Store
from safeguarding.web import auth, triage_views
from safeguarding.web.body_limits import ANONYMOUS_BYTES, DEFAULT_BYTES
from safeguarding.web.security import HEADERS
from tests.web.conftest import SETUP, Account, make_app, session_cookie
from tests.web.served import served
from tests.web.test_event_loop import write_lock_held
from tests.web.triage_data import seed_triage


def _secured(headers: Headers) -> bool:
    return all(headers.get(name) == value for name, value in HEADERS.items()) and (
        headers.get("cache-control") == "no-store"
    )


def test_a_body_over_its_cap_is_refused_with_the_security_headers(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    admin = {"Authorization": f"Bearer {accounts_by_role[Role.ADMIN].token}"}
    with TestClient(make_app(store, secure_cookies=True), base_url="https://127.0.0.1") as client:
        signed_in = client.post("/api/users", content=b"x" * (DEFAULT_BYTES + 1), headers=admin)
        anonymous = client.post("/login", content=b"x" * (ANONYMOUS_BYTES + 1))
    for response in (signed_in, anonymous):
        assert response.status_code == 413
        assert _secured(response.headers)
        assert response.headers["strict-transport-security"].startswith("max-age=")


def _subject_answers(store: Store, analyst: Account) -> tuple[Response, Response]:
    """A subject asked for by an analyst through the API (token) and as a page (session)."""
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        api = client.get("/api/subjects/1", headers={"Authorization": f"Bearer {analyst.token}"})
        cookie, _ = session_cookie(app, store, analyst.name)
        client.cookies.set("sg_session", cookie)
        page = client.get("/subjects/1")
    return api, page


def test_an_unexpected_error_is_a_plain_500_with_the_security_headers(
    store: Store, accounts_by_role: dict[Role, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> dict[str, object]:
        raise RuntimeError("secret internals at /srv/data")

    monkeypatch.setattr(triage_views, "subject_detail", broken)
    api, page = _subject_answers(store, accounts_by_role[Role.ANALYST])
    assert api.status_code == 500 and page.status_code == 500
    assert api.json() == {"detail": "internal error; the server's log has the details"}
    assert "Server error" in page.text
    for response in (api, page):
        assert _secured(response.headers)
        assert "secret internals" not in response.text and "/srv/data" not in response.text


def test_a_settings_fault_is_logged_not_told_to_the_client(
    store: Store, accounts_by_role: dict[Role, Account], caplog: pytest.LogCaptureFixture
) -> None:
    """A ``[triage]`` option is read when a request needs it: a bad one fails that request."""
    settings = replace(store.settings, options={"triage": {"flood_share": 2}})
    faulty = Store(settings)
    supervisor = {"Authorization": f"Bearer {accounts_by_role[Role.SUPERVISOR].token}"}
    try:
        with TestClient(make_app(faulty), base_url="http://127.0.0.1") as client:
            response = client.get("/api/flood-flags", headers=supervisor)
    finally:
        faulty.dispose()
    assert response.status_code == 500
    assert response.json() == {
        "detail": "the server's settings need attention; the server's log says what"
    }
    assert str(store.settings.home) not in response.text
    assert any("flood_share = 2" in r.getMessage() for r in caplog.records)


def test_a_key_file_others_may_read_refuses_the_start(store: Store) -> None:
    """Keys are taken when the app is made (``create_app``), so a key file that cannot be
    used stops the start in one line; checked on first use, it failed request after request."""
    key = store.settings.secrets_dir / "notes.key"
    store.settings.secret("notes")
    key.chmod(0o644)
    with pytest.raises(ConfigError, match=f"secret file {key} is readable by others"):
        make_app(store)


def test_a_database_fault_is_503_without_its_detail(
    store: Store, accounts_by_role: dict[Role, Account], caplog: pytest.LogCaptureFixture
) -> None:
    seeded = seed_triage(store)
    with store.session() as db:
        db.execute(text("DELETE FROM audit_head"))  # every audited read now fails in the store
    app = make_app(store)
    analyst = accounts_by_role[Role.ANALYST]
    with TestClient(app, base_url="http://127.0.0.1") as client:
        api = client.get(
            f"/api/reports/{seeded.report}",
            headers={"Authorization": f"Bearer {analyst.token}"},
        )
        cookie, _ = session_cookie(app, store, analyst.name)
        client.cookies.set("sg_session", cookie)
        page = client.get(f"/reports/{seeded.report}")
    assert api.status_code == 503 and page.status_code == 503
    assert api.json() == {"detail": "the database is not available; try again later"}
    for response in (api, page):
        assert "audit_head" not in response.text and "db upgrade" not in response.text
        assert _secured(response.headers)
    assert any("no head row" in r.getMessage() for r in caplog.records)


def test_a_database_gone_mid_request_is_503_as_any_store_fault(
    store: Store, accounts_by_role: dict[Role, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's own fault (the database went away, is locked, cancels the statement) was
    answered as a bug, 500; it is the database's fault, the same 503 as the store's errors."""

    def gone(session: Session, *_args: object) -> dict[str, object]:
        # A real driver OperationalError of each backend, raised by the database itself.
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("SELECT * FROM a_table_the_database_lost"))
        else:
            session.execute(text("SET LOCAL statement_timeout = 1"))
            session.execute(text("SELECT pg_sleep(1)"))
        raise AssertionError("the statement above fails")

    monkeypatch.setattr(triage_views, "subject_detail", gone)
    api, page = _subject_answers(store, accounts_by_role[Role.ANALYST])
    assert api.status_code == 503 and page.status_code == 503
    assert api.json() == {"detail": "the database is not available; try again later"}
    for response in (api, page):
        assert _secured(response.headers)
        assert "a_table_the_database_lost" not in response.text
        assert "statement_timeout" not in response.text


def test_input_errors_keep_their_clear_message(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    admin = {"Authorization": f"Bearer {accounts_by_role[Role.ADMIN].token}"}
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        bad = client.post("/api/users", json={"name": "X!", "role": "analyst"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["rule"] == "account-name" and "account name 'X!'" in bad.json()["detail"]


def _driver_fault(message: str) -> OperationalError:
    """The driver's error for a database that went away (as SQLAlchemy wraps it)."""
    return OperationalError("SELECT 1", None, Exception(message))


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        (StoreError, 503, "the database is not available; try again later"),
        (_driver_fault, 503, "the database is not available; try again later"),
        (ConfigError, 500, "the server's settings need attention; the server's log says what"),
    ],
)
def test_a_fault_met_by_the_body_limits_is_answered_as_the_routes_answer_it(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[str], Exception],
    status: int,
    message: str,
) -> None:
    """The body limits look up the account before any route, outside the app's exception
    handlers: a fault there was a bare 500, as if it were a bug, for a large body only."""

    def failing(*_args: object) -> None:
        raise fault("cannot reach postgresql://sg:SECRET@db/sg or read /srv/secrets/x.key")

    monkeypatch.setattr(auth, "_token_principal", failing)
    monkeypatch.setattr(auth, "_session_principal", failing)
    large = b"x" * (3 * ANONYMOUS_BYTES)
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        client.cookies.set("sg_session", "a.b")
        bearer = {"Authorization": "Bearer sgt_x", "Content-Type": "text/plain"}
        api = [
            client.post("/api/hashlists", content=body, headers=bearer) for body in (b"x", large)
        ]
        pages = [client.post("/hashlists", content=body) for body in (b"x", large)]
    for response in api:
        assert response.status_code == status and response.json() == {"detail": message}
    for response in pages:
        assert response.status_code == status and escape(message) in response.text
    for response in api + pages:
        assert "SECRET" not in response.text and "/srv/" not in response.text
        assert _secured(response.headers)


def test_a_parameter_no_store_can_hold_is_refused_naming_it(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """Routes look their path and query parameters up in stored text, and PostgreSQL refuses a
    NUL in a query: a 500 there where SQLite answered "not found" or an empty list. The same
    answer on both backends now, naming the parameter and the rule."""

    def bearer(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {accounts_by_role[role].token}"}

    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answers = {
            "actor": client.get(
                "/api/audit", params={"actor": "a\x00"}, headers=bearer(Role.ADMIN)
            ),
            "name": client.post("/api/users/a%00b/disable", headers=bearer(Role.ADMIN)),
            "list": client.get(
                "/api/flood-flags", params={"list": "a\x00"}, headers=bearer(Role.SUPERVISOR)
            ),
            "service_id": client.get(
                "/api/platforms/services/a%00b", headers=bearer(Role.RESEARCHER)
            ),
        }
        cookie, _ = session_cookie(app, store, accounts_by_role[Role.ADMIN].name)
        client.cookies.set("sg_session", cookie)
        page = client.get("/audit", params={"target": "a\x00"})
        found = client.get(
            "/api/audit", params={"actor": "analyst-one"}, headers=bearer(Role.ADMIN)
        )
    for name, answer in answers.items():
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json() == {
            "detail": f"{name}: must not contain a NUL character (\\x00)",
            "rule": "nul_character",
            "location": name,
        }
    assert page.status_code == 422 and _secured(page.headers)
    assert "target: must not contain a NUL character" in page.text
    assert found.status_code == 200


def test_a_write_that_waits_out_the_busy_timeout_is_told_the_database_is_busy(
    store: Store, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holding the lock a write needs for the whole busy timeout (from the
    settings file). SQLite's "database is locked" was answered "not available", as a database
    gone away is, with nothing to say when to try again and the statement in the server's log;
    on PostgreSQL the write waited as long as the lock was held, keeping a worker thread. Now
    both answer the command line's message, 503 with Retry-After, form and API alike, and reads
    go on meanwhile."""
    (home / "config.toml").write_text("[store]\nbusy_timeout_seconds = 0.2\n", encoding="utf-8")
    short = Store(load_settings())  # the test's database, with the settings file's timeout
    with short.session() as db:
        accounts.add_user(db, "cou", "counsellor", None, SETUP)
        token = accounts.create_token(db, "cou", "t", SETUP).secret
    contact = {"month": "2025-03", "channel": "chat", "caller_type": "self_concerned"}
    try:
        with served(short) as base:
            cookie, csrf = session_cookie(make_app(short), short, "cou")
            api = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            page = httpx.Client(base_url=base, cookies={"sg_session": cookie}, timeout=10)
            with api, page:
                # The token's first use records itself (a write), before the lock is taken.
                assert api.get("/api/openapi.json").status_code == 200
                key = re.search(
                    r'name="entry_key" value="([^"]+)"', page.get("/helpline/entry").text
                )
                assert key
                with write_lock_held(store):
                    refused = api.post(
                        "/api/helpline/contacts", json={**contact, "entry_key": "k" * 20}
                    )
                    form = page.post(
                        "/helpline/entry",
                        data={**contact, "entry_key": key.group(1), "csrf_token": csrf},
                    )
                    read = api.get("/api/openapi.json")
                again = api.post("/api/helpline/contacts", json={**contact, "entry_key": "k" * 20})
    finally:
        short.dispose()
    message = (
        "the database is busy: another process is writing to it; try again when it has finished"
    )
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
    assert refused.json() == {"detail": message}
    assert (form.status_code, form.headers["retry-after"]) == (503, "1")
    assert escape(message) in form.text and "<h1>Busy</h1>" in form.text
    for response in (refused, form):
        assert _secured(response.headers)
        for detail in (
            "INSERT",
            "UPDATE",
            "locked",
            "lock timeout",
            "audit_head",
            "safeguarding.db",
        ):
            assert detail not in response.text
    assert read.status_code == 200 and again.status_code == 201
    cause = (
        "database is locked"
        if store.dialect == "sqlite"
        else "canceling statement due to lock timeout"
    )
    logged = [r.getMessage() for r in caplog.records if "database busy" in r.getMessage()]
    assert logged == [
        f"POST {path}: database busy: {cause} (waited the busy timeout, 0.2 s, for another "
        "process's lock)"
        for path in ("/api/helpline/contacts", "/helpline/entry")
    ]
