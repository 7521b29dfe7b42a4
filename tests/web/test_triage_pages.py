"""The triage pages and API over a small synthetic store: what they show, what they change, what
they audit, and that they never show an identifier in clear."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import select

from safeguarding.access import audit
from safeguarding.access.roles import Role
from safeguarding.store import Store
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    FileHash,
    FloodFlag,
    HashList,
    HashMatch,
    PartyIdentifier,
    PriorityDecision,
    ReportedFile,
    ReportParty,
    Subject,
    TriageOutcome,
    TriageRun,
)
from safeguarding.store.models.access import AuditEventRow
from safeguarding.triage import operations
from safeguarding.triage.aggregates import triage_aggregates
from safeguarding.triage.generate import GeneratorConfig, generate
from safeguarding.triage.listformats import read_hash_csv
from safeguarding.triage.policy import LEVELS, default_policy_text, load_policy
from safeguarding.web.queue_cache import QueueCache, state_key
from safeguarding.web.routers.triage import OutcomeIn
from tests.cli_runner import invoke
from tests.web.conftest import Account, make_app, session_cookie
from tests.web.triage_data import LIST_CSV, Seeded, seed_triage


@pytest.fixture
def seeded(store: Store) -> Seeded:
    return seed_triage(store, reports=30)


@pytest.fixture
def api(
    store: Store, accounts_by_role: dict[Role, Account], seeded: Seeded
) -> Iterator[dict[Role, TestClient]]:
    """An API client per role (bearer tokens), over the same app."""
    app = make_app(store)
    clients = {}
    for role, account in accounts_by_role.items():
        client = TestClient(app, base_url="http://127.0.0.1")
        client.headers["Authorization"] = f"Bearer {account.token}"
        clients[role] = client
    yield clients
    for client in clients.values():
        client.close()


def _events(store: Store, action: str) -> list[AuditEventRow]:
    with store.session() as db:
        rows = list(db.scalars(select(AuditEventRow).where(AuditEventRow.action == action)))
        db.expunge_all()
    return rows


def test_the_queue_api_plans_as_the_command_line_does(
    store: Store, api: dict[Role, TestClient]
) -> None:
    answer = api[Role.ANALYST].get("/api/queue", params={"capacity_hours": 10}).json()
    cli_summary, cli_plans = operations.queue_plans(store, 10.0, "week")
    expected = cli_summary["offender_queue"]
    got = answer["summary"]
    assert got["items"] == expected["items"]
    assert got["handled_items"] == expected["handled_items"]
    assert got["handled_hours"] == expected["handled_hours"]
    assert got["started_items"] == expected["started_items"]
    assert got["started_hours"] == expected["started_hours"]
    assert got["by_level"] == expected["by_level"]
    items = answer["items"]
    assert [row["position"] for row in items] == list(range(1, len(items) + 1))
    assert [row["item"] for row in items] == cli_plans["offender"].items["item"].to_list()[:50]
    # The capacity rule: handled items come first, and their minutes fit in the capacity.
    handled = [row["handled"] for row in items]
    assert handled == sorted(handled, reverse=True)
    taken = sum(row["minutes"] for row in items if row["handled"])
    assert taken <= 10 * 60
    # The next item is started with what is left of the capacity, and no other is.
    started = [row["position"] for row in items if row["started"]]
    assert started == ([sum(handled) + 1] if taken < 10 * 60 and len(items) > sum(handled) else [])
    assert got["started_hours"] == (round((10 * 60 - taken) / 60, 2) if started else 0.0)
    with store.session() as db:
        decided = dict(
            db.execute(select(PriorityDecision.report_id, PriorityDecision.subject_id)).all()
        )
    for row in items:
        assert set(row["subjects"]) == {decided[r] for r in row["reports"]}


def test_the_queue_says_how_many_reports_arrived_after_the_run_it_is_built_from(
    store: Store,
    api: dict[Role, TestClient],
    accounts_by_role: dict[Role, Account],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The queue is the last triage run's: reports ingested after it are in no item, and the
    page and API said nothing of them (the command line did)."""
    assert api[Role.ANALYST].get("/api/queue").json()["reports_not_in_queue"] == 0
    generate(GeneratorConfig(seed=11, reports=7)).write_ncmec(tmp_path / "later")
    assert invoke(capsys, "ingest", str(tmp_path / "later"), "--source", "later").code == 0
    answer = api[Role.ANALYST].get("/api/queue").json()
    assert answer["reports_not_in_queue"] == 7
    assert (
        answer["reports_not_in_queue"]
        == operations.queue_plans(store, None, "week")[0]["reports_not_in_queue"]
    )
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, _ = session_cookie(app, store, accounts_by_role[Role.ANALYST].name)
        browser.cookies.set("sg_session", cookie)
        page = browser.get("/queue").text
    assert '<p id="not-in-queue" role="alert">7 reports stored since the last triage run' in page


