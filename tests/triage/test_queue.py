from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.policy import LEVELS
from safeguarding.triage.queue import (
    DEFAULT_MINUTES,
    HandlingEstimate,
    QueueColumns,
    grown_work_groups,
    handling_estimates,
    plan_queue,
    work_groups,
    work_items,
)

ESTIMATES = {
    name: HandlingEstimate(minutes, "default") for name, minutes in DEFAULT_MINUTES.items()
}


def items_for(levels: list[int], scores: list[float], received: list[int], item: list[int]):  # type: ignore[no-untyped-def]
    n = len(levels)
    columns = QueueColumns.from_decisions(
        np.array(item, dtype=np.int64),
        np.arange(1, n + 1, dtype=np.int64),
        np.array(levels, dtype=np.int8),
        np.array(scores),
        np.array(received, dtype=np.int64),
        np.zeros(n, dtype=np.int8),
    )
    return work_items(columns, ESTIMATES)


def test_order_is_level_then_score_then_age() -> None:
    items = items_for([2, 1, 2, 2], [50, 10, 80, 50], [5, 9, 9, 1], [1, 2, 3, 4])
    assert items.frame["item"].to_list() == [2, 3, 4, 1]


def test_one_item_per_subject_and_shared_non_viral_content() -> None:
    subject = np.array([0, 0, 1, 2, 3])
    # Report 2 holds a direct copy of report 0's new material; report 3's copy of report 4's
    # picture is viral, which joins no items (no pair), so reports 3 and 4 stay apart.
    groups = work_groups(subject, np.array([0]), np.array([2]))
    assert groups.tolist() == [0, 0, 0, 3, 4]
    items = items_for([3, 2, 3, 3, 3], [1, 2, 3, 4, 5], [0] * 5, (groups + 1).tolist())
    plan = plan_queue(items, capacity_hours=0, period="week")
    first = plan.items.filter(plan.items["item"] == 1).row(0, named=True)
    assert plan.reports_of(first) == [1, 2, 3]
    assert first["level"] == 2
    assert first["minutes"] == 2 * DEFAULT_MINUTES["P3"] + DEFAULT_MINUTES["P2"]


def test_capacity_is_respected_exactly() -> None:
    # 180 + 120 + 60 = 360 minutes = 6 h fit exactly; the next 60 would not
    items = items_for([1, 2, 3, 3, 4], [0] * 5, [0] * 5, [1, 2, 3, 4, 5])
    plan = plan_queue(items, capacity_hours=6, period="week")
    assert plan.items["handled"].to_list() == [True, True, True, False, False]
    assert plan.handled_minutes == 360
    smaller = plan_queue(items, capacity_hours=5.99, period="week")
    assert smaller.items["handled"].to_list() == [True, True, False, False, False]


def test_a_big_item_is_started_not_skipped_for_smaller_ones_behind_it() -> None:
    items = items_for([1, 4, 4], [0] * 3, [0] * 3, [1, 2, 3])
    plan = plan_queue(items, capacity_hours=1, period="week")  # P1 needs 3 h: nothing fits
    assert plan.items["handled"].to_list() == [False, False, False]
    assert plan.items["started"].to_list() == [True, False, False]
    assert plan.items["period_minutes"].to_list() == [60.0, 0.0, 0.0]
    totals = plan.totals()
    assert (totals["handled_items"], totals["started_items"]) == (0, 1)
    assert (totals["handled_hours"], totals["started_hours"]) == (0.0, 1.0)
    assert [row["started"] for row in plan.rows(0, 3)] == [True, False, False]


def test_nothing_is_started_when_the_handled_items_fill_the_capacity() -> None:
    items = items_for([1, 2, 3], [0] * 3, [0] * 3, [1, 2, 3])
    plan = plan_queue(items, capacity_hours=5, period="week")  # 180 + 120 minutes exactly
    assert plan.items["handled"].to_list() == [True, True, False]
    assert plan.items["started"].to_list() == [False, False, False]
    assert plan.started_minutes == 0.0


