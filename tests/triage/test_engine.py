from __future__ import annotations

import numpy as np

from safeguarding.triage.cluster_content import ContentSettings
from safeguarding.triage.cluster_subjects import SubjectSettings
from safeguarding.triage.engine import UNASSIGNED, Previous, run
from safeguarding.triage.policy import load_policy
from safeguarding.triage.synthetic import generate


def test_an_incremental_pass_gives_what_a_full_pass_gives() -> None:
    data = generate(n_reports=1500, n_families=100, seed=17)
    policy = load_policy()
    args = (policy, ContentSettings(viral_min_reports=30), SubjectSettings())
    none = Previous.none(len(data.reports), len(data.files))
    full = run(data.reports, data.files, data.identifiers, none, *args)
    assert full.mode == "full"
    # pretend the last 300 reports (and their files) are new
    new_reports = data.files.report >= 1200
    previous = Previous(
        file_cluster=np.where(new_reports, UNASSIGNED, full.file_cluster),
        report_subject=np.where(np.arange(1500) >= 1200, UNASSIGNED, full.report_subject),
        level=np.where(np.arange(1500) >= 1200, 0, full.priorities.level).astype(np.int64),
    )
    # earlier results came from the first 1200 reports alone: recompute them that way
    again = run(data.reports, data.files, data.identifiers, previous, *args)
    assert again.mode == "incremental"
    assert again.new_reports == 300
    assert np.array_equal(again.file_cluster, full.file_cluster)
    assert np.array_equal(again.report_subject, full.report_subject)
    assert np.array_equal(again.priorities.level, full.priorities.level)
    assert again.changes["compared"] == 1200 and again.changes["changed"] == 0
