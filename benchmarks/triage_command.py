"""Benchmark: ``safeguarding triage run`` over the store, full and incremental, phase by phase.

Where ``benchmarks/triage_run.py`` times the pure core (clustering and prioritisation on columns
in memory), this times the command's whole pass over a SQLite store: reading the stored reports,
files, hashes, matches and pseudonymised identifiers, the core, and writing clusters, subjects,
the decisions that changed and the queue's input. The store is filled with ``--reports``
synthetic reports (``triage.synthetic.generate``: about 2 files each, content families with
near-duplicate variants, subjects linked by provider ids, emails, screen names and IP sightings;
fictional throughout) by bulk insert through the database driver, as an ingest would leave them
(file hashes, list matches, one reported user per report). Filling is not counted. Then:

1. a full run over the store;
2. ``--new`` more reports (the same generator's last reports: about the same subjects and
   content as earlier ones) are added and an incremental run takes them in;
3. a run with nothing new (everything already decided: no decision rewritten);
4. the queue built from the run's stored input, as the queue command and web page do.

Filling a million reports takes about ten minutes; with ``--keep DIR`` the filled store (before
the first run) is kept in DIR as a copy and later runs with the same sizes and seed start from a
copy of it instead of filling again.

Run: .venv/bin/python benchmarks/triage_command.py [--reports N] [--new N] [--seed S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from safeguarding.allocator import reuse_freed_memory
from safeguarding.config import Settings, sqlite_url
from safeguarding.store import Store, open_store
from safeguarding.triage import engine, operations, store_io
from safeguarding.triage.policy import load_policy
from safeguarding.triage.run_options import run_options
from safeguarding.triage.synthetic import SyntheticTriage, generate

INCIDENTS = {
    "enticement": store_io.ENTICEMENT,
    "access_to_children": store_io.CONTACT_OFFENCE,
}
DEFAULT_INCIDENT = "Child Pornography (possession, manufacture, and distribution)"
ANNOTATIONS = {
    "sextortion": "annotation_sextortion",
    "csam_solicitation": "annotation_csam_solicitation",
    "sadistic_exploitation": "annotation_sadistic_online_exploitation",
    "minor_to_minor": "annotation_minor_to_minor",
    "informational": "annotation_informational",
}
FILE_ANNOTATIONS = {
    "viral": "annotation_viral",
    "possible_self_production": "annotation_possible_self_production",
    "live_streaming": "annotation_live_streaming",
    "infant": "annotation_infant",
    "physical_harm": "annotation_physical_harm",
    "violence_gore": "annotation_violence_gore",
    "bestiality": "annotation_bestiality",
}


def stamps(epochs: np.ndarray) -> list[str]:
    """Epoch seconds as the store's UTC timestamp text."""
    text = np.datetime_as_string(epochs.astype("datetime64[s]").astype("datetime64[us]"))
    return [t.replace("T", " ") for t in text.tolist()]


