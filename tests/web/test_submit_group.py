"""Group commit of submissions: concurrent submissions share one transaction, yet each keeps the
result, quarantine records and audit event it would have had on its own, and one that fails
fails alone."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from safeguarding.access import accounts, audit
from safeguarding.access.audit import Actor
from safeguarding.config import load_settings
from safeguarding.store import Store
from safeguarding.store.engine import is_busy
from safeguarding.store.models import (
    FloodFlag,
    HashMatch,
    ProviderReport,
    QuarantineRecord,
    ReportedFile,
)
from safeguarding.triage.generate import GeneratorConfig, generate
from safeguarding.triage.hashlists import import_list
from safeguarding.triage.listformats import read_hash_csv
from safeguarding.web import submission
from safeguarding.web.submission import Pending, SubmissionResult, Submitter
from tests.web.conftest import SETUP, make_app
from tests.web.test_event_loop import write_lock_held
from tests.web.test_submit import report_json

LISTED_MD5 = "ab" * 16


def body(report_id: str, **extra: object) -> bytes:
    return json.dumps(report_json(report_id, **extra)).encode()


def actor(name: str) -> Actor:
    return Actor(name, "provider", "127.0.0.1")


@pytest.fixture
def submitter(store: Store) -> Submitter:
    return Submitter(store)


@pytest.fixture
def commits(store: Store) -> Iterator[list[int]]:
    """How many transactions the store's engine commits while the test runs."""
    seen: list[int] = []

    def count(_connection: Connection) -> None:
        seen.append(1)

    event.listen(store.engine, "commit", count)
    yield seen
    event.remove(store.engine, "commit", count)


def written(group: list[Pending]) -> list[SubmissionResult | BaseException]:
    out: list[SubmissionResult | BaseException] = []
    for pending in group:
        error = pending.future.exception(timeout=0)
        out.append(error if error is not None else pending.future.result(timeout=0))
    return out


def test_a_group_is_one_transaction_and_each_submission_keeps_its_own_outcome(
    store: Store, submitter: Submitter, commits: list[int]
) -> None:
    corpus = generate(GeneratorConfig(seed=5, reports=1, files_per_report=1))
    xml_report = corpus.reports[0]
    xml_details = corpus.file_details_xml(xml_report, xml_report.files[0])
    lines = b"\n".join([body("L-1"), body("L-2"), b'{"report_id": 7}'])
    prov, other = actor("prov"), actor("other")
    group = [
        submitter.pending(body("R-1"), "jsonl", prov, location="http:prov"),
        submitter.pending(body("R-2"), "jsonl", prov, location="http:prov"),
        submitter.pending(body("R-1"), "jsonl", prov, location="http:prov"),
        submitter.pending(
            body("R-2", platform="Example Chat"), "jsonl", prov, location="http:prov"
        ),
        submitter.pending(lines, "jsonl", prov, location="http:prov"),
        submitter.pending(body("R-1"), "jsonl", other, location="http:other"),
        submitter.pending(xml_details, "ncmec_xml", prov, location="http:prov"),
        submitter.pending(corpus.report_xml(xml_report), "ncmec_xml", prov, location="http:prov"),
    ]
    submitter.write_group(group)
    assert len(commits) == 1
    results = written(group)
    assert all(isinstance(r, SubmissionResult) for r in results)
    assert [r.status for r in results if isinstance(r, SubmissionResult)] == [
        "stored",
        "stored",
        "unchanged",  # R-1 again, same content
        "conflict",  # R-2 with other content: the first one stays
        "partial",  # L-1 and L-2 stored, line 3 refused
        "stored",  # R-1 of another account: another source
        "rejected",  # file details before their report arrived
        "stored",  # the report itself
    ]
    first, _, again, conflict, partial, _, early, _ = results
    assert isinstance(first, SubmissionResult) and (first.reports_stored, first.files_stored) == (
        1,
        1,
    )
    assert isinstance(again, SubmissionResult) and again.reports_unchanged == 1
    assert isinstance(conflict, SubmissionResult)
    assert [r.rule for r in conflict.rejected] == ["conflicting_duplicate"]
    assert isinstance(partial, SubmissionResult) and partial.reports_stored == 2
    assert isinstance(early, SubmissionResult)
    assert [r.rule for r in early.rejected] == ["unknown_report"]
    with store.session() as db:
        stored = set(db.execute(select(ProviderReport.source, ProviderReport.provider_report_id)))
        assert stored == {
            ("api:prov", "R-1"),
            ("api:prov", "R-2"),
            ("api:prov", "L-1"),
            ("api:prov", "L-2"),
            ("api:other", "R-1"),
            ("api:prov", xml_report.report_id),
        }
        platforms = db.scalars(
            select(ProviderReport.platform).where(ProviderReport.provider_report_id == "R-2")
        )
        assert list(platforms) == [None]  # the conflicting version never overwrote it
        rules = sorted(db.scalars(select(QuarantineRecord.rule)))
        assert rules == sorted(
            [
                r.rule
                for result in results
                if isinstance(result, SubmissionResult)
                for r in result.rejected
            ]
        )
        assert len(rules) == 3
        events = list(reversed(audit.events(db, action="report.submit")))
        assert [json.loads(e.detail)["status"] for e in events] == [
            r.status for r in results if isinstance(r, SubmissionResult)
        ]
        assert [e.actor for e in events] == ["prov"] * 5 + ["other"] + ["prov"] * 2
        row = dict(
            db.execute(
                select(ProviderReport.provider_report_id, ProviderReport.id).where(
                    ProviderReport.source == "api:prov"
                )
            ).all()
        )
        # the stored report's row id is the target, the provider's own id is in the detail
        assert [e.target_id for e in events][:4] == [str(row[r]) for r in ("R-1", "R-2") * 2]
        assert [json.loads(e.detail)["provider_report_id"] for e in events[:4]] == [
            "R-1",
            "R-2",
        ] * 2
        assert audit.verify(db).ok


