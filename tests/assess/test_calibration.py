"""Calibration: published figures reproduced from evidence; observed rates replace defaults."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from safeguarding.assess.assessment import prepare
from safeguarding.assess.calibration import (
    PublishedTriage,
    bka_relevant,
    calibrate,
    exact_figures,
    fedpol_forwarded,
    ncmec_bundling,
    published_figures,
    scientists_example,
    scope_to_services,
)
from safeguarding.assess.exports import Rate, read_services, read_triage_stats
from safeguarding.assess.montecarlo import run
from safeguarding.assess.scenario import load_scenario
from safeguarding.errors import ValidationError
from safeguarding.evidence import shipped_evidence
from safeguarding.statistics import wilson

DATA = Path(__file__).parent.parent / "data"
TRIAGE = DATA / "triage-outcome-stats.json"
SERVICES = DATA / "high-risk-services.json"


def test_scientists_example_gives_1_4_million_false_positives_a_day() -> None:
    check = scientists_example()
    assert check.passed
    assert check.model == pytest.approx(1.4e6, rel=0.005)


def test_fedpol_forwarded_cases_fall_in_the_model_interval_every_year() -> None:
    checks = fedpol_forwarded()
    years = [c for c in checks if c.name.startswith("fedpol cases forwarded")]
    assert len(years) == 8  # 2017–2024
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    for c in years:
        assert c.low is not None and c.high is not None
        assert c.low < c.model < c.high
    (share,) = [c for c in checks if c.published_range is not None]
    assert share.published is None and share.published_range == (0.07, 0.20)
    assert share.low is not None and share.high is not None
    assert share.low < share.model < share.high


def test_each_fedpol_check_carries_the_weakest_tag_of_every_value_it_uses() -> None:
    figure = shipped_evidence().get("ch.fedpol.ncmec")
    fitted = [
        figure.value(name, year) for year in range(2017, 2025) for name in ("received", "forwarded")
    ]
    bounds = [figure.value("forwarded_share_low"), figure.value("forwarded_share_high")]
    assert figure.tag_of_values(fitted[:-2]) == "P"  # the years read in the annual reports
    assert figure.tag_of_values(bounds) == "P"
    checks = fedpol_forwarded()
    assert {c.tag for c in checks} == {figure.tag_of_values([*bounds, *fitted])} == {"S"}


def test_bka_criminally_relevant_shares_are_reproduced() -> None:
    checks = bka_relevant()
    assert [c.name[-4:] for c in checks] == ["2022", "2023"]
    assert all(c.passed for c in checks)
    assert checks[0].model == pytest.approx(0.658, abs=0.001)
    assert checks[1].model == pytest.approx(0.496, abs=0.001)


def test_ncmec_bundling_ratio_is_reproduced() -> None:
    reports, ratio = ncmec_bundling()
    assert reports.passed and ratio.passed
    assert ratio.model == pytest.approx(0.70, abs=0.01)


def test_triage_statistics_replace_the_parameters_they_measure() -> None:
    stats = read_triage_stats(TRIAGE)
    base = load_scenario("nl-status-quo")
    calibrated = calibrate(base, exact_figures(stats))
    replaced = {r.name: r for r in calibrated.replaced}
    assert set(replaced) == {"police.actionable_share", "police.minutes_per_notification"}
    share = calibrated["police.actionable_share"].dist
    assert (share["alpha"], share["beta"]) == (61.0, 241.0)  # 60 of 400 - 100 not criminal
    assert calibrated["police.minutes_per_notification"].dist.mean() == 42.5
    assert "triage-outcome-stats.json" in replaced["police.actionable_share"].after
    assert "pert" in replaced["police.actionable_share"].before
    assert calibrated["police.actionable_share"].source.label == "data"
    summary = run(calibrated, 2000, 1).as_dict()
    assert {r["name"] for r in summary["replaced"]} == set(replaced)
    assert [k["name"] for k in summary["kept"]] == ["police.hours_per_investigation"]
    (observed,) = summary["observed"]
    assert observed["output"] == "ppv_forwarded"
    assert observed["value"] == pytest.approx(0.75)
    assert (observed["low"], observed["high"]) == pytest.approx((1 - 0.2947, 1 - 0.2101))
    model = summary["outputs"]["ppv_forwarded"]
    assert observed["model"] == {k: model[k] for k in ("median", "low", "high", "undefined")}
    # Fewer minutes than the default's mode range changes the hours needed.
    assert (
        summary["outputs"]["police_hours_needed"]
        != run(base, 2000, 1).as_dict()["outputs"]["police_hours_needed"]
    )


def test_triage_assessment_hours_do_not_stand_for_investigation_hours() -> None:
    # hours_per_actionable is the analysts' assessment time on actionable reports (minutes / 60),
    # already inside minutes_per_report. It used to replace the investigation effort, pert(40,
    # 120, 400) hours, counting those minutes twice: capacity_share fell from 6.5x to 0.19x.
    stats = read_triage_stats(TRIAGE)
    base = load_scenario("nl-status-quo")
    calibrated = calibrate(base, exact_figures(stats))
    assert calibrated["police.hours_per_investigation"] == base["police.hours_per_investigation"]
    (kept,) = calibrated.kept
    assert kept.name == "police.hours_per_investigation"
    assert kept.value.startswith("pert(40, 120, 400) (nl.police.output.2020; nl.police.staff;")
    assert kept.reason == (
        "triage-outcome-stats.json has no investigation effort: its hours_per_actionable is the "
        "assessment time recorded on actionable reports, already in minutes_per_report"
    )
    needed = run(calibrated, 4000, 1).outputs["police_hours_needed"].median
    # 42.5 minutes for each of ~43,000 notifications is ~30,000 hours; the investigations of
    # ~8,000 actionable ones at ~150 hours each are more than a million.
    assert needed > 500_000


def test_triage_hours_beyond_all_reports_minutes_are_refused(tmp_path: Path) -> None:
    # The example file used to say 60 actionable reports took 95 hours each (5,700 hours) while
    # all 400 reports took 42.5 minutes each (283 hours).
    with pytest.raises(ValidationError) as caught:
        read_triage_stats(_mutated(tmp_path, TRIAGE, {"hours_per_actionable.mean": 95.0}))
    assert str(caught.value) == (
        "triage-outcome-stats.json: hours_per_actionable.mean: 60 actionable reports × 95 h = "
        "5,700 h, more than all reports' assessment time (400 × 42.5 min = 283.3 h), which "
        "includes theirs"
    )
    # All of the time spent on actionable reports is at the limit, and accepted.
    stats = read_triage_stats(
        _mutated(tmp_path, TRIAGE, {"hours_per_actionable.mean": 42.5 * 400 / 60 / 60})
    )
    assert stats.hours_per_actionable.mean == pytest.approx(4.7222, abs=1e-4)


def test_an_output_from_calibrated_parameters_names_the_data_file() -> None:
    # A calibrated parameter cites no evidence and no assumption: the trace must name the file,
    # or capacity_share could not say what it was computed from.
    calibrated = calibrate(load_scenario("nl-status-quo"), exact_figures(read_triage_stats(TRIAGE)))
    outputs = run(calibrated, 500, 1).as_dict()["outputs"]
    inputs = outputs["capacity_share"]["inputs"]
    assert inputs["from_data"] == ["police.actionable_share", "police.minutes_per_notification"]
    (origin,) = inputs["data"]
    assert origin.startswith("triage outcomes triage-outcome-stats.json (synthetic example")
    others = ("from_evidence", "assumptions_with_evidence", "assumptions_only")
    assert not set(inputs["from_data"]) & {name for kind in others for name in inputs[kind]}
    assert outputs["items_scanned"]["inputs"]["data"] == []
    assert outputs["items_scanned"]["inputs"]["from_data"] == []


LEVEL_MIX = {
    "policy": "example@1",
    "reports": 40,
    "shares": {"P1": 0.1, "P2": 0.25, "P3": 0.5, "informational": 0.15},
}
# What a triage section publishes of the example export: its outcome counts, each group's hours
# (rounded to 4 decimals, 283.3333 in all against 400 × 42.5 minutes) and the queue's levels.
SHOWN = PublishedTriage(
    policy="example@1",
    outcomes=400,
    actionable=60,
    not_criminal=100,
    hours=(100.0, 183.3333),
    offender=40,
    levels={"P1": 4, "P2": 10, "P3": 20, "informational": 6},
)


def test_a_stored_run_takes_a_triage_figure_only_as_the_triage_section_publishes_it(
    tmp_path: Path,
) -> None:
    stats = read_triage_stats(_mutated(tmp_path, TRIAGE, {"levels": LEVEL_MIX}))
    taken = published_figures(stats, SHOWN)
    assert taken.not_taken == ()
    assert taken.outcomes == (
        Rate(60, 400, 0.15, wilson(60, 400).low, wilson(60, 400).high),
        Rate(100, 400, 0.25, wilson(100, 400).low, wilson(100, 400).high),
    )
    assert taken.minutes is not None and taken.minutes.n == 400
    assert taken.minutes.mean == pytest.approx(283.3333 * 60 / 400)
    assert taken.levels is not None and taken.levels.shares == LEVEL_MIX["shares"]
    calibrated = calibrate(load_scenario("nl-status-quo"), taken)
    assert calibrated.triage_figures == "published"
    assert {r.name for r in calibrated.replaced} == {
        "police.actionable_share",
        "police.minutes_per_notification",
        "queue.p1_share",
        "queue.p2_share",
        "queue.p3_share",
    }
    # Withheld, or another period's counts (or hours) than those published: not taken, for one
    # reason that does not tell the two apart.
    elsewhere = replace(SHOWN, outcomes=401, actionable=61, levels={**SHOWN.levels, "P1": 5})
    for shown in (
        replace(SHOWN, actionable=None, hours=None, levels={**SHOWN.levels, "P1": None}),
        elsewhere,
    ):
        figures = published_figures(stats, shown)
        assert (figures.outcomes, figures.minutes, figures.levels) == (None, None, None)
        assert figures.not_taken == published_figures(stats, None).not_taken
    other_hours = published_figures(stats, replace(SHOWN, hours=(100.0, 183.34)))
    assert other_hours.outcomes is not None and other_hours.minutes is None
    other_policy = published_figures(stats, replace(SHOWN, policy="example@2"))
    assert other_policy.levels is None
    kept = calibrate(load_scenario("nl-status-quo"), published_figures(stats, None))
    assert not kept.replaced and not kept.observed
    reasons = {k.name: k.reason for k in kept.kept}
    assert reasons["queue.p1_share"] == (
        "not taken from triage-outcome-stats.json: the triage section does not publish the "
        "offender queue's count at every level, which the mix would give back, and a stored run "
        "is shown to researchers"
    )
    assert list(reasons) == [
        "police.actionable_share",
        "police.minutes_per_notification",
        "queue.p1_share",
        "queue.p2_share",
        "queue.p3_share",
        "police.hours_per_investigation",
    ]


def test_services_export_scopes_a_targeted_scenario() -> None:
    export = read_services(SERVICES)
    targeted = load_scenario("eu-targeted")
    scoped = scope_to_services(targeted, export)
    assert scoped["volume.messages_per_day"].dist.mean() == 60_000_000.0
    assert scoped["volume.images_per_day"].dist.mean() == 4_250_000.0
    assert scoped["volume.videos_per_day"].dist.mean() == 80_000.0
    # Example Chat has no video volume: its 2 M users times the per-user assumption.
    assert scoped["volume.video_users"].dist.mean() == 2_000_000.0
    assert scoped["volume.message_users"].dist.mean() == 500_000.0
    assert scoped["volume.image_users"].location == "default"
    assert scoped["volume.scope_share"].dist.mean() == 1.0
    names = {r.name for r in scoped.replaced}
    assert "volume.video_users" in names and "volume.image_users" not in names
    # Untargeted scenarios are left alone by prepare.
    assert not prepare(load_scenario("eu-status-quo"), services=export).replaced


def test_services_without_volume_need_a_per_user_assumption() -> None:
    with pytest.raises(
        ValidationError,
        match=r"^high-risk-services\.json: 1 services .*messages_per_user_per_day",
    ):
        scope_to_services(load_scenario("eu-status-quo"), read_services(SERVICES))


def test_a_volume_neither_known_nor_estimable_is_left_out_and_named(tmp_path: Path) -> None:
    # Example Meet loses its audience: no daily messages and nothing to estimate them from. It
    # still brings its images and videos; its messages are left out, and the reason says so.
    path = _mutated(tmp_path, SERVICES, {"services.1.eu_monthly_active_recipients": None})
    scoped = scope_to_services(load_scenario("eu-targeted"), read_services(path))
    assert scoped["volume.messages_per_day"].dist.mean() == 60_000_000.0
    assert scoped["volume.message_users"].location == "default"
    assert scoped["volume.images_per_day"].dist.mean() == 4_250_000.0
    reasons = {r.name: r.reason for r in scoped.replaced}
    assert reasons["volume.messages_per_day"] == (
        "sum of daily messages of 1 services that report it; left out 1 service(s) with neither "
        "daily_messages nor EU monthly active recipients (example-meet)"
    )
    assert "left out" not in reasons["volume.images_per_day"]


def test_a_services_export_the_model_can_take_no_volume_from_is_refused(tmp_path: Path) -> None:
    nothing = {
        f"services.{i}.{key}": None
        for i in (0, 1)
        for key in ("eu_monthly_active_recipients", "daily_messages", "daily_images")
    } | {"services.1.daily_videos": None}
    with pytest.raises(ValidationError) as caught:
        read_services(_mutated(tmp_path, SERVICES, nothing))
    assert str(caught.value) == (
        "high-risk-services.json: services: no service has a daily volume or "
        "eu_monthly_active_recipients to estimate one from, so there is nothing to scope "
        "detection to"
    )


DELETE = object()


def _mutated(tmp_path: Path, source: Path, change: dict[str, object]) -> Path:
    data = json.loads(source.read_text(encoding="utf-8"))
    for dotted, value in change.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    path = tmp_path / source.name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"format": "other@1"}, "format", "must be"),
        ({"rates.actionable_share.successes": 500}, "rates.actionable_share.successes", "exceed n"),
        ({"rates.duplicate_share.value": 0.9}, "rates.duplicate_share.value", "successes/n"),
        ({"rates.youth_care_share": DELETE}, "rates.youth_care_share", "is required"),
        ({"minutes_per_report.mean": -1}, "minutes_per_report.mean", "from 0 to 1e+15"),
        ({"period.from": "2026-13-01"}, "period.from", "YYYY-MM-DD"),
        ({"generated_at": "yesterday"}, "generated_at", "ISO-8601"),
        # One result per report: the results cannot outnumber the reports with an outcome.
        (
            {
                "rates.not_criminal_share.successes": 130,
                "rates.not_criminal_share.value": 0.325,
                "rates.not_criminal_share.high": 0.37,
            },
            "rates",
            "add up to 430, more than reports_with_outcome (400)",
        ),
        ({"minutes_per_report.n": 5000}, "minutes_per_report.n", "(5000 > 400)"),
        # A share out of fewer reports than the others: calibration used to skip it silently.
        (
            {
                "rates.actionable_share.n": 100,
                "rates.actionable_share.value": 0.6,
                "rates.actionable_share.low": 0.5,
                "rates.actionable_share.high": 0.69,
            },
            "rates.actionable_share.n",
            "must equal reports_with_outcome (100 ≠ 400)",
        ),
        ({"hours_per_actionable.n": 500}, "hours_per_actionable.n", "actionable reports"),
        ({"rates.actionable_share": [1]}, "rates.actionable_share", "must be an object"),
    ],
)
def test_bad_triage_statistics_name_the_field(
    tmp_path: Path, change: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        read_triage_stats(_mutated(tmp_path, TRIAGE, change))
    assert str(caught.value).startswith(f"triage-outcome-stats.json: {field}: ")
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"services.0.risk": "medium"}, "services[0].risk", "must be 'high'"),
        ({"services.1.id": "example-chat"}, "services[1].id", "duplicate"),
        ({"services": []}, "services", "lists no service, so there is nothing to scope"),
        ({"services.0.daily_images": "many"}, "services[0].daily_images", "number"),
        # The export's contract (docs/formats.md) names the types and harms it writes.
        ({"services.0.type": "video_chat"}, "services[0].type", "must be one of messaging, "),
        ({"services.1.harms": ["csam_distribution"]}, "services[1].harms", "one or more of"),
        ({"services.1.harms": []}, "services[1].harms", "one or more of grooming, "),
    ],
)
def test_bad_services_exports_name_the_field(
    tmp_path: Path, change: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        read_services(_mutated(tmp_path, SERVICES, change))
    assert str(caught.value).startswith(f"high-risk-services.json: {field}: ")
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    ("written", "rule"),
    [
        ("1e400", "must be a number from 0 to 1e+15"),
        ("1e308", "must be a number from 0 to 1e+15"),
        ("1" + "0" * 400, "must be a number from 0 to 1e+15"),
    ],
)
def test_a_volume_too_large_for_the_model_is_refused_with_the_range(
    tmp_path: Path, written: str, rule: str
) -> None:
    # 1e400 was read as infinity and 1e308 passed, then overflowed into NaN in the simulation
    # ("lam < 0 or lam is NaN"), an error that named neither the file nor the field.
    path = _mutated(tmp_path, SERVICES, {"services.0.daily_images": 12345.5})
    path.write_text(path.read_text(encoding="utf-8").replace("12345.5", written), "utf-8")
    with pytest.raises(ValidationError) as caught:
        read_services(path)
    assert str(caught.value) == f"high-risk-services.json: services[0].daily_images: {rule}"
    path = _mutated(tmp_path, TRIAGE, {"reports_with_outcome": 12345})
    path.write_text(path.read_text(encoding="utf-8").replace("12345", "1" + "0" * 400), "utf-8")
    with pytest.raises(ValidationError, match=r": reports_with_outcome: .* from 0 to 1e\+15$"):
        read_triage_stats(path)


def test_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format": \n}', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"^broken\.json:3: not valid JSON"):
        read_triage_stats(path)


def test_a_scenario_can_name_its_services_file(tmp_path: Path) -> None:
    (tmp_path / "services.json").write_text(SERVICES.read_text(encoding="utf-8"), "utf-8")
    path = tmp_path / "mine.toml"
    path.write_text(
        '[scenario]\nextends = "eu-targeted"\ntitle = "t"\nservices = "services.json"\n', "utf-8"
    )
    scoped = prepare(load_scenario(path))
    assert scoped["volume.messages_per_day"].dist.mean() == 60_000_000.0
    assert scoped["volume.messages_per_day"].source.label == "data"
    path.write_text(
        '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\nservices = "services.json"\n', "utf-8"
    )
    with pytest.raises(ValidationError, match=r"^mine\.toml:4: scenario\.services: .*high-risk"):
        load_scenario(path)