def test_queue_parameters_change_the_plan_and_bad_ones_are_refused(
    api: dict[Role, TestClient],
) -> None:
    client = api[Role.SUPERVISOR]
    none = client.get("/api/queue", params={"capacity_hours": 0}).json()["summary"]
    assert none["handled_items"] == 0
    assert all(level["mean_wait_days"] is None for level in none["by_level"] if level["items"])
    month = client.get("/api/queue", params={"capacity_hours": 40, "period": "month"}).json()
    week = client.get("/api/queue", params={"capacity_hours": 40, "period": "week"}).json()
    assert month["summary"]["period_days"] == 30 and week["summary"]["period_days"] == 7
    youth = client.get("/api/queue", params={"route": "youth_care"}).json()["summary"]
    assert youth["route"] == "youth_care" and youth["handled_items"] == 0
    for bad in ({"period": "year"}, {"capacity_hours": -1}, {"page": 0}, {"route": "x"}):
        assert client.get("/api/queue", params=bad).status_code == 422, bad


def test_an_outcome_takes_a_report_off_the_queue_and_is_stored_and_audited(
    store: Store, api: dict[Role, TestClient]
) -> None:
    client = api[Role.ANALYST]
    first = client.get("/api/queue").json()
    report = first["items"][0]["reports"][0]
    answer = client.post(
        f"/api/reports/{report}/outcome",
        json={"result": "not_criminal", "reason": "adult", "minutes": 25, "note": "secret words"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["replaced"] is False
    with store.session() as db:
        stored = db.get(TriageOutcome, report)
        assert stored is not None and stored.result == "not_criminal" and stored.minutes == 25
        assert stored.note_sealed and b"secret words" not in stored.note_sealed
    (event,) = _events(store, "outcome.record")
    assert (event.actor, event.target_id) == ("analyst-one", str(report))
    assert "secret words" not in event.detail
    after = client.get("/api/queue").json()
    assert all(report not in row["reports"] for row in after["items"])
    assert after["summary"]["reports"] == first["summary"]["reports"] - 1
    again = client.post(
        f"/api/reports/{report}/outcome", json={"result": "duplicate", "minutes": 5}
    )
    assert again.json()["replaced"] is True and again.json()["note"] == "kept"
    assert len(_events(store, "outcome.record")) == 2
    with store.session() as db:
        kept = db.get(TriageOutcome, report)
        assert kept is not None and kept.note_sealed == stored.note_sealed
    cleared = client.post(
        f"/api/reports/{report}/outcome",
        json={"result": "duplicate", "minutes": 5, "clear_note": True},
    )
    assert cleared.json()["note"] == "cleared"
    with store.session() as db:
        gone = db.get(TriageOutcome, report)
        assert gone is not None and gone.note_sealed is None


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"result": "maybe", "minutes": 5}, "known result"),
        ({"result": "not_criminal", "minutes": 5}, "reason for not criminal"),
        ({"result": "actionable", "reason": "adult", "minutes": 5}, "reason only for not criminal"),
        ({"result": "actionable", "minutes": 0}, "minutes in range"),
    ],
)
def test_a_wrong_outcome_is_refused_with_its_rule(
    store: Store, api: dict[Role, TestClient], seeded: Seeded, body: dict[str, Any], rule: str
) -> None:
    answer = api[Role.ANALYST].post(f"/api/reports/{seeded.report}/outcome", json=body)
    assert answer.status_code == 422 and answer.json()["rule"] == rule
    assert answer.json()["location"] in OutcomeIn.model_fields  # a body field, not an option
    with store.session() as db:
        assert db.get(TriageOutcome, seeded.report) is None
    assert _events(store, "outcome.record") == []


def test_a_refused_outcome_value_is_never_sent_back(
    api: dict[Role, TestClient], seeded: Seeded
) -> None:
    """The answer repeated a refused ``result`` as sent, at any length: a password typed in the
    wrong box came back, and 200,000 characters made a 200 kB answer."""
    client = api[Role.ANALYST]
    path = f"/api/reports/{seeded.report}/outcome"
    typed = client.post(path, json={"result": "my password is hunter2", "minutes": 5})
    assert typed.status_code == 422 and typed.json()["location"] == "result"
    assert "hunter2" not in typed.text
    for field in ("result", "reason"):
        body = {"result": "not_criminal", "reason": "adult", "minutes": 5} | {field: "x" * 200_000}
        long = client.post(path, json=body)
        assert long.status_code == 422 and len(long.content) < 1000, field
        assert long.json()["detail"][0]["loc"] == ["body", field]


def test_an_outcome_for_a_report_not_stored_is_not_found(
    api: dict[Role, TestClient], seeded: Seeded
) -> None:
    answer = api[Role.ANALYST].post(
        "/api/reports/999999/outcome", json={"result": "duplicate", "minutes": 5}
    )
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no report with id 999999 in the store"


def test_a_report_shows_hashes_matches_priority_and_no_identifier_in_clear(
    store: Store, api: dict[Role, TestClient]
) -> None:
    with store.session() as db:
        report = db.scalar(
            select(ReportedFile.report_id)
            .join(HashMatch, HashMatch.file_id == ReportedFile.id)
            .order_by(ReportedFile.report_id)
            .limit(1)
        )
        pseudonyms = set(db.scalars(select(PartyIdentifier.pseudonym)))
        decision = db.get(PriorityDecision, report)
        assert decision is not None
        level, reasons = decision.level, decision.reasons
        subject = db.get(Subject, decision.subject_id)
        assert subject is not None
        # As shown: a reference to the subject's size reads the subject's row.
        expected = json.loads(
            json.dumps(reasons).replace(f"{{subject:{subject.id}:reports}}", str(subject.reports))
        )
    response = api[Role.SUPERVISOR].get(f"/api/reports/{report}")
    detail = response.json()
    assert detail["priority"]["level"] == level and detail["priority"]["reasons"] == expected
    assert "{subject:" not in response.text
    matched = [m for f in detail["files"] for m in f["matches"]]
    assert matched and all({"list", "entry", "hash_kind", "distance"} <= set(m) for m in matched)
    assert all(f["hashes"] and f["cluster"] is not None for f in detail["files"])
    assert detail["reported_user"], "the sample's reported users have identifiers"
    assert all(i["pseudonym"].endswith("…") for i in detail["reported_user"])
    assert not any(p in response.text for p in pseudonyms)
    (event,) = _events(store, "report.read")
    assert (event.actor, event.role, event.target_id) == (
        "supervisor-one",
        "supervisor",
        str(report),
    )
    assert api[Role.ANALYST].get("/api/reports/999999").status_code == 404


