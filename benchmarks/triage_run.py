"""Benchmark: triage of 1 M reports with about 2 M files, then an incremental pass of 10,000 more.

What is measured: the pure triage core (``safeguarding.triage.engine.run``) on generated columns,
not the database: content clustering (exact hashes + PDQ near-duplicates within 31 bits, exact
search), subject clustering (account ids, emails, screen names, IPs within 24 h), content and
subject summaries, report facts, scoring against the shipped policy and grouping into work items.
The incremental pass gets the first pass's clusters and subjects as "previous" results and the
indexes and summaries of the first pass (state kept between passes), places the 10,000 new
reports and their files against the indexes, recomputes the summaries of the clusters and subjects
they touched, then facts, scores and work items for all reports.
Generation time is reported separately and not counted.

Run: .venv/bin/python benchmarks/triage_run.py [--reports N] [--new N] [--seed S]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from safeguarding.triage.cluster_content import ContentIndex, ContentSettings
from safeguarding.triage.cluster_subjects import SubjectIndex, SubjectSettings
from safeguarding.triage.engine import Previous, run
from safeguarding.triage.policy import load_policy
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import UNASSIGNED, take_files, take_reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--families", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    total = args.reports + args.new

    started = time.perf_counter()
    data = generate(n_reports=total, files_per_report=2.0, n_families=args.families, seed=args.seed)
    old_report_rows = np.arange(args.reports, dtype=np.int64)
    old_file_rows = np.flatnonzero(data.files.report < args.reports).astype(np.int64)
    reports, identifiers = take_reports(data.reports, data.identifiers, old_report_rows)
    files = take_files(data.files, old_file_rows)
    distinct_pdq = np.unique(files.pdq[files.pdq_ok], axis=0).shape[0]
    print(
        f"generated {total:,} reports, {len(data.files):,} files in "
        f"{time.perf_counter() - started:.1f} s (not counted)"
    )
    print(
        f"first pass: {len(reports):,} reports, {len(files):,} files, "
        f"{distinct_pdq:,} distinct usable PDQ hashes, {len(identifiers):,} identifiers"
    )

    policy = load_policy()
    content, subjects = ContentSettings(), SubjectSettings()
    started = time.perf_counter()
    first = run(
        reports,
        files,
        identifiers,
        Previous.none(len(reports), len(files)),
        policy,
        content,
        subjects,
    )
    full_seconds = time.perf_counter() - started
    levels = np.bincount(first.priorities.level, minlength=5)[1:].tolist()
    print(
        f"full pass: {full_seconds:.1f} s  (target <= 120 s)  clusters "
        f"{first.content_summary.height:,}, subjects {first.subject_summary.height:,}, "
        f"work items {len(np.unique(first.work_item)):,}, levels P1/P2/P3/info {levels}"
    )

    new_files = len(data.files) - len(files)
    previous = Previous(
        file_cluster=np.concatenate(
            [first.file_cluster, np.full(new_files, UNASSIGNED, dtype=np.int64)]
        ),
        report_subject=np.concatenate(
            [first.report_subject, np.full(args.new, UNASSIGNED, dtype=np.int64)]
        ),
        level=np.concatenate(
            [first.priorities.level.astype(np.int64), np.zeros(args.new, dtype=np.int64)]
        ),
        # Files flagged viral or copies of flagged ones, and files viral by spread: state kept,
        # as the store keeps it.
        flagged=np.concatenate([first.flagged, np.zeros(new_files, dtype=np.bool_)]),
        spread=np.concatenate([first.spread, np.zeros(new_files, dtype=np.bool_)]),
    )
    # The indexes of the first pass are state kept between passes (as the matching PDQ index is
    # kept on disk); building them is part of the first pass, not of the incremental one.
    started = time.perf_counter()
    content_index = ContentIndex.build(files, first.file_cluster)
    subject_index = SubjectIndex.build(identifiers, first.report_subject)
    print(f"indexes of the first pass built in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    second = run(
        data.reports,
        data.files,
        data.identifiers,
        previous,
        policy,
        content,
        subjects,
        content_index,
        subject_index,
        (first.content_summary, first.subject_summary),
    )
    incremental_seconds = time.perf_counter() - started
    print(
        f"incremental pass ({second.mode}): {args.new:,} new reports, {new_files:,} new files: "
        f"{incremental_seconds:.2f} s  (target <= 5 s)  merged clusters "
        f"{len(second.merged_clusters)}, merged subjects {len(second.merged_subjects)}, "
        f"levels changed {second.changes['changed']:,} of {second.changes['compared']:,}"
    )


if __name__ == "__main__":
    main()
