"""The role matrix, route by route: who may use each route, and that nobody else can.

``EXPECTED`` is written here by hand, independently of the permission table, from the roles as the
project describes them (provider: submit only; analyst: queue, reports, outcomes; supervisor: also
policy, capacity, hash lists; researcher: aggregates only; counsellor: helpline entry only; admin:
users). The tests check that (1) every route of the app declares a permission, (2) the table gives
exactly the expected roles for every route, and (3) real requests with each role's credentials are
let through or refused accordingly; anonymous requests are refused too.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from safeguarding.access.roles import PERMISSIONS, Role
from safeguarding.platforms.register import read_register
from safeguarding.platforms.sample import SAMPLE_REGISTER
from safeguarding.platforms.workflow import import_register
from safeguarding.store import Store
from safeguarding.web.roles import Require
from tests.web.conftest import Account, make_app, session_cookie
from tests.web.test_submit import report_json
from tests.web.triage_data import TRIAGE_EXPECTED, Seeded, seed_triage, triage_call

ALL = frozenset(r.value for r in Role)
READERS = frozenset({"analyst", "supervisor", "researcher"})
OVERSIGHT = frozenset({"supervisor", "admin"})
ADMIN = frozenset({"admin"})
AGGREGATES = frozenset({"supervisor", "researcher"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): ALL,
    ("POST", "/logout"): ALL,
    ("GET", "/api/me"): ALL,
    ("GET", "/account/tokens"): ALL,
    ("POST", "/account/tokens"): ALL,
    ("POST", "/account/tokens/{token_id}/revoke"): ALL,
    ("GET", "/api/me/tokens"): ALL,
    ("POST", "/api/me/tokens"): ALL,
    ("POST", "/api/me/tokens/{token_id}/revoke"): ALL,
    ("GET", "/api/openapi.json"): ALL,
    ("GET", "/evidence"): READERS,
    ("GET", "/evidence/{figure_id}"): READERS,
    ("GET", "/api/evidence"): READERS,
    ("GET", "/api/evidence/{figure_id}"): READERS,
    ("GET", "/monitor"): AGGREGATES,
    ("GET", "/audit"): OVERSIGHT,
    ("GET", "/audit/verify"): OVERSIGHT,
    ("GET", "/api/audit"): OVERSIGHT,
    ("GET", "/api/audit/verify"): OVERSIGHT,
    ("GET", "/api/audit/export"): OVERSIGHT,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/{name}/disable"): ADMIN,
    ("POST", "/users/{name}/tokens"): ADMIN,
    ("POST", "/tokens/{token_id}/revoke"): ADMIN,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("POST", "/api/users/{name}/disable"): ADMIN,
    ("GET", "/api/tokens"): ADMIN,
    ("POST", "/api/users/{name}/tokens"): ADMIN,
    ("POST", "/api/tokens/{token_id}/revoke"): ADMIN,
    ("POST", "/api/reports"): frozenset({"provider"}),
    # Platforms: aggregates for supervisors and researchers; importing files for supervisors
    ("GET", "/platforms"): AGGREGATES,
    ("GET", "/platforms/services/{service_id}"): AGGREGATES,
    ("GET", "/platforms/risk"): AGGREGATES,
    ("GET", "/platforms/gaps"): AGGREGATES,
    ("GET", "/platforms/stages"): AGGREGATES,
    ("GET", "/api/platforms/services"): AGGREGATES,
    ("GET", "/api/platforms/services/{service_id}"): AGGREGATES,
    ("GET", "/api/platforms/risk"): AGGREGATES,
    ("GET", "/api/platforms/gaps"): AGGREGATES,
    ("GET", "/api/platforms/stages"): AGGREGATES,
    ("POST", "/platforms/import"): frozenset({"supervisor"}),
    ("POST", "/api/platforms/import"): frozenset({"supervisor"}),
    # Assessment scenarios: aggregates, and running them on request
    ("GET", "/assess"): AGGREGATES,
    ("GET", "/assess/scenarios/{scenario}"): AGGREGATES,
    ("POST", "/assess/run"): AGGREGATES,
    ("GET", "/api/assess/scenarios"): AGGREGATES,
    ("GET", "/api/assess/scenarios/{scenario}"): AGGREGATES,
    ("GET", "/api/assess/latest"): AGGREGATES,
    ("POST", "/api/assess/run"): AGGREGATES,
    # Helpline: entry for counsellors only; statistics are aggregates
    ("GET", "/helpline/entry"): frozenset({"counsellor"}),
    ("POST", "/helpline/entry"): frozenset({"counsellor"}),
    ("POST", "/api/helpline/contacts"): frozenset({"counsellor"}),
    ("GET", "/helpline/stats"): AGGREGATES,
    ("GET", "/api/helpline/stats"): AGGREGATES,
}
EXPECTED.update(TRIAGE_EXPECTED)
OPEN = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz")}

# Request bodies of the platform, assessment and helpline routes that change or compute.
SAMPLE_REGISTER_BYTES = SAMPLE_REGISTER.read_bytes()
AREA_FORMS: dict[str, dict[str, Any]] = {
    "/platforms/import": {"kind": "register"},
    "/assess/run": {"scenarios": "nl-status-quo", "draws": "100", "seed": "1"},
    "/helpline/entry": {"month": "2025-03", "caller_type": "self_concerned"},
}
AREA_JSON: dict[str, dict[str, Any]] = {
    "/api/assess/run": {"scenarios": ["nl-status-quo"], "draws": 100, "seed": 1},
    "/api/helpline/contacts": {"month": "2025-03", "caller_type": "professional"},
}


def _declared(route: APIRoute) -> list[str]:
    found: list[str] = []
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, Require):
            found.append(dependency.call.permission)
        pending.extend(dependency.dependencies)
    return found


def _routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every (method, path) the app answers, with included routers flattened."""
    routes: dict[tuple[str, str], APIRoute] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
            continue
        assert isinstance(route, APIRoute), f"{route} is not an APIRoute"
        assert context.path is not None
        for method in (context.methods or set()) - {"HEAD"}:
            routes[(method, context.path)] = route
    return routes


