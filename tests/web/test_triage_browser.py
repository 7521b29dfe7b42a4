"""The triage pages in Chromium (as ``test_browser.py``): the queue, opening a report, recording an
outcome through the form, re-running the triage. No request may leave the app's origin and no
console error may occur (the ``live`` fixture checks both after each test)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from safeguarding.access import audit
from safeguarding.store import Store
from safeguarding.store.models import TriageOutcome
from safeguarding.store.models.access import AuditEventRow
from tests.web.test_browser import Live, _sign_in, browser, live
from tests.web.triage_data import seed_triage

pytestmark = pytest.mark.browser
__all__ = ["browser", "live"]


def _actions(store: Store, actor: str) -> list[tuple[str, str]]:
    with store.session() as db:
        return [
            (row.action, row.target_id)
            for row in db.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.actor == actor)
                .order_by(AuditEventRow.seq)
            )
        ]


def test_the_queue_page_plans_against_the_capacity_given(live: Live, store: Store) -> None:
    seed_triage(store)
    _sign_in(live, "sam")
    page = live.page
    page.get_by_role("navigation", name="main").get_by_role("link", name="Queue").click()
    expect(page.get_by_role("heading", name="Triage queue")).to_be_visible()
    expect(page.locator("#plan-summary")).to_contain_text("work items")
    assert page.locator("#queue tbody tr").count() > 0
    page.get_by_label("Capacity (hours)").fill("0")
    page.get_by_role("button", name="Plan").click()
    expect(page).to_have_url(re.compile(r"capacity_hours=0"))
    expect(page.locator("#plan-summary")).to_contain_text(": 0 items handled")
    expect(page.locator("#queue tbody")).not_to_contain_text("handled")
    expect(page.locator("#queue tbody")).not_to_contain_text("started")
    # Less than any item's estimate: the first item is started, and the rest wait.
    page.get_by_label("Capacity (hours)").fill("0.01")
    page.get_by_role("button", name="Plan").click()
    expect(page.locator("#plan-summary")).to_contain_text("of which 1 started")
    expect(page.locator("#queue tbody tr").first).to_contain_text("started")
    expect(page.locator("#queue tbody tr").nth(1)).to_contain_text("waits")


def test_opening_a_report_and_recording_its_outcome_through_the_form(
    live: Live, store: Store
) -> None:
    seed_triage(store)
    _sign_in(live, "sam")
    page = live.page
    page.goto(f"{live.base}/queue")
    link = page.locator("#queue tbody a[href^='/reports/']").first
    report = int(link.inner_text())
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Report {report}")
    expect(page.locator("#priority")).to_contain_text("policy default@")
    expect(page.locator("#files")).to_contain_text("md5")
    expect(page.locator("img")).to_have_count(0)
    expect(page.locator("#outcome")).to_have_text("none recorded")
    form = page.locator("#outcome-form")
    form.get_by_label("Result").select_option("not_criminal")
    form.get_by_label("Reason (not criminal only)").select_option("adult")
    form.get_by_label("Minutes").fill("7")
    form.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_role("status")).to_have_text("Outcome recorded.")
    expect(page.locator("#outcome")).to_contain_text("not_criminal (adult), 7.0 minutes")
    with store.session() as db:
        stored = db.get(TriageOutcome, report)
        assert stored is not None and (stored.result, stored.reason, stored.minutes) == (
            "not_criminal", "adult", 7.0,
        )  # fmt: skip
        assert audit.verify(db).ok
    actions = _actions(store, "sam")
    assert ("report.read", str(report)) in actions
    assert actions.index(("outcome.record", str(report))) > actions.index(
        ("report.read", str(report))
    )
    page.goto(f"{live.base}/queue")
    expect(page.locator(f"#queue tbody a[href='/reports/{report}']")).to_have_count(0)


def test_a_wrong_outcome_is_refused_and_nothing_is_stored(live: Live, store: Store) -> None:
    seeded = seed_triage(store)
    live.expect_status(422)
    _sign_in(live, "sam")
    page = live.page
    page.goto(f"{live.base}/reports/{seeded.report}")
    form = page.locator("#outcome-form")
    form.get_by_label("Result").select_option("not_criminal")
    form.get_by_label("Minutes").fill("3")
    form.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_role("alert")).to_contain_text("needs a reason")
    with store.session() as db:
        assert db.get(TriageOutcome, seeded.report) is None


def test_a_supervisor_reruns_the_triage_and_sees_the_level_changes(
    live: Live, store: Store
) -> None:
    seed_triage(store)
    _sign_in(live, "sam")
    page = live.page
    page.get_by_role("navigation", name="main").get_by_role("link", name="Triage run").click()
    page.get_by_role("button", name="Run the triage").click()
    expect(page.locator("#run-result")).to_contain_text(
        re.compile(r"Level changed for 0 of 12 earlier scored reports")
    )
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    assert ("triage.run", "2") in _actions(store, "sam")
