"""Decision fingerprints: a change to what a decision is made from changes its fingerprint, and
only that decision's."""

from __future__ import annotations

import dataclasses

import numpy as np

from safeguarding.triage.cluster_content import ContentSettings
from safeguarding.triage.cluster_subjects import SubjectSettings
from safeguarding.triage.engine import Previous, TriageResult, run
from safeguarding.triage.fingerprint import fingerprints
from safeguarding.triage.policy import load_policy
from safeguarding.triage.synthetic import generate


def _result() -> TriageResult:
    data = generate(n_reports=300, files_per_report=2.0, n_families=30, seed=3)
    return run(
        data.reports, data.files, data.identifiers,
        Previous.none(len(data.reports), len(data.files)), load_policy(),
        ContentSettings(), SubjectSettings(),
    )  # fmt: skip


def _of(result: TriageResult, policy: str = "p") -> np.ndarray:
    detection = np.zeros(len(result.facts), dtype=np.int64)
    return fingerprints(
        policy, result.facts, result.priorities, result.report_subject, result.work_item,
        detection,
    )  # fmt: skip


def test_equal_inputs_give_equal_and_distinct_reports_distinct_fingerprints() -> None:
    result = _result()
    first = _of(result)
    assert np.array_equal(first, _of(result))
    assert first.dtype == np.int64
    # Reports differ at least in subject or work item or facts: fingerprints rarely coincide.
    assert np.unique(first).size > 0.5 * first.size
    assert not np.array_equal(first, _of(result, policy="q"))  # another policy: all differ
    assert (first != _of(result, policy="q")).all()


def test_one_changed_fact_or_file_changes_that_report_only() -> None:
    result = _result()
    before = _of(result)
    values = {name: column.copy() for name, column in result.facts.values.items()}
    values["subject_prior_reports"][7] += 1
    changed = dataclasses.replace(result, facts=dataclasses.replace(result.facts, values=values))
    after = _of(changed)
    assert np.flatnonzero(before != after).tolist() == [7]

    masks = {name: mask.copy() for name, mask in result.facts.file_masks.items()}
    row = 0
    report = int(result.facts.files.report[row])
    masks["infant_files"][row] = not masks["infant_files"][row]
    flipped = dataclasses.replace(result, facts=dataclasses.replace(result.facts, file_masks=masks))
    assert np.flatnonzero(before != _of(flipped)).tolist() == [report]


def test_a_grown_subject_alone_leaves_the_fingerprint_but_a_rule_it_fires_moves_it() -> None:
    result = _result()
    before = _of(result)
    values = {name: column.copy() for name, column in result.facts.values.items()}
    # The reasons refer to the subject for its size: a larger count alone is not a new decision.
    values["subject_reports"] += 3
    grown = dataclasses.replace(result, facts=dataclasses.replace(result.facts, values=values))
    assert np.array_equal(before, _of(grown))
    # Crossing a rule's threshold fires the rule: score and rules fired move, so does the print.
    fired = result.priorities.fired.copy()
    fired[11] ^= np.uint64(1)
    moved = dataclasses.replace(
        result, priorities=dataclasses.replace(result.priorities, fired=fired)
    )
    assert np.flatnonzero(before != _of(moved)).tolist() == [11]
