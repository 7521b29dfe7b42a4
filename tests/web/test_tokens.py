"""API tokens expire: their lifetime at creation, the refusal after it, and the upgrade that gave
existing tokens one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from safeguarding.access import accounts
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.engine import alembic_config
from safeguarding.store.models.access import ApiTokenRow
from tests.cli_runner import invoke
from tests.web.conftest import PASSWORD, SETUP, Account, make_app, session_cookie


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _expire(store: Store, token_id: int) -> None:
    with store.session() as db:
        row = db.get(ApiTokenRow, token_id)
        assert row is not None
        row.expires_at = accounts.now() - timedelta(seconds=1)


def test_a_token_lives_ninety_days_unless_its_creator_chooses(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    admin = _bearer(accounts_by_role[Role.ADMIN].token)
    with store.session() as db:
        accounts.add_user(db, "prov-b", "provider", None, SETUP)
    before = datetime.now(UTC)
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        default = client.post("/api/users/prov-b/tokens", json={"label": "a"}, headers=admin)
        chosen = client.post(
            "/api/users/prov-b/tokens", json={"label": "b", "days": 7}, headers=admin
        )
        too_long = client.post(
            "/api/users/prov-b/tokens", json={"label": "c", "days": 367}, headers=admin
        )
        listed = {t["label"]: t for t in client.get("/api/tokens", headers=admin).json()}
    lifetime = datetime.fromisoformat(default.json()["expires_at"]) - before
    assert timedelta(days=90) <= lifetime < timedelta(days=90, minutes=1)
    lifetime = datetime.fromisoformat(chosen.json()["expires_at"]) - before
    assert timedelta(days=7) <= lifetime < timedelta(days=7, minutes=1)
    assert too_long.status_code == 422 and too_long.json()["rule"] == "token-lifetime"
    assert listed["b"]["expires_at"] == chosen.json()["expires_at"]
    assert "c" not in listed


def test_an_expired_token_is_refused_with_the_reason(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    with store.session() as db:
        issued = accounts.create_token(db, "analyst-one", "old", SETUP)
    _expire(store, issued.id)
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        refused = client.get("/api/me", headers=_bearer(issued.secret))
        other = client.get("/api/me", headers=_bearer(accounts_by_role[Role.ANALYST].token))
        cookie, _ = session_cookie(app, store, "admin-one")
        client.cookies.set("sg_session", cookie)
        page = client.get("/users").text
    row = next(line for line in page.split("<tr>") if f'"num">{issued.id}<' in line)
    assert "expired" in row
    assert refused.status_code == 401
    assert f"API token {issued.id} expired on" in refused.json()["detail"]
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert other.status_code == 200  # the account's other token still works
    with store.session() as db:
        row = db.get(ApiTokenRow, issued.id)
        assert row is not None and row.last_used is None


def test_an_expired_token_says_how_to_get_the_next_one_for_either_kind_of_account(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """It said to ask an administrator, who is refused a token for a person who signs in with a
    password (``token-owner-only``). The refusal now gives both ways, and the same words for
    either account: an expired token proves nothing about who holds it, so it must not tell
    whether its account is a person's."""
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", PASSWORD, SETUP)
        person = accounts.create_token(db, "ana", "old", SETUP)
        system = accounts.create_token(db, "provider-one", "old", SETUP)
    details: dict[int, str] = {}
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        for issued in (person, system):
            _expire(store, issued.id)
            refused = client.get("/api/me", headers=_bearer(issued.secret))
            assert refused.status_code == 401
            details[issued.id] = refused.json()["detail"]
    reasons = {detail.split(" UTC; ", 1)[1] for detail in details.values()}
    assert reasons == {
        "if your account signs in with a password, create a new one signed in with it (My API"
        " tokens, /account/tokens) or have one made on the server with `safeguarding token"
        " create NAME --label L --days N`; otherwise ask an administrator for a new one"
    }
    assert all(d.startswith(f"API token {n} expired on ") for n, d in details.items())


