"""The command line's changes and reads of sensitive records are in the audit log, with the
operating-system user as the actor, as the web app's are with the account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeguarding.access import audit
from safeguarding.store import Store
from tests.cli_runner import invoke
from tests.triage.xml_samples import FILE_DETAILS, REPORT

Capsys = pytest.CaptureFixture[str]


def _events(store: Store, action: str) -> list[tuple[str, str, dict[str, str]]]:
    """(actor, target id, detail) of every ``action`` event, oldest first; the chain intact."""
    with store.session() as session:
        found = audit.events(session, action=action, limit=1000)
        assert not audit.verify(session).problems
        return [(e.actor, e.target_id, json.loads(e.detail)) for e in reversed(found)]


def test_an_ingest_is_audited_when_it_starts_and_when_it_ends(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "r.xml").write_text(REPORT)
    (tmp_path / "bad.xml").write_text("<report><unclosed>")
    summary = json.loads(invoke(capsys, "ingest", str(tmp_path), "--source", "p", "--json").out)
    me = audit.cli_actor().name
    run = str(summary["run_id"])
    assert _events(store, "ingest.start") == [(me, run, {"source": "p", "documents": "2"})]
    ((actor, target, counts),) = _events(store, "ingest.finish")
    assert (actor, target) == (me, run)
    assert counts == {
        "reports_stored": "1", "reports_unchanged": "0", "files_stored": "0",
        "files_unchanged": "0", "matches": "0", "rejected": "1", "quarantined": "1",
    }  # fmt: skip
    assert summary["reports_stored"] == 1 and summary["quarantined"] == 1


def test_showing_a_quarantined_record_is_audited_and_says_whether_its_input_was_shown(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "bad.xml").write_text("<report><unclosed>")
    invoke(capsys, "ingest", str(tmp_path))
    assert invoke(capsys, "quarantine", "show", "1").code == 0
    assert invoke(capsys, "quarantine", "show", "1", "--raw").code == 0
    assert invoke(capsys, "quarantine", "show", "2").code == 1  # no such record: nothing seen
    shown = [(target, detail["raw"]) for _, target, detail in _events(store, "quarantine.read")]
    assert shown == [("1", "not shown"), ("1", "shown")]


def test_a_retried_record_is_audited_with_what_it_stored(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "f.xml").write_text(FILE_DETAILS)
    invoke(capsys, "ingest", str(tmp_path / "f.xml"))
    assert invoke(capsys, "quarantine", "retry").code == 0  # its report is still missing
    assert _events(store, "quarantine.retry") == []
    (tmp_path / "r.xml").write_text(REPORT)
    invoke(capsys, "ingest", str(tmp_path / "r.xml"))
    assert invoke(capsys, "quarantine", "retry").code == 0
    ((actor, target, detail),) = _events(store, "quarantine.retry")
    assert (actor, target) == (audit.cli_actor().name, "1")
    assert detail == {"reports_stored": "0", "files_stored": "1", "matches": "0"}


def test_the_queue_is_audited_as_a_read_of_its_items(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "r.xml").write_text(REPORT)
    invoke(capsys, "ingest", str(tmp_path))
    assert invoke(capsys, "triage", "run").code == 0
    assert invoke(capsys, "queue", "--capacity-hours", "12.5", "--limit", "3").code == 0
    ((actor, _, asked),) = _events(store, "queue.list")
    assert actor == audit.cli_actor().name
    assert asked == {"route": "offender", "period": "week", "capacity_hours": "12.5", "limit": "3"}


def test_helpline_imports_lists_and_purges_are_audited(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "contact_id,month,channel,contact_kind,caller_token,caller_type,age_band,note\n"
        "C1,2023-01,chat,first,,self_concerned,18_21,a note\n"
        "C2,2023-02,pigeon,first,,self_concerned,18_21,\n",
        encoding="utf-8",
    )
    assert invoke(capsys, "helpline", "import", str(path)).code == 1  # one row refused
    assert invoke(capsys, "helpline", "list", "--limit", "5").code == 0
    assert invoke(capsys, "helpline", "purge-notes").code == 0
    me = audit.cli_actor().name
    assert _events(store, "helpline.import") == [
        (me, "contacts.csv", {"imported": "1", "already_present": "0", "rejected_rows": "1"})
    ]
    assert _events(store, "helpline_contact.list") == [(me, "", {"limit": "5", "rows": "1"})]
    assert _events(store, "helpline.notes.purge") == [(me, "", {"deleted": "0", "kept": "1"})]


def test_a_stored_assessment_run_is_audited(capsys: Capsys, store: Store) -> None:
    args = ("assess", "eu-status-quo", "nl-detection-orders", "--draws", "200", "--seed", "3")
    assert invoke(capsys, *args).code == 0
    assert _events(store, "assess.save") == []  # not stored: nothing to audit
    saved = json.loads(invoke(capsys, *args, "--save", "--json").out)
    detail = {"scenarios": "eu-status-quo, nl-detection-orders", "draws": "200", "seed": "3"}
    assert _events(store, "assess.save") == [(audit.cli_actor().name, saved["run"], detail)]


@pytest.mark.xdist_group("demo")
def test_the_demo_audits_what_it_stores(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch, demo_build: tuple[Path, str]
) -> None:
    demo_dir, _ = demo_build
    monkeypatch.setenv("SAFEGUARDING_HOME", str(demo_dir))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)
    exported = invoke(capsys, "audit", "export", "--format", "jsonl")
    events = [json.loads(line) for line in exported.out.splitlines()]
    actions = {e["action"] for e in events if e["actor"] == audit.cli_actor().name}
    stored = {
        "hashlist.import", "ingest.start", "ingest.finish", "triage.run", "outcome.record",
        "platforms.import.register", "platforms.import.cases", "platforms.assess",
        "helpline.import", "assess.save",
    }  # fmt: skip
    assert stored <= actions
    outcomes = [json.loads(e["detail"]) for e in events if e["action"] == "outcome.record"]
    assert outcomes and all(detail["synthetic"] == "yes" for detail in outcomes)


def test_an_export_to_a_directory_is_refused_in_one_line_and_not_recorded(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """It failed with an "unexpected IsADirectoryError" after its event was recorded: the log
    claimed an export of which not one event had left the store."""
    result = invoke(capsys, "audit", "export", "--out", str(tmp_path))
    assert result.code == 1
    assert (
        result.err
        == f"error: --out {tmp_path} is a directory, not a file; give the file to write\n"
    )
    assert _events(store, "audit.export") == []
    missing = tmp_path / "no-such-dir" / "audit.jsonl"
    result = invoke(capsys, "audit", "export", "--out", str(missing))
    assert result.code == 1
    assert result.err == f"error: --out {missing}: cannot write (No such file or directory)\n"
    assert _events(store, "audit.export") == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full disk)")
def test_an_export_that_fails_while_writing_is_recorded_as_failed(
    capsys: Capsys, store: Store
) -> None:
    """Past the opening, part of the log may have been written: the export's event stays (it
    is the export's own last line) and a failure event says the export did not complete."""
    result = invoke(capsys, "audit", "export", "--out", "/dev/full")
    assert result.code == 1
    assert result.err == (
        "error: --out /dev/full: cannot write (No space left on device); the export is "
        "incomplete, and recorded in the audit log as failed\n"
    )
    me = audit.cli_actor().name
    assert _events(store, "audit.export") == [(me, "", {"format": "jsonl"})]
    assert _events(store, "audit.export_failed") == [
        (me, "", {"format": "jsonl", "error": "No space left on device"})
    ]