def insert(cursor: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" for _ in columns)
    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def fill(
    store: Store, data: SyntheticTriage, reports: np.ndarray, next_ids: dict[str, int]
) -> None:
    """Store the reports at positions ``reports`` of ``data`` with their files and identifiers."""
    table = data.reports
    files = data.files
    chosen = np.zeros(len(table), dtype=np.bool_)
    chosen[reports] = True
    ids = table.report_id[reports]
    received = stamps(table.received_at[reports])
    signal = {name: table.signal(name)[reports].astype(bool).tolist() for name in table.signals}
    incident = [DEFAULT_INCIDENT] * ids.size
    for name, value in INCIDENTS.items():
        for at in np.flatnonzero(signal[name]).tolist():
            incident[at] = value
    report_rows = [
        (
            int(ids[i]), "bench-synthetic", f"B{ids[i]}", f"{ids[i]:064x}", "jsonl", incident[i],
            received[i], f"Example Provider {table.provider[reports[i]] % 20 + 1}",
            signal["escalate"][i], *(signal[name][i] for name in ANNOTATIONS),
            "VIRAL_POTENTIAL_MEME" if signal["batched_meme"][i] else None, received[i], 0, "[]",
            False,
        )
        for i in range(ids.size)
    ]  # fmt: skip
    file_rows_at = np.flatnonzero(chosen[files.report])
    file_ids = files.file_id[file_rows_at]
    flags = {name: files.flag(name)[file_rows_at].tolist() for name in files.flags}
    seen = stamps(files.seen_at[file_rows_at])
    file_report = table.report_id[files.report[file_rows_at]]
    file_rows = [
        (
            int(file_ids[k]), int(file_report[k]), f"F{file_ids[k]}", f"{file_ids[k]:064x}",
            seen[k], flags["potential_meme"][k], *(flags[name][k] for name in FILE_ANNOTATIONS),
            "A1" if flags["sex_act_a1_b1"][k] else None, "not_supplied",
            False, False, False, False, False,
        )
        for k in range(file_ids.size)
    ]  # fmt: skip
    in_batch = np.isin(files.exact_file, file_rows_at)
    exact_rows = [
        (int(files.file_id[f]), "md5", f"{key:032x}", None, "provider")
        for f, key in zip(files.exact_file[in_batch].tolist(), files.exact_key[in_batch].tolist(),
                          strict=True)
    ]  # fmt: skip
    pdq_at = file_rows_at[files.pdq_ok[file_rows_at]]
    words = files.pdq[pdq_at]
    pdq_rows = [
        (int(files.file_id[f]), "pdq", "".join(f"{int(w):016x}" for w in row), 100, "provider")
        for f, row in zip(pdq_at.tolist(), words.tolist(), strict=True)
    ]
    match_rows = []
    for name, list_id in (("known", 1), ("allow", 2)):
        for f in file_ids[np.asarray(flags[name], dtype=bool)].tolist():
            match_rows.append((int(f), list_id, list_id, "md5", 0, received[0]))
    identifiers = data.identifiers
    id_at = np.flatnonzero(chosen[identifiers.report])
    party_rows = [
        (int(next_ids["party"] + i), int(ids[i]), "reported_user",
         17 if signal["reported_user_minor"][i] else None, 0)
        for i in range(ids.size)
    ]  # fmt: skip
    party_of = {int(ids[i]): next_ids["party"] + i for i in range(ids.size)}
    next_ids["party"] += ids.size
    id_seen = stamps(identifiers.seen_at[id_at])
    identifier_rows = []
    for k, at in enumerate(id_at.tolist()):
        report = int(table.report_id[identifiers.report[at]])
        kind = "ip" if identifiers.is_ip[at] else "esp_id"
        identifier_rows.append(
            (report, party_of[report], kind, f"{int(identifiers.key[at]):032x}", "", id_seen[k])
        )
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        insert(cursor, "provider_report", [
            "id", "source", "provider_report_id", "content_digest", "format", "incident_type",
            "incident_time", "provider", "escalated", *ANNOTATIONS.values(), "batched_reason",
            "received_at", "unknown_element_count", "unknown_element_names", "annotation_spam",
        ], report_rows)  # fmt: skip
        insert(cursor, "reported_file", [
            "id", "report_id", "provider_file_id", "content_digest", "uploaded_at",
            "potential_meme", *FILE_ANNOTATIONS.values(), "industry_classification",
            "media_status", "annotation_anime_drawing", "annotation_generative_ai",
            "viewed_by_esp", "exif_viewed_by_esp", "publicly_available",
        ], file_rows)  # fmt: skip
        insert(cursor, "file_hash", ["file_id", "kind", "value", "quality", "origin"], exact_rows)
        insert(cursor, "file_hash", ["file_id", "kind", "value", "quality", "origin"], pdq_rows)
        insert(cursor, "hash_match", [
            "file_id", "list_id", "entry_id", "hash_kind", "distance", "matched_at",
        ], match_rows)  # fmt: skip
        insert(cursor, "report_party", [
            "id", "report_id", "role", "age", "prior_ct_reports_count",
        ], party_rows)  # fmt: skip
        insert(cursor, "party_identifier", [
            "report_id", "party_id", "kind", "pseudonym", "scope", "event_time",
        ], identifier_rows)  # fmt: skip
        raw.commit()
    finally:
        raw.close()


def lists(store: Store) -> None:
    """One known and one allow list with one entry each: the matches refer to them."""
    now = stamps(np.array([int(datetime.now(UTC).timestamp())]))[0]
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        insert(cursor, "hash_list", [
            "id", "name", "kind", "format", "source_file", "imported_at", "version",
            "pdq_threshold", "flood_share", "entry_count", "quarantined_count",
        ], [(1, "bench-known", "known", "csv", "synthetic", now, 1, 31, 0.05, 1, 0),
            (2, "bench-allow", "allow", "csv", "synthetic", now, 1, 31, 0.05, 1, 0)])  # fmt: skip
        insert(cursor, "hash_list_entry", [
            "id", "list_id", "kind", "value", "category", "source_scheme",
        ], [(1, 1, "md5", "0" * 32, "csam", "synthetic"),
            (2, 2, "md5", "1" * 32, "non_pertinent", "synthetic")])  # fmt: skip
        raw.commit()
    finally:
        raw.close()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, its write-ahead log included."""
    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)


@contextmanager
def phase(name: str, timings: dict[str, tuple[float, float]]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    timings[name] = (time.perf_counter() - wall, time.process_time() - cpu)


def timed_run(store: Store, label: str) -> dict[str, Any]:
    """One ``triage run`` pass, timed by phase as ``operations.run_triage`` does it."""
    policy = load_policy()
    options = run_options(store.settings)
    timings: dict[str, tuple[float, float]] = {}
    started = datetime.now(UTC)
    with phase("read the store", timings), store.session() as session:
        loaded = store_io.load(session, options)
    with phase("cluster and prioritise", timings):
        result = engine.run(
            loaded.reports, loaded.files, loaded.identifiers, loaded.previous, policy,
            options.content, options.subjects, loaded.content_index, loaded.subject_index,
            loaded.summaries, recluster=loaded.read == "full", changed_files=loaded.changed_files,
        )  # fmt: skip
    with phase("write results", timings), store.session() as session:
        _run, written, cache_bytes = store_io.save(session, loaded, result, policy, started)
    total_wall = sum(w for w, _ in timings.values())
    total_cpu = sum(c for _, c in timings.values())
    print(
        f"{label}: {len(loaded.reports):,} reports ({result.new_reports:,} new), "
        f"{len(loaded.files):,} files, {result.content_summary.height:,} content clusters, "
        f"{result.subject_summary.height:,} subjects; {written:,} decisions written; "
        f"read: {loaded.read}{f' ({loaded.reason})' if loaded.reason else ''}; input cache "
        f"{cache_bytes.get('appended', 0) / 1e6:,.1f} MB appended, "
        f"{cache_bytes.get('rewritten', 0) / 1e6:,.1f} MB rewritten"
    )
    for name, (wall, cpu) in timings.items():
        print(f"  {name:<24} {wall:8.2f} s wall  {cpu:8.2f} s CPU")
    print(f"  {'total':<24} {total_wall:8.2f} s wall  {total_cpu:8.2f} s CPU")
    return {"wall": total_wall, "written": written}


def main() -> None:
    reuse_freed_memory()  # as the command line does
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="directory that keeps filled stores for reuse")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sg-bench-triage-"))
    database = home / "safeguarding.db"
    kept = args.keep / f"triage-command-{args.reports}-{args.seed}.db" if args.keep else None
    if kept is not None and kept.exists():
        copy_database(kept, database)
    store = open_store(Settings(home=home, database_url=sqlite_url(database)))
    started = time.perf_counter()
    total = args.reports + args.new
    data = generate(n_reports=total, files_per_report=2.0, n_families=max(1, total // 16),
                    seed=args.seed)  # fmt: skip
    # The store numbers reports as they arrive: the ``--new`` highest ids come after the run.
    # Every report has one reported user, numbered in report order.
    next_ids = {"party": 1 + args.reports}
    if kept is not None and kept.exists():
        print(f"copied the filled store {kept} (not counted)")
    else:
        next_ids["party"] = 1
        lists(store)
        fill(store, data, np.arange(args.reports), next_ids)
        print(
            f"filled {args.reports:,} reports in {time.perf_counter() - started:.1f} s "
            f"(not counted); load {os.getloadavg()}"
        )
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            copy_database(database, kept)
    # Before each timed run the page cache's dirty pages go to disk (not counted), so writing
    # back what filling or the run before wrote does not land in the run's time.
    os.sync()
    timed_run(store, "full run")
    fill(store, data, np.arange(args.reports, total), next_ids)
    os.sync()
    timed_run(store, f"incremental run ({args.new:,} new reports)")
    os.sync()
    timed_run(store, "run with nothing new")
    wall = time.perf_counter()
    summary, _plans = operations.queue_plans(store, None, "week")
    print(
        f"queue from the stored input: {summary['offender_queue']['items']:,} offender items in "
        f"{time.perf_counter() - wall:.2f} s"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:,.0f} MiB; load {os.getloadavg()}")
    store.engine.dispose()
    shutil.rmtree(home)  # the run's store (several GB at a million reports); --keep keeps a copy


if __name__ == "__main__":
    main()