@given(
    st.lists(st.integers(1, 4), min_size=0, max_size=40),
    st.floats(0, 200, allow_nan=False),
    st.sampled_from(["week", "month"]),
)
@settings(max_examples=100, deadline=None)
def test_handled_items_are_the_longest_prefix_that_fits(
    levels: list[int], hours: float, period: str
) -> None:
    n = len(levels)
    items = items_for(levels, [0.0] * n, list(range(n)), list(range(1, n + 1)))
    plan = plan_queue(items, hours, period)
    handled = plan.items["handled"].to_list()
    minutes = plan.items["minutes"].to_list()
    taken = sum(m for m, h in zip(minutes, handled, strict=True) if h)
    assert taken <= hours * 60
    k = sum(handled)
    assert handled == [True] * k + [False] * (n - k)
    if k < n:
        assert taken + minutes[k] > hours * 60
    # The first item that does not fit is started if any capacity is left for it; no other.
    started = plan.items["started"].to_list()
    assert started == [i == k and taken < hours * 60 for i in range(n)]
    worked = plan.items["period_minutes"].to_list()
    assert sum(worked) == pytest.approx(min(hours * 60, sum(minutes)))
    assert all(0 <= w <= m for w, m in zip(worked, minutes, strict=True))
    waits = plan.items["wait_days"].to_list()
    if hours == 0:  # no capacity, no pace: no wait to give
        assert waits == [None] * n
    else:
        assert waits == sorted(waits)


def test_waiting_time_follows_the_pace_of_the_capacity() -> None:
    items = items_for([1, 1, 2], [0] * 3, [0] * 3, [1, 2, 3])
    plan = plan_queue(items, capacity_hours=42, period="week")  # 6 h = 360 minutes a day
    assert plan.items["wait_days"].to_list() == [0.0, 0.5, 1.0]
    rows = {row["level"]: row for row in plan.by_level()}
    assert rows["P1"]["mean_wait_days"] == 0.25 and rows["P2"]["handled"] == 1


def test_without_capacity_the_waits_are_missing_not_infinite() -> None:
    items = items_for([1, 2], [0] * 2, [0] * 2, [1, 2])
    plan = plan_queue(items, capacity_hours=0, period="week")
    assert plan.items["wait_days"].to_list() == [None, None]
    rows = {row["level"]: row for row in plan.by_level()}
    assert rows["P1"]["mean_wait_days"] is None and rows["P1"]["max_wait_days"] is None
    assert rows["P3"]["items"] == 0 and rows["P3"]["mean_wait_days"] is None


def test_estimates_come_from_outcomes_with_defaults_otherwise() -> None:
    estimates = handling_estimates({"P2": [30, 45, 50]})
    assert estimates["P2"] == HandlingEstimate(42, "outcomes (n=3)")  # ceil(41.67)
    assert estimates["P1"] == HandlingEstimate(DEFAULT_MINUTES["P1"], "default")


def test_bad_planning_input_is_refused() -> None:
    items = items_for([1], [0], [0], [1])
    with pytest.raises(ValueError, match="period"):
        plan_queue(items, 10, "year")
    with pytest.raises(ValueError, match="non-negative"):
        plan_queue(items, -1, "week")


@given(
    st.lists(
        st.tuples(
            st.integers(1, 6),
            st.integers(1, 4),
            st.floats(0, 100, allow_nan=False),
            st.integers(0, 10**9),
            st.integers(0, 1),
        ),
        max_size=60,
    )
)
@settings(max_examples=100, deadline=None)
def test_work_items_equal_a_group_by_over_the_reports(
    rows: list[tuple[int, int, float, int, int]],
) -> None:
    n = len(rows)
    item = np.array([r[0] for r in rows], dtype=np.int64)
    level = np.array([r[1] for r in rows], dtype=np.int8)
    score = np.array([r[2] for r in rows], dtype=np.float64)
    received = np.array([r[3] for r in rows], dtype=np.int64)
    route = np.array([r[4] for r in rows], dtype=np.int8)
    report = np.arange(100, 100 + n, dtype=np.int64)[::-1].copy()  # ids not in table order
    columns = QueueColumns.from_decisions(item, report, level, score, received, route)
    plan = plan_queue(work_items(columns, ESTIMATES), 0, "week")
    minutes = {code: ESTIMATES[name].minutes for code, name in enumerate(LEVELS, start=1)}
    expected = {}
    for key in set(item.tolist()):
        at = np.flatnonzero(item == key)
        expected[key] = (
            sorted(report[at].tolist()), int(level[at].min()), float(score[at].max()),
            int(received[at].min()), int(route[at].min()), sum(minutes[int(v)] for v in level[at]),
        )  # fmt: skip
    got = {
        row["item"]: (
            plan.reports_of(row), row["level"], row["score"], row["oldest"], row["route"],
            row["minutes"],
        )
        for row in plan.items.iter_rows(named=True)
    }  # fmt: skip
    assert got == expected
    order = [(e[1], -e[2], e[3], key) for key, e in expected.items()]
    assert plan.items["item"].to_list() == [key for *_, key in sorted(order)]


