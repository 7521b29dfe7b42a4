"""Report submission over HTTP: stored durably before the answer, idempotent, conflicts and invalid
input quarantined with the rule named, by the intake's own readers and writer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safeguarding.access import accounts, audit
from safeguarding.store import Store
from safeguarding.store.models import ProviderReport, QuarantineRecord, ReportedFile
from safeguarding.triage.generate import GeneratorConfig, generate
from tests.cli_runner import invoke
from tests.web.conftest import SETUP, make_app

INCIDENT = "Child Pornography (possession, manufacture, and distribution)"


def report_json(report_id: str, **extra: object) -> dict[str, object]:
    return {
        "report_id": report_id,
        "incident_type": INCIDENT,
        "incident_time": "2026-02-01T10:00:00Z",
        "provider": "Example Provider 1",
        "reported_user": {
            "identifiers": [{"kind": "email", "value": "someone@example.org"}],
        },
        "files": [
            {"file_id": "F1", "hashes": [{"kind": "md5", "value": "0" * 31 + "1"}]},
        ],
        **extra,
    }


@pytest.fixture
def provider(store: Store) -> dict[str, str]:
    with store.session() as db:
        accounts.add_user(db, "prov", "provider", None, SETUP)
        token = accounts.create_token(db, "prov", "upload", SETUP).secret
    return {"Authorization": f"Bearer {token}"}


def _count(store: Store, model: type) -> int:
    with store.session() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_json_report_is_stored_once_and_resending_it_is_a_no_op(
    store: Store, provider: dict[str, str]
) -> None:
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        first = client.post("/api/reports", json=report_json("R-1"), headers=provider)
        assert first.status_code == 201, first.text
        assert first.json()["report_ids"] == ["R-1"]
        assert first.json()["files_stored"] == 1
        again = client.post("/api/reports", json=report_json("R-1"), headers=provider)
        assert again.status_code == 200 and again.json()["status"] == "unchanged"
    with store.session() as db:
        report = db.scalar(select(ProviderReport))
        assert report is not None
        assert (report.source, report.provider_report_id) == ("api:prov", "R-1")
        events = audit.events(db, action="report.submit")
        assert [json.loads(e.detail)["status"] for e in events] == ["unchanged", "stored"]
        assert {e.actor for e in events} == {"prov"}
        assert audit.verify(db).ok
    assert _count(store, ReportedFile) == 1


def test_the_same_id_with_other_content_is_a_quarantined_conflict(
    store: Store, provider: dict[str, str]
) -> None:
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        assert client.post("/api/reports", json=report_json("R-2"), headers=provider).is_success
        changed = report_json("R-2", platform="Example Chat")
        response = client.post("/api/reports", json=changed, headers=provider)
    assert response.status_code == 409
    assert response.json()["rule"] == "conflicting_duplicate"
    with store.session() as db:
        stored = db.scalar(select(ProviderReport))
        assert stored is not None and stored.platform is None  # never overwritten
        rules = list(db.scalars(select(QuarantineRecord.rule)))
    assert rules == ["conflicting_duplicate"]


@pytest.mark.parametrize(
    ("content_type", "body", "rule"),
    [
        ("application/json", b'{"report_id": "R-3"', "bad_json"),
        ("application/json", json.dumps(report_json("R-3", incident_type="x")).encode(), None),
        ("application/xml", b"<report><reportId>R-3</reportId>", None),
        (
            "application/xml",
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            b"<report>&b;</report>",
            None,
        ),
        ("application/xml", b"<notAReport/>", None),
    ],
)
def test_invalid_input_is_refused_with_its_rule_and_quarantined(
    store: Store, provider: dict[str, str], content_type: str, body: bytes, rule: str | None
) -> None:
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/reports", content=body, headers={**provider, "Content-Type": content_type}
        )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["rule"] and answer["detail"]
    if rule is not None:
        assert answer["rule"] == rule
    assert answer["location"].startswith("http:prov")
    with store.session() as db:
        assert list(db.scalars(select(QuarantineRecord.rule))) == [answer["rule"]]
    assert _count(store, ProviderReport) == 0


@pytest.mark.parametrize(
    ("changes", "field", "identifier"),
    [
        ({"provider": "ops contact jane.roe@example.org"}, "provider", "jane.roe@"),
        ({"platform": "chat +31 6 12345678"}, "platform", "12345678"),
        ({"reported_user": {"region": "198.51.100.77"}}, "reported_user.region", "198.51.100.77"),
        (
            {
                "internet_details": [
                    {"kind": "chat_im", "client": "peer 203.0.113.9 bob@example.net"}
                ]
            },
            "internet_details.0.client",
            "203.0.113.9",
        ),
    ],
)
def test_an_identifier_in_a_text_stored_in_clear_is_refused(
    store: Store, provider: dict[str, str], changes: dict[str, object], field: str, identifier: str
) -> None:
    """A provider, platform, region or chat client is stored in clear: one holding an email
    address, phone number or IP address was stored as given (201); it is refused with its field
    and quarantined (sealed), and nothing of it is stored in clear."""
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = client.post("/api/reports", json=report_json("R-5", **changes), headers=provider)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["rule"] == "identifier_in_scope"
    assert answer["location"].endswith(f":{field}")
    assert identifier not in answer["detail"]
    with store.session() as db:
        assert list(db.scalars(select(QuarantineRecord.rule))) == ["identifier_in_scope"]
    assert _count(store, ProviderReport) == 0


@pytest.mark.parametrize(
    ("changes", "field", "rule", "report_id"),
    [
        ({"provider": "P\x00x"}, "provider", "nul_character", "R-7"),
        ({"report_id": "R-7\x00"}, "report_id", "nul_character", None),
        ({"reported_user": {"region": "R\x00"}}, "reported_user.region", "nul_character", "R-7"),
        ({"report_id": "A\ud800"}, "report_id", "lone_surrogate", None),
    ],
)
def test_text_no_store_can_hold_is_refused_quarantined_and_audited(
    store: Store,
    provider: dict[str, str],
    changes: dict[str, object],
    field: str,
    rule: str,
    report_id: str | None,
) -> None:
    """A NUL (stored by SQLite, refused by PostgreSQL) or a lone surrogate (refused by both
    drivers, the quarantine's own insert included) answered 500, with nothing quarantined or
    audited. Both backends now answer 422 with the field and rule, quarantine the input and
    record the submission."""
    body = json.dumps({**report_json("R-7"), **changes})  # escaped as \u0000 and \ud800
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/reports",
            content=body.encode(),
            headers={**provider, "Content-Type": "application/json"},
        )
    assert response.status_code == 422, response.text
    answer = response.json()
    assert (answer["rule"], answer["location"].rsplit(":", 1)[1]) == (rule, field)
    with store.session() as db:
        quarantined = db.execute(select(QuarantineRecord.rule, QuarantineRecord.provider_report_id))
        assert [tuple(row) for row in quarantined] == [(rule, report_id)]
        events = audit.events(db, action="report.submit")
        assert [json.loads(e.detail)["status"] for e in events] == ["rejected"]
        assert audit.verify(db).ok
    assert _count(store, ProviderReport) == 0


def _post(client: TestClient, headers: dict[str, str], body: bytes, content_type: str) -> Any:
    return client.post(
        "/api/reports", content=body, headers={**headers, "Content-Type": content_type}
    )


def test_application_json_is_one_report_in_any_layout(
    store: Store, provider: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``application/json`` was read as JSON Lines: a pretty-printed report was refused as five
    broken lines (and quarantined as such), and two reports in one body were stored. It is one
    JSON document: pretty-printed or not, and as a line of JSON Lines, the same report;
    anything else in the body is refused with JSON's line and column, and quarantined whole."""
    report = report_json("R-8")
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        pretty = _post(client, provider, json.dumps(report, indent=2).encode(), "application/json")
        assert pretty.status_code == 201, pretty.text
        assert pretty.json()["report_ids"] == ["R-8"]
        for body, content_type in [
            (json.dumps(report).encode(), "application/json"),
            (json.dumps(report).encode() + b"\n", "application/x-ndjson"),
        ]:
            again = _post(client, provider, body, content_type)
            assert (again.status_code, again.json()["status"]) == (200, "unchanged")
        two = json.dumps(report_json("R-9")) + "\n" + json.dumps(report_json("R-10"))
        refused = _post(client, provider, two.encode(), "application/json")
        array = _post(client, provider, json.dumps([report]).encode(), "application/json")
        changed = json.dumps(report_json("R-8", platform="Example Chat"), indent=2).encode()
        conflict = _post(client, provider, changed, "application/json")
    assert refused.status_code == 422
    assert {k: refused.json()[k] for k in ("rule", "location", "detail")} == {
        "rule": "bad_json",
        "location": "http:prov",
        "detail": "http:prov: not JSON (Extra data at line 2 column 1)",
    }
    assert (array.status_code, array.json()["rule"], array.json()["detail"]) == (
        422, "wrong_type", "http:prov: a report is one JSON object, not an array",
    )  # fmt: skip
    assert (conflict.status_code, conflict.json()["rule"]) == (409, "conflicting_duplicate")
    assert _count(store, ProviderReport) == 1
    with store.session() as db:
        kept = db.execute(select(QuarantineRecord.rule, QuarantineRecord.format))
        assert sorted(tuple(row) for row in kept) == [
            ("bad_json", "json"), ("conflicting_duplicate", "json"), ("wrong_type", "json"),
        ]  # fmt: skip
        stored = db.scalar(select(ProviderReport))
        assert stored is not None and stored.format == "jsonl"
    # Retried, the quarantined body is read as the one document it was (a conflict still).
    retried = invoke(capsys, "quarantine", "retry", "--json")
    assert retried.code == 0, retried.err
    assert sorted(o["message"].split(":", 1)[0] for o in json.loads(retried.out)) == [
        "bad_json", "conflicting_duplicate", "wrong_type",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b""),
        ("application/json", b"\n  \n"),
        ("application/x-ndjson", b""),
        ("application/x-ndjson", b"\n\n"),
        ("application/xml", b" "),
    ],
)
def test_an_empty_body_is_refused_for_every_content_type(
    store: Store,
    provider: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    content_type: str,
    body: bytes,
) -> None:
    """An empty body was answered 200 ``unchanged`` and audited so, as if a report had come in
    again: it is 422 ``empty_body``, audited as rejected, and its quarantine record stays open
    on retry (read again it is as empty)."""
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = _post(client, provider, body, content_type)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert (answer["status"], answer["rule"], answer["location"]) == (
        "rejected", "empty_body", "http:prov",
    )  # fmt: skip
    assert answer["detail"] == "http:prov: the body is empty: no report"
    with store.session() as db:
        events = audit.events(db, action="report.submit")
        assert [json.loads(e.detail)["status"] for e in events] == ["rejected"]
    retried = invoke(capsys, "quarantine", "retry", "--json")
    (outcome,) = json.loads(retried.out)
    assert outcome["resolved"] is False
    assert outcome["message"].endswith(
        "(an empty submission holds no report: submit the report itself)"
    )


