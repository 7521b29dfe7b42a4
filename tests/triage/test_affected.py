"""Reports outside the affected set keep their fingerprint and their priority: reusing them is
exact, and a pass that scores only the affected reports decides every report as one scoring all."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.affected import affected_reports
from safeguarding.triage.cluster_content import ContentSettings
from safeguarding.triage.cluster_subjects import SubjectSettings
from safeguarding.triage.engine import Kept, Previous, TriageResult, run
from safeguarding.triage.fingerprint import fingerprints, policy_identity
from safeguarding.triage.policy import load_policy
from safeguarding.triage.store_io import detection
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import UNASSIGNED, take_files, take_reports
from tests.triage.helpers import chained


def _fingerprints(result: TriageResult, rows: np.ndarray | None = None) -> np.ndarray:
    return fingerprints(
        "policy", result.facts, result.priorities, result.report_subject, result.work_item,
        detection(result), rows,
    )  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cut=st.integers(150, 295),
    relisted=st.integers(0, 30),
    viral_min=st.sampled_from([4, 8, 1000]),
    families=st.integers(12, 80),
    subjects=st.integers(60, 250),
    chain=st.booleans(),
)
def test_unaffected_reports_keep_their_fingerprint(
    seed: int, cut: int, relisted: int, viral_min: int, families: int, subjects: int, chain: bool
) -> None:
    """Among the cases: subjects and clusters bridged by new reports (decisions move), viral
    clusters (kept apart from work items) or none (work items join many subjects), and
    near-duplicate chains (a cluster in many reports holding files viral by spread and files
    that are not)."""
    data = generate(n_reports=300, n_families=families, n_subjects=subjects, seed=seed)
    if chain:
        data = chained(data, seed)
    args = (load_policy(), ContentSettings(viral_min_reports=viral_min), SubjectSettings())
    rng = np.random.default_rng(seed)
    reports, identifiers = take_reports(data.reports, data.identifiers, np.arange(cut))
    old_files = np.flatnonzero(data.files.report < cut)
    files = take_files(data.files, old_files)
    earlier = run(reports, files, identifiers, Previous.none(cut, len(files)), *args)
    # Some earlier files' list matches change before the next pass.
    flipped = np.sort(rng.choice(len(files), size=min(relisted, len(files)), replace=False))
    known = data.files.flag("known").copy()
    known[old_files[flipped]] = ~known[old_files[flipped]]
    files_now = dataclasses.replace(data.files, flags={**data.files.flags, "known": known})
    n_new_files = len(data.files) - len(files)
    previous = Previous(
        np.r_[earlier.file_cluster, np.full(n_new_files, UNASSIGNED)],
        np.r_[earlier.report_subject, np.full(300 - cut, UNASSIGNED)],
        np.r_[earlier.priorities.level.astype(np.int64), np.zeros(300 - cut, np.int64)],
        flagged=np.r_[earlier.flagged, np.zeros(n_new_files, np.bool_)],
        spread=np.r_[earlier.spread, np.zeros(n_new_files, np.bool_)],
    )
    changed = flipped.astype(np.int64)
    result = run(
        data.reports, files_now, data.identifiers, previous, *args, earlier.content_index,
        earlier.subject_index, (earlier.content_summary, earlier.subject_summary),
        changed_files=changed,
    )  # fmt: skip
    assert result.mode == "incremental"
    subset = affected_reports(
        previous.file_cluster, previous.report_subject, result.file_cluster,
        result.report_subject, result.work_item, files_now.report, changed, earlier.work_item,
        np.flatnonzero(
            (result.flagged[: len(files)] != earlier.flagged)
            | (result.spread[: len(files)] != earlier.spread)
        ).astype(np.int64),
    )  # fmt: skip
    now = _fingerprints(result)
    before = _fingerprints(earlier)
    unaffected = np.ones(300, dtype=np.bool_)
    unaffected[subset] = False
    # Outside the set nothing moved; inside it every new report is included.
    assert np.array_equal(now[:cut][unaffected[:cut]], before[unaffected[:cut]])
    assert set(range(cut, 300)) <= set(subset.tolist())
    # Fingerprints of a subset are those of the whole table at those rows.
    assert np.array_equal(_fingerprints(result, subset), now[subset])
    # Said the other way round: every report whose fingerprint moved is in the set.
    moved = np.flatnonzero(now[:cut] != before)
    assert set(moved.tolist()) <= set(subset.tolist())

    # Scoring only the affected reports, the earlier decisions kept for the others: every
    # report's priority equals the one scoring all gives, and so do the affected fingerprints.
    policy = args[0]
    kept = Kept(
        policy_identity(policy), earlier.priorities.score, earlier.priorities.route,
        earlier.priorities.fired, earlier.work_item,
    )  # fmt: skip
    partial = run(
        data.reports, files_now, data.identifiers, dataclasses.replace(previous, kept=kept),
        *args, earlier.content_index, earlier.subject_index,
        (earlier.content_summary, earlier.subject_summary), changed_files=changed,
    )  # fmt: skip
    assert np.array_equal(partial.scored, subset)
    for name in ("level", "score", "route", "fired"):
        assert np.array_equal(getattr(partial.priorities, name), getattr(result.priorities, name))
    assert np.array_equal(partial.work_item, result.work_item)
    assert partial.changes == result.changes
    scored_prints = fingerprints(
        "policy", partial.facts, partial.priorities.take(subset), partial.report_subject[subset],
        partial.work_item[subset], detection(partial),
    )  # fmt: skip
    assert np.array_equal(scored_prints, now[subset])
    # Under another policy nothing is kept: every report is scored.
    other = dataclasses.replace(kept, policy="another policy")
    again = run(
        data.reports, files_now, data.identifiers, dataclasses.replace(previous, kept=other),
        *args, earlier.content_index, earlier.subject_index,
        (earlier.content_summary, earlier.subject_summary), changed_files=changed,
    )  # fmt: skip
    assert np.array_equal(again.scored, np.arange(300))
