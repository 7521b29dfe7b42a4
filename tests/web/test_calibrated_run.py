"""A stored assessment run calibrated with triage's figures, as researchers see it.

The triage team calibrates with the exact figures of its export. A stored run is shown to
researchers (the monitor report, the assessment pages and API) beside the triage section, so it
takes only the figures that section publishes, and nothing in it, its simulated queue included,
gives a count back that the section withholds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from safeguarding.access.roles import Role
from safeguarding.assess.scenario import load_scenario
from safeguarding.assess.stored import latest_run
from safeguarding.store import Store
from safeguarding.triage import operations
from safeguarding.triage.policy import LEVELS
from safeguarding.triage.sample import load_sample
from safeguarding.web.auth import SESSION_COOKIE
from tests.cli_runner import invoke
from tests.web.conftest import Account, session_cookie

QUEUE_SHARES = ("queue.p1_share", "queue.p2_share", "queue.p3_share")


@pytest.fixture
def triage_export(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The demo's triage on sample seed 26 and its export: 120 reports in the offender queue,
    P3 (15) and informational (1) withheld there by the triage section."""
    load_sample(store, 26)
    operations.demo(store, 26)
    path = tmp_path / "stats.json"
    assert invoke(capsys, "triage", "stats", "--export", str(path)).code == 0
    return path


def _save_calibrated(capsys: pytest.CaptureFixture[str], export: Path) -> None:
    saved = invoke(
        capsys, "assess", "nl-status-quo", "--calibrate", str(export), "--draws", "300", "--save"
    )
    assert saved.code == 0, saved.err


def _arrivals(queue: dict[str, Any]) -> dict[str, int]:
    """Notifications the queue simulation drew at each level, over every volume it ran."""
    found = dict.fromkeys(LEVELS, 0)
    for run in queue["runs"]:
        for level in run["policies"]["fifo"]:
            found[level["level"]] += level["arrived"]
    return found


def test_a_stored_calibrated_run_gives_no_withheld_triage_count_back(
    store: Store,
    app: FastAPI,
    client: TestClient,
    accounts_by_role: dict[Role, Account],
    triage_export: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _save_calibrated(capsys, triage_export)
    researcher = accounts_by_role[Role.RESEARCHER]
    api = {"Authorization": f"Bearer {researcher.token}"}
    overview = client.get("/api/triage/overview", headers=api).json()
    reports, outcomes = overview["reports"], overview["outcomes"]["outcomes"]
    offender = reports["columns"].index("offender")
    shown = {
        level: row[offender] for level, row in zip(reports["rows"], reports["cells"], strict=True)
    }
    withheld = [level for level, count in shown.items() if count is None]
    assert withheld == ["P3", "informational"]
    export = json.loads(triage_export.read_text())
    exact = export["levels"]
    queue_total = reports["column_totals"][offender]
    assert queue_total == exact["reports"] == 120

    result = client.get("/api/assess/scenarios/nl-status-quo", headers=api).json()["result"]
    # The mix of levels would give P3 and informational back (a share of 120 each, and the
    # two together are published as the rest): the queue keeps the scenario's own shares.
    scenario = load_scenario("nl-status-quo")
    assert result["queue"]["level_shares"] == {
        name.removeprefix("queue.").removesuffix("_share").upper(): scenario[name].dist.mean()
        for name in QUEUE_SHARES
    }
    replaced = {item["name"]: item for item in result["replaced"]}
    kept = {item["name"]: item["reason"] for item in result["kept"]}
    assert not set(QUEUE_SHARES) & set(replaced)
    for name in QUEUE_SHARES:
        assert kept[name].startswith("not taken from stats.json: the triage section does not")
    # Nor do the simulated arrivals, an estimate of each level's share, give a withheld level's
    # count back.
    arrivals = _arrivals(result["queue"])
    for level in withheld:
        estimate = round(arrivals[level] / sum(arrivals.values()) * queue_total)
        assert estimate != round(exact["shares"][level] * exact["reports"])
    # The outcome counts it takes are the ones the triage section publishes.
    total = outcomes["total"]
    actionable, not_criminal = outcomes["column_totals"][:2]
    assert outcomes["columns"][:2] == ["actionable", "not_criminal"]
    assert replaced["police.actionable_share"]["reason"] == (
        f"observed {actionable} actionable of {total - not_criminal} reports with criminal "
        f"content ({total} with an outcome, {not_criminal} not criminal)"
    )

    cookie, _ = session_cookie(app, store, researcher.name)
    client.cookies.set(SESSION_COOKIE, cookie)
    seen = {
        "monitor": client.get("/monitor").text,
        "page": client.get("/assess/scenarios/nl-status-quo").text,
        "api": client.get("/api/assess/scenarios/nl-status-quo", headers=api).text,
        "latest": client.get("/api/assess/latest", headers=api).text,
    }
    for where, text in seen.items():
        assert "reports in the offender queue at" not in text, where
        # the export's source names the database and counts the synthetic outcomes
        assert store.display_url not in text and export["source"] not in text, where
    taken = f"observed {actionable} actionable of {total - not_criminal} reports with criminal"
    assert taken in seen["monitor"]


def test_with_nothing_withheld_the_stored_run_takes_every_figure_of_the_export(
    store: Store, triage_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (store.settings.home / "config.toml").write_text("[triage]\nmin_cell = 1\n")
    _save_calibrated(capsys, triage_export)
    exact = json.loads(triage_export.read_text())
    with store.session() as session:
        (result,) = latest_run(session)
    assert result["triage_figures"] == "published"
    assert {item["name"] for item in result["replaced"]} == {
        "police.actionable_share",
        "police.minutes_per_notification",
        *QUEUE_SHARES,
    }
    shares = result["queue"]["level_shares"]
    assert shares == pytest.approx({lv: exact["levels"]["shares"][lv] for lv in shares}, abs=1e-12)
    # read back from the published hours of each level, rounded to 4 decimals of an hour
    minutes = result["queue"]["minutes_per_notification"]
    assert minutes == pytest.approx(exact["minutes_per_report"]["mean"], abs=1e-3)
    (observed,) = result["observed"]
    not_criminal = exact["rates"]["not_criminal_share"]
    assert (observed["value"], observed["low"], observed["high"]) == pytest.approx(
        (1 - not_criminal["value"], 1 - not_criminal["high"], 1 - not_criminal["low"])
    )