def test_every_route_declares_exactly_one_permission(app: FastAPI) -> None:
    for key, route in _routes(app).items():
        declared = _declared(route)
        if key in OPEN:
            assert declared == [], f"{key} is open but declares {declared}"
        else:
            assert len(declared) == 1, f"{key} declares {declared or 'no permission'}"


def test_the_expected_matrix_covers_every_route(app: FastAPI) -> None:
    assert set(_routes(app)) - OPEN == set(EXPECTED)


def test_the_permission_table_gives_the_expected_roles(app: FastAPI) -> None:
    for key, route in _routes(app).items():
        if key in OPEN:
            continue
        (permission,) = _declared(route)
        assert {r.value for r in PERMISSIONS[permission]} == EXPECTED[key], key


def test_an_unknown_permission_is_refused_when_the_route_is_defined() -> None:
    with pytest.raises(ValueError, match="not in the permission table"):
        Require("reports.everything")


_counter = itertools.count()


def _call(
    client: TestClient,
    method: str,
    template: str,
    *,
    headers: dict[str, str],
    csrf: str | None,
    seeded: Seeded | None = None,
    own_token: int = 1,
) -> int:
    """Make the request a real user would for this route, with valid parameters and body
    (``own_token``: the caller's own token, the one its own-token routes revoke)."""
    if template.endswith("{token_id}/revoke") and "/users/" not in template:
        template = template.replace("{token_id}", str(own_token))
    if seeded is not None:
        path, body = triage_call(method, template, seeded, csrf)
        response = client.request(method, path, headers=headers, follow_redirects=False, **body)
        return response.status_code
    path = (
        template.replace("{figure_id}", "ncmec.bundling.2024")
        .replace("{name}", "victim")
        .replace("{token_id}", "1")
        .replace("{service_id}", "example-chat")
        .replace("{scenario}", "nl-status-quo")
    )
    unique = f"new-{next(_counter)}"
    kwargs: dict[str, Any] = {"headers": dict(headers), "follow_redirects": False}
    if method == "POST":
        if path == "/api/reports":
            kwargs["json"] = report_json(unique)
        elif path.startswith("/api/"):
            kwargs["json"] = (
                {"name": unique, "role": "analyst"} if path == "/api/users" else {"label": "x"}
            )
        else:
            form = {"name": unique, "role": "analyst"} if path == "/users" else {"label": "x"}
            if csrf is not None:
                form["csrf_token"] = csrf
            kwargs["data"] = form
    if path in AREA_JSON:
        kwargs["json"] = AREA_JSON[path] | (
            {"entry_key": f"entry-key-{unique}-0000"} if "helpline" in path else {}
        )
    elif path == "/api/platforms/import":
        kwargs.pop("json")
        kwargs["params"] = {"kind": "register", "filename": SAMPLE_REGISTER.name}
        kwargs["content"] = SAMPLE_REGISTER_BYTES
    elif method == "POST" and path in AREA_FORMS:
        kwargs["data"] = AREA_FORMS[path] | {"entry_key": f"entry-key-{unique}-0000"}
        if csrf is not None:
            kwargs["data"]["csrf_token"] = csrf
        if path == "/platforms/import":
            kwargs["files"] = {"file": (SAMPLE_REGISTER.name, SAMPLE_REGISTER_BYTES)}
    return client.request(method, path, **kwargs).status_code


@pytest.mark.parametrize(("method", "template"), sorted(EXPECTED))
def test_each_role_is_let_through_or_refused(
    method: str,
    template: str,
    store: Store,
    accounts_by_role: dict[Role, Account],
) -> None:
    app = make_app(store)
    from safeguarding.access import accounts
    from tests.web.conftest import SETUP

    with store.session() as db:
        accounts.add_user(db, "victim", "analyst", None, SETUP)
        assert accounts.create_token(db, "victim", "t", SETUP).id > 0
    seeded = seed_triage(store) if (method, template) in TRIAGE_EXPECTED else None
    if "{service_id}" in template:
        import_register(store, read_register(SAMPLE_REGISTER), SAMPLE_REGISTER.name)
    api = template.startswith("/api/")
    outcomes: dict[str, int] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for role, account in accounts_by_role.items():
            client.cookies.clear()
            if api:
                headers, csrf = {"Authorization": f"Bearer {account.token}"}, None
            else:
                cookie, csrf = session_cookie(app, store, account.name)
                client.cookies.set("sg_session", cookie)
                headers = {}
            with store.session() as db:
                ((own, _owner),) = accounts.list_tokens(db, account.name)
            outcomes[role.value] = _call(
                client, method, template, headers=headers, csrf=csrf, seeded=seeded,
                own_token=own.id if template.startswith(("/account/", "/api/me/")) else 1,
            )  # fmt: skip
        client.cookies.clear()
        anonymous = _call(client, method, template, headers={}, csrf=None, seeded=seeded)
    # A token never makes a token of its own account: past the role check, the rule refuses it.
    let_through = 422 if (method, template) == ("POST", "/api/me/tokens") else 400
    allowed = {role for role, status in outcomes.items() if status < 400 or status == let_through}
    refused = {role for role, status in outcomes.items() if status == 403}
    assert allowed == EXPECTED[(method, template)], outcomes
    assert refused == ALL - EXPECTED[(method, template)], outcomes
    assert anonymous == (401 if api else 303)
