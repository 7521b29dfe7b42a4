"""The audit log's hash chain: intact logs verify; edits and deletions behind its back are named."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.cli.main import run
from safeguarding.store import Store
from safeguarding.store.engine import make_engine
from tests.cli_runner import invoke

ALICE = Actor("alice", "analyst", "10.0.0.7")


def _fill(store: Store, n: int) -> None:
    with store.session() as db:
        for i in range(n):
            audit.record(db, ALICE, "report.read", "report", f"R{i}", {"why": "triage"})


def test_an_untouched_log_verifies(store: Store) -> None:
    _fill(store, 5)
    with store.session() as db:
        result = audit.verify(db)
        first = audit.events(db, limit=10)[-1]
    assert result.ok and result.checked == 5 and result.head_seq == 5
    assert (first.seq, first.actor, first.role, first.ip) == (1, "alice", "analyst", "10.0.0.7")
    assert (first.action, first.target_kind, first.target_id) == ("report.read", "report", "R0")
    assert first.prev_hash == audit.GENESIS
    assert first.at.endswith("Z")


def test_an_empty_log_verifies(store: Store) -> None:
    with store.session() as db:
        assert audit.verify(db).ok


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_event SET actor = 'mallory' WHERE seq = 3",
        "UPDATE audit_event SET target_id = 'R99' WHERE seq = 3",
        "UPDATE audit_event SET detail = '{}' WHERE seq = 3",
        "UPDATE audit_event SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 3",
    ],
)
def test_an_edited_event_is_named(store: Store, change: str) -> None:
    _fill(store, 5)
    with store.session() as db:
        db.execute(text(change))
    with store.session() as db:
        result = audit.verify(db)
    assert not result.ok
    assert [(p.seq, p.kind) for p in result.problems] == [(3, "edited")]
    assert "event 3 was edited" in result.problems[0].message


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(store: Store) -> None:
    _fill(store, 5)
    with store.session() as db:
        row = db.execute(text("SELECT * FROM audit_event WHERE seq = 2")).mappings().one()
        forged = dict(row) | {"actor": "mallory"}
        new_hash = audit.chain_hash(forged["prev_hash"], forged)
        db.execute(
            text("UPDATE audit_event SET actor = 'mallory', hash = :h WHERE seq = 2"),
            {"h": new_hash},
        )
    with store.session() as db:
        result = audit.verify(db)
    assert [(p.seq, p.kind) for p in result.problems] == [(3, "relinked")]


def test_a_deleted_event_is_named(store: Store) -> None:
    _fill(store, 6)
    with store.session() as db:
        db.execute(text("DELETE FROM audit_event WHERE seq = 4"))
    with store.session() as db:
        result = audit.verify(db)
    assert [(p.seq, p.kind) for p in result.problems] == [(4, "deleted")]
    assert result.problems[0].message == "event 4 deleted (the chain jumps to 5)"


def test_deleted_last_events_are_named(store: Store) -> None:
    _fill(store, 6)
    with store.session() as db:
        db.execute(text("DELETE FROM audit_event WHERE seq >= 5"))
    with store.session() as db:
        result = audit.verify(db)
    assert [(p.seq, p.kind) for p in result.problems] == [(5, "truncated")]
    assert "events 5–6 deleted" in result.problems[0].message


def test_concurrent_appenders_keep_one_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                with store.session() as db:
                    audit.record(db, ALICE, "report.read", "report", f"W{worker}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.session() as db:
        result = audit.verify(db)
        seqs = [r[0] for r in db.execute(text("SELECT seq FROM audit_event ORDER BY seq"))]
    assert result.ok
    assert seqs == list(range(1, 41))


def test_an_event_rolls_back_with_its_transaction(store: Store) -> None:
    _fill(store, 2)
    with pytest.raises(RuntimeError), store.session() as db:
        audit.record(db, ALICE, "user.add", "user", "x")
        raise RuntimeError("the change failed")
    _fill(store, 1)
    with store.session() as db:
        result = audit.verify(db)
    assert result.ok and result.checked == 3


def test_export_round_trips_every_field(store: Store) -> None:
    _fill(store, 3)
    jsonl, table = io.StringIO(), io.StringIO()
    assert audit.export(store.read_session, jsonl, "jsonl", 3) == 3
    assert audit.export(store.read_session, table, "csv", 3) == 3
    lines = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    rows = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert [int(r["seq"]) for r in rows] == [1, 2, 3]
    prev = audit.GENESIS
    for event, row in zip(lines, rows, strict=True):
        assert event["prev_hash"] == prev == row["prev_hash"]
        assert audit.chain_hash(prev, event) == event["hash"] == row["hash"]
        prev = event["hash"]


def test_an_export_reads_in_batches_up_to_its_own_event(store: Store) -> None:
    """The export's event commits first and bounds the export: events appended while it is read
    (here between two batches) are not in it, and the batches join into one unbroken chain."""
    _fill(store, 7)
    with store.session() as db:
        through = audit.record_export(db, ALICE, "jsonl")
    assert through == 8
    batches = audit.export_batches(store.read_session, through, batch=3)
    seen = [next(batches)]
    _fill(store, 2)  # appended meanwhile: nothing is locked by the export
    seen.extend(batches)
    assert [[event["seq"] for event in batch] for batch in seen] == [[1, 2, 3], [4, 5, 6], [7, 8]]
    assert seen[-1][-1]["action"] == "audit.export"
    prev = audit.GENESIS
    for event in (event for batch in seen for event in batch):
        assert event["prev_hash"] == prev and audit.chain_hash(prev, event) == event["hash"]
        prev = str(event["hash"])
    whole, pieces = io.StringIO(), list(audit.export_text(store.read_session, "csv", 8, batch=3))
    assert audit.export(store.read_session, whole, "csv", 8) == 8
    assert "".join(pieces) == whole.getvalue() and len(pieces) == 4  # the header, three batches
    assert whole.getvalue().startswith(",".join(audit.EXPORT_FIELDS) + "\r\n")


def test_a_read_session_refuses_writes_and_leaves_the_connection_writable(store: Store) -> None:
    with pytest.raises(DBAPIError), store.read_session() as db:
        audit.record(db, ALICE, "report.read", "report", "R1")
    _fill(store, 1)
    with store.session() as db:
        assert audit.verify(db).checked == 1


def _append_without_waiting(store: Store) -> None:
    """Append an event from a connection of its own that waits at most half a second for the
    audit log's write lock (a web request would wait, then fail)."""
    engine = make_engine(store.engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA busy_timeout = 500")
            else:
                connection.exec_driver_sql("SET lock_timeout = '500ms'")
            connection.commit()
            with Session(bind=connection) as db:
                audit.record(db, ALICE, "report.read", "report", "during-export")
                db.commit()
    finally:
        engine.dispose()


class _SlowReader(io.StringIO):
    """Standard output read by someone who, having seen the first text, works on meanwhile (as
    with a pager): an audited action happens while the export is being written."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.appended = False

    def write(self, text: str) -> int:
        if text and not self.appended:
            _append_without_waiting(self.store)
            self.appended = True
        return super().write(text)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_cli_export_holds_no_lock_while_it_writes(
    store: Store, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    _fill(store, 3)
    reader = _SlowReader(store)
    monkeypatch.setattr(sys, "stdout", reader)
    assert run(["audit", "export", "--format", fmt]) == 0
    assert reader.appended
    lines = reader.getvalue().splitlines()
    exported = (
        [json.loads(line) for line in lines] if fmt == "jsonl" else list(csv.DictReader(lines))
    )
    assert [int(e["seq"]) for e in exported] == [1, 2, 3, 4]  # not the event appended meanwhile
    assert exported[-1]["action"] == "audit.export"
    with store.session() as db:
        assert audit.verify(db).checked == 5


def test_cli_verify_and_export(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(store, 4)
    ok = invoke(capsys, "audit", "verify")
    assert ok.code == 0 and "audit log intact: 4 events, head at 4" in ok.out
    exported = invoke(capsys, "audit", "export", "--format", "jsonl")
    assert exported.code == 0
    events = [json.loads(line) for line in exported.out.splitlines()]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert events[-1]["action"] == "audit.export"
    assert events[-1]["actor"].startswith("os:") and events[-1]["role"] == "cli"
    with store.session() as db:
        db.execute(text("UPDATE audit_event SET ip = '127.0.0.1' WHERE seq = 2"))
        db.execute(text("DELETE FROM audit_event WHERE seq = 4"))
    broken = invoke(capsys, "audit", "verify")
    assert broken.code == 1
    assert "event 2: edited" in broken.err
    assert "event 4: deleted" in broken.err
    assert "error: audit log tampered with: 2 problem(s)" in broken.err
    as_json = invoke(capsys, "audit", "verify", "--json")
    assert json.loads(as_json.out)["problems"][0]["seq"] == 2


def _documented_hash(previous: str, row: dict[str, str]) -> str:
    """The chain's hash as docs/web.md describes it, written from the description alone: the
    content fields (all but the two hashes) as compact JSON with sorted keys, ``seq`` a number
    and the rest text, non-ASCII kept, UTF-8; the previous hash's hex digits in front."""
    content = {k: (int(v) if k == "seq" else v) for k, v in row.items() if "hash" not in k}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((previous + text).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_exported_file_is_checked_on_its_own_as_documented(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    with store.session() as db:
        audit.record(db, Actor("zoë", "analyst", "10.0.0.7"), "report.read", "report", "R,1\n")
    _fill(store, 3)
    path = tmp_path / f"audit.{fmt}"
    assert invoke(capsys, "audit", "export", "--format", fmt, "--out", str(path)).code == 0
    lines = path.read_text(encoding="utf-8")
    rows = (
        [{k: str(v) for k, v in json.loads(line).items()} for line in lines.splitlines()]
        if fmt == "jsonl"
        else list(csv.DictReader(io.StringIO(lines, newline="")))
    )
    previous = audit.GENESIS
    for row in rows:  # the documented form, from the file alone
        assert row["prev_hash"] == previous and _documented_hash(previous, row) == row["hash"]
        previous = row["hash"]
    checked = invoke(capsys, "audit", "verify", "--file", str(path), "--json")
    assert checked.code == 0
    assert json.loads(checked.out) | {"problems": []} == {
        "ok": True, "checked": 5, "head_seq": 5, "head_hash": previous, "problems": [],
    }  # fmt: skip
    said = invoke(capsys, "audit", "verify", "--file", str(path)).out
    assert said == f"export intact: 5 events, the last 5 with hash {previous}\n"
    edited = lines.replace("R2", "R9", 1)
    gone = "".join(
        line for line in lines.splitlines(keepends=True) if not line.startswith(("4,", '{"seq":4'))
    )
    for changed, problem in ((edited, "event 4: edited"), (gone, "event 4: deleted")):
        path.write_text(changed, encoding="utf-8")
        broken = invoke(capsys, "audit", "verify", "--file", str(path))
        assert broken.code == 1 and problem in broken.err
        assert f"error: export audit.{fmt} tampered with" in broken.err
    path.write_text("not,an,export\n", encoding="utf-8")
    refused = invoke(capsys, "audit", "verify", "--file", str(path))
    assert refused.code == 1 and "not an audit export" in refused.err
