from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from safeguarding.access import audit
from safeguarding.reporting.sections import triage as triage_section
from safeguarding.store import Store
from safeguarding.store.models import (
    PartyIdentifier,
    PriorityDecision,
    ProviderReport,
    TriageInputCache,
    TriageOutcome,
    TriageRun,
)
from safeguarding.triage import operations, store_io
from safeguarding.triage.generate import GeneratorConfig, generate
from safeguarding.triage.operations import NOTE_PURPOSE
from safeguarding.triage.policy import LEVELS, ROUTES, default_policy_text, load_policy
from safeguarding.triage.sample import load_sample
from safeguarding.triage.sealing import Sealer
from tests.cli_runner import invoke


def test_run_queue_outcome_stats_end_to_end(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    load_sample(store, 3)
    first = invoke(capsys, "triage", "run", "--json")
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert summary["mode"] == "full" and summary["reports"] == sum(summary["levels"].values())
    again = json.loads(invoke(capsys, "triage", "run", "--json").out)
    assert again["mode"] == "incremental" and again["new_reports"] == 0
    assert again["level_changes"]["changed"] == 0
    assert again["content_clusters"] == summary["content_clusters"]

    queue = json.loads(invoke(capsys, "queue", "--capacity-hours", "10", "--json").out)
    handled = [i for i in queue["offender_items"] if i["handled"]]
    assert sum(i["minutes"] for i in handled) <= 600
    report = queue["offender_items"][0]["reports"][0]

    bad = invoke(capsys, "outcome", str(report), "--result", "not_criminal", "--minutes", "20")
    assert bad.code == 1 and "reason: a not_criminal result needs a reason" in bad.err
    ok = invoke(
        capsys, "outcome", str(report), "--result", "actionable", "--minutes", "90",
        "--note", "case file 12",
    )  # fmt: skip
    assert ok.code == 0, ok.err
    export = tmp_path / "stats.json"
    stats = invoke(capsys, "triage", "stats", "--json", "--export", str(export))
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["overall"]["counts"]["actionable"] == 1
    document = json.loads(export.read_text())
    assert document["format"] == "safeguarding/triage-outcome-stats@1"
    assert document["rates"]["actionable_share"] == {
        "successes": 1, "n": 1, "value": 1.0, "low": pytest.approx(0.2065, abs=1e-4), "high": 1.0,
    }  # fmt: skip
    assert document["hours_per_actionable"] == {"mean": 1.5, "n": 1}
    # the note is not stored in clear anywhere in the database file or the statistics
    assert "case file 12" not in stats.out and "case file 12" not in export.read_text()


def _strict(text: str) -> Any:
    """JSON as other readers take it: ``NaN`` and ``Infinity`` are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_a_queue_without_capacity_is_valid_json_with_no_waits(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    load_sample(store, 3, reports=20)
    assert invoke(capsys, "triage", "run").code == 0
    shown = invoke(capsys, "queue", "--capacity-hours", "0", "--json")
    assert shown.code == 0, shown.err
    queue = _strict(shown.out)
    assert queue["offender_items"] and all(i["wait_days"] is None for i in queue["offender_items"])
    assert all(r["mean_wait_days"] is None for r in queue["offender_queue"]["by_level"])
    table = invoke(capsys, "queue", "--capacity-hours", "0")
    assert table.code == 0 and "–" in table.out


@pytest.mark.parametrize("hours", ["inf", "nan"])
def test_an_endless_capacity_is_a_usage_error_naming_the_option(
    store: Store, capsys: pytest.CaptureFixture[str], hours: str
) -> None:
    load_sample(store, 3, reports=20)
    assert invoke(capsys, "triage", "run").code == 0
    refused = invoke(capsys, "queue", "--capacity-hours", hours)
    assert refused.code == 2
    assert "--capacity-hours" in refused.err and "unexpected" not in refused.err


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["outcome", "{id}", "--result", "actionable", "--minutes", "5"], "REPORT"),
        (["quarantine", "show", "{id}"], "RECORD"),
        (["quarantine", "retry", "3", "{id}"], "RECORD..."),
        (["token", "revoke", "{id}"], "TOKEN"),
    ],
)
def test_an_id_beyond_the_stores_ids_is_a_usage_error_naming_it(
    store: Store, capsys: pytest.CaptureFixture[str], command: list[str], name: str
) -> None:
    """SQLite cannot bind a number past 64 bits (an OverflowError mid-command before); ids are
    32-bit columns on PostgreSQL."""
    for beyond in ("99999999999999999999", str(2**31), "0"):
        refused = invoke(capsys, *(part.format(id=beyond) for part in command))
        assert refused.code == 2, refused.err
        assert f"Invalid value for '{name}'" in refused.err


def test_usage_errors(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(capsys, "queue", "--period", "year").code == 2
    missing = invoke(capsys, "queue")
    assert missing.code == 1 and "triage run" in missing.err
    assert invoke(capsys, "triage", "run", "--policy", "/no/such.toml").code == 1


def test_a_policy_change_is_stored_and_relevels(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    load_sample(store, 5)
    assert invoke(capsys, "triage", "run").code == 0
    with store.session() as session:
        before = {
            r.report_id: (r.level, r.reasons) for r in session.scalars(select(PriorityDecision))
        }
    # thresholds no score reaches: only the floors of rules (at least P1/P2) keep a report up
    edited = (
        default_policy_text()
        .decode()
        .replace("P1 = 120\nP2 = 60\nP3 = 20", "P1 = 3000\nP2 = 2000\nP3 = 1000")
        .replace('version = "2026.11-3"', 'version = "2026.11-test"')
    )
    path = tmp_path / "policy.toml"
    path.write_text(edited)
    second = json.loads(invoke(capsys, "triage", "run", "--policy", str(path), "--json").out)
    assert second["policy"].startswith("default@2026.11-test#")

    def expected(reasons: list[dict[str, str]]) -> str:
        floors = [r["effect"].split()[2].rstrip(",") for r in reasons if "at least" in r["effect"]]
        return min(floors, default="informational", key=LEVELS.index)

    with store.session() as session:
        after = {r.report_id: r for r in session.scalars(select(PriorityDecision))}
    assert {r.policy for r in after.values()} == {second["policy"]}
    assert {k: r.level for k, r in after.items()} == {
        k: expected(reasons) for k, (_level, reasons) in before.items()
    }
    changed = sum(1 for k, (level, _) in before.items() if after[k].level != level)
    assert changed > 0
    assert second["level_changes"]["changed"] == changed
    assert second["level_changes"]["raised"] == 0


def test_a_policy_text_no_store_can_hold_is_refused_before_the_run(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A NUL in the policy's name reached the run's label: SQLite stored it, PostgreSQL refused
    it half-way through the run ("unexpected DataError"). It is refused before anything is
    written, naming the file, the table and the key, and the same run without it goes on."""
    load_sample(store, 2)
    text = default_policy_text().decode()
    path = tmp_path / "nul-policy.toml"
    path.write_text(text.replace('name = "default"', 'name = "nul\\u0000policy"', 1))
    refused = invoke(capsys, "triage", "run", "--policy", str(path))
    assert refused.code == 1
    assert refused.err == (
        f"error: {path}: [policy]: name must not contain a NUL character (\\x00)\n"
    )
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(TriageRun)) == 0
        assert session.scalar(select(func.count()).select_from(PriorityDecision)) == 0
    path.write_text(text.replace('name = "default"', 'name = "nul-policy"', 1))
    ran = invoke(capsys, "triage", "run", "--policy", str(path), "--json")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["policy"].startswith("nul-policy@")