def test_token_commands_set_and_show_the_expiry(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with store.session() as db:
        accounts.add_user(db, "prov", "provider", None, SETUP)
    created = invoke(capsys, "token", "create", "prov", "--label", "x", "--days", "7", "--json")
    assert created.code == 0
    issued = json.loads(created.out)
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert invoke(capsys, "token", "create", "prov", "--label", "y", "--days", "0").code == 1
    _expire(store, issued["id"])
    table = invoke(capsys, "token", "list").out
    assert "expired" in table and "active" not in table
    listed = json.loads(invoke(capsys, "token", "list", "--json").out)
    assert datetime.fromisoformat(listed[0]["expires_at"]) <= accounts.now()


def test_tokens_existing_at_the_upgrade_get_the_default_lifetime(store: Store) -> None:
    config = alembic_config(store.engine)
    command.downgrade(config, "access_0001")
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO access_user (name, role, disabled, created)"
                " VALUES ('prov', 'provider', false, :at)"
            ),
            {"at": datetime(2020, 1, 1, tzinfo=UTC)},
        )
        connection.execute(
            text(
                "INSERT INTO access_token (token_hash, user_id, label, created)"
                " VALUES ('h', 1, 'old', :at)"
            ),
            {"at": datetime(2020, 1, 1, tzinfo=UTC)},
        )
    upgraded = datetime.now(UTC)
    command.upgrade(config, "heads")
    with store.session() as db:
        row = db.get(ApiTokenRow, 1)
        assert row is not None
        lifetime = accounts.aware(row.expires_at) - upgraded
    assert timedelta(days=90) <= lifetime < timedelta(days=90, minutes=1)


def test_only_the_person_creates_a_token_for_an_account_with_a_password(
    store: Store, accounts_by_role: dict[Role, Account], capsys: pytest.CaptureFixture[str]
) -> None:
    """An administrator holding a token for a person could act as that person; tokens for
    people are theirs to create, while providers' systems (no password) get theirs from an
    administrator."""
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", PASSWORD, SETUP)
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
    app = make_app(store)
    admin = _bearer(accounts_by_role[Role.ADMIN].token)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        refused = client.post("/api/users/ana/tokens", json={"label": "x"}, headers=admin)
        service = client.post("/api/users/analyst-one/tokens", json={"label": "x"}, headers=admin)
        cookie, csrf = session_cookie(app, store, "root")
        client.cookies.set("sg_session", cookie)
        own = client.post("/users/root/tokens", data={"label": "mine", "csrf_token": csrf})
        page = client.get("/users").text
        form = client.post("/users/ana/tokens", data={"label": "x", "csrf_token": csrf})
    assert refused.status_code == 422 and refused.json()["rule"] == "token-owner-only"
    assert "only ana may create one" in refused.json()["detail"]
    assert service.status_code == 201
    assert own.status_code == 200 and 'id="new-token"' in own.text
    assert 'action="/users/ana/tokens"' not in page and 'action="/users/root/tokens"' in page
    assert form.status_code == 422
    with store.session() as db:
        assert [owner for _, owner in accounts.list_tokens(db, "ana")] == []
    # at the server's command line, whoever runs it holds the database already
    assert invoke(capsys, "token", "create", "ana", "--label", "ci").code == 0


