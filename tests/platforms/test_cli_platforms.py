"""The platform commands end to end on the store (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from safeguarding.access import audit
from safeguarding.platforms.rules import load_rules
from safeguarding.platforms.sample import SAMPLE_REGISTER, generate_cases
from safeguarding.platforms.vocabulary import HARMS, LEVELS
from safeguarding.reporting.monitor import render_monitor
from safeguarding.store import Store
from safeguarding.store.models.access import AuditEventRow
from safeguarding.store.models.platforms import (
    PlatformAssessmentRow,
    PlatformAssessmentRunRow,
    PlatformCaseMentionRow,
    PlatformServiceRow,
)
from tests.cli_runner import invoke

MICRO_AD_SITE = {
    "id": "tiny-ads",
    "name": "Tiny Ads (fictional)",
    "type": "sex_advertising",
    "provider": "Tiny Ads VOF (fictional)",
    "provider_size": "micro",
    "age_assurance": "none",
    "features": ["direct_messaging", "image_video_sharing"],
    "volumes": {"daily_messages": 1000.0, "daily_images": 50.0, "source": "test"},
    "source": "test register",
}


def _register(tmp_path: Path, *rows: dict[str, object]) -> Path:
    path = tmp_path / "register.yaml"
    path.write_text(yaml.safe_dump({"services": list(rows)}, sort_keys=False))
    return path


def test_import_refuses_bad_rows_keeps_good_ones_and_never_duplicates(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    bad = {**MICRO_AD_SITE, "id": "bad-ads", "features": ["telepathy"]}
    path = _register(tmp_path, MICRO_AD_SITE, bad)
    first = invoke(capsys, "platforms", "import", str(path))
    assert first.code == 1
    assert (
        "refused register.yaml:" in first.err and "row 2 (bad-ads): field features[0]" in first.err
    )
    assert "unknown feature 'telepathy'" in first.err
    assert first.err.strip().endswith(
        "1 row(s) refused for 1 problem(s) listed above; the valid rows were stored"
    )
    again = invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    assert again.code == 0 and "0 new, 0 updated, 1 unchanged" in again.out
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(PlatformServiceRow)) == 1
    listed = json.loads(invoke(capsys, "platforms", "list", "--json").out)
    assert [s["id"] for s in listed] == ["tiny-ads"]
    assert listed[0]["features"] == ["direct_messaging", "image_video_sharing"]


def test_imports_and_assessments_from_the_command_line_are_audited(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    cases = tmp_path / "cases.csv"
    cases.write_text(generate_cases(3))
    invoke(capsys, "cases", "import", str(cases))
    run = json.loads(invoke(capsys, "platforms", "assess", "--json").out)
    with store.session() as session:
        events = list(session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq)))
        assert audit.verify(session).ok
    actor = audit.cli_actor().name
    assert [(e.action, e.actor, e.target_id) for e in events] == [
        ("platforms.import.register", actor, "register.yaml"),
        ("platforms.import.cases", actor, "cases.csv"),
        ("platforms.assess", actor, str(run["run"])),
    ]
    shipped = load_rules(None)
    assert json.loads(events[2].detail) == {
        "rules_version": shipped.rules.version,
        "rules_digest": shipped.digest,
        "rules_file": "shipped",
        "services": "1",
    }


def test_a_part_of_a_registered_service_is_stored_and_a_part_of_nothing_is_refused(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    stories = {**MICRO_AD_SITE, "id": "tiny-ads.stories", "part_of": "tiny-ads"}
    orphan = {**MICRO_AD_SITE, "id": "orphan", "part_of": "no-such-service"}
    result = invoke(capsys, "platforms", "import", str(_register(tmp_path, stories, orphan)))
    assert result.code == 1 and "1 new, 0 updated" in result.out
    assert result.err.startswith(
        "refused register.yaml:17: row 2 (orphan): field part_of: names no service of this file "
        "or the register ('no-such-service')"
    )
    listed = json.loads(invoke(capsys, "platforms", "list", "--json").out)
    assert {s["id"]: s["part_of"] for s in listed} == {
        "tiny-ads": None,
        "tiny-ads.stories": "tiny-ads",
    }


def test_show_unknown_service_is_one_line(capsys: pytest.CaptureFixture[str], store: Store) -> None:
    result = invoke(capsys, "platforms", "show", "nope")
    assert result.code == 1
    assert (
        result.err == "error: no service 'nope' in the register; see: safeguarding platforms list\n"
    )


def test_assess_gaps_and_export_flag_the_micro_ad_site(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    clean = {
        **MICRO_AD_SITE,
        "id": "quiet-notes",
        "name": "Quiet Notes (fictional)",
        "type": "forum",
        "age_assurance": "verification",
        "features": [],
        "volumes": None,
    }
    clean = {k: v for k, v in clean.items() if v is not None}
    assert (
        invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE, clean))).code
        == 0
    )
    assessed = json.loads(invoke(capsys, "platforms", "assess", "--json").out)
    by_id = {a["service"]: a for a in assessed["assessments"]}
    ads = {h["harm"]: h for h in by_id["tiny-ads"]["harms"]}
    assert ads["sexual_exploitation"]["level"] == "high"
    assert any(d["kind"] == "trigger" for d in ads["sexual_exploitation"]["drivers"])
    assert [h["harm"] for h in by_id["quiet-notes"]["harms"]] == list(HARMS)
    assert all(h["level"] in LEVELS for h in by_id["quiet-notes"]["harms"])

    gaps = json.loads(invoke(capsys, "platforms", "gaps", "--json").out)
    assert gaps["headline"] == ["tiny-ads"]
    ad_gap = next(s for s in gaps["services"] if s["service"] == "tiny-ads")
    assert "age_verification" in {m["id"] for m in ad_gap["missing_measures"]}
    assert "Art. 19" in ad_gap["why_unobliged"]

    out = tmp_path / "out" / "high-risk.json"
    assert invoke(capsys, "platforms", "export", str(out)).code == 0
    document = json.loads(out.read_text())
    assert list(document) == ["format", "generated_at", "rules_version", "services"]
    assert document["format"] == "safeguarding/high-risk-services@1"
    datetime.fromisoformat(document["generated_at"])
    assert document["rules_version"] == assessed["rules_version"]
    [exported] = document["services"]
    assert list(exported) == [
        "id",
        "name",
        "type",
        "harms",
        "risk",
        "eu_monthly_active_recipients",
        "daily_messages",
        "daily_images",
        "daily_videos",
        "source",
    ]
    assert exported["id"] == "tiny-ads" and exported["risk"] == "high"
    assert "sexual_exploitation" in exported["harms"]
    assert exported["eu_monthly_active_recipients"] is None
    assert (exported["daily_messages"], exported["daily_images"]) == (1000.0, 50.0)
    assert exported["daily_videos"] is None


def test_what_export_writes_the_targeted_assessment_reads_and_what_it_cannot_is_not_written(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    # High risk with no volume and no audience: the model could take nothing from the file.
    blind = {k: v for k, v in MICRO_AD_SITE.items() if k != "volumes"}
    invoke(capsys, "platforms", "import", str(_register(tmp_path, blind)))
    invoke(capsys, "platforms", "assess")
    out = tmp_path / "high-risk.json"
    refused = invoke(capsys, "platforms", "export", str(out))
    assert refused.code == 1 and not out.exists()
    assert "none of the 1 high-risk service(s) (tiny-ads) has a daily volume" in refused.err
    # Messages and images known, videos neither known nor estimable; a text-only service at
    # high risk carries no images or videos at all.
    text_only = {
        **MICRO_AD_SITE,
        "id": "text-ads",
        "features": ["direct_messaging"],
        "volumes": {"daily_messages": 500.0, "source": "test"},
    }
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE, text_only)))
    invoke(capsys, "platforms", "assess")
    written = invoke(capsys, "platforms", "export", str(out))
    assert written.code == 0 and "wrote 2 high-risk service(s)" in written.out
    assert "note: tiny-ads has no daily videos and no EU recipients" in written.err
    exported = {s["id"]: s for s in json.loads(out.read_text())["services"]}
    assert exported["tiny-ads"]["daily_videos"] is None
    assert (exported["text-ads"]["daily_images"], exported["text-ads"]["daily_videos"]) == (0, 0)
    assert exported["text-ads"]["source"].endswith(
        "; no images or videos (no feature that carries them)"
    )
    result = invoke(
        capsys, "assess", "eu-targeted", "--draws", "200", "--services", str(out), "--json"
    )
    assert result.code == 0, result.err
    replaced = {r["name"]: r for r in json.loads(result.out)["scenarios"][0]["replaced"]}
    assert replaced["volume.messages_per_day"]["after"].startswith("1500 ")
    assert replaced["volume.images_per_day"]["after"].startswith("50 ")
    videos = replaced["volume.videos_per_day"]
    assert videos["after"].startswith("0 ")
    assert videos["reason"] == (
        "sum of daily videos of 1 services that report it; left out 1 service(s) with neither "
        "daily_videos nor EU monthly active recipients (tiny-ads)"
    )
    # Nothing at high risk: nothing is written rather than an empty list the model refuses.
    quiet = {**MICRO_AD_SITE, "age_assurance": "verification", "features": ["commenting"]}
    invoke(capsys, "platforms", "import", str(_register(tmp_path, quiet, {**quiet, "id": "b"})))
    invoke(capsys, "platforms", "import", str(_register(tmp_path, {**quiet, "id": "text-ads"})))
    invoke(capsys, "platforms", "assess")
    out.unlink()
    empty = invoke(capsys, "platforms", "export", str(out))
    assert empty.code == 1 and not out.exists()
    assert "no service is at high risk of any harm in this run: nothing to export" in empty.err


def test_gaps_before_assess_and_with_other_rules_are_clear_errors(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    assert invoke(capsys, "platforms", "gaps").err.startswith("error: no assessment yet")
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    rules = tmp_path / "mine.yaml"
    shipped = Path(__file__).parents[2] / "src/safeguarding/platforms/data/risk-rules.yaml"
    rules.write_text(shipped.read_text().replace('version: "', 'version: "mine-', 1))
    mine = json.loads(invoke(capsys, "platforms", "assess", "--json", "--rules", str(rules)).out)
    assert mine["rules_version"].startswith("mine-")
    other = invoke(capsys, "platforms", "gaps")
    assert other.code == 1 and "the latest assessment used other rules" in other.err
    assert invoke(capsys, "platforms", "gaps", "--rules", str(rules)).code == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text(shipped.read_text().replace("several: 3", "several: -1", 1))
    refused = invoke(capsys, "platforms", "assess", "--rules", str(broken))
    assert refused.code == 1 and "broken.yaml: field several" in refused.err


def test_cases_import_pseudonymises_and_never_duplicates(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(
        "case,platform,stage,role_pair,year,source\n"
        "PV-2021-0001,chat,S1,offender-victim,2021,file 1\n"
        "PV-2021-0001,ads,S6,offender-buyer,2021,file 1\n"
        "PV-2021-0002,,S1,offender-victim,2021,file 2\n"
        "PV-2021-0003,chat,S99,offender-victim,2021,file 3\n"
    )
    first = invoke(capsys, "cases", "import", str(path))
    assert first.code == 1 and "cases.csv:5: field stage" in first.err
    assert "3 new mention(s)" in first.out
    second = invoke(capsys, "cases", "import", str(path))
    assert "0 new mention(s), 3 already stored" in second.out
    with store.session() as session:
        cases = set(session.scalars(select(PlatformCaseMentionRow.case_pseudonym)))
    assert len(cases) == 2 and not any("PV-" in c for c in cases)
    matrix = json.loads(invoke(capsys, "cases", "matrix", "--json").out)["matrix"]
    assert (matrix["denominator"], matrix["total_cases"]) == (1, 2)
    chat = next(r for r in matrix["rows"] if r["row"] == "chat")
    assert chat["counts"]["S1"] == 1 and chat["shares"]["S1"] == 1.0
    assert invoke(capsys, "cases", "matrix", "--by", "colour").code == 2
    buyers = json.loads(invoke(capsys, "cases", "matrix", "--role", "offender-buyer", "--json").out)
    assert buyers["role_pair"] == "offender-buyer"
    assert [r["row"] for r in buyers["matrix"]["rows"]] == ["ads"]
    assert buyers["matrix"]["rows"][0]["counts"]["S6"] == 1
    assert invoke(capsys, "cases", "matrix", "--role", "pimp").code == 2


def test_a_case_label_that_is_not_a_register_id_is_reported_not_silently_dropped(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    ads = {**MICRO_AD_SITE, "id": "example-ads", "age_assurance": "verification"}
    ads["safeguards"] = {"classifiers": "proven", "csam_reporting": "proven"}
    assert invoke(capsys, "platforms", "import", str(_register(tmp_path, ads))).code == 0
    cases = tmp_path / "cases.csv"
    rows = [f"C{n},Example-Ads,S6,offender-buyer,2023,file {n}" for n in range(1, 6)]
    rows.append("C9,example_ads,S6,offender-buyer,2023,file 9")
    cases.write_text("case,platform,stage,role_pair,year,source\n" + "\n".join(rows) + "\n")
    imported = invoke(capsys, "cases", "import", str(cases))
    assert imported.code == 0 and "6 new mention(s)" in imported.out
    assert imported.err.splitlines() == [
        "note: platform 'Example-Ads' (5 mention(s)) is register id 'example-ads' but for "
        "letter case: counted as it",
        "note: platform 'example_ads' (1 mention(s)) is not a register id; did you mean "
        "'example-ads'? Its mentions count for no service's risk",
    ]
    assessed = invoke(capsys, "platforms", "assess", "--json")
    harm = next(
        h
        for h in json.loads(assessed.out)["assessments"][0]["harms"]
        if h["harm"] == "sexual_exploitation"
    )
    assert (harm["level"], harm["evidence_cases"]) == ("high", 5)
    assert [n["label"] for n in json.loads(assessed.out)["platform_labels"]] == [
        "Example-Ads",
        "example_ads",
    ]
    assert "did you mean 'example-ads'?" in assessed.err
    matrix = json.loads(invoke(capsys, "cases", "matrix", "--json").out)["matrix"]
    assert [(r["row"], r["cases"]) for r in matrix["rows"]] == [
        ("example-ads", 5),
        ("example_ads", 1),
    ]


def test_sample_data_and_the_monitor_section(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    assert invoke(capsys, "platforms", "import", str(SAMPLE_REGISTER)).code == 0
    cases = tmp_path / "cases.csv"
    cases.write_text(generate_cases(3))
    assert invoke(capsys, "cases", "import", str(cases)).code == 0
    assert invoke(capsys, "platforms", "assess").code == 0
    gaps = json.loads(invoke(capsys, "platforms", "gaps", "--json").out)
    assert "example-redlantern" in gaps["headline"]
    assert "example-nightlistings" in gaps["headline"]
    assert "example-friendbook" not in gaps["headline"]
    html = render_monitor(store)
    section = html[html.index('<section id="platforms">') :]
    section = section[: section.index("</section>")]
    assert section.count("<svg") == 3
    assert "Red Lantern Ads (fictional)" in section
    for figure in ("dsa.small_exemption", "ofcom.c9_threshold", "ckm.nl.2021"):
        assert figure in section
    assert "Denominator:" in section and "synthetic sample data" in section
    assert "<script" not in section


def test_reimport_updates_in_place_keeps_runs_and_flags_a_stale_assessment(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    first = json.loads(invoke(capsys, "platforms", "assess", "--json").out)
    assert invoke(capsys, "platforms", "gaps").err == ""
    changed = {
        **MICRO_AD_SITE,
        "features": ["image_video_sharing", "hyperlinking"],
        "safeguards": {"hash_matching": "claimed"},
    }
    assert invoke(capsys, "platforms", "import", str(_register(tmp_path, changed))).code == 0
    shown = json.loads(invoke(capsys, "platforms", "show", "tiny-ads", "--json").out)
    assert shown["service"]["features"] == ["hyperlinking", "image_video_sharing"]
    assert shown["service"]["safeguards"] == {"hash_matching": "claimed"}
    assert shown["assessment"]["rules_version"] == first["rules_version"]
    with store.session() as session:
        kept = session.scalar(
            select(func.count())
            .select_from(PlatformAssessmentRow)
            .where(PlatformAssessmentRow.run_id == first["run"])
        )
    assert kept == len(HARMS)
    stale = invoke(capsys, "platforms", "gaps")
    assert stale.code == 0
    assert "note: 1 service(s) changed after assessment run" in stale.err
    # Claimed hash matching is no safeguard in the risk, and no measure in the gaps either.
    invoke(capsys, "platforms", "assess")
    report = json.loads(invoke(capsys, "platforms", "gaps", "--json").out)
    lacks = {m["id"]: m for m in report["services"][0]["missing_measures"]}
    assert lacks["hash_matching"]["claimed"] is True
    assert lacks["hash_matching"]["text"] == "perceptual hash matching (claimed, unverified)"


def test_a_run_is_stale_after_new_case_evidence_but_not_after_an_identical_register(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    register = _register(tmp_path, MICRO_AD_SITE)
    invoke(capsys, "platforms", "import", str(register))
    invoke(capsys, "platforms", "assess")
    again = invoke(capsys, "platforms", "import", str(register))
    assert again.out.strip() == "register.yaml: 0 new, 0 updated, 1 unchanged service(s)"
    assert invoke(capsys, "platforms", "gaps").err == ""
    assert "note:" not in render_monitor(store)
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case,platform,stage,role_pair,year,source\n"
        "C1,tiny-ads,S6,offender-buyer,2023,file 1\nC2,tiny-ads,S7,offender-buyer,2023,file 2\n"
    )
    invoke(capsys, "cases", "import", str(cases))
    note = "2 case mention(s) added after assessment run 1"
    assert invoke(capsys, "platforms", "gaps").err == (
        f"note: {note}; run: safeguarding platforms assess\n"
    )
    html = render_monitor(store)
    assert f"Note: {note}; the levels shown do not reflect them until the next assessment" in html
    changed = {**MICRO_AD_SITE, "report_response_hours": 12.0}
    assert (
        "0 new, 1 updated, 0 unchanged"
        in invoke(capsys, "platforms", "import", str(_register(tmp_path, changed))).out
    )
    assert "note: 1 service(s) changed and 2 case mention(s) added after assessment run 1" in (
        invoke(capsys, "platforms", "export", str(tmp_path / "out.json")).err
    )
    invoke(capsys, "platforms", "assess")
    assert invoke(capsys, "platforms", "gaps").err == ""


def test_monitor_keeps_the_runs_levels_when_its_rules_file_changes_and_drops_only_the_gaps(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    shipped = Path(__file__).parents[2] / "src/safeguarding/platforms/data/risk-rules.yaml"
    rules = tmp_path / "mine.yaml"
    rules.write_text(shipped.read_text().replace('version: "', 'version: "mine-', 1))
    assert invoke(capsys, "platforms", "assess", "--rules", str(rules)).code == 0
    html = render_monitor(store)
    assert "Headline: 1 high-risk service(s)" in html and "mine-2026" in html
    # the report is read by researchers: the rules file by name, not where the server keeps it
    assert "(mine.yaml, digest" in html and str(tmp_path) not in html
    rules.write_text(rules.read_text() + "# edited after the run\n")
    html = render_monitor(store)
    # The stored levels stay; only the gaps, which need the rules, are left out, saying why.
    assert "Risk matrix: level per service and harm" in html and "mine-2026" in html
    assert (
        "Regulatory gaps not shown: rules file changed since run 1: mine.yaml is no longer the "
        "file it used" in html
    )
    assert "Headline:" not in html
    rules.unlink()
    html = render_monitor(store)
    assert "rules file changed since run 1: mine.yaml is gone" in html
    assert "Risk matrix: level per service and harm" in html


def test_an_impossible_user_count_refuses_its_row_and_the_rest_is_stored(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    # 2**63 does not fit a database integer: before the bound, the store refused it mid-import
    # and every row of the file was lost.
    path = tmp_path / "register.csv"
    path.write_text(
        "id,name,type,provider,eu_monthly_active_recipients,eu_mar_source,"
        "uk_monthly_active_users,uk_mau_source,source\n"
        "good,Good (fictional),social,P,10000000000,pub,,,src\n"
        "big-eu,Big EU (fictional),social,P,9223372036854775808,pub,,,src\n"
        "big-uk,Big UK (fictional),social,P,,,10000000001,pub,src\n"
    )
    result = invoke(capsys, "platforms", "import", str(path))
    assert result.code == 1
    assert "1 new, 0 updated" in result.out
    assert (
        "refused register.csv:3: row 2 (big-eu): field eu_monthly_active_recipients: "
        "must be at most 10,000,000,000 (got '9223372036854775808')"
    ) in result.err
    assert (
        "refused register.csv:4: row 3 (big-uk): field uk_monthly_active_users: "
        "must be at most 10,000,000,000 (got '10000000001')"
    ) in result.err
    with store.session() as session:
        stored = session.execute(select(PlatformServiceRow.id, PlatformServiceRow.eu_recipients))
        assert stored.all() == [("good", 10_000_000_000)]


def test_a_relative_rules_path_is_stored_absolute_so_the_report_finds_it_elsewhere(
    capsys: pytest.CaptureFixture[str],
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    shipped = Path(__file__).parents[2] / "src/safeguarding/platforms/data/risk-rules.yaml"
    (tmp_path / "rules").mkdir()
    rules = tmp_path / "rules" / "mine.yaml"
    rules.write_text(shipped.read_text().replace('version: "', 'version: "mine-', 1))
    monkeypatch.chdir(tmp_path / "rules")
    run = json.loads(invoke(capsys, "platforms", "assess", "--json", "--rules", "mine.yaml").out)
    assert run["rules_file"] == str(rules.resolve())
    with store.session() as session:
        assert session.scalar(select(PlatformAssessmentRunRow.rules_file)) == str(rules.resolve())
    monkeypatch.chdir(tmp_path)  # the report is made from another directory
    html = render_monitor(store)
    assert "Headline: 1 high-risk service(s)" in html and "mine-2026" in html
    # the report is read by researchers: the rules file by name, not where the server keeps it
    assert "(mine.yaml, digest" in html and str(tmp_path) not in html


def test_a_rules_path_longer_than_255_characters_is_kept_whole(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    shipped = Path(__file__).parents[2] / "src/safeguarding/platforms/data/risk-rules.yaml"
    folder = tmp_path.joinpath(*["a-folder-with-a-long-name-" + "x" * 60] * 4)
    folder.mkdir(parents=True)
    rules = folder / "mine.yaml"
    rules.write_text(shipped.read_text().replace('version: "', 'version: "mine-', 1))
    assert len(str(rules)) > 300
    invoke(capsys, "platforms", "assess", "--rules", str(rules))
    with store.session() as session:
        assert session.scalar(select(PlatformAssessmentRunRow.rules_file)) == str(rules)
    assert "mine-2026" in render_monitor(store)


def test_a_rules_text_no_store_can_hold_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    """A run stores the rules' version: one with a NUL (YAML's ``"\\0"``) was kept by SQLite and
    refused by PostgreSQL ("unexpected DataError"). Refused when the file is read now, naming
    the file and the field, and no run is stored."""
    invoke(capsys, "platforms", "import", str(_register(tmp_path, MICRO_AD_SITE)))
    shipped = Path(__file__).parents[2] / "src/safeguarding/platforms/data/risk-rules.yaml"
    rules = tmp_path / "mine.yaml"
    rules.write_text(shipped.read_text().replace('version: "', 'version: "mine\\0', 1))
    refused = invoke(capsys, "platforms", "assess", "--rules", str(rules))
    assert refused.code == 1
    assert refused.err == (
        "error: mine.yaml: field version: Value error, must not contain a NUL character (\\x00)\n"
    )
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(PlatformAssessmentRunRow)) == 0
    rules.write_text(shipped.read_text().replace('version: "', 'version: "mine-', 1))
    assert invoke(capsys, "platforms", "assess", "--rules", str(rules)).code == 0


def test_bracketed_words_in_names_are_printed_not_read_as_styles(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    beta = {**MICRO_AD_SITE, "name": "Tiny Ads [beta] (fictional)", "source": "[web] register"}
    invoke(capsys, "platforms", "import", str(_register(tmp_path, beta)))
    listed = invoke(capsys, "platforms", "list")
    assert listed.code == 0 and "[beta]" in listed.out  # the table folds the name
    shown = invoke(capsys, "platforms", "show", "tiny-ads")
    assert "[web] register" in shown.out


def test_refused_rows_are_counted_by_row_not_by_line(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "one-line.yaml"
    path.write_text(
        "services: [{id: a, name: A, type: social, provider: P, source: s, features: [zap]},"
        " {id: b, name: B, type: social, provider: P, source: s, features: [zap]},"
        " {id: c, name: C, type: social, provider: P, source: s}]\n"
    )
    result = invoke(capsys, "platforms", "import", str(path))
    assert result.code == 1 and "1 new, 0 updated" in result.out
    assert "refused one-line.yaml:1: row 1 (a): field features[0]" in result.err
    assert "refused one-line.yaml:1: row 2 (b): field features[0]" in result.err
    assert result.err.strip().endswith(
        "2 row(s) refused for 2 problem(s) listed above; the valid rows were stored"
    )
