from __future__ import annotations

import numpy as np
import pytest
from polars.testing import assert_frame_equal

from safeguarding.triage.cluster_content import ContentIndex, ContentSettings
from safeguarding.triage.cluster_subjects import SubjectIndex, SubjectSettings
from safeguarding.triage.engine import UNASSIGNED, Previous, run
from safeguarding.triage.policy import load_policy
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import take_files, take_reports


@pytest.mark.parametrize("kept_state", [False, True])
def test_an_incremental_pass_gives_what_a_full_pass_gives(kept_state: bool) -> None:
    data = generate(n_reports=1500, n_families=100, seed=17)
    args = (load_policy(), ContentSettings(viral_min_reports=30), SubjectSettings())
    full = run(
        data.reports, data.files, data.identifiers, Previous.none(1500, len(data.files)), *args
    )
    assert full.mode == "full"
    # an earlier pass saw the first 1200 reports only
    reports, identifiers = take_reports(data.reports, data.identifiers, np.arange(1200))
    old_rows = np.flatnonzero(data.files.report < 1200)
    files = take_files(data.files, old_rows)
    earlier = run(reports, files, identifiers, Previous.none(1200, len(files)), *args)
    new_files = len(data.files) - len(files)
    previous = Previous(
        file_cluster=np.r_[earlier.file_cluster, np.full(new_files, UNASSIGNED)],
        report_subject=np.r_[earlier.report_subject, np.full(300, UNASSIGNED)],
        level=np.r_[earlier.priorities.level.astype(np.int64), np.zeros(300, np.int64)],
    )
    state = (
        (
            ContentIndex.build(files, earlier.file_cluster),
            SubjectIndex.build(identifiers, earlier.report_subject),
            (earlier.content_summary, earlier.subject_summary),
        )
        if kept_state
        else (None, None, None)
    )
    again = run(data.reports, data.files, data.identifiers, previous, *args, *state)
    assert again.mode == "incremental"
    assert again.new_reports == 300 and again.new_files == new_files
    assert np.array_equal(again.file_cluster, full.file_cluster)
    assert np.array_equal(again.report_subject, full.report_subject)
    assert_frame_equal(again.content_summary, full.content_summary, check_dtypes=False)
    assert_frame_equal(again.subject_summary, full.subject_summary, check_dtypes=False)
    assert np.array_equal(again.priorities.level, full.priorities.level)
    assert np.array_equal(again.work_item, full.work_item)
    assert again.changes["compared"] == 1200