def test_subjects_and_clusters_list_and_open_and_their_reads_are_audited(
    store: Store, api: dict[Role, TestClient]
) -> None:
    client = api[Role.ANALYST]
    with store.session() as db:
        subjects = {s.id: s.reports for s in db.scalars(select(Subject))}
        clusters = {c.id: c.viral for c in db.scalars(select(ContentCluster))}
    listed = client.get("/api/subjects").json()
    assert listed["total"] == len(subjects)
    counts = [row["reports"] for row in listed["rows"]]
    assert counts == sorted(counts, reverse=True)
    biggest = listed["rows"][0]["id"]
    subject = client.get(f"/api/subjects/{biggest}").json()
    assert len(subject["report_list"]) == subjects[biggest]
    assert _events(store, "subject.read")[0].target_id == str(biggest)
    viral = client.get("/api/clusters", params={"viral": "true"}).json()
    assert viral["total"] == sum(clusters.values())
    assert all(row["viral"] for row in viral["rows"])
    cluster = client.get(f"/api/clusters/{listed['rows'][0]['id']}")
    assert cluster.status_code in (200, 404)
    some = client.get("/api/clusters").json()["rows"][0]
    with store.session() as db:
        members = set(
            db.scalars(
                select(ReportedFile.report_id)
                .join(FileCluster, FileCluster.file_id == ReportedFile.id)
                .where(FileCluster.cluster_id == some["id"])
            )
        )
    shown = client.get(f"/api/clusters/{some['id']}").json()["report_list"]
    assert {r["id"] for r in shown} == members
    # A cluster lists its member reports: opening it is audited as opening a report is.
    opened = [str(listed["rows"][0]["id"])] if cluster.status_code == 200 else []
    assert [e.target_id for e in _events(store, "cluster.read")] == [*opened, str(some["id"])]
    assert all(e.actor == "analyst-one" for e in _events(store, "cluster.read"))


