"""The platform, assessment and helpline pages in Debian's Chromium: the helpline entry form end
to end, and every server-rendered chart laid out with a real size. The ``live`` fixture (from
``test_browser``) fails a test on any console error (a CSP violation would be one) and on any
request to another origin."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from safeguarding.access import accounts
from safeguarding.helpline.importer import IngestKeys
from safeguarding.helpline.notes import read_note
from safeguarding.store import Store
from safeguarding.store.models.helpline import HelplineContactRow, HelplineHelpNeedRow
from tests.web.areas_data import load_all
from tests.web.conftest import PASSWORD, SETUP
from tests.web.test_browser import Live, _sign_in, browser, live

pytestmark = pytest.mark.browser
__all__ = ["browser", "live"]

# Each page with charts, and how many SVG charts it must lay out at least.
CHART_PAGES = {
    "/platforms/risk": 1,
    "/platforms/stages": 2,
    "/assess": 2,
    "/assess/scenarios/nl-targeted": 5,
    "/helpline/stats": 3,
}
SVG_SIZES = """() => Array.from(document.querySelectorAll('main svg'))
  .filter((svg) => !svg.parentElement.closest('svg'))
  .map((svg) => {
    const box = svg.getBoundingClientRect();
    return [box.width, box.height, svg.querySelectorAll('path, rect, line, text').length];
  })"""


def _contacts(store: Store) -> int:
    with store.session() as db:
        return int(db.scalar(select(func.count()).select_from(HelplineContactRow)) or 0)


def test_a_counsellor_enters_a_contact_and_an_identifier_is_refused_then_redacted(
    live: Live, store: Store
) -> None:
    with store.session() as db:
        accounts.add_user(db, "cora", "counsellor", PASSWORD, SETUP)
    _sign_in(live, "cora")
    page = live.page
    nav = page.get_by_role("navigation", name="main")
    expect(nav.get_by_role("link")).to_have_text(["Home", "My API tokens", "Helpline entry"])
    nav.get_by_role("link", name="Helpline entry").click()
    page.get_by_label("Month").fill("2025-03")
    page.locator("select[name=channel]").select_option("phone")
    page.locator("select[name=caller_type]").select_option("self_concerned")
    page.locator("select[name=age_band]").select_option("22_26")
    page.locator("select[name=risk_stated]").select_option(["substance_use", "own_victimisation"])
    page.locator("select[name=risk_assessed]").select_option(["escalating_pornography"])
    page.locator("select[name=needs_recorded]").select_option("recorded")
    page.locator("select[name=help_needs]").select_option(["wants_to_stop", "crisis"])
    page.locator("textarea[name=note]").fill("He gave his number 06-12345678 for a call back.")
    page.get_by_role("button", name="Store contact").click()
    live.expect_status(422)
    expect(page.locator("#refused")).to_contain_text("phone number")
    assert _contacts(store) == 0
    # The form kept what was entered; now let the identifier be removed.
    expect(page.get_by_label("Month")).to_have_value("2025-03")
    page.locator("select[name=on_identifier]").select_option("redact")
    page.get_by_role("button", name="Store contact").click()
    expect(page.locator("#note-warning")).to_contain_text("redacted phone number ×1")
    expect(page.locator("#stored")).to_contain_text("stored")
    expect(page.locator("#stored")).to_contain_text("escalating_pornography (assessed)")
    assert _contacts(store) == 1
    keys = IngestKeys.from_store(store)
    with store.session() as db:
        contact = db.scalars(select(HelplineContactRow)).one()
        assert (contact.year, contact.month, contact.age_band) == (2025, 3, "22_26")
        needs = db.scalars(
            select(HelplineHelpNeedRow.need).where(HelplineHelpNeedRow.contact_id == contact.id)
        ).all()
        assert sorted(needs) == ["crisis", "wants_to_stop"]
        note = read_note(db, keys.cipher, contact.id)
    assert note == "He gave his number [phone number removed] for a call back."
    # A fresh form: sending it again would be a new contact, not the one just stored.
    expect(page.get_by_label("Month")).to_have_value("")


def test_every_chart_renders_with_a_size_and_without_scripts(live: Live, store: Store) -> None:
    load_all(store)
    _sign_in(live, "sam")
    page = live.page
    for path, at_least in CHART_PAGES.items():
        page.goto(f"{live.base}{path}")
        sizes = page.evaluate(SVG_SIZES)
        assert len(sizes) >= at_least, (path, sizes)
        for width, height, marks in sizes:
            assert width > 0 and height > 0 and marks > 0, (path, sizes)
        assert page.locator("main script").count() == 0, path
    page.goto(f"{live.base}/assess")
    page.locator("select[name=scenarios]").select_option(["nl-status-quo"])
    page.get_by_label("Draws").fill("100")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Scenario run")).to_be_visible()
    sizes = page.evaluate(SVG_SIZES)
    assert len(sizes) >= 5 and all(w > 0 and h > 0 and m > 0 for w, h, m in sizes), sizes
