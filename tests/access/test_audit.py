"""The audit log's hash chain: intact logs verify; edits and deletions behind its back are named."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest
from sqlalchemy import text

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.store import Store
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
    with store.session() as db:
        assert audit.export(db, jsonl, "jsonl") == 3
        assert audit.export(db, table, "csv") == 3
    lines = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    rows = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert [e["seq"] for e in lines] == [1, 2, 3]
    assert [int(r["seq"]) for r in rows] == [1, 2, 3]
    prev = audit.GENESIS
    for event, row in zip(lines, rows, strict=True):
        assert event["prev_hash"] == prev == row["prev_hash"]
        assert audit.chain_hash(prev, event) == event["hash"] == row["hash"]
        prev = event["hash"]


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
