"""The platform, assessment and helpline pages and API routes: what each shows and does.

Data comes from the areas' own sample loaders (fictional register, generated cases, a short
assessment run, a slice of the synthetic helpline sample); answers are checked against the store
and against the invariants the pages promise (intervals around medians, withheld small cells,
notes encrypted and never shown, every change audited).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from safeguarding.access import audit
from safeguarding.access.roles import Role
from safeguarding.assess.assessment import assess_scenario
from safeguarding.assess.scenario import SCENARIO_DIR, load_scenario, shipped_scenarios
from safeguarding.assess.stored import json_safe, save_run
from safeguarding.helpline.entry import stored_coding
from safeguarding.helpline.importer import IngestKeys
from safeguarding.helpline.notes import read_note
from safeguarding.helpline.schema import ContactReport
from safeguarding.platforms.register import read_register
from safeguarding.platforms.rules import DEFAULT_RULES, load_rules
from safeguarding.platforms.sample import SAMPLE_REGISTER
from safeguarding.platforms.workflow import run_assessment
from safeguarding.reporting.sections import assess as assess_section
from safeguarding.store import Store
from safeguarding.store.models.access import AuditEventRow
from safeguarding.store.models.helpline import (
    HelplineContactRow,
    HelplineNoteRow,
    HelplineRiskFactorRow,
)
from safeguarding.web.routers.assess import WEB_QUEUE_CAP, WEB_QUEUE_NEAR_FULL_MAX
from tests.web.areas_data import (
    ASSESS_SCENARIOS,
    HELPLINE_CONTACTS,
    assessment_results,
    load_all,
    load_assessment,
)
from tests.web.conftest import Account, make_app, session_cookie


@pytest.fixture
def loaded(store: Store, accounts_by_role: dict[Role, Account]) -> Store:
    """The store with sample data and one account per role (``<role>-one``)."""
    assert accounts_by_role
    load_all(store)
    return store


@pytest.fixture
def api(loaded: Store, accounts_by_role: dict[Role, Account]) -> Iterator[dict[Role, TestClient]]:
    """An API client per role, authenticated with its bearer token."""
    app = make_app(loaded)
    clients = {
        role: TestClient(
            app,
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {account.token}"},
        )
        for role, account in accounts_by_role.items()
    }
    yield clients
    for client in clients.values():
        client.close()


def _page(store: Store, name: str) -> tuple[TestClient, str]:
    app = make_app(store)
    client = TestClient(app, base_url="http://127.0.0.1")
    cookie, csrf = session_cookie(app, store, name)
    client.cookies.set("sg_session", cookie)
    return client, csrf


def _events(store: Store, action: str) -> list[AuditEventRow]:
    with store.session() as db:
        rows = list(db.scalars(select(AuditEventRow).where(AuditEventRow.action == action)))
        db.expunge_all()
    return rows


# ------------------------------------------------------------------------------------ platforms


def test_the_register_and_a_service_with_its_sources_and_drivers(
    api: dict[Role, TestClient],
) -> None:
    client = api[Role.RESEARCHER]
    register = read_register(SAMPLE_REGISTER).services
    listed = client.get("/api/platforms/services").json()
    assert sorted(s["id"] for s in listed) == sorted(s.id for s in register)
    detail = client.get("/api/platforms/services/example-chat").json()
    assert detail["service"]["name"] == "Example Chat (fictional)"
    assert {"fact": "volumes", "source": "synthetic sample"} in detail["sources"]
    assert "direct_messaging" in detail["service"]["features"]
    harms = detail["assessment"]["harms"]
    assert harms and all(h["level"] in {"negligible", "low", "medium", "high"} for h in harms)
    assert any(h["drivers"] for h in harms)
    assert all(d["source"] for h in harms for d in h["drivers"])
    missing = client.get("/api/platforms/services/no-such-service")
    assert missing.status_code == 404 and "no-such-service" in missing.json()["detail"]


def test_the_risk_matrix_gaps_and_stage_heatmap_agree_with_each_other(
    api: dict[Role, TestClient],
) -> None:
    client = api[Role.SUPERVISOR]
    risk = client.get("/api/platforms/risk").json()
    assert risk["run"]["rules_version"] and risk["problem"] is None
    high = {s["service"] for s in risk["services"] if s["top_level"] == "high"}
    gaps = client.get("/api/platforms/gaps").json()
    assert set(gaps["headline"]) <= high
    headline_only = client.get("/api/platforms/gaps", params={"headline_only": "true"}).json()
    assert [s["service"] for s in headline_only["services"]] == gaps["headline"]
    assert all(s["why_unobliged"] for s in headline_only["services"])
    stages = client.get("/api/platforms/stages").json()
    matrix = stages["matrix"]
    assert matrix["denominator"] <= matrix["total_cases"]
    assert matrix["rows"]
    for row in matrix["rows"]:
        assert all(0 <= n <= row["cases"] <= matrix["denominator"] for n in row["counts"].values())
    # Cases per million recipients, as `safeguarding cases matrix` gives them.
    audience = {
        s.id: s.eu_monthly_active_recipients.value
        for s in read_register(SAMPLE_REGISTER).services
        if s.eu_monthly_active_recipients is not None
    }
    chat = next(r for r in matrix["rows"] if r["row"] == "example-chat")
    assert chat["eu_monthly_active_recipients"] == audience["example-chat"]
    assert chat["cases_per_million_recipients"] == round(
        chat["cases"] / (audience["example-chat"] / 1e6), 4
    )


def test_the_platform_pages_show_the_charts_and_the_drivers(loaded: Store) -> None:
    client, _ = _page(loaded, "supervisor-one")
    register = client.get("/platforms").text
    assert (
        "synthetic sample data" in register
        and 'href="/platforms/services/example-chat"' in register
    )
    risk = client.get("/platforms/risk").text
    assert re.search(r'<figure class="chart" id="risk-chart"><svg', risk)
    assert "confidence" in risk
    stages = client.get("/platforms/stages").text
    assert "<svg" in stages and "cases per million recipients" in stages
    num = r'<td class="num">'
    row = rf"<td>example-chat</td>{num}\d+</td>{num}[\d,]+</td>{num}\d+\.\d\d</td>"
    assert re.search(row, stages)
    gaps = client.get("/platforms/gaps").text
    assert "Headline:" in gaps and "dsa.vlop_threshold" in gaps
    service = client.get("/platforms/services/example-chat").text
    assert "encrypted_messaging" in service and "synthetic sample register" in service


def test_a_run_whose_rules_file_changed_keeps_its_risk_matrix_and_loses_only_the_gaps(
    api: dict[Role, TestClient], loaded: Store, tmp_path: Path
) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(DEFAULT_RULES.read_text().replace('version: "', 'version: "mine-', 1))
    run_id = run_assessment(loaded, load_rules(rules)).run_id
    rules.write_text(rules.read_text() + "# edited after the run\n")
    client = api[Role.RESEARCHER]
    risk = client.get("/api/platforms/risk").json()
    assert risk["problem"] is None and risk["run"]["id"] == run_id
    assert risk["services"] and risk["run"]["rules_version"].startswith("mine-")
    gaps = client.get("/api/platforms/gaps").json()
    assert gaps["services"] == [] and gaps["headline"] == []
    assert gaps["problem"] == (
        f"rules file changed since run {run_id}: mine.yaml is no longer the file it used"
    )
    assert str(tmp_path) not in gaps["problem"]
    page, _ = _page(loaded, "researcher-one")
    shown = page.get("/platforms/risk").text
    assert re.search(r'<figure class="chart" id="risk-chart"><svg', shown)
    assert f"Regulatory gaps not shown: rules file changed since run {run_id}" in shown
    assert "safeguarding platforms" not in page.get("/platforms/gaps").text


def test_a_supervisor_imports_a_register_with_row_and_field_errors_audited(
    api: dict[Role, TestClient], loaded: Store
) -> None:
    client = api[Role.SUPERVISOR]
    good = SAMPLE_REGISTER.read_bytes()
    again = client.post(
        "/api/platforms/import",
        params={"kind": "register", "filename": "register.yaml"},
        content=good,
    )
    assert again.status_code == 200, again.text
    count = len(read_register(SAMPLE_REGISTER).services)
    assert again.json() | {"refused": []} == {
        "kind": "register",
        "file": "register.yaml",
        "new": 0,
        "existing": count,
        "refused": [],
        "labels": [],
        "status": "stored",
    }
    bad_csv = (
        "case,platform,stage,role_pair,year,source\n"
        "C-1,Example-Chat,S2,offender-victim,2024,file 1\n"
        "C-2,example-chat,S99,offender-victim,2024,file 2\n"
    )
    answer = client.post(
        "/api/platforms/import",
        params={"kind": "cases", "filename": "cases.csv"},
        content=bad_csv.encode(),
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["new"] == 1 and body["status"] == "partial"
    assert [(r["line"], r["field"]) for r in body["refused"]] == [(3, "stage")]
    assert [(n["label"], n["counted_as"]) for n in body["labels"]] == [
        ("Example-Chat", "example-chat")
    ]
    # The run stored before the new mention has not seen it: the risk answers say so.
    risk = client.get("/api/platforms/risk").json()
    assert (
        risk["run"]["stale"] == f"1 case mention(s) added after assessment run {risk['run']['id']}"
    )
    page, _ = _page(loaded, "supervisor-one")
    assert (
        f"Note: {risk['run']['stale']}; the levels shown do not" in page.get("/platforms/risk").text
    )
    wrong = client.post(
        "/api/platforms/import",
        params={"kind": "register", "filename": "register.txt"},
        content=good,
    )
    assert wrong.status_code == 422 and wrong.json()["rule"] == "format"
    events = sorted(_events(loaded, "platforms.import.cases"), key=lambda e: e.seq)
    assert [(e.actor, e.target_id) for e in events] == [
        (audit.cli_actor().name, "platform-cases.csv"),  # the sample's, loaded by the fixture
        ("supervisor-one", "cases.csv"),
    ]
    detail = json.loads(events[1].detail)
    assert detail == {"new": "1", "existing": "0", "refused": "1", "via": detail["via"]}
    assert detail["via"].startswith("token ")
    with loaded.session() as db:
        assert audit.verify(db).ok


def test_the_upload_form_lists_refused_rows(loaded: Store) -> None:
    client, csrf = _page(loaded, "supervisor-one")
    page = client.post(
        "/platforms/import",
        data={"kind": "cases", "csrf_token": csrf},
        files={
            "file": ("cases.csv", b"case,platform,stage,role_pair,year,source\nC-9,x,S1,y,1800,z\n")
        },
    )
    assert page.status_code == 422
    assert "<td>role_pair</td>" in page.text or "<td>year</td>" in page.text
    forged = client.post(
        "/platforms/import",
        data={"kind": "cases", "csrf_token": "forged"},
        files={"file": ("cases.csv", b"x")},
    )
    assert forged.status_code == 403


# ------------------------------------------------------------------------------------- assess


def test_the_scenarios_and_the_latest_comparison(api: dict[Role, TestClient]) -> None:
    client = api[Role.RESEARCHER]
    scenarios = client.get("/api/assess/scenarios").json()
    assert [s["scenario"] for s in scenarios] == shipped_scenarios()
    for scenario in scenarios:
        for parameter in scenario["parameters"]:
            source = parameter["source"]
            assert source["evidence"] or source["assumption"] or source["data"], parameter
    latest = client.get("/api/assess/latest").json()
    assert latest["scenarios"] == list(ASSESS_SCENARIOS)
    for row in latest["comparison"]:
        for cell in row["scenarios"].values():
            if cell["median"] is not None:
                assert cell["low"] <= cell["median"] <= cell["high"], row["output"]
    one = client.get("/api/assess/scenarios/nl-targeted").json()
    assert one["result"]["scenario"] == "nl-targeted" and one["result"]["sensitivity"]
    not_run = client.get("/api/assess/scenarios/eu-proactive").json()
    assert not_run["result"] is None and not_run["parameters"]
    assert client.get("/api/assess/scenarios/nope").status_code == 404


def test_running_scenarios_is_bounded_and_reproducible(api: dict[Role, TestClient]) -> None:
    client = api[Role.SUPERVISOR]
    too_many = client.post(
        "/api/assess/run", json={"scenarios": ["nl-status-quo"], "draws": 1_000_000}
    )
    assert too_many.status_code == 422
    unknown = client.post("/api/assess/run", json={"scenarios": ["nl-nothing"], "draws": 100})
    assert unknown.status_code == 422 and "nl-nothing" in unknown.json()["detail"]
    body = {"scenarios": ["nl-status-quo"], "draws": 100, "seed": 5}
    first = client.post("/api/assess/run", json=body).json()
    assert first["draws"] == 100 and first["results"][0]["draws"] == 100
    second = client.post("/api/assess/run", json=body).json()
    assert first["comparison"] == second["comparison"]


def test_a_run_on_request_follows_a_bounded_queue_and_says_so(
    api: dict[Role, TestClient],
) -> None:
    # Near a million notifications a year at 4× volume cost seconds of CPU whatever the draws;
    # on request the queue follows a representative sample as the demo's does, and says so.
    body = {"scenarios": ["nl-known-only", "eu-status-quo"], "draws": 100, "seed": 1}
    answer = api[Role.SUPERVISOR].post("/api/assess/run", json=body).json()
    assert answer["queue"] == {"cap": WEB_QUEUE_CAP, "near_full_max": WEB_QUEUE_NEAR_FULL_MAX}
    for result in answer["results"]:
        queue = result["queue"]
        assert queue["queue_cap"] == WEB_QUEUE_CAP
        assert queue["near_full_max"] == WEB_QUEUE_NEAR_FULL_MAX
        for run in queue["runs"]:
            assert run["notifications"] <= 1.05 * WEB_QUEUE_NEAR_FULL_MAX, run["growth"]
    sampled = answer["results"][1]["queue"]["runs"][1]
    assert sampled["unit_share"] < 0.1  # EU: about 0.9 M notifications a year, 20,000 followed


def test_runs_on_request_are_limited_per_account(
    loaded: Store, accounts_by_role: dict[Role, Account]
) -> None:
    app = make_app(loaded, assess_run_burst=2, assess_run_per_minute=1.0)
    body = {"scenarios": ["nl-status-quo"], "draws": 100, "seed": 1}

    def client(role: Role) -> TestClient:
        token = accounts_by_role[role].token
        headers = {"Authorization": f"Bearer {token}"}
        return TestClient(app, base_url="http://127.0.0.1", headers=headers)

    supervisor = client(Role.SUPERVISOR)
    # A request refused before it runs (an unknown scenario) costs nothing and takes no turn.
    assert supervisor.post("/api/assess/run", json={**body, "scenarios": ["x"]}).status_code == 422
    assert [supervisor.post("/api/assess/run", json=body).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refused = supervisor.post("/api/assess/run", json=body)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many assessment runs from this account")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another account has its own turns; the form shares the account's with the API.
    assert client(Role.RESEARCHER).post("/api/assess/run", json=body).status_code == 200
    page = TestClient(app, base_url="http://127.0.0.1")
    cookie, csrf = session_cookie(app, loaded, "supervisor-one")
    page.cookies.set("sg_session", cookie)
    form = page.post(
        "/assess/run",
        data={"scenarios": "nl-status-quo", "draws": "100", "seed": "1", "csrf_token": csrf},
    )
    assert form.status_code == 429 and "too many assessment runs" in form.text
    assert form.headers["Retry-After"]
    # The researcher's form run is shown with the queue's bound and its sample.
    cookie, csrf = session_cookie(app, loaded, "researcher-one")
    page.cookies.set("sg_session", cookie)
    shown = page.post(
        "/assess/run",
        data={"scenarios": "eu-status-quo", "draws": "100", "seed": "1", "csrf_token": csrf},
    )
    assert shown.status_code == 200
    assert "The queue follows at most 20,000 notifications a year (100,000 near full load)" in (
        shown.text
    )
    assert "The queue was simulated on a representative sample (at most 20,000" in shown.text


def test_the_monitor_report_is_limited_per_account(
    loaded: Store, accounts_by_role: dict[Role, Account]
) -> None:
    assert accounts_by_role
    app = make_app(loaded, monitor_burst=1, monitor_per_minute=1.0)
    client = TestClient(app, base_url="http://127.0.0.1")
    cookie, _ = session_cookie(app, loaded, "researcher-one")
    client.cookies.set("sg_session", cookie)
    assert client.get("/monitor").status_code == 200
    refused = client.get("/monitor")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "too many monitor reports" in refused.text


def test_the_assessment_section_is_rendered_once_per_stored_run(loaded: Store) -> None:
    # Rendering it (some thirty charts) took about 12 of the monitor's 15 seconds on every request;
    # a stored run never changes, so it is rendered once and the next run replaces it.
    first = assess_section.build(loaded)
    assert first is not None and assess_section.build(loaded) is first
    load_assessment(loaded)
    again = assess_section.build(loaded)
    assert again is not None and again is not first and again.provenance != first.provenance


def test_researchers_are_told_no_file_or_database_of_the_server(
    loaded: Store, api: dict[Role, TestClient]
) -> None:
    client = api[Role.RESEARCHER]
    page, _ = _page(loaded, "researcher-one")
    stored = client.get("/api/assess/scenarios/nl-targeted")
    run = client.post("/api/assess/run", json={"scenarios": ["nl-status-quo"], "draws": 100})
    assert stored.json()["result"]["file"] == "nl-targeted.toml"
    assert run.json()["results"][0]["file"] == "nl-status-quo.toml"
    server = (loaded.display_url, str(loaded.settings.home), str(SCENARIO_DIR))
    for response in (page.get("/monitor"), page.get("/assess/scenarios/nl-targeted"), stored, run):
        assert response.status_code == 200
        assert not [where for where in server if where in response.text], response.url


def test_the_assessment_pages_carry_charts_and_labelled_sources(loaded: Store) -> None:
    client, csrf = _page(loaded, "researcher-one")
    overview = client.get("/assess").text
    assert 'id="capacity-chart"><svg' in overview and 'id="waiting-chart"><svg' in overview
    # Each output says what it is computed from in each scenario, evidence ids with their tags.
    trace = re.search(r'<tr><td>capacity_share</td>.*?<td class="trace">(.*?)</td></tr>', overview)
    assert trace is not None
    assert trace.group(1).startswith("<details><summary>computed from</summary><p><b>nl-status")
    assert "assumptions informed by evidence" in trace.group(1)
    assert '<code>nl.police.staff</code> <span class="tag tag-' in trace.group(1)
    scenario = client.get("/assess/scenarios/nl-targeted").text
    for chart in ("funnel", "capacity", "tornado-capacity_share", "waiting"):
        assert f'id="{chart}-nl-targeted"><svg' in scenario, chart
    assert '<div class="waits" id="waits-nl-targeted"><p>Queue waits per level' in scenario
    assert "<b>assumption</b>" in scenario and 'class="tag tag-' in scenario
    refused = client.post(
        "/assess/run", data={"scenarios": "nl-status-quo", "draws": "99999", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    # The field and its rule, not pydantic's documentation address.
    assert "draws: must be at most 2000" in refused.text and "pydantic" not in refused.text
    for data, said in (
        ({"draws": "many"}, "draws: must be a whole number"),
        ({"seed": "-1"}, "seed: must be at least 0"),
        ({"scenarios": ["nl-status-quo"] * 4}, "scenarios: choose at most 3"),
    ):
        answer = client.post(
            "/assess/run", data={"scenarios": "nl-status-quo", "csrf_token": csrf, **data}
        )
        assert answer.status_code == 422 and said in answer.text, (data, answer.text)
        assert "pydantic" not in answer.text


# ----------------------------------------------------------------------------------- helpline


def _contact(**fields: Any) -> dict[str, Any]:
    return {
        "month": "2025-04",
        "channel": "chat",
        "caller_type": "self_concerned",
        "age_band": "18_21",
        "risk_factors": [{"factor": "substance_use", "basis": "stated"}],
        "help_needs": ["wants_to_stop"],
        **fields,
    }


def test_a_counsellor_enters_a_contact_once_with_its_note_encrypted(
    api: dict[Role, TestClient], loaded: Store
) -> None:
    client = api[Role.COUNSELLOR]
    body = _contact(note="Worried about his thoughts; talked it through.", entry_key="k" * 20)
    stored = client.post("/api/helpline/contacts", json=body)
    assert stored.status_code == 201, stored.text
    contact_id = stored.json()["contact"]
    assert stored.json()["coded"]["risk_factors"] == [
        {"factor": "substance_use", "basis": "stated"}
    ]
    again = client.post("/api/helpline/contacts", json=body)
    assert again.status_code == 200 and again.json() == stored.json() | {"status": "unchanged"}
    keys = IngestKeys.from_store(loaded)
    with loaded.session() as db:
        row = db.get(HelplineContactRow, contact_id)
        assert row is not None and (row.year, row.month, row.age_band) == (2025, 4, "18_21")
        factors = db.scalars(
            select(HelplineRiskFactorRow.factor).where(
                HelplineRiskFactorRow.contact_id == contact_id
            )
        ).all()
        assert factors == ["substance_use"]
        note = db.scalar(select(HelplineNoteRow).where(HelplineNoteRow.contact_id == contact_id))
        assert note is not None and b"thoughts" not in note.ciphertext
        assert read_note(db, keys.cipher, contact_id) == body["note"]
    events = _events(loaded, "helpline.contact.add")
    assert [(e.actor, e.target_id) for e in events] == [("counsellor-one", str(contact_id))]
    assert "thoughts" not in events[0].detail


def _stored_contact(store: Store, contact_id: int) -> tuple[object, ...]:
    with store.session() as db:
        row = db.get(HelplineContactRow, contact_id)
        assert row is not None
        factors = db.scalars(
            select(HelplineRiskFactorRow.factor).where(
                HelplineRiskFactorRow.contact_id == contact_id
            )
        ).all()
        return (row.year, row.month, row.caller_type, row.age_band, row.channel, *factors)


@pytest.mark.parametrize(
    ("key", "change", "differing"),
    [
        (
            {"entry_key": "form-aaaaaaaaaaaaaaaa"},
            {"month": "2025-02", "age_band": "36_plus"},
            "month, age_band",
        ),
        ({"entry_key": "form-bbbbbbbbbbbbbbbb"}, {"note": "Called back about it."}, "note"),
        ({"contact_id": "HL-0042"}, {"caller_type": "professional"}, "caller_type, concern"),
        ({"contact_id": "HL-0043"}, {"risk_factors": "unknown"}, "risk_factors"),
    ],
)
def test_a_key_sent_again_with_other_content_is_a_conflict(
    api: dict[Role, TestClient],
    loaded: Store,
    key: dict[str, str],
    change: dict[str, object],
    differing: str,
) -> None:
    """A form sent again after an edit, or a reference another contact has: the answer was
    "unchanged" with the values just sent, which the store did not hold. Now nothing changes,
    the answer says so, and the trail names the contact met and the fields that differ."""
    client = api[Role.COUNSELLOR]
    first = client.post("/api/helpline/contacts", json=_contact(**key))
    assert first.status_code == 201, first.text
    contact_id = first.json()["contact"]
    before = _stored_contact(loaded, contact_id)
    conflict = client.post("/api/helpline/contacts", json=_contact(**key, **change))
    assert conflict.status_code == 409, conflict.text
    answer = conflict.json()
    assert (answer["status"], answer["contact"], answer["coded"]) == ("conflict", None, None)
    [problem] = answer["problems"]
    assert problem["field"] == next(iter(key)) and "nothing was changed" in problem["rule"]
    assert "36_plus" not in conflict.text and "Called back" not in conflict.text
    assert _stored_contact(loaded, contact_id) == before
    with loaded.session() as db:
        count = db.scalar(select(func.count()).select_from(HelplineContactRow))
    assert count == HELPLINE_CONTACTS + 1
    [event] = _events(loaded, "helpline.contact.conflict")
    detail = json.loads(event.detail)
    assert (event.actor, event.target_id) == ("counsellor-one", str(contact_id))
    assert (detail["matched"], detail["differing"]) == (next(iter(key)), differing)
    assert len(_events(loaded, "helpline.contact.add")) == 1
    same = client.post("/api/helpline/contacts", json=_contact(**key))
    assert same.status_code == 200 and same.json() == first.json() | {"status": "unchanged"}


def test_the_answer_shows_the_coding_the_store_holds(
    api: dict[Role, TestClient], loaded: Store
) -> None:
    """Every coded field as the store gives it back, spelt as the entry spells it."""
    body = _contact(
        contact_id="HL-0077",
        contact_kind="repeat",
        caller_token="blue-heron",
        concern="viewing_csam",
        gender="male",
        risk_factors=[
            {"factor": "substance_use", "basis": "assessed"},
            {"factor": "escalating_pornography", "basis": "stated"},
        ],
        help_needs=["wants_to_stop", "crisis"],
        action="referral",
        referral="forensic_outpatient",
        note="Will call again.",
    )
    stored = api[Role.COUNSELLOR].post("/api/helpline/contacts", json=body)
    assert stored.status_code == 201, stored.text
    report = ContactReport.model_validate(body)
    with loaded.session() as db:
        row = db.get(HelplineContactRow, stored.json()["contact"])
        assert row is not None
        assert stored_coding(db, row) == report.coded() == stored.json()["coded"]
    again = api[Role.COUNSELLOR].post("/api/helpline/contacts", json=body)
    assert again.status_code == 200 and again.json()["coded"] == report.coded()
    assert again.json()["note"] == "stored encrypted"


def test_an_identifier_in_the_note_is_refused_or_redacted(
    api: dict[Role, TestClient], loaded: Store
) -> None:
    client = api[Role.COUNSELLOR]
    with loaded.session() as db:
        before = db.scalar(select(func.count()).select_from(HelplineContactRow))
    refused = client.post(
        "/api/helpline/contacts", json=_contact(note="call him on +31 6 1234 5678")
    )
    assert refused.status_code == 422
    assert [p["field"] for p in refused.json()["problems"]] == ["note"]
    assert "phone number" in refused.json()["problems"][0]["rule"]
    assert "1234" not in refused.text
    redacted = client.post(
        "/api/helpline/contacts",
        json=_contact(note="mail x@example.org later", on_identifier="redact"),
    )
    assert redacted.status_code == 201
    assert redacted.json()["warnings"] == [{"field": "note", "rule": "redacted email address ×1"}]
    keys = IngestKeys.from_store(loaded)
    with loaded.session() as db:
        after = db.scalar(select(func.count()).select_from(HelplineContactRow))
        note = read_note(db, keys.cipher, redacted.json()["contact"])
    assert after == (before or 0) + 1
    assert note == "mail [email address removed] later"
    invalid = client.post("/api/helpline/contacts", json=_contact(age_band="teen"))
    assert invalid.status_code == 422
    assert invalid.json()["problems"][0]["field"] == "age_band"


@pytest.mark.parametrize(
    "body",
    [
        b'{"month": "2025-04", "age_band": "under_18", "age_band": "36_plus"}',
        b'{"month": "2025-04", "caller_type": "self_concerned", "risk_factors": '
        b'[{"factor": "substance_use", "basis": "stated", "basis": "assessed"}]}',
    ],
)
def test_a_field_given_twice_is_refused_not_the_last_one_kept(
    api: dict[Role, TestClient], loaded: Store, body: bytes
) -> None:
    """JSON readers keep the last of two values of a key: the entry would have stored a value
    the counsellor's client may not have meant, and dropped the other without a word."""
    with loaded.session() as db:
        before = db.scalar(select(func.count()).select_from(HelplineContactRow))
    refused = api[Role.COUNSELLOR].post(
        "/api/helpline/contacts", content=body, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["rule"] == "repeated_key"
    assert "given twice in one object" in refused.json()["detail"]
    with loaded.session() as db:
        assert db.scalar(select(func.count()).select_from(HelplineContactRow)) == before


@pytest.mark.parametrize("reference", ["0612345678", "198.51.100.77"])
def test_a_reference_holding_a_phone_number_or_address_is_refused(
    api: dict[Role, TestClient], loaded: Store, reference: str
) -> None:
    """The reference is stored in clear: the caller's number or address as the contact's key
    is refused with the field and rule named, as the same value is as a caller token."""
    with loaded.session() as db:
        before = db.scalar(select(func.count()).select_from(HelplineContactRow))
    refused = api[Role.COUNSELLOR].post(
        "/api/helpline/contacts", json=_contact(contact_id=reference)
    )
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["problems"]
    assert problem["field"] == "contact_id"
    assert problem["rule"].startswith("looks like a phone number, email or IP address")
    assert reference not in refused.text
    with loaded.session() as db:
        assert db.scalar(select(func.count()).select_from(HelplineContactRow)) == before


def test_the_entry_form_needs_its_csrf_token_and_keeps_values_on_refusal(loaded: Store) -> None:
    client, csrf = _page(loaded, "counsellor-one")
    form = client.get("/helpline/entry").text
    key = re.search(r'name="entry_key" value="([^"]+)"', form)
    assert key
    fields = {
        "entry_key": key.group(1),
        "month": "2025-05",
        "caller_type": "self_concerned",
        "risk_assessed": "escalating_pornography",
        "note": "reach me at 192.0.2.7",
    }
    assert client.post("/helpline/entry", data=fields).status_code == 403
    refused = client.post("/helpline/entry", data=fields | {"csrf_token": csrf})
    assert refused.status_code == 422
    assert "IPv4 address" in refused.text and 'value="2025-05"' in refused.text
    assert '<option value="escalating_pornography" selected>' in refused.text


def test_the_entry_form_sent_again_after_an_edit_changes_nothing(loaded: Store) -> None:
    """Back to a form already stored, edited and sent again: the page says nothing was
    changed and keeps the form's key, so sending it once more does not store a second
    contact either."""
    client, csrf = _page(loaded, "counsellor-one")
    key = re.search(r'name="entry_key" value="([^"]+)"', client.get("/helpline/entry").text)
    assert key
    fields = {"entry_key": key.group(1), "month": "2025-05", "caller_type": "self_concerned"}
    stored = client.post("/helpline/entry", data=fields | {"csrf_token": csrf})
    assert stored.status_code == 200 and "<dd>2025-05</dd>" in stored.text
    edited = fields | {"month": "2025-06", "csrf_token": csrf}
    for _ in range(2):
        refused = client.post("/helpline/entry", data=edited)
        assert refused.status_code == 409
        assert "this form was stored already, with other values; nothing was changed" in (
            refused.text
        )
        assert f'name="entry_key" value="{key.group(1)}"' in refused.text
    with loaded.session() as db:
        months = db.scalars(
            select(HelplineContactRow.month).where(HelplineContactRow.year == 2025)
        ).all()
    assert months == [5]


def test_statistics_are_protected_and_never_read_notes(api: dict[Role, TestClient]) -> None:
    client = api[Role.RESEARCHER]
    stats = client.get("/api/helpline/stats", params={"by": "year,age_band"}).json()
    min_cell = stats["min_cell"]
    units = [t["unit"] for t in stats["tables"]]
    assert len(units) == 2 and units[0] != units[1]
    for table in stats["tables"]:
        for row in table["cells"]:
            assert all(v is None or v == 0 or v >= min_cell for v in row), table["title"]
    for comparison in stats["comparisons"]:
        assert comparison["interval"] == "95% Wilson score"
        for group in comparison["groups"]:
            if group["share"] is not None:
                assert 0 <= group["low"] <= group["share"] <= group["high"] <= 1
    assert "note" not in json.dumps(stats).lower().replace("notes never", "")
    bad = client.get("/api/helpline/stats", params={"by": "note"})
    assert bad.status_code == 422 and bad.json()["location"] == "by"


@pytest.mark.parametrize("setting", [20.0, "25", True, 0])
def test_a_minimum_cell_setting_that_is_no_cell_size_is_a_server_fault(
    api: dict[Role, TestClient], loaded: Store, setting: object
) -> None:
    """The API, the statistics page and the monitor refuse to publish under a [helpline]
    min_cell they cannot use, as the command does: 20.0 read as the default 10 weakened the
    protection, and true read as 1 published every small cell."""
    loaded.settings.options["helpline"] = {"min_cell": setting}
    fault = "the server's settings need attention; the server's log says what"
    answer = api[Role.RESEARCHER].get("/api/helpline/stats", params={"by": "age_band,year"})
    assert (answer.status_code, answer.json()) == (500, {"detail": fault})
    client, _ = _page(loaded, "researcher-one")
    for page in ("/helpline/stats", "/monitor"):
        shown = client.get(page)
        assert shown.status_code == 500 and "settings need attention" in shown.text, page
        assert "<table" not in shown.text and "<svg" not in shown.text, page


def test_the_configured_minimum_cell_protects_the_statistics(
    api: dict[Role, TestClient], loaded: Store
) -> None:
    loaded.settings.options["helpline"] = {"min_cell": 40}
    stats = api[Role.RESEARCHER].get("/api/helpline/stats", params={"by": "age_band,year"})
    assert stats.status_code == 200 and stats.json()["min_cell"] == 40
    for table in stats.json()["tables"]:
        for row in table["cells"]:
            assert all(v is None or v == 0 or v >= 40 for v in row), table["title"]


def test_the_statistics_page_shows_both_units_and_charts(loaded: Store) -> None:
    client, _ = _page(loaded, "researcher-one")
    page = client.get("/helpline/stats").text
    assert "SYNTHETIC sample data" in page
    assert "contacts (stored)" in page and "callers, estimated (stored)" in page
    assert page.count("<svg") >= 3


def _custom_results(tmp_path: Path) -> list[dict[str, Any]]:
    """A run of two scenarios that are not shipped files: one that extends nl-status-quo under
    its name and changes a parameter, one of a name nothing ships."""
    custom = tmp_path / "custom-nl.toml"
    custom.write_text(
        '[scenario]\nextends = "nl-status-quo"\nname = "nl-status-quo"\n'
        'title = "CUSTOM: status quo with 100x known prevalence"\n'
        'description = "A what-if of our own."\n\n[detection.known]\n'
        'prevalence = { dist = "lognormal", low = 3e-4, high = 3e-3, assumption = "100x" }\n',
        encoding="utf-8",
    )
    own = tmp_path / "my-own.toml"
    own.write_text(
        '[scenario]\nextends = "nl-known-only"\ntitle = "Our own known-only variant"\n',
        encoding="utf-8",
    )
    return [
        json_safe(
            assess_scenario(
                load_scenario(path), 100, 1, sensitivity_draws=100, queue_cap=2_000
            ).as_dict()
        )
        for path in (custom, own)
    ]


def test_a_stored_run_of_own_scenarios_is_shown_as_their_own(
    loaded: Store, accounts_by_role: dict[Role, Account], tmp_path: Path
) -> None:
    with loaded.session() as session:
        save_run(session, _custom_results(tmp_path), draws=100, seed=1)
    client, _ = _page(loaded, "researcher-one")
    page = client.get("/assess/scenarios/nl-status-quo").text
    # The stored result's own title, description and file, not the shipped scenario's above them.
    assert "<h1>CUSTOM: status quo with 100x known prevalence" in page
    assert "A what-if of our own." in page and "custom-nl.toml" in page
    assert "not the shipped scenario file unchanged" in page
    assert "voluntary detection under the interim regulation)</h1>" not in page
    # A stored scenario of a name nothing ships has its page (it was linked, and answered 404).
    own = client.get("/assess/scenarios/my-own")
    assert own.status_code == 200 and "Our own known-only variant" in own.text
    assert client.get("/assess/scenarios/nothing-stored").status_code == 404
    overview = client.get("/assess").text
    assert "scenario files shipped with the package" not in overview
    assert "nl-status-quo: custom-nl.toml, not the shipped scenario file unchanged" in overview
    api = TestClient(
        client.app,
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {accounts_by_role[Role.RESEARCHER].token}"},
    )
    answer = api.get("/api/assess/scenarios/my-own").json()
    assert answer["shipped"] is False and answer["title"] == "Our own known-only variant"
    assert answer["result"]["shipped"] is False
    modified = api.get("/api/assess/scenarios/nl-status-quo").json()
    assert modified["shipped"] is True and modified["result"]["shipped"] is False
    built = assess_section.build(loaded)
    assert built is not None
    assert "shipped with the package" not in built.provenance
    assert "not the shipped scenario file unchanged" in built.provenance


def test_a_result_stored_before_its_origin_was_recorded_says_it_is_unknown(
    loaded: Store,
) -> None:
    old = [dict(result) for result in assessment_results()]
    for result in old:
        del result["shipped"], result["digest"]
    with loaded.session() as session:
        save_run(session, old, draws=200, seed=1)
    client, _ = _page(loaded, "researcher-one")
    page = client.get("/assess/scenarios/nl-targeted").text
    assert "origin unknown" in page
    assert "origin unknown" in client.get("/assess").text