def test_a_subject_and_a_cluster_page_all_their_reports_newest_first(
    store: Store,
    accounts_by_role: dict[Role, Account],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One reported user behind 230 reports, one content in them: the subject and the cluster
    list a page of 200 reports, say how many there are, and page to the rest; the subject's
    identifiers are those of all its reports."""
    generate(GeneratorConfig(seed=3, reports=230, subjects=1, families=1)).write_ncmec(tmp_path)
    assert invoke(capsys, "ingest", str(tmp_path), "--source", "test").code == 0
    assert invoke(capsys, "triage", "run").code == 0
    analyst = accounts_by_role[Role.ANALYST]
    client = TestClient(make_app(store), base_url="http://127.0.0.1")
    client.headers["Authorization"] = f"Bearer {analyst.token}"
    with store.session() as db:
        (subject,) = db.scalars(select(Subject.id))
        members = list(db.scalars(select(PriorityDecision.report_id)))
        identifiers = db.execute(
            select(PartyIdentifier.kind, PartyIdentifier.pseudonym)
            .join(ReportParty, ReportParty.id == PartyIdentifier.party_id)
            .where(ReportParty.role == "reported_user")
            .distinct()
        ).all()
        cluster = db.scalar(
            select(ContentCluster.id).order_by(ContentCluster.reports.desc()).limit(1)
        )
    first = client.get(f"/api/subjects/{subject}").json()
    second = client.get(f"/api/subjects/{subject}", params={"page": 2}).json()
    assert (first["report_total"], first["report_pages"], first["report_page"]) == (230, 2, 1)
    ids = [r["id"] for r in first["report_list"]] + [r["id"] for r in second["report_list"]]
    assert len(first["report_list"]) == 200 and ids == sorted(members, reverse=True)
    assert first["identifier_total"] == len(identifiers)
    assert len(identifiers) <= 200  # all shown
    shown_identifiers = sorted((i["kind"], i["pseudonym"]) for i in first["identifiers"])
    assert shown_identifiers == sorted((kind, value[:10] + "…") for kind, value in identifiers)
    past = client.get(f"/api/subjects/{subject}", params={"page": 3})
    assert past.status_code == 422
    assert (past.json()["location"], past.json()["rule"]) == ("page", "page_out_of_range")
    assert "last page, 2" in past.json()["detail"]
    reads = [(e.target_id, json.loads(e.detail)) for e in _events(store, "subject.read")]
    assert [(target, detail.get("page")) for target, detail in reads] == [
        (str(subject), None),
        (str(subject), "2"),
    ]
    shown = client.get(f"/api/clusters/{cluster}").json()
    assert shown["report_total"] == shown["reports"] > len(shown["report_list"])
    cookie, _ = session_cookie(client.app, store, analyst.name)  # type: ignore[arg-type]
    browser = TestClient(make_app(store), base_url="http://127.0.0.1")
    browser.cookies.set("sg_session", cookie)
    page = browser.get(f"/subjects/{subject}").text
    assert "Reports 1–200 of 230, newest first." in page
    assert 'href="?page=2" rel="next"' in page
    assert "Reports 201–230 of 230" in browser.get(f"/subjects/{subject}?page=2").text
    # One content in 230 reports: its files are viral by spread, and the page says which way.
    assert "(by spread: True, annotated:" in browser.get(f"/clusters/{cluster}").text
    assert browser.get(f"/subjects/{subject}?page=3").status_code == 422
    client.close()
    browser.close()


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/api/subjects", "subject.list"),
        ("/api/clusters", "cluster.list"),
        ("/api/queue", "queue.list"),
        ("/subjects", "subject.list"),
        ("/clusters", "cluster.list"),
        ("/queue", "queue.list"),
    ],
)
def test_a_page_past_the_last_is_refused_naming_the_last_and_not_audited(
    store: Store,
    api: dict[Role, TestClient],
    accounts_by_role: dict[Role, Account],
    path: str,
    action: str,
) -> None:
    """A page past the last answered 200 with no rows, audited as a read of the list, and the
    page offered no way back. It is refused now, naming ``page`` and the last page."""
    client = api[Role.ANALYST]
    if not path.startswith("/api/"):
        client = TestClient(client.app, base_url="http://127.0.0.1")
        cookie, _ = session_cookie(client.app, store, accounts_by_role[Role.ANALYST].name)  # type: ignore[arg-type]
        client.cookies.set("sg_session", cookie)
    last = api[Role.ANALYST].get("/api" + path.removeprefix("/api")).json()["pages"]
    before = len(_events(store, action))
    past = client.get(path, params={"page": last + 1})
    assert past.status_code == 422
    message = f"page: {last + 1} is past the last page, {last}"
    if path.startswith("/api/"):
        assert past.json() == {"detail": message, "rule": "page_out_of_range", "location": "page"}
    else:
        assert message in past.text
    assert len(_events(store, action)) == before  # nothing shown, nothing audited
    assert client.get(path, params={"page": last}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/reports/{n}",
        "/api/subjects/{n}",
        "/api/clusters/{n}",
        "/api/audit?before={n}",
    ],
)
def test_an_id_beyond_the_store_is_refused_naming_the_parameter(
    api: dict[Role, TestClient], path: str
) -> None:
    # The databases cannot bind or compare a number beyond their ids' column type (64 bits on
    # SQLite, 32 on PostgreSQL): such an id was a server error.
    role = Role.SUPERVISOR
    for beyond in (ROW_ID_MAX + 1, 2**63):
        response = api[role].get(path.format(n=beyond))
        assert response.status_code == 422
        where = response.json()["detail"][0]["loc"][-1]
        assert where in {"report_id", "subject_id", "cluster_id", "before"}
    assert api[role].get(path.format(n=ROW_ID_MAX)).status_code in (200, 404)


def test_hash_list_upload_quarantines_bad_entries_reimports_idempotently_and_removes(
    store: Store, api: dict[Role, TestClient]
) -> None:
    client = api[Role.SUPERVISOR]
    upload = LIST_CSV + b"not-a-hash,MD5\n"
    form = {"name": "web-list", "kind": "known"}
    first = client.post("/api/hashlists", data=form, files={"file": ("web.csv", upload)}).json()
    assert (first["entries"], first["quarantined"], first["version"]) == (1, 1, 1)
    again = client.post("/api/hashlists", data=form, files={"file": ("web.csv", upload)}).json()
    assert (again["changed"], again["version"], again["entries"]) == (False, 1, 1)
    listed = {row["name"]: row for row in client.get("/api/hashlists").json()}
    assert listed["web-list"]["quarantined"] == 1 and "flood_flags" in listed["web-list"]
    imports = [(e.actor, e.role, e.target_id) for e in _events(store, "hashlist.import")]
    # The sample's lists were imported by the command line; the upload twice by the account.
    assert [i for i in imports if i[1] == "cli"] and all(i[2] != "web-list" for i in imports[:-2])
    assert imports[-2:] == [("supervisor-one", "supervisor", "web-list")] * 2
    removed = client.delete("/api/hashlists/web-list")
    assert removed.json() == {"name": "web-list", "removed_entries": 1}
    with store.session() as db:
        assert db.scalar(select(HashList).where(HashList.name == "web-list")) is None
    assert _events(store, "hashlist.remove")[0].target_id == "web-list"
    assert client.delete("/api/hashlists/web-list").status_code == 404
    bad = client.post(
        "/api/hashlists",
        data={"name": "x", "hash_type": "photodna"},
        files={"file": ("a.csv", b"")},
    )
    assert bad.status_code == 422 and bad.json()["location"] == "hash_type"


def test_a_list_upload_names_each_refused_line_and_what_is_open_in_quarantine(
    store: Store, api: dict[Role, TestClient], accounts_by_role: dict[Role, Account]
) -> None:
    """The answer listed only how many lines were newly quarantined (0 on a re-upload of the
    same bad file): not which lines or why. It names them now, a bounded list with the total,
    and the list's open quarantine; so does the page."""
    client = api[Role.SUPERVISOR]
    bad = b"not-a-hash,MD5\nda39a3ee5e6b4b0d3255bfef95601890afd80709,SHA7\n"
    files = {"file": ("web.csv", LIST_CSV + bad)}
    first = client.post("/api/hashlists", data={"name": "web-list"}, files=files).json()
    again = client.post("/api/hashlists", data={"name": "web-list"}, files=files).json()
    for answer, new in ((first, 2), (again, 0)):
        counts = (answer["quarantined"], answer["rejected_total"], answer["quarantine_open"])
        assert counts == (new, 2, 2)
        assert [(r["location"], r["rule"]) for r in answer["rejected"]] == [
            ("web.csv:3", "hash_not_hex"),
            ("web.csv:4", "unknown_hash_type"),
        ]
        assert "not hexadecimal" in answer["rejected"][0]["message"]
    many = b"".join(b"%032d,SHA7\n" % i for i in range(150))
    files = {"file": ("many.csv", LIST_CSV + many)}
    bounded = client.post("/api/hashlists", data={"name": "many"}, files=files).json()
    assert (len(bounded["rejected"]), bounded["rejected_total"]) == (100, 150)
    assert bounded["quarantine_open"] == 150
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        browser.cookies.set("sg_session", cookie)
        form = {"name": "web-list", "csrf_token": csrf}
        page = browser.post("/hashlists", data=form, files={"file": ("web.csv", LIST_CSV + bad)})
    assert page.status_code == 200
    assert "2 lines refused and quarantined; 2 open in quarantine for this list" in page.text
    assert "<td>web.csv:3</td><td>hash_not_hex</td>" in page.text


def test_a_flood_flag_is_listed_with_its_entry_and_closed_only_by_a_review(
    store: Store,
    api: dict[Role, TestClient],
    accounts_by_role: dict[Role, Account],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A flag was counted but nothing said which entry it was or let anyone close it. Here an
    entry matching every picture raises one; undoing the cause does not close it (a person
    decides), but its ``now`` says the entry is no longer over its share; a supervisor's
    review closes it, audited, once."""
    client = api[Role.SUPERVISOR]
    with store.session() as db:
        pdq = db.scalar(select(FileHash.value).where(FileHash.kind == "pdq").limit(1))
    files = {"file": ("probe.csv", f"hash,type\n{pdq},pdq\n".encode())}
    broad = client.post(
        "/api/hashlists", data={"name": "probe", "pdq_threshold": "128"}, files=files
    )
    assert broad.status_code == 200
    (flag,) = client.get("/api/flood-flags", params={"list": "probe"}).json()["flags"]
    assert (flag["list"], flag["hash_kind"], flag["value"]) == ("probe", "pdq", pdq)
    assert flag["status"] == "open"
    assert flag["matched_files"] == broad.json()["matches"] and flag["now"]["over"] is True
    narrow = client.post(
        "/api/hashlists", data={"name": "probe", "pdq_threshold": "0"}, files=files
    ).json()
    assert narrow["settings_changed"] == {"pdq_threshold": [128, 0]}
    (after,) = client.get("/api/flood-flags", params={"list": "probe"}).json()["flags"]
    assert after["status"] == "open" and after["id"] == flag["id"]
    assert after["matched_files"] == flag["matched_files"]  # as raised
    assert after["now"]["matched_files"] == narrow["matches"] and after["now"]["over"] is False
    shown = invoke(capsys, "hashlist", "show", "probe", "--json")
    assert [f["id"] for f in json.loads(shown.out)["flags"]] == [flag["id"]]
    assert "flood flags" in invoke(capsys, "hashlist", "show", "probe").out

    def review(role: Role, status: str) -> Any:
        return api[role].post(f"/api/flood-flags/{flag['id']}/review", json={"status": status})

    assert review(Role.ANALYST, "dismissed").status_code == 403
    assert review(Role.SUPERVISOR, "closed").status_code == 422
    reviewed = review(Role.SUPERVISOR, "dismissed")
    assert reviewed.status_code == 200
    assert (reviewed.json()["status"], reviewed.json()["reviewed_by"]) == (
        "dismissed",
        "supervisor-one",
    )
    again = review(Role.SUPERVISOR, "resolved")
    assert (again.status_code, again.json()["rule"]) == (422, "already_reviewed")
    by_cli = invoke(capsys, "hashlist", "review", str(flag["id"]), "--status", "resolved")
    assert by_cli.code == 1 and "a review is final" in by_cli.err
    (event,) = _events(store, "floodflag.review")
    assert (event.actor, event.target_kind) == ("supervisor-one", "flood_flag")
    assert event.target_id == str(flag["id"])
    assert json.loads(event.detail)["status"] == "dismissed"
    listed = {row["name"]: row for row in client.get("/api/hashlists").json()}
    assert listed["probe"]["flood_flags"] == 0  # open ones
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        browser.cookies.set("sg_session", cookie)
        page = browser.get("/hashlists").text
        assert f'<tr data-flag="{flag["id"]}">' in page and "dismissed by supervisor-one" in page
        flags = client.get("/api/flood-flags").json()["flags"]
        (other,) = [f for f in flags if f["status"] == "open"]  # the sample's
        done = browser.post(
            f"/flood-flags/{other['id']}/review",
            data={"status": "resolved", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert f"Flood flag {other['id']} reviewed." in browser.get(done.headers["location"]).text
    statuses = {f["id"]: f["status"] for f in client.get("/api/flood-flags").json()["flags"]}
    assert statuses == {flag["id"]: "dismissed", other["id"]: "resolved"}


def test_a_list_name_is_of_safe_characters_and_an_odd_old_one_is_still_removable(
    store: Store,
    api: dict[Role, TestClient],
    accounts_by_role: dict[Role, Account],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Names were only length-checked: a '/' or '..' made a list the web could not remove, and
    invisible or right-to-left characters a list that looks like another. One rule for the web
    and the command line now; lists named before it are still removed, by id on the web."""
    client = api[Role.SUPERVISOR]
    files = {"file": ("l.csv", LIST_CSV)}
    for bad, rule in (
        ("team/2026", "name_characters"),
        ("..", "name_characters"),
        ("sample-known\u200b", "name_characters"),
        ("abc\u202etxt.exe", "name_characters"),
        ("two words", "name_characters"),
        ("-x", "name_characters"),
        ("   ", "name_length"),
    ):
        refused = client.post("/api/hashlists", data={"name": bad}, files=files)
        assert refused.status_code == 422, bad
        assert (refused.json()["location"], refused.json()["rule"]) == ("name", rule), bad
        assert bad not in refused.text
    wide = client.post("/api/hashlists", data={"name": "\uff57\uff45\uff42\uff0d1"}, files=files)
    assert wide.json()["name"] == "web-1"  # NFKC: full-width letters are the plain ones
    (tmp_path / "l.csv").write_bytes(LIST_CSV)
    by_cli = invoke(capsys, "hashlist", "import", str(tmp_path / "l.csv"), "--name", "team/2026")
    assert by_cli.code == 2 and "--name: letters, digits and . _ -" in by_cli.err
    with store.session() as db:
        names = {"team/2026", "..", "sample-known\u200b"}
        for odd in names:  # as an earlier version stored them
            db.add(
                HashList(
                    name=odd, kind="allow", format="csv", format_version=None,
                    source_file="l.csv", imported_at=datetime.now(UTC), version=1,
                    version_token=odd.encode().hex()[:32], pdq_threshold=31, flood_share=0.05,
                    entry_count=0, quarantined_count=0,
                )
            )  # fmt: skip
        db.flush()
        ids = dict(db.execute(select(HashList.name, HashList.id)).all())
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        browser.cookies.set("sg_session", cookie)
        page = browser.get("/hashlists").text
        assert f'action="/hashlists/{ids["team/2026"]}/remove"' in page
        done = browser.post(
            f"/hashlists/{ids['team/2026']}/remove",
            data={"csrf_token": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
    removed = client.delete(f"/api/hashlists/by-id/{ids['..']}")
    assert removed.json() == {"name": "..", "removed_entries": 0}
    assert invoke(capsys, "hashlist", "remove", "sample-known\u200b").code == 0
    left = {row["name"] for row in client.get("/api/hashlists").json()}
    assert not left & names and "web-1" in left
    assert client.delete(f"/api/hashlists/by-id/{ids['..']}").status_code == 404
    removals = [e.target_id for e in _events(store, "hashlist.remove")]
    assert sorted(removals) == sorted(names)


def test_a_large_list_upload_does_not_hold_up_other_requests(
    store: Store, accounts_by_role: dict[Role, Account]
) -> None:
    """A list takes seconds to parse; parsed on the event loop, every request made meanwhile
    waited that long. Probing the app all through an upload (of 100,000 bad lines, refused
    once read, so the parse is all it costs), no probe waits anywhere near the time the parse
    alone takes. Threads take turns every millisecond here, so that a probe's wait measures
    being held up, not the interpreter's turn-taking between the parsing thread and the loop."""
    bad = (hashlib.md5(str(i).encode()).hexdigest()[:31] + "g,md5\n" for i in range(100_000))
    data = ("hash,type\n" + "".join(bad)).encode()
    started = time.perf_counter()
    assert len(read_hash_csv(data, "big.csv").rejected) == 100_000
    parse_seconds = time.perf_counter() - started
    supervisor = {"Authorization": f"Bearer {accounts_by_role[Role.SUPERVISOR].token}"}
    answers: list[int] = []
    slowest = 0.0
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        with TestClient(make_app(store), base_url="http://127.0.0.1") as client:
            done = threading.Event()

            def upload() -> None:
                try:
                    files, form = {"file": ("big.csv", data)}, {"name": "big"}
                    sent = client.post("/api/hashlists", headers=supervisor, data=form, files=files)
                    answers.append(sent.status_code)
                finally:
                    done.set()

            uploading = threading.Thread(target=upload)
            uploading.start()
            while not done.is_set():
                asked = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                slowest = max(slowest, time.perf_counter() - asked)
                time.sleep(0.01)
            uploading.join()
    finally:
        sys.setswitchinterval(interval)
    assert answers == [422]  # no valid entry, nothing imported
    assert slowest < parse_seconds / 3, (slowest, parse_seconds)


def test_a_hash_list_upload_keeps_or_sets_the_lists_kind_and_threshold(
    store: Store, api: dict[Role, TestClient], accounts_by_role: dict[Role, Account]
) -> None:
    # The form always sent a kind (known by default) and the threshold was always the
    # configured one: an update uploaded here reset an allow list to known and lost its
    # threshold, and no threshold could be chosen at all.
    client = api[Role.SUPERVISOR]

    def upload(extra: bytes, **form: str) -> Any:
        files = {"file": ("web.csv", LIST_CSV + extra)}
        return client.post("/api/hashlists", data={"name": "web-list", **form}, files=files)

    first = upload(b"", kind="allow", pdq_threshold="20").json()
    assert (first["version"], first["settings_changed"]) == (1, {})
    pdq = b"f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,PDQ\n"
    updated = upload(pdq, kind="", pdq_threshold="").json()
    assert (updated["version"], updated["added"], updated["settings_changed"]) == (2, 1, {})
    listed = {row["name"]: row for row in client.get("/api/hashlists").json()}["web-list"]
    assert (listed["kind"], listed["pdq_threshold"]) == ("allow", 20)
    retuned = upload(pdq, pdq_threshold="25").json()
    assert retuned["settings_changed"] == {"pdq_threshold": [20, 25]}
    for bad in ("200", "²", "\u0663", "1\u0662", "12x", "-1"):
        # '²' passed isdigit() and failed int(), a server error; '٣' was taken as 3
        refused = upload(pdq, pdq_threshold=bad)
        assert refused.status_code == 422, bad
        assert (refused.json()["location"], refused.json()["rule"]) == (
            "pdq_threshold",
            "out_of_range",
        )

    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        browser.cookies.set("sg_session", cookie)
        page = browser.get("/hashlists").text
        assert 'name="pdq_threshold"' in page and '<option value="">as stored' in page
        form = {"name": "web-list", "pdq_threshold": "²", "csrf_token": csrf}
        refused = browser.post("/hashlists", data=form, files={"file": ("web.csv", LIST_CSV)})
        assert refused.status_code == 422 and "pdq_threshold: a whole number" in refused.text
        form = {"name": "web-list", "kind": "", "pdq_threshold": "22", "csrf_token": csrf}
        done = browser.post("/hashlists", data=form, files={"file": ("web.csv", LIST_CSV + pdq)})
        assert done.status_code == 200 and "pdq_threshold changed: 25 → 22" in done.text
    listed = {row["name"]: row for row in client.get("/api/hashlists").json()}["web-list"]
    assert (listed["kind"], listed["pdq_threshold"]) == ("allow", 22)


def _levels(store: Store) -> dict[int, str]:
    with store.session() as db:
        return dict(db.execute(select(PriorityDecision.report_id, PriorityDecision.level)).all())


def test_a_rerun_under_an_uploaded_policy_says_how_many_reports_changed_level(
    store: Store, api: dict[Role, TestClient]
) -> None:
    client = api[Role.SUPERVISOR]
    before = _levels(store)
    same = client.post("/api/triage/run").json()
    assert same["level_changes"]["changed"] == 0 and same["reports"] == len(before)
    stricter = (
        default_policy_text()
        .decode()
        .replace('version = "2026.11-3"', 'version = "test-strict"')
        .replace("P1 = 120\nP2 = 60\nP3 = 20", "P1 = 3000\nP2 = 2000\nP3 = 1000")
    )
    answer = client.post("/api/triage/run", files={"policy": ("strict.toml", stricter.encode())})
    assert answer.status_code == 200, answer.text
    after = _levels(store)
    changed = sum(1 for r in before if before[r] != after[r])
    assert changed > 0 and answer.json()["level_changes"]["changed"] == changed
    assert "test-strict" in answer.json()["policy"]
    assert [e.action for e in _events(store, "triage.run")] == ["triage.run", "triage.run"]
    broken = client.post("/api/triage/run", files={"policy": ("bad.toml", b"[policy]\nname=1")})
    assert broken.status_code == 422 and _levels(store) == after
    # A NUL in a text the run stores: kept by SQLite, refused by PostgreSQL mid-run (a 500).
    nul = default_policy_text().decode().replace('name = "default"', 'name = "a\\u0000b"')
    refused = client.post("/api/triage/run", files={"policy": ("nul.toml", nul.encode())})
    assert refused.status_code == 422 and _levels(store) == after
    assert refused.json()["detail"] == (
        "nul.toml: [policy]: name must not contain a NUL character (\\x00)"
    )
    assert len(_events(store, "triage.run")) == 2


def test_the_run_form_redirects_to_the_run_so_a_reload_runs_nothing(
    store: Store, api: dict[Role, TestClient], accounts_by_role: dict[Role, Account]
) -> None:
    """The form's answer was the page with the result: reloading it posted again and started
    another run. It redirects to the run's page now (post, redirect, get)."""
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        browser.cookies.set("sg_session", cookie)
        posted = browser.post("/triage/run", data={"csrf_token": csrf}, follow_redirects=False)
        assert (posted.status_code, posted.headers["location"]) == (303, "/triage/run?run=2")
        for _ in range(2):  # shown, then reloaded
            page = browser.get(posted.headers["location"])
            assert page.status_code == 200
            assert "Run 2 (" in page.text and "Level changed for 0 of 30 earlier" in page.text
            assert "Levels: P1 " in page.text
        assert browser.get("/triage/run?run=99").status_code == 404
    with store.session() as db:
        runs = list(db.scalars(select(TriageRun.id)))
    assert runs == [1, 2]
    assert [e.target_id for e in _events(store, "triage.run")] == ["2"]


def test_researchers_see_only_aggregate_counts(
    store: Store, api: dict[Role, TestClient], seeded: Seeded
) -> None:
    overview = api[Role.RESEARCHER].get("/api/triage/overview").json()
    found = triage_aggregates(store)
    assert found is not None and overview == json.loads(json.dumps(found.as_dict()))
    reports = overview["reports"]
    levels = Counter(_levels(store).values())
    assert reports["total"] == sum(levels.values()) == 30 and overview["min_cell"] == 10
    # levels of fewer than ten reports are withheld, the others published as counted
    for level, shown in zip(LEVELS, reports["row_totals"], strict=True):
        assert shown in (None, levels[level])
        assert shown is not None or levels[level] > 0
        assert shown is None or not 0 < levels[level] < 10
    assert None in reports["row_totals"]
    assert api[Role.RESEARCHER].get(f"/api/reports/{seeded.report}").status_code == 403
    assert api[Role.RESEARCHER].get("/api/queue").status_code == 403


def test_pages_render_and_the_outcome_form_needs_its_csrf_token(
    store: Store, accounts_by_role: dict[Role, Account], seeded: Seeded
) -> None:
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        cookie, csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        client.cookies.set("sg_session", cookie)
        for path in ("/queue", "/subjects", "/clusters", "/hashlists", "/triage/run",
                     f"/subjects/{seeded.subject}", f"/clusters/{seeded.cluster}"):  # fmt: skip
            assert client.get(path).status_code == 200, path
        page = client.get(f"/reports/{seeded.report}").text
        assert 'id="outcome-form"' in page and "<img" not in page
        form = {"result": "actionable", "minutes": "12"}
        refused = client.post(f"/reports/{seeded.report}/outcome", data=form)
        assert refused.status_code == 403
        done = client.post(
            f"/reports/{seeded.report}/outcome",
            data=form | {"csrf_token": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert "actionable, 12.0 minutes" in client.get(done.headers["location"]).text
    with store.session() as db:
        assert audit.verify(db).ok


def test_the_command_line_outcome_is_audited_as_the_web_one_is(
    store: Store, seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(
        capsys, "outcome", str(seeded.report), "--result", "duplicate", "--minutes", "5"
    )
    assert result.code == 0, result.err
    (event,) = _events(store, "outcome.record")
    assert (event.role, event.target_id, event.ip) == ("cli", str(seeded.report), "local")
    assert '"result":"duplicate"' in event.detail


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_served_queue_is_rebuilt_after_changes_before_any_page_asks(
    store: Store, accounts_by_role: dict[Role, Account], seeded: Seeded
) -> None:
    app = make_app(store, queue_refresh_seconds=0.1)
    cache: QueueCache = app.state.triage_queue
    with TestClient(app, base_url="http://127.0.0.1") as client:  # starts the refresher
        client.headers["Authorization"] = f"Bearer {accounts_by_role[Role.ANALYST].token}"
        assert _wait_for(lambda: cache.cached_key == state_key(store))
        # An outcome through the API: the queue without the report is built before the answer.
        report = client.get("/api/queue").json()["items"][0]["reports"][0]
        answer = client.post(f"/api/reports/{report}/outcome", json={"result": "duplicate",
                                                                     "minutes": 5})  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert cache.cached_key == state_key(store)
        # A run and an outcome from elsewhere (the command line): the refresher picks them up.
        run = operations.run_triage(store, load_policy())
        with store.session() as db:
            other = db.scalar(
                select(PriorityDecision.report_id).where(PriorityDecision.report_id != report)
            )
        assert other is not None
        operations.record_outcome(store, other, "duplicate", 4)
        assert _wait_for(lambda: cache.cached_key == state_key(store))
        assert cache.cached_key is not None and cache.cached_key[0] == run["run"]
        listed = client.get("/api/queue").json()
        assert all(other not in row["reports"] for row in listed["items"])


def test_a_flag_closed_before_reviews_were_recorded_says_its_reviewer_is_not_recorded(
    store: Store,
    seeded: Seeded,
    accounts_by_role: dict[Role, Account],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``triage_0006`` made a flag closed as ``reviewed`` (before reviews kept who and when) a
    ``resolved`` one with neither: it was shown "resolved by None" (CLI), "by None, None" (web)."""
    with store.session() as db:
        flag = db.get_one(FloodFlag, seeded.flag)
        flag.status, flag.reviewed_by, flag.reviewed_at = "resolved", None, None
        name = db.scalar(select(HashList.name).where(HashList.id == flag.list_id))
    assert name is not None
    # Wide enough that the table does not fold the status over lines.
    monkeypatch.setattr("safeguarding.cli.common.console", Console(markup=False, width=200))
    shown = invoke(capsys, "hashlist", "show", name)
    assert shown.code == 0, shown.err
    assert "resolved, reviewer not recorded" in shown.out and "None" not in shown.out
    again = invoke(capsys, "hashlist", "review", str(seeded.flag), "--status", "dismissed")
    assert again.code == 1
    assert again.err == (
        f"error: flood flag {seeded.flag} was resolved (reviewer not recorded); a review is final\n"
    )
    app = make_app(store)
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        cookie, _csrf = session_cookie(app, store, accounts_by_role[Role.SUPERVISOR].name)
        browser.cookies.set("sg_session", cookie)
        page = browser.get("/hashlists").text
    row = page[page.index(f'<tr data-flag="{seeded.flag}">') :]
    row = row[: row.index("</tr>")]
    assert "resolved, reviewer not recorded" in row and "None" not in row
