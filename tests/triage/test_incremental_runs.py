"""Runs that read only what is new store exactly what a run from scratch stores.

One store goes through what happens to a real one: batches of reports (joining earlier clusters
and subjects, and bridging two clusters and two subjects), a known list imported afterwards
(retroactive matches), the list removed, a new policy, a stricter minimum PDQ quality, a damaged
and a missing input cache. After each step the run's stored results (cluster assignments, content
clusters, subjects, decisions, the queue's input) are compared with those of a run from scratch:
every result table and the cache emptied, then ``triage run`` again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select, update

from safeguarding.store import Store
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    FileHash,
    PartyIdentifier,
    PriorityDecision,
    ProviderReport,
    ReportedFile,
    Subject,
    TriageInputCache,
)
from safeguarding.triage import store_io
from safeguarding.triage.generate import (
    Corpus,
    GeneratorConfig,
    SyntheticReport,
    generate,
    known_list,
    vics_json,
)
from safeguarding.triage.input_cache import FORMAT
from safeguarding.triage.policy import default_policy_text
from safeguarding.web import triage_views
from tests.cli_runner import invoke

Capsys = pytest.CaptureFixture[str]
RESULTS = (FileCluster, ContentCluster, Subject, PriorityDecision)


def _snapshot(store: Store) -> dict[str, Any]:
    with store.session() as session:
        tables = {
            model.__tablename__: sorted(
                tuple(row) for row in session.execute(select(*model.__table__.c)).all()
            )
            for model in (FileCluster, ContentCluster, Subject)
        }
        tables["decisions"] = sorted(
            (
                d.report_id, d.subject_id, d.work_item, d.level, d.score, d.route, d.detection,
                json.dumps(d.reasons), d.policy, d.policy_digest, d.fingerprint,
            )
            for d in session.scalars(select(PriorityDecision))
        )  # fmt: skip
        _run, columns = store_io.queue_columns(session)
    tables["queue"] = {
        name: getattr(columns, name).tolist()
        for name in ("item", "report", "level", "score", "received_at", "route")
    }
    return tables


def _run(capsys: Capsys, *options: str) -> dict[str, Any]:
    result = invoke(capsys, "triage", "run", "--json", *options)
    assert result.code == 0, result.err
    summary: dict[str, Any] = json.loads(result.out)
    return summary


def _same_as_from_scratch(store: Store, capsys: Capsys, *options: str) -> None:
    kept = _snapshot(store)
    with store.session() as session:
        for model in (*RESULTS, TriageInputCache):
            session.execute(delete(model))
    again = _run(capsys, *options)
    assert again["read"] == "full (no input cache)"
    assert _snapshot(store) == kept


def _ingest(capsys: Capsys, directory: Path, documents: dict[str, bytes]) -> dict[str, Any]:
    directory.mkdir()
    for name, data in documents.items():
        (directory / name).write_bytes(data)
    result = invoke(capsys, "ingest", str(directory), "--source", directory.name, "--json")
    assert result.code == 0, result.err
    summary: dict[str, Any] = json.loads(result.out)
    return summary


def _documents(corpus: Corpus, reports: list[SyntheticReport]) -> dict[str, bytes]:
    documents = {}
    for report in reports:
        documents[f"{report.report_id}.xml"] = corpus.report_xml(report)
        for file in report.files:
            documents[f"{report.report_id}-{file.file_id}.xml"] = corpus.file_details_xml(
                report, file
            )
    return documents


def _bridge(corpus: Corpus, first: SyntheticReport, second: SyntheticReport) -> dict[str, bytes]:
    """A report about ``first``'s user that also gives ``second``'s user's email (linking both
    subjects), with a file carrying the MD5 of ``first``'s first file and the PDQ of
    ``second``'s (linking both content clusters)."""
    a, b = first.files[0], second.files[0]
    bridge_file = dataclasses.replace(
        a, file_id="bridge-file", file_name="bridge.jpg", sha1="0" * 40, sha256="0" * 64,
        pdq=b.pdq,
    )  # fmt: skip
    report = dataclasses.replace(first, report_id="bridge", files=(bridge_file,))
    text = corpus.report_xml(report).replace(
        f"subject{first.subject}@example.org".encode(),
        f"subject{second.subject}@example.org".encode(),
    )
    return {"bridge.xml": text, "bridge-f.xml": corpus.file_details_xml(report, bridge_file)}


def test_incremental_runs_store_what_a_run_from_scratch_stores(
    store: Store, capsys: Capsys, home: Path, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=11, reports=70, families=25, subjects=30))
    reports = corpus.reports
    _ingest(capsys, tmp_path / "first", _documents(corpus, reports[:40]))
    # Part of the PDQ hashes as if computed here with a middling quality: usable at the default
    # minimum, not at a stricter one.
    with store.session() as session:
        ids = session.scalars(select(FileHash.id).where(FileHash.kind == "pdq")).all()
        session.execute(update(FileHash).where(FileHash.id.in_(ids[::3])).values(quality=60))
    first = _run(capsys)
    assert (first["mode"], first["read"]) == ("full", "full (no input cache)")
    nothing = _run(capsys)
    assert (nothing["read"], nothing["new_reports"], nothing["decisions_written"]) == (
        "incremental", 0, 0,
    )  # fmt: skip

    # New reports about earlier users and content, twice without a run from scratch between.
    _ingest(capsys, tmp_path / "second", _documents(corpus, reports[40:55]))
    second = _run(capsys)
    assert (second["mode"], second["read"], second["new_reports"]) == (
        "incremental", "incremental", 15,
    )  # fmt: skip
    _ingest(capsys, tmp_path / "third", _documents(corpus, reports[55:62]))
    third = _run(capsys)
    assert (third["read"], third["new_reports"]) == ("incremental", 7)
    _same_as_from_scratch(store, capsys)

    # A report that links two subjects and two content clusters.
    one = reports[0]
    other = next(
        r for r in reports
        if r.subject != one.subject and r.files and r.files[0].family != one.files[0].family
    )  # fmt: skip
    with store.session() as session:
        clusters_before = len(session.scalars(select(ContentCluster.id)).all())
    _ingest(capsys, tmp_path / "bridge", _bridge(corpus, one, other))
    merged = _run(capsys)
    assert merged["read"] == "incremental"
    assert merged["merged_subjects"] == 1 and merged["merged_clusters"] == 1
    assert merged["content_clusters"] == clusters_before - 1
    _same_as_from_scratch(store, capsys)

    # A known list imported after the reports: its matches are made retroactively.
    (tmp_path / "known.json").write_bytes(vics_json(known_list(corpus, families=5, seed=2)))
    imported = invoke(capsys, "hashlist", "import", str(tmp_path / "known.json"),
                      "--name", "known", "--json")  # fmt: skip
    assert imported.code == 0 and json.loads(imported.out)["matches"] > 0
    listed = _run(capsys)
    assert listed["read"] == "incremental" and listed["decisions_written"] > 0
    _same_as_from_scratch(store, capsys)
    # Reports ingested while the list is there: their files are matched as they come in.
    assert _ingest(capsys, tmp_path / "fourth", _documents(corpus, reports[62:]))["matches"] > 0
    with_list = _run(capsys)
    assert (with_list["read"], with_list["new_reports"]) == ("incremental", 8)
    _same_as_from_scratch(store, capsys)

    assert invoke(capsys, "hashlist", "remove", "known").code == 0
    removed = _run(capsys)
    assert removed["read"] == "incremental" and removed["decisions_written"] > 0
    _same_as_from_scratch(store, capsys)

    # A new policy re-levels from the cache; every decision names it.
    policy = tmp_path / "policy.toml"
    policy.write_text(
        default_policy_text()
        .decode()
        .replace("P1 = 120\nP2 = 60\nP3 = 20", "P1 = 90\nP2 = 40\nP3 = 10")
        .replace('version = "2026.11-3"', 'version = "2026.11-test"')
    )
    relevelled = _run(capsys, "--policy", str(policy))
    assert relevelled["read"] == "incremental"
    assert relevelled["decisions_written"] == relevelled["reports"]
    _same_as_from_scratch(store, capsys, "--policy", str(policy))

    # A stricter minimum quality drops the middling PDQ hashes: clusters may split, so the run
    # reads everything and clusters afresh.
    (home / "config.toml").write_text("[triage]\npdq_min_quality = 70\n")
    stricter = _run(capsys)
    assert stricter["read"] == ("full (settings or schema changed since the input cache was kept)")
    assert stricter["content_clusters"] > merged["content_clusters"]
    _same_as_from_scratch(store, capsys)


def test_a_damaged_or_missing_cache_means_a_full_read(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=12, reports=30, families=10, subjects=12))
    _ingest(capsys, tmp_path / "first", _documents(corpus, corpus.reports[:20]))
    _run(capsys)
    _ingest(capsys, tmp_path / "second", _documents(corpus, corpus.reports[20:]))
    with store.session() as session:
        session.execute(
            update(TriageInputCache)
            .where(TriageInputCache.name == "f_id")
            .values(data=b"\x93NUMPY not an array")
        )
    damaged = _run(capsys)
    assert damaged["read"] == "full (input cache unreadable (ValueError))"
    assert damaged["new_reports"] == 10
    _same_as_from_scratch(store, capsys)

    with store.session() as session:
        session.execute(delete(TriageInputCache).where(TriageInputCache.name == "r_id"))
    assert _run(capsys)["read"] == (
        "full (input cache damaged: columns do not match their recorded lengths)"
    )
    # A run of an older version leaves no cache behind: the cache is older than that run.
    with store.session() as session:
        session.execute(delete(TriageInputCache).where(TriageInputCache.name == "meta"))
    assert _run(capsys)["read"] == "full (input cache damaged: no meta data)"
    assert _run(capsys)["read"] == "incremental"
    _same_as_from_scratch(store, capsys)
    kept = _snapshot(store)
    assert _run(capsys, "--full")["read"] == "full (asked for)"
    assert _snapshot(store) == kept


def test_an_earlier_decision_is_kept_when_only_its_subject_grew_and_shows_the_new_count(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=13, reports=40, families=12, subjects=5))
    _ingest(capsys, tmp_path / "first", _documents(corpus, corpus.reports))
    _run(capsys)
    with store.session() as session:
        subject, size = session.execute(
            select(Subject.id, Subject.reports).order_by(Subject.reports.desc()).limit(1)
        ).one()
        before = {
            d.report_id: (d.run_id, d.fingerprint, d.reasons)
            for d in session.scalars(
                select(PriorityDecision).where(PriorityDecision.subject_id == subject)
            )
        }
    assert size == len(before) >= 5  # the large_subject rule fires on each of them
    # The stored evidence names the subject, not its size.
    (cited,) = [
        r["evidence"] for r in next(iter(before.values()))[2] if r["rule"] == "large_subject"
    ]
    assert cited == [f"{{subject:{subject}:reports}} report(s) about the same user"]

    # One more report about the same user, later than all and without files: the subject grows,
    # nothing else moves (earlier reports keep their count of reports before them).
    with store.session() as session:
        first_of_subject = session.scalar(
            select(ProviderReport.provider_report_id).where(ProviderReport.id == min(before))
        )
    model = next(r for r in corpus.reports if r.report_id == first_of_subject)
    latest = max(r.incident_time for r in corpus.reports)
    later = dataclasses.replace(
        model, report_id="later", files=(), incident_time=latest + timedelta(days=1)
    )
    _ingest(capsys, tmp_path / "second", {"later.xml": corpus.report_xml(later)})
    grown = _run(capsys)
    assert (grown["read"], grown["new_reports"], grown["decisions_written"]) == (
        "incremental", 1, 1,
    )  # fmt: skip
    with store.session() as session:
        assert session.get(Subject, subject).reports == size + 1  # type: ignore[union-attr]
        after = {
            d.report_id: (d.run_id, d.fingerprint, d.reasons)
            for d in session.scalars(
                select(PriorityDecision).where(PriorityDecision.subject_id == subject)
            )
        }
        assert {r: after[r] for r in before} == before  # not rewritten: same run, same row
        # As shown (web page and API): the count read from the subject as it is now.
        shown = triage_views.report_detail(session, min(before))["priority"]["reasons"]
    (evidence,) = [r["evidence"] for r in shown if r["rule"] == "large_subject"]
    assert evidence == [f"{size + 1} report(s) about the same user"]
    _same_as_from_scratch(store, capsys)


@pytest.mark.parametrize(
    ("model", "name"),
    [(FileHash, "hash"), (PartyIdentifier, "identifier"), (ProviderReport, "report")],
)
def test_an_earlier_row_deleted_means_a_full_read(
    store: Store, capsys: Capsys, tmp_path: Path, model: Any, name: str
) -> None:
    corpus = generate(GeneratorConfig(seed=14, reports=30, families=10, subjects=12))
    _ingest(capsys, tmp_path / "first", _documents(corpus, corpus.reports[:20]))
    _run(capsys)
    _ingest(capsys, tmp_path / "second", _documents(corpus, corpus.reports[20:]))
    with store.session() as session:  # an earlier row (a report takes its files and more along)
        oldest = session.scalar(select(func.min(model.id)))
        session.execute(delete(model).where(model.id == oldest))
    after = _run(capsys)
    assert after["read"] == f"full (rows of {name}s were deleted or renumbered since the last run)"
    _same_as_from_scratch(store, capsys)
    # The full read kept the tallies as they are now: the next run is incremental again.
    assert _run(capsys)["read"] == "incremental"


def _report(
    report_id: str, provider: str | None, identifiers: list[dict[str, str]], pdq: int
) -> dict[str, Any]:
    """A JSON Lines report about a user known by ``identifiers``, with one file."""
    return {
        "report_id": report_id,
        "incident_type": "Child Pornography (possession, manufacture, and distribution)",
        "incident_time": "2026-02-01T08:30:00+01:00",
        "provider": provider,
        "reported_user": {"identifiers": identifiers},
        "files": [
            {
                "file_id": f"F-{report_id}",
                "file_name": "a.png",
                "hashes": [{"kind": "pdq", "value": f"{pdq:064x}", "quality": 90}],
            }
        ],
    }


def _subjects(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(
            select(ProviderReport.provider_report_id, PriorityDecision.subject_id).join(
                PriorityDecision, PriorityDecision.report_id == ProviderReport.id
            )
        ).all()
    return {str(report): int(subject) for report, subject in rows}


def test_an_account_id_without_a_service_links_reports_of_one_provider_only(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    """The same id from two providers, with no service named, was one subject: two unrelated
    users linked, each report raised for the other's. Within one provider it still links, also
    when the reports come in separate runs, and those runs store what one run stores."""
    rng = np.random.default_rng(5)

    def pdq() -> int:
        return int.from_bytes(rng.bytes(32), "big")

    def ids(kind: str, value: str) -> list[dict[str, str]]:
        return [{"kind": kind, "value": value}]

    first = [
        _report("A1", "Provider One", ids("esp_id", "1001"), pdq()),
        _report("B1", "Provider Two", ids("esp_id", "1001"), pdq()),
        _report("A2", "Provider One", ids("screen_name", "sam"), pdq()),
        _report("B2", "Provider Two", ids("screen_name", "sam"), pdq()),
        _report("N1", None, ids("esp_id", "77"), pdq()),
        _report("N2", None, ids("esp_id", "77"), pdq()),
        _report("S1", "Provider One", [{"kind": "esp_id", "value": "5", "scope": "Chat"}], pdq()),
    ]
    lines = "\n".join(json.dumps(r) for r in first) + "\n"
    _ingest(capsys, tmp_path / "first", {"reports.jsonl": lines.encode()})
    assert _run(capsys)["read"] == "full (no input cache)"
    second = [
        _report("A3", "Provider One", ids("esp_id", "1001"), pdq()),
        _report("B3", "Provider Two", ids("screen_name", "sam"), pdq()),
        _report("S2", "Provider Two", [{"kind": "esp_id", "value": "5", "scope": "Chat"}], pdq()),
    ]
    lines = "\n".join(json.dumps(r) for r in second) + "\n"
    _ingest(capsys, tmp_path / "second", {"reports.jsonl": lines.encode()})
    assert _run(capsys)["read"] == "incremental"
    subject = _subjects(store)
    assert subject["A1"] == subject["A3"] != subject["B1"]
    assert subject["B2"] == subject["B3"] != subject["A2"]
    assert subject["N1"] != subject["N2"]  # neither a service nor a provider: no link
    assert subject["S1"] == subject["S2"]  # a named service is one namespace across providers
    with store.session() as session:
        reasons = session.scalars(
            select(PriorityDecision.reasons)
            .join(ProviderReport, ProviderReport.id == PriorityDecision.report_id)
            .where(ProviderReport.provider_report_id == "B1")
        ).one()
    assert "prior_reports" not in {reason["rule"] for reason in reasons}
    _same_as_from_scratch(store, capsys)
    # A cache kept by the version before linked such ids across providers: it is not used.
    with store.session() as session:
        meta = session.get(TriageInputCache, ("meta", 0))
        assert meta is not None
        meta.data = json.dumps({**json.loads(meta.data), "format": FORMAT - 1}).encode()
    assert _run(capsys)["read"] == "full (input cache from another version)"
    assert _subjects(store) == subject


def _clusters(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(
            select(ProviderReport.provider_report_id, FileCluster.cluster_id)
            .join(ReportedFile, ReportedFile.report_id == ProviderReport.id)
            .join(FileCluster, FileCluster.file_id == ReportedFile.id)
        ).all()
    return {str(report): int(cluster) for report, cluster in rows}


def test_hashes_of_flat_pictures_join_no_content_cluster(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    """A provider's PDQ comes without a quality and was always used: every blank frame (all
    zeros) and nearly blank one became one near-duplicate cluster of unrelated material."""
    rng = np.random.default_rng(9)
    picture = int.from_bytes(rng.bytes(32), "big")
    ids = [{"kind": "email", "value": f"user{n}@example.org"} for n in range(6)]
    reports = [
        _report("Z1", "Provider One", [ids[0]], 0),  # a blank frame
        _report("Z2", "Provider One", [ids[1]], 0b1011 << 200),  # three bits set
        _report("Z3", "Provider One", [ids[2]], (1 << 256) - 1),  # all ones
        _report("Z4", "Provider One", [ids[3]], (1 << 256) - 1 - (1 << 7)),
        _report("P1", "Provider One", [ids[4]], picture),
        _report("P2", "Provider One", [ids[5]], picture ^ 0b111),  # a near-duplicate
    ]
    lines = "\n".join(json.dumps(r) for r in reports) + "\n"
    _ingest(capsys, tmp_path / "flat", {"reports.jsonl": lines.encode()})
    assert _run(capsys)["read"] == "full (no input cache)"
    cluster = _clusters(store)
    assert len({cluster[r] for r in ("Z1", "Z2", "Z3", "Z4")}) == 4
    assert cluster["P1"] == cluster["P2"]
    _same_as_from_scratch(store, capsys)


def _flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def _decisions(store: Store) -> dict[str, tuple[str, int, set[str], list[Any]]]:
    """Per report: level, work item, rules fired and the viral rule's evidence."""
    with store.session() as session:
        rows = session.execute(
            select(
                ProviderReport.provider_report_id, PriorityDecision.level,
                PriorityDecision.work_item, PriorityDecision.reasons,
            ).join(PriorityDecision, PriorityDecision.report_id == ProviderReport.id)
        ).all()  # fmt: skip
    return {
        str(report): (
            str(level), int(item), {r["rule"] for r in reasons},
            next((r["evidence"] for r in reasons if r["rule"] == "viral"), []),
        )
        for report, level, item, reasons in rows
    }  # fmt: skip


def test_viral_status_reaches_direct_copies_only_and_a_meme_beside_new_material_lowers_nothing(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    """Clusters chain near-duplicates, and a cluster with one meme copy was viral as a whole:
    new material 56 bits from a meme, joined to it through a picture 28 bits from each, was
    capped at P3 and kept out of work items; and one meme file capped a report that also
    carried new material."""
    rng = np.random.default_rng(7)
    meme = int.from_bytes(rng.bytes(32), "big")
    bits = [int(b) for b in rng.choice(256, size=56, replace=False)]
    between = _flip(meme, bits[:28])  # 28 bits from the meme
    new = _flip(between, bits[28:])  # 28 bits further: 56 from the meme
    other, later = (int.from_bytes(rng.bytes(32), "big") for _ in range(2))

    def report(name: str, *files: tuple[int, list[str], str | None]) -> dict[str, Any]:
        found = _report(name, "Provider One", [{"kind": "email", "value": f"{name}@x.org"}], 0)
        found["files"] = [
            {
                "file_id": f"F-{name}-{k}",
                "file_name": f"{k}.png",
                "annotations": annotations,
                "hashes": [{"kind": "pdq", "value": f"{pdq:064x}", "quality": 90}],
                **({"industry_classification": kind} if kind else {}),
            }
            for k, (pdq, annotations, kind) in enumerate(files)
        ]
        return found

    first = [
        report("meme", (meme, ["potentialMeme"], None)),
        report("copy", (between, [], None)),  # within the threshold of the meme: viral
        report("new", (new, [], "A1")),  # only chained to the meme
        report("early", (later, [], "A1")),  # new material until a meme copy of it comes
    ]
    second = [
        report("new-again", (new, [], "A1")),  # the same new material: one work item
        report("beside", (meme, [], None), (other, [], "A1")),  # a meme copy beside new material
        report("only-copy", (meme, [], None)),
        report("late-meme", (_flip(later, bits[:5]), ["potentialMeme"], None)),
    ]
    for name, batch in (("first", first), ("second", second)):
        lines = "\n".join(json.dumps(r) for r in batch) + "\n"
        _ingest(capsys, tmp_path / name, {"reports.jsonl": lines.encode()})
        assert _run(capsys)["mode"] == ("full" if name == "first" else "incremental")
    decided, cluster = _decisions(store), _clusters(store)
    assert cluster["new"] == cluster["meme"]  # one chained cluster
    level, item, rules, _evidence = decided["new"]
    assert (level, "viral" in rules) == ("P2", False)
    assert decided["new-again"][1] == item  # new material joins its reports into one item
    assert decided["copy"][0] == "P3" and "viral" in decided["copy"][2]
    assert decided["copy"][3] == [
        f"file 1: near copy of a file flagged as meme/viral (content cluster {cluster['meme']})"
    ]
    assert decided["copy"][1] != item  # a viral copy joins no item
    assert decided["beside"][0] == "P2" and "viral" not in decided["beside"][2]
    assert decided["only-copy"][0] == "P3" and "viral" in decided["only-copy"][2]
    # A meme that arrives later makes the earlier copy of it viral.
    assert decided["early"][0] == "P3" and "viral" in decided["early"][2]
    _same_as_from_scratch(store, capsys)


def test_spread_counts_a_file_with_its_direct_copies_and_runs_that_reach_it_decide_again(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    """Spread was cluster-wide: new material 56 bits from a meme, chained to it through a picture
    28 bits from each, was viral once the chained cluster was in 50 reports, capped at P3 and no
    longer new material. Now a file is viral by spread when the reports holding it or a direct
    copy reach 50: the meme's copies and the picture between once the meme reaches 50 reports
    (a later run decides the earlier picture's report again), never the new material."""
    rng = np.random.default_rng(11)
    meme = int.from_bytes(rng.bytes(32), "big")
    bits = [int(b) for b in rng.choice(256, size=56, replace=False)]
    between = _flip(meme, bits[:28])  # 28 bits from the meme
    new = _flip(between, bits[28:])  # 28 bits further: 56 from the meme

    def report(name: str, pdq: int, kind: str | None = None) -> dict[str, Any]:
        found = _report(name, "Provider One", [{"kind": "email", "value": f"{name}@x.org"}], pdq)
        if kind:
            found["files"][0]["industry_classification"] = kind
        return found

    memes = [report(f"meme-{k}", meme) for k in range(60)]
    batches = [
        [report("new", new, "A1"), report("between", between), *memes[:30]],
        memes[30:55],  # the meme reaches 55 reports, the picture between it 56, new material 2
        [report("new-again", new, "A1"), *memes[55:]],
    ]
    spread = "file 1: in many reports with its near copies (content cluster {})"
    for number, (batch, meme_reports) in enumerate(zip(batches, (30, 55, 60), strict=True)):
        lines = "\n".join(json.dumps(r) for r in batch) + "\n"
        _ingest(capsys, tmp_path / f"batch{number}", {"reports.jsonl": lines.encode()})
        assert _run(capsys)["mode"] == ("full" if number == 0 else "incremental")
        decided, cluster = _decisions(store), _clusters(store)
        assert len(set(cluster.values())) == 1  # one chained cluster
        level, _item, rules, _evidence = decided["new"]
        assert (level, "new_material" in rules, "viral" in rules) == ("P2", True, False)
        viral = {name for name, (_, _, fired, _) in decided.items() if "viral" in fired}
        if number == 0:  # the meme in 30 reports: nothing is viral yet
            assert not viral and "new_material" in decided["between"][2]
        else:
            assert viral == {"between", *(r["report_id"] for r in memes[:meme_reports])}
            assert decided["between"][3] == [spread.format(cluster["new"])]
            assert decided["between"][0] == "P3" and "new_material" not in decided["between"][2]
        _same_as_from_scratch(store, capsys)
    assert decided["new-again"][1] == decided["new"][1]  # new material joins its reports
    with store.session() as session:
        row = session.get(ContentCluster, cluster["new"])
        assert row is not None and (row.reports, row.large, row.viral) == (63, True, True)


def _ip(address: str, hours: int) -> list[dict[str, str]]:
    """An IP capture event ``hours`` after a fixed start. Tests use public resolvers' addresses
    (1.1.1.1, 9.9.9.9): globally routable, and no one's own."""
    when = "2026-02-01T00:00:00+00:00"
    seen = (datetime.fromisoformat(when) + timedelta(hours=hours)).isoformat()
    return [{"kind": "ip", "value": address, "event_name": "Login", "event_time": seen}]


def test_ip_links_do_not_chain_in_time_and_local_addresses_link_nothing(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    """An address seen every 23 hours linked every user of it for months, and a private or
    documentation address (a home router's 192.168.x.x, a CGNAT 100.64.x.x) linked anyone behind
    any such network. Now windows are anchored at their first sighting and only addresses that
    are globally routable link; runs that place new sightings store what one run stores, also
    when a new sighting comes before the earlier ones and moves their windows."""
    rng = np.random.default_rng(9)

    def pdq() -> int:
        return int.from_bytes(rng.bytes(32), "big")

    first = [
        _report("C0", "Provider One", _ip("1.1.1.1", 0), pdq()),
        _report("C1", "Provider One", _ip("1.1.1.1", 23), pdq()),
        _report("C2", "Provider One", _ip("1.1.1.1", 46), pdq()),
        _report("C3", "Provider One", _ip("1.1.1.1", 69), pdq()),
        _report("L1", "Provider One", _ip("192.168.1.1", 0), pdq()),
        _report("L2", "Provider One", _ip("192.168.1.1", 1), pdq()),
        _report("G1", "Provider One", _ip("100.64.0.9", 0), pdq()),
        _report("G2", "Provider One", _ip("100.64.0.9", 1), pdq()),
        _report("D1", "Provider One", _ip("192.0.2.7", 0), pdq()),
        _report("D2", "Provider One", _ip("192.0.2.7", 1), pdq()),
    ]
    lines = "\n".join(json.dumps(r) for r in first) + "\n"
    _ingest(capsys, tmp_path / "first", {"reports.jsonl": lines.encode()})
    assert _run(capsys)["read"] == "full (no input cache)"
    subject = _subjects(store)
    assert subject["C0"] == subject["C1"] != subject["C2"] == subject["C3"]
    for one, other in (("L1", "L2"), ("G1", "G2"), ("D1", "D2")):
        assert subject[one] != subject[other]
    with store.session() as session:
        scopes = session.scalars(
            select(PartyIdentifier.scope).where(PartyIdentifier.kind == "ip")
        ).all()
    assert sorted(set(scopes)) == ["", "not-global"]

    # Another user of the address later on: a window of its own.
    second = [_report("C4", "Provider One", _ip("1.1.1.1", 95), pdq())]
    _ingest(capsys, tmp_path / "second", {"reports.jsonl": _lines(second)})
    assert _run(capsys)["mode"] == "incremental"
    subject = _subjects(store)
    assert len({subject[f"C{i}"] for i in range(5)}) == 3
    _same_as_from_scratch(store, capsys)

    # A sighting before all of them anchors the first window earlier: 0 h and 23 h part.
    third = [_report("C5", "Provider One", _ip("1.1.1.1", -2), pdq())]
    _ingest(capsys, tmp_path / "third", {"reports.jsonl": _lines(third)})
    _run(capsys)
    subject = _subjects(store)
    assert subject["C5"] == subject["C0"] != subject["C1"] == subject["C2"]
    _same_as_from_scratch(store, capsys)


def _lines(reports: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r) for r in reports) + "\n").encode()


def test_a_screen_name_of_several_accounts_links_no_one(
    store: Store, capsys: Capsys, tmp_path: Path
) -> None:
    """Six users with accounts and emails of their own, all named "admin" on one service, were
    one subject, each report saying "5 earlier report(s) about the same user". A name one account
    holds still links; when a later report gives it a second account, the runs start over and
    store what one run stores."""
    rng = np.random.default_rng(13)

    def pdq() -> int:
        return int.from_bytes(rng.bytes(32), "big")

    def user(account: str, name: str, email: str | None = None) -> list[dict[str, str]]:
        found = [
            {"kind": "esp_id", "value": account, "scope": "Example Chat"},
            {"kind": "screen_name", "value": name, "scope": "Example Chat"},
        ]
        return found + ([{"kind": "email", "value": email}] if email else [])

    first = [
        _report(f"A{i}", "Provider One", user(f"acct-{i}", "admin", f"u{i}@example.org"), pdq())
        for i in range(6)
    ]
    first += [
        _report("S1", "Provider One", user("acct-s", "sam"), pdq()),
        _report("S2", "Provider One", [{"kind": "screen_name", "value": "sam",
                                        "scope": "Example Chat"}], pdq()),
    ]  # fmt: skip
    _ingest(capsys, tmp_path / "first", {"reports.jsonl": _lines(first)})
    assert _run(capsys)["read"] == "full (no input cache)"
    subject = _subjects(store)
    assert len({subject[f"A{i}"] for i in range(6)}) == 6
    assert subject["S1"] == subject["S2"]
    _same_as_from_scratch(store, capsys)

    # Another account named "sam": the name no longer tells its users apart.
    second = [_report("S3", "Provider One", user("acct-t", "sam"), pdq())]
    _ingest(capsys, tmp_path / "second", {"reports.jsonl": _lines(second)})
    _run(capsys)
    subject = _subjects(store)
    assert len({subject["S1"], subject["S2"], subject["S3"]}) == 3
    _same_as_from_scratch(store, capsys)


def test_an_empty_files_digests_link_nothing(store: Store, capsys: Capsys, tmp_path: Path) -> None:
    """Three users who each sent an empty file (MD5 d41d8cd9…, SHA-256 e3b0c442…) were one
    content cluster and one work item. A real exact copy still links."""
    rng = np.random.default_rng(21)
    empty = [
        {"kind": "md5", "value": "D41D8CD98F00B204E9800998ECF8427E"},
        {"kind": "sha256", "value": hashlib.sha256(b"").hexdigest()},
    ]
    shared = [{"kind": "md5", "value": "0123456789abcdef0123456789abcdef"}]
    reports = []
    for name, hashes in (
        ("E1", empty),
        ("E2", empty),
        ("E3", empty),
        ("C1", shared),
        ("C2", shared),
    ):
        report = _report(
            name, "Provider One", [{"kind": "email", "value": f"{name}@example.org"}], 0
        )
        picture = int.from_bytes(rng.bytes(32), "big")
        report["files"][0]["hashes"] = [
            {"kind": "pdq", "value": f"{picture:064x}", "quality": 90},
            *hashes,
        ]
        reports.append(report)
    _ingest(capsys, tmp_path / "empty", {"reports.jsonl": _lines(reports)})
    assert _run(capsys)["read"] == "full (no input cache)"
    cluster = _clusters(store)
    assert len({cluster[r] for r in ("E1", "E2", "E3")}) == 3
    assert cluster["C1"] == cluster["C2"]
    decided = _decisions(store)
    assert len({decided[r][1] for r in ("E1", "E2", "E3")}) == 3
    assert decided["C1"][1] == decided["C2"][1]
    _same_as_from_scratch(store, capsys)