def test_one_failing_submission_fails_alone(
    store: Store, submitter: Submitter, commits: list[int]
) -> None:
    prov = actor("prov")
    good = [
        submitter.pending(body(f"G-{i}"), "jsonl", prov, location="http:prov") for i in range(3)
    ]
    broken = submitter.pending(body("G-bad"), "jsonl", prov, location="http:prov")
    # A report the readers would never produce: no format, which the store refuses (NOT NULL).
    broken.reports = [broken.reports[0]._replace(format=None)]  # type: ignore[arg-type]
    group = [good[0], broken, good[1], good[2]]
    submitter.write_group(group)
    results = written(group)
    assert isinstance(results[1], Exception)
    assert [r.status for r in results if isinstance(r, SubmissionResult)] == ["stored"] * 3
    # The group's transaction failed and rolled back; then one transaction per submission.
    assert len(commits) == 3
    with store.session() as db:
        ids = set(db.scalars(select(ProviderReport.provider_report_id)))
        assert ids == {"G-0", "G-1", "G-2"}
        assert len(audit.events(db, action="report.submit")) == 3
        assert audit.verify(db).ok


def test_matches_are_found_and_counted_per_submission_in_a_group(
    store: Store, submitter: Submitter
) -> None:
    context = submitter.context
    import_list(
        store,
        context.matcher,
        context.sealer,
        read_hash_csv(f"hash\n{LISTED_MD5}\n".encode(), "known.csv", hash_type="md5"),
        name="known",
        kind="known",
        source_file="known.csv",
        pdq_threshold=context.options.pdq_threshold,
        flood_share=context.options.flood_share,
        actor=SETUP,
    )
    listed = {"files": [{"file_id": "F1", "hashes": [{"kind": "md5", "value": LISTED_MD5}]}]}
    prov = actor("prov")
    group = [
        submitter.pending(body("M-1", **listed), "jsonl", prov, location="http:prov"),
        submitter.pending(body("M-2"), "jsonl", prov, location="http:prov"),
        submitter.pending(body("M-3"), "jsonl", prov, location="http:prov"),
    ]
    submitter.write_group(group)
    results = written(group)
    assert [r.matches for r in results if isinstance(r, SubmissionResult)] == [1, 0, 0]
    with store.session() as db:
        matched = db.scalars(
            select(ProviderReport.provider_report_id)
            .join(ReportedFile, ReportedFile.report_id == ProviderReport.id)
            .join(HashMatch, HashMatch.file_id == ReportedFile.id)
        )
        assert sorted(matched) == ["M-1"]


_SOURCES = itertools.count()
_documents = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # account
        st.lists(
            st.tuples(st.sampled_from(["X-1", "X-2", "X-3"]), st.sampled_from([None, "Chat"])),
            min_size=1,
            max_size=3,
        ),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(documents=_documents)
def test_a_group_answers_as_the_same_submissions_one_by_one(
    store: Store, submitter: Submitter, documents: list[tuple[str, list[tuple[str, str | None]]]]
) -> None:
    """Any mix of new, re-sent and conflicting reports: written as one group, every submission
    gets the result (and the store the rows) it gets when written alone, in the same order."""
    run = next(_SOURCES)

    def pendings(kind: str) -> list[Pending]:
        out = []
        for account, reports in documents:
            lines = b"\n".join(
                body(rid, **({"platform": platform} if platform else {}))
                for rid, platform in reports
            )
            name = f"{kind}{run}-{account}"
            out.append(submitter.pending(lines, "jsonl", actor(name), location="http:p"))
        return out

    grouped = pendings("g")
    submitter.write_group(grouped)
    alone = pendings("s")
    for pending in alone:
        submitter.write_group([pending])
    assert written(grouped) == written(alone)

    def rows(kind: str) -> set[tuple[str, str, str]]:
        with store.session() as db:
            found = db.execute(
                select(
                    ProviderReport.source,
                    ProviderReport.provider_report_id,
                    ProviderReport.content_digest,
                ).where(ProviderReport.source.like(f"api:{kind}{run}-%"))
            )
            return {(s.split("-")[-1], r, d) for s, r, d in found}

    assert rows("g") == rows("s")
    with store.session() as db:
        assert audit.verify(db).ok


