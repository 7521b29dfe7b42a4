"""What the pages and API routes show and do, for the roles that may use them."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from safeguarding.access import accounts, audit
from safeguarding.access.roles import Role
from safeguarding.evidence import shipped_evidence
from safeguarding.store import Store
from tests.web.conftest import PASSWORD, SETUP, Account, make_app, session_cookie


@pytest.fixture
def as_role(
    store: Store, accounts_by_role: dict[Role, Account]
) -> dict[Role, tuple[TestClient, str]]:
    """A signed-in browser client and its CSRF token per role."""
    app = make_app(store)
    made = {}
    for role, account in accounts_by_role.items():
        client = TestClient(app, base_url="http://127.0.0.1")
        cookie, csrf = session_cookie(app, store, account.name)
        client.cookies.set("sg_session", cookie)
        made[role] = (client, csrf)
    return made


def _bearer(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


def test_navigation_shows_only_what_the_role_may_see(
    as_role: dict[Role, tuple[TestClient, str]],
) -> None:
    expected = {
        Role.PROVIDER: set(),
        Role.COUNSELLOR: set(),
        Role.ANALYST: {"/evidence"},
        Role.RESEARCHER: {"/evidence", "/monitor"},
        Role.SUPERVISOR: {"/evidence", "/monitor", "/audit"},
        Role.ADMIN: {"/audit", "/users"},
    }
    expected[Role.ANALYST] |= {"/queue", "/subjects", "/clusters"}
    expected[Role.SUPERVISOR] |= {"/queue", "/subjects", "/clusters", "/hashlists", "/triage/run"}
    areas = {"/platforms", "/assess", "/helpline/stats"}
    expected[Role.RESEARCHER] |= areas
    expected[Role.SUPERVISOR] |= areas
    expected[Role.COUNSELLOR] |= {"/helpline/entry"}
    for role, (client, _) in as_role.items():
        nav = client.get("/").text.split('<nav aria-label="main">')[1].split("</nav>")[0]
        links = set(re.findall(r'href="([^"]+)"', nav)) - {"/", "/account/tokens"}  # everyone's
        assert links == expected[role], role


def test_evidence_page_lists_and_filters_every_figure(
    as_role: dict[Role, tuple[TestClient, str]],
) -> None:
    client, _ = as_role[Role.ANALYST]
    base = shipped_evidence()
    page = client.get("/evidence").text
    assert f"{len(base)} of {len(base)} figures" in page
    for figure in base:
        assert f'href="/evidence/{figure.id}"' in page
    partial = client.get("/evidence?tag=P", headers={"HX-Request": "true"}).text
    assert "<html" not in partial
    assert f"{len(base.with_tag('P'))} of {len(base)} figures" in partial
    # A figure holding values of another tag says so in the list, as in the monitor report.
    row = page[page.index('href="/evidence/ch.fedpol.ncmec"') :].split("</tr>", 1)[0]
    assert 'class="tag tag-P"' in row and 'class="tag tag-S"' in row and "forwarded 2024" in row
    figure = next(iter(base))
    detail = client.get(f"/evidence/{figure.id}").text
    assert figure.source.replace("&", "&amp;").replace("'", "&#39;") in detail
    assert client.get("/evidence/no.such.figure").status_code == 404
    assert client.get("/evidence?tag=X").status_code == 422


def test_evidence_api(store: Store, accounts_by_role: dict[Role, Account]) -> None:
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        bearer = _bearer(accounts_by_role[Role.RESEARCHER])
        listed = client.get("/api/evidence", params={"q": "ncmec"}, headers=bearer).json()
        assert listed and all("ncmec" in json.dumps(f).lower() for f in listed)
        one = client.get("/api/evidence/ncmec.bundling.2024", headers=bearer).json()
        assert one == shipped_evidence().get("ncmec.bundling.2024").as_dict()
        missing = client.get("/api/evidence/nope.nope", headers=bearer)
        assert missing.status_code == 404


def test_openapi_documents_the_api(store: Store, accounts_by_role: dict[Role, Account]) -> None:
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        spec = client.get("/api/openapi.json", headers=_bearer(accounts_by_role[Role.PROVIDER]))
    paths = spec.json()["paths"]
    assert "/api/evidence" in paths and "/api/audit/verify" in paths
    assert all(path.startswith("/api/") for path in paths)


def test_users_page_creates_accounts_and_shows_a_token_once(
    as_role: dict[Role, tuple[TestClient, str]], store: Store
) -> None:
    client, csrf = as_role[Role.ADMIN]
    added = client.post(
        "/users",
        data={"name": "prov-b", "role": "provider", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert added.status_code == 303
    issued = client.post("/users/prov-b/tokens", data={"label": "upload", "csrf_token": csrf})
    match = re.search(r'<code id="new-token">(sgt_[^<]+)</code>', issued.text)
    assert match is not None
    assert match.group(1) not in client.get("/users").text
    with store.session() as db:
        held = accounts.authenticate_token(db, match.group(1))
        assert held is not None and held.user.name == "prov-b"
    bad = client.post("/users", data={"name": "X!", "role": "provider", "csrf_token": csrf})
    assert bad.status_code == 422 and "account name" in bad.text


def test_admin_cannot_disable_itself(store: Store, accounts_by_role: dict[Role, Account]) -> None:
    admin = accounts_by_role[Role.ADMIN]
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = client.post(f"/api/users/{admin.name}/disable", headers=_bearer(admin))
    assert response.status_code == 422
    assert response.json()["rule"] == "not-self"


def test_the_last_administrator_who_signs_in_is_kept_whatever_tokens_remain(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """The fixture's administrator has no password: it counts for nothing once its token
    expires, so disabling the one administrator who signs in is refused even so."""
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/users/root/disable", headers=_bearer(accounts_by_role[Role.ADMIN])
        )
    assert response.status_code == 422
    assert response.json()["rule"] == "last-admin"


def test_users_api_round_trip(store: Store, accounts_by_role: dict[Role, Account]) -> None:
    bearer = _bearer(accounts_by_role[Role.ADMIN])
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        made = client.post(
            "/api/users", json={"name": "res-b", "role": "researcher"}, headers=bearer
        )
        assert made.status_code == 201 and made.json()["can_sign_in"] is False
        token = client.post("/api/users/res-b/tokens", json={"label": "x"}, headers=bearer).json()
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token['token']}"}).json()
        assert me["role"] == "researcher" and "aggregates.read" in me["permissions"]
        revoked = client.post(f"/api/tokens/{token['id']}/revoke", headers=bearer).json()
        assert revoked["revoked"] is not None
        names = [u["name"] for u in client.get("/api/users", headers=bearer).json()]
        assert "res-b" in names
        assert client.post("/api/users/nobody/disable", headers=bearer).status_code == 404
        duplicate = client.post(
            "/api/users", json={"name": "res-b", "role": "admin"}, headers=bearer
        )
        assert duplicate.status_code == 422 and duplicate.json()["rule"] == "unique-name"


def test_audit_page_api_and_export(
    as_role: dict[Role, tuple[TestClient, str]],
    accounts_by_role: dict[Role, Account],
    store: Store,
) -> None:
    with store.session() as db:
        for i in range(60):
            audit.record(
                db, audit.Actor("ana", "analyst", "10.1.1.1"), "report.read", "report", f"R{i}"
            )
    client, _ = as_role[Role.SUPERVISOR]
    page = client.get("/audit").text
    assert "R59" in page and "R10" in page and "R9<" not in page
    older = re.search(r'hx-get="/audit\?before=(\d+)', page)
    assert older is not None
    rest = client.get(f"/audit?before={older.group(1)}", headers={"HX-Request": "true"}).text
    assert "R9<" in rest and "<html" not in rest
    assert "Chain intact" in client.get("/audit/verify").text
    filtered = client.get("/audit?target=R7").text
    assert "R7<" in filtered and "R8<" not in filtered
    bearer = _bearer(accounts_by_role[Role.ADMIN])
    api = client.get("/api/audit", params={"limit": 5, "action": "report.read"}, headers=bearer)
    api = api.json()
    assert [e["target_id"] for e in api] == ["R59", "R58", "R57", "R56", "R55"]
    exported = client.get("/api/audit/export", params={"format": "csv"}, headers=bearer)
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.count(",report.read,") == 60
    with store.session() as db:
        db.execute(text("DELETE FROM audit_event WHERE seq = 10"))
    verdict = client.get("/api/audit/verify", headers=bearer).json()
    assert verdict["ok"] is False and verdict["problems"][0]["seq"] == 10
    assert "event 10 deleted" in client.get("/audit/verify").text


def test_monitor_report_is_served_sandboxed(
    as_role: dict[Role, tuple[TestClient, str]],
) -> None:
    client, _ = as_role[Role.RESEARCHER]
    response = client.get("/monitor")
    assert response.status_code == 200
    assert "<html" in response.text.lower()
    csp = response.headers["content-security-policy"]
    assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp
