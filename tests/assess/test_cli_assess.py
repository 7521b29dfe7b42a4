"""``safeguarding assess`` end to end: tables, JSON, charts, errors, calibration and the store."""

from __future__ import annotations

import json
import re
import warnings
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest

from safeguarding.assess.assessment import KEY_OUTPUTS, assess_scenario
from safeguarding.assess.calibration import calibrate, exact_figures
from safeguarding.assess.exports import read_triage_stats
from safeguarding.assess.montecarlo import simulate, summarise
from safeguarding.assess.queue_sim import NEAR_FULL_MAX
from safeguarding.assess.scenario import MAX_NAME_LENGTH, MAX_REGION_LENGTH, load_scenario
from safeguarding.assess.stored import json_safe, latest_run, save_run
from safeguarding.cli.assess import MAX_DRAWS, cell
from safeguarding.errors import ValidationError
from safeguarding.reporting.monitor import render_monitor
from safeguarding.reporting.sections import assess as section
from safeguarding.store import Store
from safeguarding.store.models import AssessResultRow
from tests.cli_runner import invoke

DATA = Path(__file__).parent.parent / "data"


def test_list_shows_the_shipped_scenarios(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    result = invoke(capsys, "assess", "--list", "--json")
    assert result.code == 0
    names = {row["name"] for row in json.loads(result.out)}
    assert {"eu-status-quo", "nl-detection-orders", "nl-proactive"} <= names


def test_checks_pass_and_print(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    result = invoke(capsys, "assess", "--checks", "--json")
    assert result.code == 0, result.err
    checks = json.loads(result.out)
    assert all(c["passed"] for c in checks)
    assert {c["evidence"] for c in checks} == {
        "scientists.whatsapp.2024",
        "ch.fedpol.ncmec",
        "de.bka.ncmec",
        "ncmec.bundling.2024",
    }
    table = invoke(capsys, "assess", "--checks")
    assert table.code == 0 and "published figures" in table.out


def test_two_scenarios_as_json_with_charts(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "charts"
    args = ["assess", "nl-status-quo", "nl-known-only", "--draws", "500", "--seed", "4"]
    result = invoke(capsys, *args, "--json", "--out", str(out))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [s["scenario"] for s in data["scenarios"]] == ["nl-status-quo", "nl-known-only"]
    first = data["scenarios"][0]
    assert first["draws"] == 500 and first["seed"] == 4
    assert data["scenarios"][1]["technologies"] == [
        "known-material hash matching (images and videos)"
    ]
    assert first["outputs"]["capacity_share"]["inputs"]["evidence"]
    assert {row["output"] for row in data["comparison"]} >= {"capacity_share", "ppv_forwarded"}
    svgs = sorted(p.name for p in out.glob("*.svg"))
    assert "capacity.svg" in svgs and "waiting.svg" in svgs
    assert "funnel-nl-status-quo.svg" in svgs
    assert "tornado-nl-known-only-capacity_share.svg" in svgs
    assert (out / "capacity.svg").read_text(encoding="utf-8").startswith("<svg")
    again = json.loads(invoke(capsys, *args, "--json").out)
    assert again["scenarios"] == data["scenarios"]


def test_table_output_has_a_comparison(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    result = invoke(capsys, "assess", "nl-status-quo", "nl-proactive", "--draws", "300")
    assert result.code == 0, result.err
    assert "Comparison" in result.out and "capacity_share" in result.out
    # Assumptions that evidence informs are counted apart from the parameters that rest on
    # evidence, they were all "cite evidence" (display.computed_from has the wording).
    printed = re.sub(r"[│\s]+", " ", result.out)
    assert "informed" in printed and "cite evidence" not in printed


def test_calibrate_says_what_it_replaced(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    result = invoke(
        capsys,
        "assess",
        "nl-status-quo",
        "--draws",
        "300",
        "--calibrate",
        str(DATA / "triage-outcome-stats.json"),
    )
    assert result.code == 0, result.err
    assert "replaced police.actionable_share" in result.out
    assert "replaced police.minutes_per_notification" in result.out
    assert "replaced police.hours_per_investigation" not in result.out
    assert "kept police.hours_per_investigation: pert(40, 120, 400)" in result.out
    assert "2 from data files" in re.sub(r"[│\s]+", " ", result.out)
    assert "observed ppv_forwarded: 75.0% [70.5%–79.0%]" in result.out


def test_services_scope_the_targeted_scenario(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    services = str(DATA / "high-risk-services.json")
    result = invoke(
        capsys, "assess", "eu-targeted", "--draws", "300", "--services", services, "--json"
    )
    assert result.code == 0, result.err
    replaced = {r["name"] for r in json.loads(result.out)["scenarios"][0]["replaced"]}
    assert "volume.messages_per_day" in replaced
    wrong = invoke(capsys, "assess", "eu-status-quo", "--draws", "300", "--services", services)
    assert wrong.code == 2
    assert "targeted" in wrong.err


def test_a_bad_scenario_is_one_line_with_key_and_line(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\n[police]\n'
        'capacity_hours = { value = -3, assumption = "x" }\n',
        encoding="utf-8",
    )
    result = invoke(capsys, "assess", str(path))
    assert result.code == 1
    assert result.err.strip() == (
        "error: bad.toml:5: police.capacity_hours: must be greater than 0 (got -3)"
    )
    assert invoke(capsys, "assess").code == 2


def test_save_stores_the_run_and_the_report_shows_it(
    capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    result = invoke(
        capsys, "assess", "nl-status-quo", "nl-detection-orders", "--draws", "300", "--save"
    )
    assert result.code == 0, result.err
    # Detection orders swamp the Dutch team: under first in, first out most P1 notifications of
    # the year wait longer than the year, and the tables say so rather than give a number.
    printed = " ".join(result.out.split())
    assert "Queue waits per level" in printed and "> 365 d" in printed
    with store.session() as session:
        stored = latest_run(session)
    assert [r["scenario"] for r in stored] == ["nl-status-quo", "nl-detection-orders"]
    fifo_p1 = stored[1]["queue"]["runs"][1]["policies"]["fifo"][0]
    assert fifo_p1["median_days"] is None and fifo_p1["median_beyond_horizon"]
    built = section.build(store)
    assert built is not None
    assert "nl-detection-orders" in built.body and "<svg" in built.body
    assert "<td>&gt; 365 d / &gt; 365 d" in built.body
    # What each output is computed from, folded away (no script: the report is self-contained).
    assert built.body.count("<details><summary>computed from</summary>") == len(KEY_OUTPUTS)
    assert "assumptions informed by evidence" in built.body and "<script" not in built.body
    assert "assumption" in built.body and "scientists.whatsapp.2024" in built.body
    # The parameter that reads an evidence value names the value, its year and its own tag.
    assert (
        'value read: <code>ncmec.bundling.2024:ratio:2024</code> <span class="tag tag-S"'
        in built.body
    )
    assert "300 draws" in built.provenance
    assert "Assessment of detection measures" in render_monitor(store)


def test_store_round_trip_keeps_the_latest_run(store: Store) -> None:
    results = [
        {
            "scenario": "a",
            "title": "A",
            "region": "EU",
            "x": float("nan"),
            "nested": [1.5],
            "file": "/srv/safeguarding/scenarios/a.toml",
        },
        {"scenario": "b", "title": "B", "region": "NL", "x": 2.0, "nested": []},
    ]
    with store.session() as session:
        save_run(session, results[:1], draws=10, seed=1, now=datetime(2026, 1, 1, tzinfo=UTC))
        run = save_run(session, results, draws=20, seed=2, now=datetime(2026, 2, 1, tzinfo=UTC))
    with store.session() as session:
        latest = latest_run(session)
    assert [r["scenario"] for r in latest] == ["a", "b"]
    assert latest[0]["run"] == run
    assert latest[0]["x"] is None and latest[1]["x"] == 2.0
    assert latest[0]["nested"] == json_safe(results[0])["nested"]
    # runs stored before results named their scenario file by name hold the server's path to it
    assert latest[0]["file"] == "a.toml" and "file" not in latest[1]


def test_a_run_with_exact_triage_figures_is_neither_stored_nor_shown(store: Store) -> None:
    # Stored runs are shown to researchers; an export's exact figures are the triage team's.
    exact_triage = exact_figures(read_triage_stats(DATA / "triage-outcome-stats.json"))
    calibrated = calibrate(load_scenario("nl-status-quo"), exact_triage)
    exact = json_safe(assess_scenario(calibrated, 100, 1, sensitivity_draws=100).as_dict())
    plain = json_safe(assess_scenario(load_scenario("nl-known-only"), 100, 1).as_dict())
    with store.session() as session, pytest.raises(ValidationError) as refused:
        save_run(session, [plain, exact], draws=100, seed=1)
    assert str(refused.value) == (
        "nl-status-quo: calibrated with exact triage figures; a stored run is shown to "
        "researchers and takes only the figures the triage section publishes"
    )
    with store.session() as session:
        shown = save_run(session, [plain], draws=100, seed=1, now=datetime(2026, 1, 1, tzinfo=UTC))
        # A run stored before results said which triage figures calibrated them took exact ones.
        earlier = {k: v for k, v in exact.items() if k != "triage_figures"}
        session.add(
            AssessResultRow(
                run="stored-before", position=0, scenario="nl-status-quo", title="t",
                region="NL", draws=100, seed=1, created_at=datetime(2026, 2, 1, tzinfo=UTC),
                result=earlier,
            )
        )  # fmt: skip
    with store.session() as session:
        assert [result["run"] for result in latest_run(session)] == [shown]


def _check_rows(html: str) -> dict[str, list[str]]:
    rows = [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", html)
    ]
    return {row[0]: row for row in rows if row}


def test_published_column_holds_only_what_the_source_states() -> None:
    # fedpol publishes only "7–20%": no midpoint under "published", and the interval column is
    # the model's own 90% interval, not the published bounds.
    table = section.published_checks_table()
    assert "<th>model&#x27;s 90% interval</th>" in table
    rows = _check_rows(table)
    share = rows["fedpol forwarded share within the published 7–20%"]
    assert share[2] == "range 0.07–0.2"
    assert share[3].startswith("median ")
    assert share[4] != "0.07–0.2"
    low, high = (float(x) for x in share[4].split("–"))
    assert low < float(share[3].removeprefix("median ")) < high
    assert "0.135" not in table
    # A check that computes one exact value has no interval to show.
    for name in (
        "false positives a day (scientists' example)",
        "NCMEC 2024 reports from incidents × bundling ratio",
        "NCMEC 2024 bundling ratio from reports / incidents",
    ):
        assert rows[name][3].startswith("exact ")
        assert rows[name][4] == "none (exact computation)"
    assert rows["fedpol cases forwarded 2017"][2] == "428"
    assert rows["fedpol cases forwarded 2017"][3].startswith("median ")


def test_a_seed_beyond_what_the_store_keeps_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    # A seed above 2**32 - 1 used to run, then fail when --save wrote it (20 digits overflow
    # SQLite's integer; on PostgreSQL the column stopped at 2**31 - 1).
    for seed in (2**32, 10**20):
        refused = invoke(capsys, "assess", "nl-status-quo", "--draws", "100", "--seed", str(seed))
        assert refused.code == 2
        assert "--seed" in refused.err and "4294967295" in refused.err
    kept = invoke(
        capsys, "assess", "nl-status-quo", "--draws", "100", "--seed", str(2**32 - 1), "--save"
    )
    assert kept.code == 0, kept.err
    with store.session() as session:
        (stored,) = latest_run(session)
    assert stored["seed"] == 2**32 - 1


def test_draws_beyond_the_limit_are_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    # 10**8 draws had no limit to meet: the run took memory until it failed or was killed.
    refused = invoke(capsys, "assess", "nl-status-quo", "--draws", str(MAX_DRAWS + 1))
    assert refused.code == 2
    assert "--draws" in refused.err and "1000000" in refused.err
    assert "unexpected" not in refused.err


def test_an_out_that_cannot_hold_the_charts_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    # Both failed with an unexpected FileExistsError or NotADirectoryError, after the run.
    a_file = tmp_path / "charts"
    a_file.write_text("mine")
    refused = invoke(capsys, "assess", "nl-status-quo", "--draws", "100", "--out", str(a_file))
    assert refused.code == 1
    assert refused.err == (
        f"error: --out {a_file} is a file, not a directory; give the directory to write to\n"
    )
    inside = a_file / "sub"
    refused = invoke(capsys, "assess", "nl-status-quo", "--draws", "100", "--out", str(inside))
    assert refused.code == 1
    assert refused.err == f"error: --out {inside}: cannot write (Not a directory)\n"
    assert a_file.read_text() == "mine"


LONG_NAME = "n" * (MAX_NAME_LENGTH + 1)


@pytest.mark.parametrize(
    ("stem", "lines", "error"),
    [
        (
            "nul",
            'title = "before\\u0000after"',
            "nul.toml:3: scenario.title: must not contain a NUL character (\\x00)",
        ),
        (
            "note",
            'title = "t"\n[police]\ncapacity_hours = { value = 5, assumption = "a\\u0000" }',
            "note.toml:5: police.capacity_hours.assumption: must not contain a NUL character "
            "(\\x00)",
        ),
        (
            "region",
            'title = "t"\nregion = "North Rhine-Westphalia"',
            "region.toml:4: scenario.region: 22 characters; a region is a short code such as EU "
            "or NL, at most 20",
        ),
        (
            "named",
            f'title = "t"\nname = "{LONG_NAME}"',
            "named.toml:4: scenario.name: 121 characters; a scenario's name is at most 120",
        ),
        (
            LONG_NAME,
            'title = "t"',
            f"{LONG_NAME}.toml:1: scenario.name: the file's name without .toml names the scenario "
            'and is 121 characters; a scenario\'s name is at most 120: set name = "..." in '
            "[scenario] or rename the file",
        ),
    ],
    ids=["nul-title", "nul-assumption", "long-region", "long-name", "long-file-name"],
)
def test_a_scenario_no_store_can_hold_is_refused_alike_on_every_backend(
    capsys: pytest.CaptureFixture[str],
    store: Store,
    tmp_path: Path,
    stem: str,
    lines: str,
    error: str,
) -> None:
    # PostgreSQL refuses a NUL in text and a value longer than its column, where SQLite keeps
    # both: --save failed with a DataError on one backend and stored the run on the other.
    path = tmp_path / f"{stem}.toml"
    path.write_text(f'[scenario]\nextends = "nl-status-quo"\n{lines}\n', encoding="utf-8")
    result = invoke(capsys, "assess", str(path), "--draws", "100", "--save")
    assert (result.code, result.err.strip()) == (1, f"error: {error}")
    with store.session() as session:
        assert latest_run(session) == []


def test_a_name_and_region_at_their_limits_are_stored_on_every_backend(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    stem = "n" * MAX_NAME_LENGTH
    path = tmp_path / f"{stem}.toml"
    region = "r" * MAX_REGION_LENGTH
    path.write_text(
        f'[scenario]\nextends = "nl-status-quo"\ntitle = "Ünïcode"\nregion = "{region}"\n',
        encoding="utf-8",
    )
    result = invoke(capsys, "assess", str(path), "--draws", "100", "--save")
    assert result.code == 0, result.err
    with store.session() as session:
        (stored,) = latest_run(session)
    assert (stored["scenario"], stored["region"], stored["title"]) == (stem, region, "Ünïcode")


def test_limits_are_the_stored_columns_and_hold_for_every_writer_of_runs(store: Store) -> None:
    columns = AssessResultRow.__table__.c
    assert (columns.scenario.type.length, columns.region.type.length) == (
        MAX_NAME_LENGTH,
        MAX_REGION_LENGTH,
    )
    # A result that did not come from a scenario file is held to the same rules.
    refused = {
        "region": ({"scenario": "a", "title": "A", "region": "r" * 21}, "'a': region: 21 "
                   "characters, at most 20"),
        "title": ({"scenario": "a", "title": "A\x00", "region": "EU"}, "'a': title: must not "
                  "contain a NUL character (\\x00)"),
        "scenario": ({"scenario": "a" * 121, "title": "A", "region": "EU"}, f"{'a' * 121!r}: "
                     "scenario: 121 characters, at most 120"),
    }  # fmt: skip
    for field, (result, message) in refused.items():
        with store.session() as session, pytest.raises(ValidationError) as error:
            save_run(session, [result], draws=10, seed=1)
        assert (str(error.value), error.value.location) == (message, field)
    with store.session() as session:
        assert latest_run(session) == []


def test_scenarios_of_one_name_are_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    # Both files are called x.toml and name no scenario: they used to share one column of the
    # comparison and one funnel-x.svg, the second overwriting the first.
    files = []
    for folder, title in (("a", "first"), ("b", "second")):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "x.toml"
        path.write_text(f'[scenario]\nextends = "nl-status-quo"\ntitle = "{title}"\n', "utf-8")
        files.append(str(path))
    out = tmp_path / "charts"
    result = invoke(capsys, "assess", *files, "--draws", "100", "--out", str(out))
    assert result.code == 1
    assert result.err.strip() == (
        f"error: two scenarios are named 'x' ({files[0]} and {files[1]}); a run keys its "
        'comparison, charts and stored rows by name: set name = "..." in the [scenario] table '
        "of one of them"
    )
    assert not out.exists()
    twice = invoke(capsys, "assess", "nl-status-quo", "nl-status-quo", "--draws", "100")
    assert twice.code == 1
    assert twice.err.strip() == (
        "error: scenario 'nl-status-quo' is given twice (nl-status-quo.toml); give each scenario "
        "once"
    )
    renamed = tmp_path / "b" / "x.toml"
    renamed.write_text(
        '[scenario]\nextends = "nl-status-quo"\ntitle = "second"\nname = "y"\n', "utf-8"
    )
    both = invoke(capsys, "assess", *files, "--draws", "100", "--json")
    assert both.code == 0, both.err
    assert [s["scenario"] for s in json.loads(both.out)["scenarios"]] == ["x", "y"]


def test_no_police_hours_is_refused_naming_the_field(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    # capacity_share = hours needed / capacity: with 0 hours every draw was NaN, and --out
    # crashed in the tornado chart on the None that NaN is stored as.
    path = tmp_path / "none.toml"
    path.write_text(
        '[scenario]\nextends = "nl-status-quo"\ntitle = "t"\n\n[police]\n'
        'capacity_hours = { value = 0, assumption = "x" }\n',
        encoding="utf-8",
    )
    result = invoke(capsys, "assess", str(path), "--out", str(tmp_path / "out"))
    assert result.code == 1
    assert result.err.strip() == (
        "error: none.toml:6: police.capacity_hours: must be greater than 0 (got 0)"
    )


def test_an_undefined_output_draws_no_bar_and_prints_no_warning(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    # Nothing deployed, nothing forwarded: PPV is 0/0 in every draw, a legitimate "undefined"
    # that the charts must leave out rather than crash on, without numpy's RuntimeWarnings.
    path = tmp_path / "nothing.toml"
    path.write_text(
        '[scenario]\nextends = "nl-status-quo"\ntitle = "nothing deployed"\n\n'
        + "".join(
            f'[detection.{tech}]\ncoverage = {{ value = 0, assumption = "x" }}\n'
            for tech in ("known", "new", "grooming")
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke(capsys, "assess", str(path), "--draws", "300", "--out", str(out), "--json")
    assert result.code == 0, result.err
    assert [str(w.message) for w in caught] == []
    data = json.loads(result.out)["scenarios"][0]
    assert data["outputs"]["ppv_forwarded"]["median"] is None
    assert data["outputs"]["ppv_forwarded"]["undefined"] == 1.0
    assert data["outputs"]["forwarded"]["undefined"] == 0.0
    assert all(bar["low_output"] is None for bar in data["sensitivity"]["ppv_forwarded"]["tornado"])
    tornado = (out / "tornado-nothing-ppv_forwarded.svg").read_text(encoding="utf-8")
    assert "<svg" in tornado
    assert cell(data["outputs"]["ppv_forwarded"]) == "– [–––] (100.0% of draws undefined)"


def test_waits_too_near_full_load_are_named_and_not_given(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    # Detection orders forward about 2 M notifications a year to the Dutch police, more than the
    # million the queue follows one by one near full load. With the capacity set to exactly what
    # assessing them takes (load 1 at the scenario's volume), no unit can tell the waits there:
    # JSON, the table output and the waiting chart say so instead of giving a number.
    scenario = load_scenario("nl-detection-orders")
    forwarded = summarise(simulate(scenario, 100, 1)).outputs["forwarded"].median
    assert forwarded > NEAR_FULL_MAX
    minutes = scenario["police.minutes_per_notification"].dist.mean()
    path = tmp_path / "full.toml"
    path.write_text(
        '[scenario]\nextends = "nl-detection-orders"\ntitle = "at full load"\n\n[police]\n'
        f'capacity_hours = {{ value = {forwarded * minutes / 60!r}, assumption = "x" }}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = invoke(capsys, "assess", str(path), "--draws", "100", "--out", str(out), "--json")
    assert result.code == 0, result.err
    runs = json.loads(result.out)["scenarios"][0]["queue"]["runs"]
    at_full = next(run for run in runs if run["growth"] == 1.0)
    assert at_full["unit_share"] < 0.1
    untold = {
        policy: [w["level"] for w in levels if w["indeterminate"]]
        for policy, levels in at_full["policies"].items()
    }
    assert untold == {"fifo": ["P1", "P2", "P3", "informational"], "priority": ["informational"]}
    assert at_full["policies"]["fifo"][0]["p90_days"] is None
    assert at_full["policies"]["priority"][0]["p90_days"] is not None
    assert not any(
        w["indeterminate"] for run in runs if run is not at_full for w in run["policies"]["fifo"]
    )
    chart = (out / "waiting.svg").read_text(encoding="utf-8")
    assert "not shown, too near full load for the simulated unit to tell: full fifo at 1×" in chart
    table = invoke(capsys, "assess", str(path), "--draws", "100")
    assert table.code == 0, table.err
    printed = " ".join(table.out.split())
    assert "queue waits not given, too near full load for the simulated unit to tell" in printed
    assert "fifo at 1× (P1, P2, P3, informational); priority at 1× (informational)" in printed
