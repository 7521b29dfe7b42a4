"""Everyone's own API tokens: a person who signs in makes, lists and revokes their tokens without
an administrator, and never with a token of their own account."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from safeguarding.access import accounts
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.models.access import AuditEventRow
from tests.web.conftest import PASSWORD, SETUP, Account, make_app, session_cookie


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_person_makes_lists_and_revokes_their_own_tokens(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", PASSWORD, SETUP)
        other = accounts.create_token(db, "analyst-one", "someone else's", SETUP)
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        cookie, csrf = session_cookie(app, store, "ana")
        client.cookies.set("sg_session", cookie)
        assert "No tokens yet." in client.get("/account/tokens").text
        page = client.post(
            "/account/tokens", data={"label": "nightly export", "days": "30", "csrf_token": csrf}
        )
        match = re.search(r'<code id="new-token">(sgt_[^<]+)</code>', page.text)
        assert page.status_code == 200 and match is not None
        secret = match.group(1)
        # someone else's token id is not found, and keeps working
        theirs = client.post(
            f"/account/tokens/{other.id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
        )
        shown = client.get("/account/tokens").text
        client.cookies.clear()
        me = client.get("/api/me", headers=_bearer(secret)).json()
        listed = client.get("/api/me/tokens", headers=_bearer(secret)).json()
        still = client.get("/api/me", headers=_bearer(other.secret))
        # with the token itself: it may revoke itself, and then it no longer works
        revoked = client.post(f"/api/me/tokens/{listed[0]['id']}/revoke", headers=_bearer(secret))
        after = client.get("/api/me", headers=_bearer(secret))
    assert me["name"] == "ana" and me["role"] == "analyst"
    assert [(t["user"], t["label"]) for t in listed] == [("ana", "nightly export")]
    assert secret not in shown and "nightly export" in shown  # the secret is shown only once
    assert theirs.status_code == 404 and still.status_code == 200
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    assert after.status_code == 401
    with store.session() as db:
        events = db.execute(
            select(AuditEventRow.action, AuditEventRow.actor, AuditEventRow.detail).where(
                AuditEventRow.action.in_(["token.create", "token.revoke"]),
                AuditEventRow.actor == "ana",
            )
        ).all()
    assert [(action, actor) for action, actor, _ in events] == [
        ("token.create", "ana"), ("token.revoke", "ana"),
    ]  # fmt: skip
    via = [json.loads(detail)["via"] for _, _, detail in events]
    assert via == ["session", f"token {listed[0]['id']}"]


def test_no_token_makes_a_token_of_its_own_account(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """Not through the own-token route, and not through the administrators' route by a
    token-only administrator naming itself: a token able to make its successor never expires."""
    admin = accounts_by_role[Role.ADMIN]
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        own = client.post(
            "/api/me/tokens",
            json={"label": "next"},
            headers=_bearer(accounts_by_role[Role.ANALYST].token),
        )
        renewed = client.post(
            f"/api/users/{admin.name}/tokens", json={"label": "next"}, headers=_bearer(admin.token)
        )
        for_another = client.post(
            "/api/users/provider-one/tokens", json={"label": "ok"}, headers=_bearer(admin.token)
        )
    assert own.status_code == 422 and own.json()["rule"] == "token-from-session"
    assert renewed.status_code == 422 and renewed.json()["rule"] == "token-from-session"
    assert for_another.status_code == 201
    with store.session() as db:
        labels = {owner: [row.label for row, o in accounts.list_tokens(db) if o == owner]
                  for owner in ("analyst-one", admin.name)}  # fmt: skip
    assert labels == {"analyst-one": ["t"], admin.name: ["t"]}