def test_monitor_section_shows_counts_without_identifiers(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    load_sample(store, 2)
    assert invoke(capsys, "triage", "run").code == 0
    section = triage_section.build(store)
    assert section is not None
    assert "Queue against capacity" in section.body and "Reasons" in section.body
    with store.session() as session:
        pseudonyms = session.execute(select(PartyIdentifier.pseudonym)).scalars().all()
    assert pseudonyms and not any(p in section.body for p in pseudonyms)


def _epoch(moment: datetime) -> int:
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _decision_rows(store: Store) -> dict[int, tuple[object, ...]]:
    with store.session() as session:
        return {
            d.report_id: (
                d.subject_id, d.work_item, d.level, d.score, d.route, d.detection, d.reasons,
                d.policy, d.policy_digest,
            )
            for d in session.scalars(select(PriorityDecision))
        }  # fmt: skip


def test_a_run_rewrites_only_what_changed_and_ends_as_a_full_rewrite(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    load_sample(store, 3)
    first = json.loads(invoke(capsys, "triage", "run", "--json").out)
    assert first["decisions_written"] == first["reports"]
    with store.session() as session:
        stamps = dict(
            session.execute(select(PriorityDecision.report_id, PriorityDecision.run_id)).all()
        )
    again = json.loads(invoke(capsys, "triage", "run", "--json").out)
    assert again["decisions_written"] == 0
    with store.session() as session:
        assert (
            dict(session.execute(select(PriorityDecision.report_id, PriorityDecision.run_id)).all())
            == stamps
        )

    # New reports (some about the same users, sharing content) change a part of the old ones.
    corpus = generate(GeneratorConfig(seed=4, reports=40, families=40, subjects=50))
    corpus.write_ncmec(tmp_path / "more")
    assert invoke(capsys, "ingest", str(tmp_path / "more"), "--source", "second").code == 0
    third = json.loads(invoke(capsys, "triage", "run", "--json").out)
    assert third["new_reports"] == 40
    assert 40 <= third["decisions_written"] < third["reports"]
    kept = _decision_rows(store)
    assert len(kept) == third["reports"]

    # Forgetting every fingerprint (and the input cache, which keeps them too) forces a full
    # rewrite: it must store exactly the same rows.
    with store.session() as session:
        session.execute(update(PriorityDecision).values(fingerprint=None))
        session.execute(delete(TriageInputCache))
    full = json.loads(invoke(capsys, "triage", "run", "--json").out)
    assert full["read"] == "full (no input cache)"
    assert full["decisions_written"] == full["reports"]
    assert _decision_rows(store) == kept

    # The queue's stored input is the decisions of the last run.
    with store.session() as session:
        _run, columns = store_io.queue_columns(session)
        received = dict(
            session.execute(select(ProviderReport.id, ProviderReport.received_at)).all()
        )
    stored = {
        int(r): (int(i), LEVELS[int(lv) - 1], float(s), ROUTES[int(ro)], int(t))
        for i, r, lv, s, t, ro in zip(
            columns.item, columns.report, columns.level, columns.score, columns.received_at,
            columns.route, strict=True,
        )
    }  # fmt: skip
    assert stored == {
        report: (row[1], row[2], row[3], row[4], _epoch(received[report]))
        for report, row in kept.items()
    }


def test_a_queue_without_readable_run_columns_asks_for_a_new_run(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    load_sample(store, 3, reports=20)
    assert invoke(capsys, "triage", "run").code == 0
    with store.session() as session:  # as a store from before, or one whose cache was lost
        session.execute(delete(TriageInputCache))
    refused = invoke(capsys, "queue")
    assert refused.code == 1
    assert "columns cannot be read (no input cache)" in refused.err
    assert "run safeguarding triage run again" in refused.err
    assert invoke(capsys, "triage", "run").code == 0
    assert invoke(capsys, "queue").code == 0


def test_the_queue_reads_again_when_a_run_replaces_the_cache_meanwhile(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(store, 3, reports=20)
    assert invoke(capsys, "triage", "run").code == 0
    read_meta = store_io.read_meta
    runs_between: list[int] = []

    def with_a_run_committed_after(session: Any) -> dict[str, Any]:
        meta = read_meta(session)
        if not runs_between:  # another triage run commits between the meta data and the columns
            runs_between.append(invoke(capsys, "triage", "run").code)
        return meta

    monkeypatch.setattr(store_io, "read_meta", with_a_run_committed_after)
    with store.session() as session:
        run_id, columns = store_io.queue_columns(session)
        latest = session.scalar(select(func.max(TriageRun.id)))
    assert runs_between == [0] and run_id == latest == 2
    assert len(columns) == 20


def test_a_run_and_its_audit_event_are_stored_together(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(store, 2)
    first = json.loads(invoke(capsys, "triage", "run", "--json").out)
    with store.session() as session:
        (event,) = audit.events(session, action="triage.run")
        assert (event.actor, event.target_id) == (audit.cli_actor().name, str(first["run"]))
        assert json.loads(event.detail) == {
            "policy": first["policy"], "reports": str(first["reports"]), "changed": "0"
        }  # fmt: skip
        runs = session.scalar(select(func.count()).select_from(TriageRun))

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the audit log cannot be written")

    # An event that cannot be written takes the run down with it: no run without its event.
    monkeypatch.setattr(audit, "record", refuse)
    with pytest.raises(RuntimeError):
        operations.run_triage(store, load_policy(), full=True, actor=audit.cli_actor())
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(TriageRun)) == runs


def test_the_export_names_only_the_synthetic_outcomes_of_its_period(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Demo outcomes are dated in January 2026; an export of November counts one real outcome
    and must not call the demo outcomes of the store its own."""
    load_sample(store, 3)
    operations.demo(store, 1)
    with store.session() as session:
        scored = session.scalars(select(PriorityDecision.report_id)).all()
        recorded = set(session.scalars(select(TriageOutcome.report_id)).all())
    report = next(r for r in scored if r not in recorded)
    when = datetime(2026, 11, 10, 12, tzinfo=UTC)
    operations.record_outcome(store, report, "actionable", 30, None, recorded_at=when)
    november = operations.export(store, date(2026, 11, 1), date(2026, 11, 30))
    assert november["reports_with_outcome"] == 1
    assert "synthetic" not in november["source"]
    january = operations.export(store, date(2026, 1, 1), date(2026, 1, 31))
    assert f"({january['reports_with_outcome']} synthetic demo outcomes)" in january["source"]


def test_stats_count_the_outcomes_of_their_period_and_refuse_a_reversed_one(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from and --to used to change only the export; the statistics shown counted every
    outcome, even for a period that ends before it starts."""
    load_sample(store, 3, reports=20)
    assert invoke(capsys, "triage", "run").code == 0
    with store.session() as session:
        reports = session.scalars(
            select(PriorityDecision.report_id).order_by(PriorityDecision.report_id)
        ).all()
    for report, day, result in [
        (reports[0], date(2026, 3, 2), "actionable"),
        (reports[1], date(2026, 3, 20), "duplicate"),
        (reports[2], date(2026, 4, 5), "actionable"),
    ]:
        moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        operations.record_outcome(store, report, result, 30, None, recorded_at=moment)

    def stats(*period: str) -> dict[str, Any]:
        shown = invoke(capsys, "triage", "stats", "--json", *period)
        assert shown.code == 0, shown.err
        found: dict[str, Any] = json.loads(shown.out)
        return found

    assert stats()["overall"]["n"] == 3
    march = stats("--from", "2026-03-01", "--to", "2026-03-31")
    assert march["overall"]["counts"]["actionable"] == 1 and march["overall"]["n"] == 2
    assert march["period"] == {"from": "2026-03-01", "to": "2026-03-31"}
    assert stats("--from", "2026-03-20")["overall"]["n"] == 2
    assert stats("--to", "2026-03-20")["overall"]["n"] == 2
    text = invoke(capsys, "triage", "stats", "--from", "2026-03-01", "--to", "2026-03-31")
    assert "2 outcomes recorded 2026-03-01 to 2026-03-31" in text.out
    reversed_period = invoke(
        capsys, "triage", "stats", "--from", "2026-04-01", "--to", "2026-03-01"
    )
    assert reversed_period.code == 2
    assert "--to 2026-03-01 is before --from 2026-04-01" in reversed_period.err


def test_recording_again_keeps_the_note_unless_a_new_one_or_clearing_is_given(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sealed note cannot be read back to be given again: correcting the minutes must not
    drop it without a word."""
    load_sample(store, 3, reports=20)
    assert invoke(capsys, "triage", "run").code == 0
    with store.session() as session:
        report = min(session.scalars(select(PriorityDecision.report_id)).all())
    sealer = Sealer(store.settings.secret("notes"))

    def note() -> str | None:
        with store.session() as session:
            row = session.get(TriageOutcome, report)
            assert row is not None
            sealed = row.note_sealed
        return None if sealed is None else sealer.open(sealed, f"{NOTE_PURPOSE}:{report}").decode()

    def record(*extra: str) -> dict[str, Any]:
        args = ["outcome", str(report), "--result", "actionable", "--minutes", "30", "--json"]
        shown = invoke(capsys, *args, *extra)
        assert shown.code == 0, shown.err
        found: dict[str, Any] = json.loads(shown.out)
        return found

    assert record("--note", "case file 12")["note"] == "sealed"
    assert record()["note"] == "kept" and note() == "case file 12"
    assert record("--note", "case file 13")["note"] == "sealed" and note() == "case file 13"
    assert record("--clear-note")["note"] == "cleared" and note() is None
    assert record()["note"] is None and note() is None
    both = invoke(
        capsys, "outcome", str(report), "--result", "actionable", "--minutes", "30",
        "--note", "x", "--clear-note",
    )  # fmt: skip
    assert both.code == 2 and "--clear-note" in both.err
    with store.session() as session:
        notes = [
            json.loads(e.detail)["note"] for e in audit.events(session, action="outcome.record")
        ]
    assert notes[::-1] == ["sealed", "kept", "sealed", "cleared", ""]  # newest first


def test_an_address_used_as_a_json_key_is_not_shown_or_stored_in_clear(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An unknown key is named in the refusal's location and message, both stored in clear.
    head = (
        '{"report_id": "%s", "incident_type": "Online Enticement of Children for Sexual Acts", '
        '"incident_time": "2026-02-01T08:30:00Z"'
    )
    lines = [
        head % "J-1" + "}",
        head % "J-2" + ', "reported_user": {"jane.doe@example.com": {"age": 12}}}',
        head % "J-3" + ', "reported_user": {"jane.doe@example.com": 1, "jane.doe@example.com": 2}}',
        head % "J-4" + "}",
    ]
    path = tmp_path / "reports.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert invoke(capsys, "ingest", str(path)).code == 0
    shown = [json.loads(invoke(capsys, "quarantine", "show", n, "--json").out) for n in "12"]
    assert [(r["location"], r["rule"]) for r in shown] == [
        (f"{path}:2:reported_user.[email address removed]", "unknown_field"),
        (f"{path}:3", "repeated_key"),
    ]
    assert shown[1]["error"].endswith("key '[email address removed]' given twice in one object")
    assert not any("jane" in r["location"] + r["error"] for r in shown)
    with store.session() as session:
        stored = session.scalars(select(ProviderReport.provider_report_id)).all()
    assert sorted(stored) == ["J-1", "J-4"]


def _jsonl_reports(directory: Path, *reports: dict[str, Any]) -> Path:
    directory.mkdir()
    lines = [
        {
            "report_id": "J-1", "incident_type": "Child Sex Trafficking",
            "incident_time": "2026-02-01T08:30:00+01:00", "provider": "Example Provider",
            **report,
        }
        for report in reports
    ]  # fmt: skip
    (directory / "r.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    return directory


def test_the_queue_lists_youth_care_items_and_names_reports_stored_since_the_run(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A P1 routed to youth care showed only as a count of youth-care items, and a queue built
    from the last run's columns said nothing of reports stored after that run."""
    first = _jsonl_reports(
        tmp_path / "first",
        {"report_id": "Y-1", "escalate_to_high_priority": "note",
         "annotations": ["minorToMinorInteraction"]},
        {"report_id": "O-1", "escalate_to_high_priority": "note"},
    )  # fmt: skip
    assert invoke(capsys, "ingest", str(first), "--source", "first").code == 0
    assert invoke(capsys, "triage", "run").code == 0
    queue = json.loads(invoke(capsys, "queue", "--json").out)
    assert queue["youth_care_queue"]["by_level"] == {
        "P1": 1, "P2": 0, "P3": 0, "informational": 0,
    }  # fmt: skip
    ((item,),) = [[(row["level"], len(row["reports"])) for row in queue["youth_care_items"]]]
    assert item == ("P1", 1)
    assert queue["reports_not_in_queue"] == 0
    text = invoke(capsys, "queue").out
    assert "youth-care queue (separate route): 1 items (P1 1, P2 0, P3 0, informational 0)" in (
        " ".join(text.split())
    )
    assert "Youth-care queue (first items)" in text and "not in this queue" not in text

    later = _jsonl_reports(tmp_path / "later", {"report_id": "O-2"}, {"report_id": "O-3"})
    assert invoke(capsys, "ingest", str(later), "--source", "later").code == 0
    assert json.loads(invoke(capsys, "queue", "--json").out)["reports_not_in_queue"] == 2
    stale = " ".join(invoke(capsys, "queue").out.split())
    assert (
        "2 reports stored since the last triage run are not in this queue; run "
        "`safeguarding triage run`" in stale
    )
    assert invoke(capsys, "triage", "run").code == 0
    assert json.loads(invoke(capsys, "queue", "--json").out)["reports_not_in_queue"] == 0