def test_queue_columns_are_grouped_by_item_and_drop_the_reports_with_an_outcome() -> None:
    columns = QueueColumns.from_decisions(
        np.array([3, 1, 3]), np.array([7, 8, 9]), np.array([1, 2, 3]),
        np.array([0.5, 1.5, 2.5]), np.array([10, 20, 30]), np.array([0, 1, 0]),
    )  # fmt: skip
    assert columns.item.tolist() == [1, 3, 3] and columns.report.tolist() == [8, 7, 9]
    assert columns.level.dtype == np.int8 and columns.score.tolist() == [1.5, 0.5, 2.5]
    rest = columns.without(np.array([7]))
    assert rest.report.tolist() == [8, 9] and rest.received_at.tolist() == [20, 30]


@settings(max_examples=100, deadline=None)
@given(
    n_old=st.integers(0, 40),
    n_new=st.integers(0, 15),
    seed=st.integers(0, 10_000),
)
def test_groups_grown_by_new_reports_equal_groups_formed_afresh(
    n_old: int, n_new: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = n_old + n_new
    # Subjects are numbered by their first report; each report belongs to one at or before it.
    subject = np.arange(n, dtype=np.int64)
    for r in range(n):
        if r and rng.random() < 0.6:
            subject[r] = subject[rng.integers(0, r)]
    per_report = rng.integers(0, 3, n)
    file_report = np.repeat(np.arange(n, dtype=np.int64), per_report)
    cluster = np.arange(file_report.size, dtype=np.int64)  # clusters numbered by first file
    copies: list[tuple[int, int]] = []  # direct copies, always within a cluster
    for f in range(file_report.size):
        if f and rng.random() < 0.5:
            source = int(rng.integers(0, f))
            cluster[f] = cluster[source]
            if rng.random() < 0.7:  # else only chained to it, through another file
                copies.append((source, f))
    left_file = np.array([a for a, _ in copies], dtype=np.int64)
    right_file = np.array([b for _, b in copies], dtype=np.int64)
    # Files that join items (new material); a cluster can hold both kinds.
    linking = rng.random(cluster.size) >= 0.2
    old_files = file_report < n_old
    # Some earlier files started or stopped joining items since (viral or list status moved).
    flip = old_files & (rng.random(cluster.size) < 0.1)

    def pairs(joins: np.ndarray, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reports of the direct copies among the files ``among`` that both join items."""
        keep = joins[left_file] & joins[right_file] & among[left_file] & among[right_file]
        return file_report[left_file[keep]], file_report[right_file[keep]]

    before = work_groups(subject[:n_old], *pairs(linking ^ flip, old_files))
    # The items holding a file of a cluster with a flipped file are formed again from their links.
    redo = np.unique(before[file_report[old_files & np.isin(cluster, cluster[flip])]])
    again = np.flatnonzero(np.isin(before, redo))
    again_files = np.isin(file_report, again) & linking
    new_files = np.flatnonzero(~old_files)
    joining = new_files[linking[new_files]]
    # A joining file's direct copies are searched among the files of its cluster.
    joined_left, joined_right = pairs(linking, np.isin(cluster, cluster[joining]))
    again_left, again_right = pairs(linking, again_files)
    grown = grown_work_groups(
        before, n, np.r_[np.arange(n_old, n), joined_left].astype(np.int64),
        np.r_[subject[n_old:], joined_right].astype(np.int64), redo,
        (again, subject[again], again_left, again_right),
    )  # fmt: skip
    assert grown.tolist() == work_groups(subject, *pairs(linking, np.ones_like(linking))).tolist()


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers(0, 6), max_size=30), shuffled=st.booleans())
def test_queue_columns_are_grouped_by_item_then_report(items: list[int], shuffled: bool) -> None:
    n = len(items)
    report = np.arange(10, 10 + n, dtype=np.int64)
    if shuffled:  # report ids in any order take the general sort
        report = report[::-1].copy()
    zeros = np.zeros(n, dtype=np.int64)
    columns = QueueColumns.from_decisions(
        np.array(items, dtype=np.int64), report, zeros + 1, zeros.astype(np.float64), zeros, zeros
    )
    pairs = list(zip(columns.item.tolist(), columns.report.tolist(), strict=True))
    assert pairs == sorted(zip(items, report.tolist(), strict=True))
