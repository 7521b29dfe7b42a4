"""What the audit log says about web requests: which credential acted, who read the log and the
lists, what a submission stored, and who tried a sign-in."""

from __future__ import annotations

import gc
import json
import socket
import time
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from safeguarding.access import accounts, audit
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.models import ProviderReport
from tests.web.conftest import (
    PASSWORD,
    SETUP,
    Account,
    login,
    login_token,
    make_app,
    session_cookie,
)
from tests.web.served import served
from tests.web.test_submit import report_json
from tests.web.triage_data import seed_triage


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(store: Store, action: str) -> list[dict[str, Any]]:
    with store.session() as db:
        rows = db.execute(
            text(
                "SELECT actor, role, target_kind, target_id, detail FROM audit_event"
                " WHERE action = :action ORDER BY seq"
            ),
            {"action": action},
        ).all()
    return [
        {
            "actor": row[0],
            "role": row[1],
            "target_kind": row[2],
            "target_id": row[3],
            "detail": json.loads(row[4]),
        }
        for row in rows
    ]


def _first_token(store: Store, name: str) -> int:
    with store.session() as db:
        return int(
            db.execute(
                text(
                    "SELECT min(t.id) FROM access_token t JOIN access_user u ON u.id = t.user_id"
                    " WHERE u.name = :name"
                ),
                {"name": name},
            ).scalar_one()
        )


