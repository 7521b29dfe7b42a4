from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.cluster_content import ContentSettings
from safeguarding.triage.cluster_subjects import (
    SubjectIndex,
    SubjectSettings,
    ambiguous_screen_names,
    cluster_reports,
    earlier_reports,
    ip_windows,
    place_reports,
)
from safeguarding.triage.engine import Previous, run
from safeguarding.triage.policy import load_policy
from safeguarding.triage.synthetic import generate
from safeguarding.triage.tables import (
    ACCOUNT_ID,
    OTHER,
    SCREEN_NAME,
    UNASSIGNED,
    IdentifierTable,
    take_files,
    take_reports,
)
from tests.triage.helpers import files, reports

HOUR = 3600


def identifiers(
    rows: list[tuple[int, int, bool, int]], kinds: list[int] | None = None
) -> IdentifierTable:
    report, key, is_ip, seen = zip(*rows, strict=True)
    return IdentifierTable(
        np.array(report, dtype=np.int64),
        np.array(key, dtype=np.int64),
        np.array(is_ip, dtype=np.bool_),
        np.array(seen, dtype=np.int64),
        np.array([OTHER] * len(rows) if kinds is None else kinds, dtype=np.int8),
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


def test_an_address_seen_every_23_hours_does_not_chain_its_users() -> None:
    # 30 reports a day apart (23 h) from one address: chained, one "user" for a month.
    n = 30
    table = identifiers([(i, 7, True, i * 23 * HOUR) for i in range(n)])
    subjects = cluster_reports(reports(n), table, SubjectSettings(ip_window_hours=24))
    # Windows anchored at their first sighting: 0 h and 23 h, then 46 h opens the next.
    assert subjects.tolist() == [2 * (i // 2) + 1 for i in range(n)]


def test_ip_windows_anchor_at_their_first_sighting() -> None:
    keys = np.array([5, 5, 5, 5, 6, 6], dtype=np.int64)
    seen = np.array([0, 20, 30, 47, 10, 0], dtype=np.int64) * HOUR
    windows = ip_windows(keys, seen, 24 * HOUR)
    # 0 h and 20 h; 30 h opens a window (more than 24 h after 0 h) that 47 h is still in.
    assert windows[0] == windows[1] != windows[2] == windows[3]
    assert windows[4] == windows[5] and len(set(windows[[0, 2, 4]].tolist())) == 3


def _windows_one_by_one(keys: list[int], seen: list[int], window: int) -> list[tuple[int, int]]:
    """The anchor (address, first sighting's time) of each sighting's window, address by
    address in time order."""
    anchors: list[tuple[int, int]] = []
    for key, time in zip(keys, seen, strict=True):
        earlier = sorted(t for k, t in zip(keys, seen, strict=True) if k == key and t <= time)
        anchor = earlier[0]
        for t in earlier:
            if t - anchor > window:
                anchor = t
        anchors.append((key, anchor))
    return anchors


sightings = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200)), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(sightings, st.integers(0, 60))
def test_ip_windows_group_as_anchoring_one_by_one(rows: list[tuple[int, int]], window: int) -> None:
    keys, seen = (list(column) for column in zip(*rows, strict=True))
    windows = ip_windows(np.array(keys, np.int64), np.array(seen, np.int64), window)
    anchors = _windows_one_by_one(keys, seen, window)
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (windows[i] == windows[j]) == (anchors[i] == anchors[j])


@settings(max_examples=150, deadline=None)
@given(sightings, st.integers(1, 39), st.integers(0, 60))
def test_placing_new_sightings_equals_clustering_everything(
    rows: list[tuple[int, int]], split: int, window: int
) -> None:
    # One report per sighting; reports after ``split`` are new, their sightings may come first.
    n = len(rows)
    split = min(split, n)
    table = identifiers([(i, key, True, seen) for i, (key, seen) in enumerate(rows)])
    options = SubjectSettings(ip_window_hours=window / 3600)
    whole = cluster_reports(reports(n), table, options)
    old_reports, old_ids = take_reports(reports(n), table, np.arange(split))
    new_reports, new_ids = take_reports(reports(n), table, np.arange(split, n))
    old = cluster_reports(old_reports, old_ids, options)
    update = place_reports(
        SubjectIndex.build(old_ids, old), new_reports, new_ids, options, np.zeros(0, np.int64)
    )
    if update is None:  # a new sighting moved an earlier window: the engine clusters afresh
        return
    old_after = np.array([update.merges.get(s, s) for s in old.tolist()], dtype=np.int64)
    assert np.array_equal(np.concatenate([old_after, update.report_subject]), whole)


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
    update = place_reports(
        SubjectIndex.build(old_ids, old),
        new_reports,
        new_ids,
        settings,
        ambiguous_screen_names(data.identifiers),
    )
    assert update is not None
    old_after = np.array([update.merges.get(s, s) for s in old])
    assert np.array_equal(np.concatenate([old_after, update.report_subject]), whole)
    assert update.merges  # the wide window really merged earlier subjects


def test_earlier_reports_count_the_subjects_reports_before_each() -> None:
    subject = np.array([1, 2, 1, 1, 2])
    received = np.array([50, 10, 20, 20, 5])
    report_id = np.array([1, 2, 3, 4, 5])
    assert earlier_reports(subject, received, report_id).tolist() == [2, 1, 0, 1, 0]


def test_a_screen_name_held_by_several_accounts_links_nothing() -> None:
    """Six users, each with an account id and email of their own, all named "admin", were one
    subject. Accounts still link, and a name only one account holds still links."""
    admin, other_name, email = 900, 901, 902
    rows = [(i, 100 + i, False, 0) for i in range(6)] + [(i, admin, False, 0) for i in range(6)]
    kinds = [ACCOUNT_ID] * 6 + [SCREEN_NAME] * 6
    # report 6: account 100 again (user 0); reports 7 and 8: "sam", one account or none at all
    rows += [(6, 100, False, 0), (6, admin, False, 0), (7, 107, False, 0)]
    rows += [(7, other_name, False, 0), (8, other_name, False, 0), (8, email, False, 0)]
    kinds += [ACCOUNT_ID, SCREEN_NAME, ACCOUNT_ID, SCREEN_NAME, SCREEN_NAME, OTHER]
    table = identifiers(rows, kinds)
    assert ambiguous_screen_names(table).tolist() == [admin]
    subjects = cluster_reports(reports(9), table, SubjectSettings())
    assert subjects.tolist() == [1, 2, 3, 4, 5, 6, 1, 8, 8]


accounts = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 2)),
    min_size=2,
    max_size=14,
)


