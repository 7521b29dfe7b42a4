from __future__ import annotations

import numpy as np

from safeguarding.triage.cluster_subjects import (
    SubjectIndex,
    SubjectSettings,
    cluster_reports,
    earlier_reports,
    place_reports,
)
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import IdentifierTable, take_reports
from tests.triage.helpers import reports

HOUR = 3600


def identifiers(rows: list[tuple[int, int, bool, int]]) -> IdentifierTable:
    report, key, is_ip, seen = zip(*rows, strict=True)
    return IdentifierTable(
        np.array(report, dtype=np.int64),
        np.array(key, dtype=np.int64),
        np.array(is_ip, dtype=np.bool_),
        np.array(seen, dtype=np.int64),
    )


def test_reports_sharing_an_identifier_end_in_one_subject() -> None:
    data = generate(n_reports=3000, seed=8)
    subjects = cluster_reports(data.reports, data.identifiers, SubjectSettings())
    for truth in np.unique(data.true_subject)[:200]:
        assert len(np.unique(subjects[data.true_subject == truth])) == 1
    # and reports of different true subjects never share a subject (reassigned IPs included)
    pairs = {(int(s), int(t)) for s, t in zip(subjects, data.true_subject, strict=True)}
    assert len({s for s, _ in pairs}) == len(pairs)


def test_links_chain_and_the_subject_is_named_by_its_oldest_report() -> None:
    table = identifiers(
        [(0, 10, False, 0), (1, 10, False, 0), (1, 20, False, 0), (2, 20, False, 0)]
    )
    subjects = cluster_reports(reports(4), table, SubjectSettings())
    assert subjects.tolist() == [1, 1, 1, 4]


def test_ip_links_only_within_the_window() -> None:
    table = identifiers(
        [
            (0, 99, True, 0),
            (1, 99, True, 23 * HOUR),  # within 24 h of report 0
            (2, 99, True, 23 * HOUR + 30 * 24 * HOUR),  # reassigned a month later
            (3, 98, True, 0),  # another address at the same time
        ]
    )
    subjects = cluster_reports(reports(4), table, SubjectSettings(ip_window_hours=24))
    assert subjects.tolist() == [1, 1, 3, 4]
    narrow = cluster_reports(reports(4), table, SubjectSettings(ip_window_hours=12))
    assert narrow.tolist() == [1, 2, 3, 4]


def test_incremental_placement_equals_clustering_everything() -> None:
    data = generate(n_reports=2500, seed=21)
    settings = SubjectSettings(ip_window_hours=24 * 40)  # wide: IP links across the split too
    whole = cluster_reports(data.reports, data.identifiers, settings)
    split = 1700
    old_reports, old_ids = take_reports(data.reports, data.identifiers, np.arange(split))
    new_reports, new_ids = take_reports(
        data.reports, data.identifiers, np.arange(split, len(data.reports))
    )
    old = cluster_reports(old_reports, old_ids, settings)
    update = place_reports(SubjectIndex.build(old_ids, old), new_reports, new_ids, settings)
    old_after = np.array([update.merges.get(s, s) for s in old])
    assert np.array_equal(np.concatenate([old_after, update.report_subject]), whole)
    assert update.merges  # the wide window really merged earlier subjects


def test_earlier_reports_count_the_subjects_reports_before_each() -> None:
    subject = np.array([1, 2, 1, 1, 2])
    received = np.array([50, 10, 20, 20, 5])
    report_id = np.array([1, 2, 3, 4, 5])
    assert earlier_reports(subject, received, report_id).tolist() == [2, 1, 0, 1, 0]