def test_a_token_cannot_create_a_token_for_its_own_person(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Otherwise a token could make its successor before it expires, and that one the next, so
    a copy once taken would work for ever; the person makes tokens signed in with the
    password."""
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        cookie, csrf = session_cookie(app, store, "root")
        client.cookies.set("sg_session", cookie)
        page = client.post("/users/root/tokens", data={"label": "mine", "csrf_token": csrf})
        match = re.search(r'<code id="new-token">(sgt_[^<]+)</code>', page.text)
        assert match is not None
        client.cookies.clear()
        renewed = client.post(
            "/api/users/root/tokens",
            json={"label": "renewed", "days": accounts.MAX_TOKEN_DAYS},
            headers=_bearer(match.group(1)),
        )
    assert renewed.status_code == 422 and renewed.json()["rule"] == "token-from-session"
    with store.session() as db:
        assert [row.label for row, _ in accounts.list_tokens(db, "root")] == ["mine"]
    assert invoke(capsys, "token", "create", "root", "--label", "ci").code == 0


def test_expiry_times_are_told_in_utc_whatever_the_databases_time_zone(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """PostgreSQL gives times back in the session's time zone (the server's own unless set),
    and they were shown as they came, labelled UTC; SQLite gives them back without a zone."""
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            name = db.execute(text("SELECT current_database()")).scalar_one()
            db.execute(text(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'"))
        store.engine.dispose()  # new connections take the database's zone
        with store.engine.connect() as db:
            assert db.execute(text("SHOW timezone")).scalar_one() == "America/New_York"
    expired = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    with store.session() as db:
        issued = accounts.create_token(db, "analyst-one", "old", SETUP)
        row = db.get(ApiTokenRow, issued.id)
        assert row is not None
        row.expires_at = expired
    admin = _bearer(accounts_by_role[Role.ADMIN].token)
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        refused = client.get("/api/me", headers=_bearer(issued.secret))
        listed = {t["id"]: t for t in client.get("/api/tokens", headers=admin).json()}
    assert refused.status_code == 401
    assert f"API token {issued.id} expired on 2026-01-15 12:00 UTC;" in refused.json()["detail"]
    shown = datetime.fromisoformat(listed[issued.id]["expires_at"])
    assert shown == expired and shown.utcoffset() == timedelta(0)


def test_a_time_with_another_zone_is_converted_to_utc() -> None:
    new_york = datetime(2026, 1, 15, 7, 0, tzinfo=ZoneInfo("America/New_York"))
    assert accounts.aware(new_york).isoformat() == "2026-01-15T12:00:00+00:00"
    assert accounts.aware(datetime(2026, 1, 15, 12, 0)).isoformat() == "2026-01-15T12:00:00+00:00"


def test_a_label_no_store_can_hold_is_refused_naming_the_field(
    store: Store, accounts_by_role: dict[Role, Account], capsys: pytest.CaptureFixture[str]
) -> None:
    """A NUL in a label was kept by SQLite and refused by PostgreSQL in the middle of the
    transaction (a 500 on the web, an "unexpected DataError" at the command line); a lone
    surrogate (a file name's undecodable byte in an argument) fails both drivers. Every way of
    making a token refuses them, naming the label and the rule, and stores nothing."""
    admin = _bearer(accounts_by_role[Role.ADMIN].token)
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", PASSWORD, SETUP)
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        api = client.post(
            "/api/users/provider-one/tokens", json={"label": "nightly\x00upload"}, headers=admin
        )
        cookie, csrf = session_cookie(app, store, "ana")
        client.cookies.set("sg_session", cookie)
        form = client.post("/account/tokens", data={"label": "mine\x00", "csrf_token": csrf})
    surrogate = invoke(capsys, "token", "create", "provider-one", "--label", "nightly\udcffupload")
    too_long = invoke(capsys, "token", "create", "provider-one", "--label", "é" * 121)
    longest = invoke(capsys, "token", "create", "provider-one", "--label", "é" * 120)
    assert api.status_code == 422
    assert api.json() == {
        "detail": "token label: must not contain a NUL character (\\x00)",
        "rule": "nul_character",
        "location": "label",
    }
    assert form.status_code == 422
    assert "token label: must not contain a NUL character (\\x00)" in form.text
    assert surrogate.code == 1
    assert surrogate.err.startswith("error: token label: must not contain a lone surrogate")
    assert too_long.code == 1 and too_long.err == "error: token label: 1 to 120 characters\n"
    assert longest.code == 0, longest.err
    with store.session() as db:
        labels = {owner: [row.label for row, o in accounts.list_tokens(db) if o == owner]
                  for owner in ("provider-one", "ana")}  # fmt: skip
    assert labels == {"provider-one": ["t", "é" * 120], "ana": []}