def test_ncmec_xml_report_and_file_details(store: Store, provider: dict[str, str]) -> None:
    corpus = generate(GeneratorConfig(seed=3, reports=2, files_per_report=2))
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        xml = {**provider, "Content-Type": "application/xml"}
        for report in corpus.reports:
            response = client.post("/api/reports", content=corpus.report_xml(report), headers=xml)
            assert response.status_code == 201, response.text
            for file in report.files:
                details = corpus.file_details_xml(report, file)
                assert client.post("/api/reports", content=details, headers=xml).status_code == 201
    assert _count(store, ProviderReport) == 2
    assert _count(store, ReportedFile) == 4


def test_json_lines_store_the_valid_and_quarantine_the_rest(
    store: Store, provider: dict[str, str]
) -> None:
    lines = [json.dumps(report_json(f"L-{i}")) for i in range(3)] + ['{"report_id": 5}']
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/reports",
            content="\n".join(lines).encode(),
            headers={**provider, "Content-Type": "application/x-ndjson"},
        )
    assert response.status_code == 422
    assert response.json()["status"] == "partial"
    assert response.json()["reports_stored"] == 3
    assert [r["location"] for r in response.json()["rejected"]] == ["http:prov:4:report_id"]
    assert _count(store, ProviderReport) == 3


def test_wrong_type_too_large_and_rate_limited_submissions(
    store: Store, provider: dict[str, str]
) -> None:
    app = make_app(store, submit_burst=2, submit_per_second=0.5)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        plain = client.post(
            "/api/reports", content=b"x", headers={**provider, "Content-Type": "text/plain"}
        )
        assert plain.status_code == 415
        huge = b"<report>" + b" " * 20_000_000 + b"</report>"
        big = client.post(
            "/api/reports", content=huge, headers={**provider, "Content-Type": "application/xml"}
        )
        assert big.status_code == 413 and big.json()["rule"] == "document_too_large"
        limited = client.post("/api/reports", json=report_json("R-9"), headers=provider)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
    assert _count(store, ProviderReport) == 0
