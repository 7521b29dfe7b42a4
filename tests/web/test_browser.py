"""The pages in a real browser: Debian's Chromium driven by Playwright against the real app
served by uvicorn on loopback. No request may leave the app's origin, and the page must raise no
console error (a Content-Security-Policy violation would be one).

Chromium is a system package (``apt-get install chromium``), which a machine with only Python,
pip and make does not have: there these tests are skipped, saying so, as the PostgreSQL runs are
left out without a server. CI installs it and sets ``SAFEGUARDING_TEST_BROWSER``, which turns a
missing Chromium into a failure, so the browser tests can never silently stop running there."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from safeguarding.access import accounts, audit
from safeguarding.store import Store
from tests.web.conftest import PASSWORD, SETUP
from tests.web.served import served

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
REQUIRE_ENV = "SAFEGUARDING_TEST_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Live:
    base: str
    page: Page
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def expect_status(self, status: int) -> None:
        """The page will answer ``status``; Chromium logs that as a console error."""
        self.expected_statuses.add(status)

    def unexpected_errors(self) -> list[str]:
        return [
            error
            for error in self.console_errors
            if not any(f"status of {s} " in error for s in self.expected_statuses)
        ]


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    """Chromium with a fresh profile directory, kept off the network by its flags."""
    if not Path(CHROMIUM).is_file():
        missing = f"no Chromium at {CHROMIUM} (Debian's package chromium; .ci/run installs it)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{missing}, and {REQUIRE_ENV} asks for the browser tests")
        pytest.skip(missing)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield context
        context.close()


@pytest.fixture
def live(store: Store, browser: BrowserContext) -> Iterator[Live]:
    with store.session() as db:
        accounts.add_user(db, "root", "admin", PASSWORD, SETUP)
        accounts.add_user(db, "sam", "supervisor", PASSWORD, SETUP)
        audit.record(db, SETUP, "report.read", "report", "R-1")
    with served(store) as base:
        browser.clear_cookies()
        page = browser.new_page()
        state = Live(base=base, page=page)
        page.on(
            "console", lambda m: state.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on(
            "request",
            lambda r: None if r.url.startswith(base) else state.foreign_requests.append(r.url),
        )
        yield state
        page.close()
    assert state.unexpected_errors() == []
    assert state.foreign_requests == []


def _sign_in(live: Live, name: str, password: str = PASSWORD) -> None:
    live.page.goto(f"{live.base}/login")
    live.page.get_by_label("Name").fill(name)
    live.page.get_by_label("Password").fill(password)
    live.page.get_by_role("button", name="Sign in").click()


def test_a_person_makes_an_api_token_for_their_scripts_and_revokes_it(live: Live) -> None:
    _sign_in(live, "sam")
    page = live.page
    page.get_by_role("navigation", name="main").get_by_role("link", name="My API tokens").click()
    expect(page.get_by_role("heading", name="My API tokens")).to_be_visible()
    page.get_by_label("Label").fill("nightly export")
    page.get_by_label("Days it works").fill("30")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_have_text(re.compile(r"^sgt_"))
    row = page.locator("#tokens tbody tr", has_text="nightly export")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("#tokens tbody tr", has_text="nightly export")).to_contain_text("revoked")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once, on creation only


def test_sign_in_with_the_right_password_and_out_again(live: Live) -> None:
    _sign_in(live, "sam")
    page = live.page
    expect(page.get_by_role("heading", name="Welcome, sam")).to_be_visible()
    nav = page.get_by_role("navigation", name="main")
    expect(nav.get_by_role("link")).to_have_text(
        [
            "Home",
            "My API tokens",
            "Evidence base",
            "Monitor report",
            "Audit log",
            "Queue",
            "Subjects",
            "Content clusters",
            "Hash lists",
            "Triage run",
            "Platforms",
            "Assessment",
            "Helpline statistics",
        ]
    )
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{live.base}/audit")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faudit$"))


def test_a_wrong_password_is_refused(live: Live) -> None:
    live.expect_status(401)
    _sign_in(live, "sam", "not the password at all")
    expect(live.page.get_by_role("alert")).to_have_text("Wrong name or password.")
    expect(live.page).to_have_url(f"{live.base}/login")
    assert live.page.context.cookies() and all(
        c["name"] != "sg_session" for c in live.page.context.cookies()
    )


def test_a_form_with_a_forged_csrf_token_is_refused(live: Live) -> None:
    live.expect_status(403)
    _sign_in(live, "root")
    page = live.page
    page.goto(f"{live.base}/users")
    page.eval_on_selector(
        "#add-user input[name=csrf_token]", "el => el.value = 'forged-token-value'"
    )
    page.locator("#add-user").get_by_label("Name").fill("mallory")
    page.locator("#add-user").get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("CSRF token is missing or wrong")
    page.goto(f"{live.base}/users")
    expect(page.locator("#users")).not_to_contain_text("mallory")


def test_the_evidence_page_filters_as_you_type(live: Live) -> None:
    _sign_in(live, "sam")
    page = live.page
    page.get_by_role("link", name="Evidence base").first.click()
    count = page.locator("#figures .count")
    expect(count).to_contain_text(re.compile(r"^(\d+) of \1 figures$"))
    total = int(count.inner_text().split()[0])
    page.get_by_label("Tag").select_option("U")
    expect(count).not_to_have_text(f"{total} of {total} figures")
    assert (
        page.locator("#figures tbody tr .tag").all_inner_texts()
        == ["U"] * page.locator("#figures tbody tr").count()
    )
    expect(page).to_have_url(re.compile(r"tag=U"))
    page.locator("#figures tbody a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(".")
    expect(page.locator("dl.facts")).to_contain_text("Source")


def test_the_audit_page_verifies_the_chain(live: Live) -> None:
    _sign_in(live, "sam")
    page = live.page
    page.goto(f"{live.base}/audit")
    expect(page.locator("#audit tbody")).to_contain_text("report.read")
    expect(page.locator("#audit tbody")).to_contain_text("login")
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_role("status")).to_contain_text("Chain intact")


def test_an_admin_adds_a_user_issues_a_token_and_disables_the_user(live: Live) -> None:
    _sign_in(live, "root")
    page = live.page
    page.get_by_role("navigation", name="main").get_by_role("link", name="Users").click()
    form = page.locator("#add-user")
    form.get_by_label("Name").fill("prov-x")
    form.get_by_label("Role").select_option("provider")
    form.get_by_role("button", name="Add").click()
    row = page.locator('tr[data-user="prov-x"]')
    expect(row).to_contain_text("provider")
    expect(row).to_contain_text("API only")
    row.get_by_label("token label for prov-x").fill("upload")
    row.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token")
    expect(token).to_have_text(re.compile(r"^sgt_"))
    page.goto(f"{live.base}/users")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("#tokens")).to_contain_text("upload")
    page.locator('tr[data-user="prov-x"]').get_by_role("button", name="Disable").click()
    expect(page.locator('tr[data-user="prov-x"]')).to_contain_text("disabled")