@settings(max_examples=150, deadline=None)
@given(accounts, st.integers(1, 13))
def test_passes_over_screen_names_and_accounts_equal_one_full_pass(
    rows: list[tuple[int, int, int]], split: int
) -> None:
    """Per report an account id (0 = none), a screen name (0 = none), an email (0 = none):
    a pass over the later reports gives the subjects of one pass over all, also when a later
    account makes a name that linked earlier reports ambiguous (the pass starts over)."""
    n = len(rows)
    split = min(split, n - 1)
    entries: list[tuple[int, int, bool, int]] = []
    kinds: list[int] = []
    for report, (account, name, email) in enumerate(rows):
        for value, base, kind in ((account, 10, ACCOUNT_ID), (name, 20, SCREEN_NAME)):
            if value:
                entries.append((report, base + value, False, 0))
                kinds.append(kind)
        if email:
            entries.append((report, 30 + email, False, 0))
            kinds.append(OTHER)
    entries.append((n - 1, 99, True, 0))  # an IP, so the table is never empty
    kinds.append(OTHER)
    table = identifiers(entries, kinds)
    options = SubjectSettings()
    policy = load_policy()
    content = ContentSettings()
    file_table = files(list(range(n)))
    whole = run(reports(n), file_table, table, Previous.none(n, n), policy, content, options)
    old_reports, old_ids = take_reports(reports(n), table, np.arange(split))
    old_files = take_files(file_table, np.arange(split))
    earlier = run(
        old_reports, old_files, old_ids, Previous.none(split, split), policy, content, options
    )
    previous = Previous(
        file_cluster=np.r_[earlier.file_cluster, np.full(n - split, UNASSIGNED)],
        report_subject=np.r_[earlier.report_subject, np.full(n - split, UNASSIGNED)],
        level=np.r_[earlier.priorities.level.astype(np.int64), np.zeros(n - split, np.int64)],
    )
    again = run(reports(n), file_table, table, previous, policy, content, options)
    assert np.array_equal(again.report_subject, whole.report_subject)
