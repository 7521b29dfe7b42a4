"""Error answers: every one carries the security headers, and none tells a client about the
server (its files, its database) when the fault is the server's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import Headers

from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.web import triage_views
from safeguarding.web.body_limits import ANONYMOUS_BYTES, DEFAULT_BYTES
from safeguarding.web.security import HEADERS
from tests.web.conftest import Account, make_app, session_cookie


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


def test_an_unexpected_error_is_a_plain_500_with_the_security_headers(
    store: Store, accounts_by_role: dict[Role, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> dict[str, object]:
        raise RuntimeError("secret internals at /srv/data")

    monkeypatch.setattr(triage_views, "subject_detail", broken)
    app = make_app(store)
    analyst = accounts_by_role[Role.ANALYST]
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        api = client.get("/api/subjects/1", headers={"Authorization": f"Bearer {analyst.token}"})
        cookie, _ = session_cookie(app, store, analyst.name)
        client.cookies.set("sg_session", cookie)
        page = client.get("/subjects/1")
    assert api.status_code == 500 and page.status_code == 500
    assert api.json() == {"detail": "internal error; the server's log has the details"}
    assert "Server error" in page.text
    for response in (api, page):
        assert _secured(response.headers)
        assert "secret internals" not in response.text and "/srv/data" not in response.text