def test_concurrent_requests_are_each_answered_after_their_commit(store: Store) -> None:
    with store.session() as db:
        accounts.add_user(db, "prov", "provider", None, SETUP)
        token = accounts.create_token(db, "prov", "t", SETUP).secret
    headers = {"Authorization": f"Bearer {token}"}
    sends = [report_json(f"C-{i}") for i in range(24)]
    sends += [report_json("C-same"), report_json("C-same")]
    sends += [report_json("C-clash"), report_json("C-clash", platform="Example Chat")]
    with TestClient(make_app(store), base_url="http://127.0.0.1") as client:

        def post(document: dict[str, object]) -> tuple[str, int]:
            answer = client.post("/api/reports", json=document, headers=headers)
            return str(document["report_id"]), answer.status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(post, sends))
    by_id: dict[str, list[int]] = {}
    for report_id, status in answers:
        by_id.setdefault(report_id, []).append(status)
    assert all(by_id[f"C-{i}"] == [201] for i in range(24))
    assert sorted(by_id["C-same"]) == [200, 201]
    assert sorted(by_id["C-clash"]) == [201, 409]
    with store.session() as db:
        count = db.scalar(select(func.count()).select_from(ProviderReport))
        assert count == 26
        assert list(db.scalars(select(QuarantineRecord.rule))) == ["conflicting_duplicate"]
        events = audit.events(db, action="report.submit", limit=100)
        assert sorted(json.loads(e.detail)["status"] for e in events) == sorted(
            ["stored"] * 26 + ["unchanged", "conflict"]
        )
        assert audit.verify(db).ok


def test_the_writer_thread_ends_when_idle_and_starts_again_for_the_next_submission(
    store: Store, submitter: Submitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submission, "IDLE_SECONDS", 0.05)

    def writer_alive() -> bool:
        return any(t.name == submitter.thread_name for t in threading.enumerate())

    for round_ in range(3):
        queued = submitter.enqueue(body(f"I-{round_}"), "jsonl", actor("prov"), location="http:p")
        result = queued.result(timeout=30)  # a writer that failed to start would time out
        assert result.status == "stored"
        deadline = time.monotonic() + 10
        while writer_alive():
            assert time.monotonic() < deadline, "the writer thread did not end when idle"
            time.sleep(0.01)
    with store.session() as db:
        assert db.scalar(select(func.count()).select_from(ProviderReport)) == 3


def test_the_flood_guard_judges_web_submissions_over_the_recent_files(
    store: Store, submitter: Submitter
) -> None:
    # Each submission was judged on its own files, one or two, and the guard judges nothing
    # under ``flood_min_files``: an entry matching every other submission was never flagged.
    context = submitter.context
    context.matcher.options = replace(context.matcher.options, flood_min_files=20)
    import_list(
        store, context.matcher, context.sealer,
        read_hash_csv(f"hash\n{LISTED_MD5}\n".encode(), "known.csv", hash_type="md5"),
        name="known", source_file="known.csv", flood_share=0.3, actor=SETUP,
    )  # fmt: skip
    listed = {"files": [{"file_id": "F1", "hashes": [{"kind": "md5", "value": LISTED_MD5}]}]}
    for n in range(30):
        extra = listed if n % 2 else {}
        pending = submitter.pending(body(f"S-{n}", **extra), "jsonl", actor("p"), location="http:p")
        submitter.write_group([pending])
        with store.session() as db:
            flags = db.execute(select(FloodFlag.matched_files, FloodFlag.checked_files)).all()
        # Judged once 20 files are stored: 10 of them matched, half, over the share of 0.3.
        assert [tuple(flag) for flag in flags] == ([] if n < 19 else [(10, 20)])


def test_a_group_that_waits_out_the_busy_timeout_is_told_so_at_once(
    store: Store, home: Path
) -> None:
    """A group that failed waiting for another process's lock was retried one submission at a
    time, each waiting the busy timeout again: the last of a large group was answered only after
    as many timeouts as the group had submissions. The lock says nothing about any one of them:
    each is now told the database was busy, after one wait."""
    (home / "config.toml").write_text("[store]\nbusy_timeout_seconds = 0.2\n", encoding="utf-8")
    short = Store(load_settings())  # the test's database, with the settings file's timeout
    short.bound_lock_waits()  # as the web app does: on PostgreSQL a lock wait is bounded too
    try:
        busy_submitter = Submitter(short)
        prov = actor("prov")
        group = [
            busy_submitter.pending(body(f"B-{i}"), "jsonl", prov, location="http:prov")
            for i in range(10)
        ]
        tries: list[int] = []

        def count(_connection: Connection) -> None:
            tries.append(1)

        event.listen(short.engine, "begin", count)
        with write_lock_held(store):
            busy_submitter.write_group(group)
    finally:
        short.dispose()
    assert len(tries) == 1
    assert all(is_busy(error) for error in written(group))
    with store.session() as db:
        assert db.scalar(select(func.count()).select_from(ProviderReport)) == 0