def test_each_event_names_the_credential_that_acted(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """An administrator may hold a token it created for another account; the log tells that
    token's work apart from the account's own session and from its other tokens."""
    seeded = seed_triage(store)
    admin, analyst = accounts_by_role[Role.ADMIN], accounts_by_role[Role.ANALYST]
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        issued = client.post(
            f"/api/users/{analyst.name}/tokens",
            json={"label": "held"},
            headers=_bearer(admin.token),
        ).json()
        client.get(f"/api/reports/{seeded.report}", headers=_bearer(issued["token"]))
        client.get(f"/api/reports/{seeded.report}", headers=_bearer(analyst.token))
        cookie, _ = session_cookie(app, store, analyst.name)
        client.cookies.set("sg_session", cookie)
        assert client.get(f"/reports/{seeded.report}").status_code == 200
    reads = _events(store, "report.read")
    assert [(e["actor"], e["detail"]["via"]) for e in reads] == [
        (analyst.name, f"token {issued['id']}"),
        (analyst.name, f"token {_first_token(store, analyst.name)}"),
        (analyst.name, "session"),
    ]
    (created,) = [e for e in _events(store, "token.create") if e["actor"] == admin.name]
    assert created["detail"]["via"] == f"token {_first_token(store, admin.name)}"


def test_reading_the_audit_log_is_audited(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    supervisor, admin = accounts_by_role[Role.SUPERVISOR], accounts_by_role[Role.ADMIN]
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        listed = client.get(
            "/api/audit", params={"action": "user.add", "limit": 3}, headers=_bearer(admin.token)
        ).json()
        client.get("/api/audit/verify", headers=_bearer(admin.token))
        cookie, _ = session_cookie(app, store, supervisor.name)
        client.cookies.set("sg_session", cookie)
        first = client.get("/audit").text
        client.get("/audit", params={"actor": admin.name, "before": 5})
        client.get("/audit/verify")
    assert len(listed) == 3
    via = f"token {_first_token(store, admin.name)}"
    # the page shows the log as it was, not its own reading
    assert first.count("<td>audit.read</td>") == 2 and f"<td>{supervisor.name}</td>" not in first
    reads = [(e["actor"], e["target_kind"], e["detail"]) for e in _events(store, "audit.read")]
    assert reads == [
        (admin.name, "audit", {"view": "list", "action": "user.add", "limit": "3", "via": via}),
        (admin.name, "audit", {"view": "verify", "via": via}),
        (supervisor.name, "audit", {"view": "list", "via": "session"}),
        (
            supervisor.name,
            "audit",
            {"view": "list", "actor": admin.name, "before": "5", "via": "session"},
        ),
        (supervisor.name, "audit", {"view": "verify", "via": "session"}),
    ]


def _log_of(store: Store, events: int) -> int:
    """``events`` reads appended to the log; returns the log's last sequence number."""
    with store.session() as db:
        audit.record_many(
            db, [audit.Event(SETUP, "report.read", "report", f"R{i}") for i in range(events)]
        )
        return audit.head_seq(db)


def test_the_audit_export_is_streamed_and_recorded_once_whole(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """The export is sent as it is read (no length known up front, nothing held whole): the log
    as it stood when the export began, each event chained to the one before. Its own event
    comes once the last event is sent, just after them, naming the last (``through``)."""
    supervisor = accounts_by_role[Role.SUPERVISOR]
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        # The token's first use records itself: what the export holds is the log after that.
        assert client.get("/api/openapi.json", headers=_bearer(supervisor.token)).is_success
        through = _log_of(store, 120)
        response = client.get("/api/audit/export", headers=_bearer(supervisor.token))
    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [event["seq"] for event in lines] == list(range(1, through + 1))
    assert "audit.export" not in {event["action"] for event in lines}
    prev = audit.GENESIS
    for event in lines:
        assert audit.chain_hash(prev, event) == event["hash"]
        prev = event["hash"]
    via = f"token {_first_token(store, supervisor.name)}"
    assert _events(store, "audit.export") == [
        {
            "actor": supervisor.name,
            "role": "supervisor",
            "target_kind": "audit",
            "target_id": "",
            "detail": {"format": "jsonl", "through": str(through), "via": via},
        }
    ]
    assert _events(store, "audit.export_failed") == []
    with store.session() as db:
        assert audit.verify(db).head_seq == audit.head_seq(db) == through + 1


def test_an_audit_export_that_fails_midway_is_recorded_as_failed_and_not_as_done(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """An event the export cannot write (a text column holding bytes, as only a database edited
    behind the app's back holds) breaks it off after the first batch was sent: the client gets
    a body that ends without its end, never a short file that looks whole, and the log says
    the export failed, with its format and the kind of failure, not that it was done."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL's text columns hold no bytes: the broken row needs SQLite")
    supervisor = accounts_by_role[Role.SUPERVISOR]
    through = _log_of(store, audit.EXPORT_BATCH + 10)
    with store.session() as db:
        db.execute(text("UPDATE audit_event SET detail = X'ff' WHERE seq = :seq"), {"seq": through})
    received: list[str] = []
    with (
        served(store) as base,
        httpx.Client(base_url=base, headers=_bearer(supervisor.token)) as client,
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("GET", "/api/audit/export") as response,
    ):
        assert response.status_code == 200
        received.extend(response.iter_lines())
    assert audit.EXPORT_BATCH <= len(received) < through
    assert _events(store, "audit.export") == []
    via = f"token {_first_token(store, supervisor.name)}"
    assert _events(store, "audit.export_failed") == [
        {
            "actor": supervisor.name,
            "role": "supervisor",
            "target_kind": "audit",
            "target_id": "",
            "detail": {"format": "jsonl", "error": "TypeError", "via": via},
        }
    ]


def test_an_audit_export_its_client_leaves_midway_is_recorded_as_failed_and_not_as_done(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """A client that goes away with most of the export unsent (its connection closed after the
    first bytes) has taken part of the log, not all of it: the export is recorded as failed, by
    the server's worker thread that closes the unfinished export, and never as done."""
    supervisor = accounts_by_role[Role.SUPERVISOR]
    # Megabytes of JSON Lines, more than the sockets between server and client hold: the
    # server is still sending the first batches when the client leaves.
    _log_of(store, 4 * audit.EXPORT_BATCH)
    request = (
        "GET /api/audit/export HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {supervisor.token}\r\n\r\n"
    )
    # With the garbage collector off, only the server itself closes the export left unfinished:
    # left to the collector, it was closed late, on whichever thread the collector ran.
    gc.disable()
    try:
        with served(store) as base:
            with socket.socket() as client:
                # A small receive buffer, set before connecting: the server cannot run ahead.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
                client.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
                client.sendall(request.encode())
                assert client.recv(4096).startswith(b"HTTP/1.1 200 ")
            deadline = time.monotonic() + 20
            while not _events(store, "audit.export_failed"):
                assert time.monotonic() < deadline, "the export left unfinished was not recorded"
                time.sleep(0.05)
    finally:
        gc.enable()
    assert _events(store, "audit.export") == []
    via = f"token {_first_token(store, supervisor.name)}"
    error = "the response ended before the whole export was sent"
    assert _events(store, "audit.export_failed") == [
        {
            "actor": supervisor.name,
            "role": "supervisor",
            "target_kind": "audit",
            "target_id": "",
            "detail": {"format": "jsonl", "error": error, "via": via},
        }
    ]


def test_text_typed_into_the_audit_filters_is_kept_only_if_the_log_holds_it(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """The filters are boxes people type into, now and then a password, and the audit.read
    event is kept for good: text that names nothing in the log is recorded as a keyed tag, the
    same for the same text, as a failed sign-in's typed name is."""
    admin, supervisor = accounts_by_role[Role.ADMIN], accounts_by_role[Role.SUPERVISOR]
    typed = "correct horse battery staple"
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for _ in range(2):
            client.get(
                "/api/audit",
                params={"actor": typed, "action": "user.add", "target": supervisor.name},
                headers=_bearer(admin.token),
            )
        cookie, _ = session_cookie(app, store, supervisor.name)
        client.cookies.set("sg_session", cookie)
        client.get("/audit", params={"target": typed, "action": "no.such.action"})
    first, second, page = (e["detail"] for e in _events(store, "audit.read"))
    tag = first["actor"]
    assert tag.startswith("unknown:") and second["actor"] == tag
    assert (first["action"], first["target"]) == ("user.add", supervisor.name)  # held already
    assert page["target"] == tag  # the same text, whichever box it was typed into
    assert page["action"].startswith("unknown:") and page["action"] != tag
    with store.session() as db:
        stored = db.execute(text("SELECT detail FROM audit_event")).scalars().all()
    assert not any(typed in detail or "no.such.action" in detail for detail in stored)


def test_a_submission_targets_the_stored_report_not_the_providers_id(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """A provider's report id is the provider's to choose: sent as "1" it named report 1 in the
    log, where reads of report 1 are recorded."""
    seeded = seed_triage(store)
    provider = _bearer(accounts_by_role[Role.PROVIDER].token)
    analyst = _bearer(accounts_by_role[Role.ANALYST].token)
    lines = b"\n".join(json.dumps(report_json(f"L-{i}")).encode() for i in range(2))
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        client.get(f"/api/reports/{seeded.report}", headers=analyst)
        sent = client.post("/api/reports", json=report_json(str(seeded.report)), headers=provider)
        client.post(
            "/api/reports",
            content=lines,
            headers={**provider, "Content-Type": "application/x-ndjson"},
        )
        about = client.get(
            "/api/audit",
            params={"target": str(seeded.report)},
            headers=_bearer(accounts_by_role[Role.ADMIN].token),
        ).json()
    assert sent.status_code == 201
    with store.session() as db:
        row = dict(
            db.execute(
                select(ProviderReport.provider_report_id, ProviderReport.id).where(
                    ProviderReport.source == "api:provider-one"
                )
            ).all()
        )
    assert [e["action"] for e in about if e["target_kind"] == "report"] == ["report.read"]
    one, several = _events(store, "report.submit")
    assert (one["target_kind"], one["target_id"]) == ("report", str(row[str(seeded.report)]))
    assert one["target_id"] != str(seeded.report)
    assert one["detail"]["provider_report_id"] == str(seeded.report)
    assert one["detail"]["source"] == "api:provider-one"
    assert several["target_id"] == ""
    assert several["detail"]["report_ids"] == f"{row['L-0']},{row['L-1']}"


def test_each_page_of_the_queue_and_of_the_subject_and_cluster_lists_is_audited(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    seed_triage(store)
    analyst = accounts_by_role[Role.ANALYST]
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for path, params in (
            ("/api/subjects", {"page": 1}),
            ("/api/queue", {"route": "youth_care", "capacity_hours": 12, "period": "month"}),
            ("/api/clusters", {"viral": "true"}),
        ):
            listed = client.get(path, params=params, headers=_bearer(analyst.token))
            assert listed.status_code == 200, listed.text
        cookie, _ = session_cookie(app, store, analyst.name)
        client.cookies.set("sg_session", cookie)
        # (the sample has one page of subjects; a page past the last is refused, not audited)
        for path in ("/subjects?page=1", "/queue", "/clusters"):
            assert client.get(path).status_code == 200
    via = f"token {_first_token(store, analyst.name)}"
    seen = {
        action: [(e["actor"], e["target_kind"], e["detail"]) for e in _events(store, action)]
        for action in ("subject.list", "queue.list", "cluster.list")
    }
    assert seen["subject.list"] == [
        (analyst.name, "subject", {"page": "1", "via": via}),
        (analyst.name, "subject", {"page": "1", "via": "session"}),
    ]
    api_queue, page_queue = seen["queue.list"]
    assert api_queue[2] == {
        "route": "youth_care",
        "period": "month",
        "capacity_hours": "12.0",
        "page": "1",
        "via": via,
    }
    assert (page_queue[2]["route"], page_queue[2]["period"]) == ("offender", "week")
    assert page_queue[2]["via"] == "session"
    assert seen["cluster.list"] == [
        (analyst.name, "cluster", {"page": "1", "viral": "true", "via": via}),
        (analyst.name, "cluster", {"page": "1", "via": "session"}),
    ]


def test_a_failed_sign_in_is_not_the_named_accounts_action(
    client: TestClient, store: Store
) -> None:
    """Someone guessing ana's password must not appear in the log as ana; the attempt is
    found under its target."""
    with store.session() as db:
        accounts.add_user(db, "ana", "analyst", PASSWORD, SETUP)
    client.post(
        "/login",
        data={"username": "ana", "password": "a wrong guess!", "csrf_token": login_token(client)},
    )
    login(client, "ana")
    with store.session() as db:
        as_ana = [e.action for e in audit.events(db, actor="ana")]
        about_ana = [(e.actor, e.action) for e in audit.events(db, target="ana")]
    assert as_ana == ["login"]
    assert about_ana == [
        ("ana", "login"),
        ("(anonymous)", "login.failed"),
        ("test-setup", "user.add"),
    ]
