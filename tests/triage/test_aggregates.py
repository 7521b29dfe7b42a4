"""Triage counts under disclosure control: what the monitor and researchers see.

A published count is 0 or at least the minimum cell; an intruder who knows the published
numbers, and that withheld counts are at least 1, can neither pin a withheld count down nor see
a small one to be small; the tables linked to the reports table tell nothing about the levels it
withholds; with a minimum cell of 1 nothing is withheld and every count is the store's own.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, update

from safeguarding.config import load_settings
from safeguarding.disclosure.suppression import ProtectedTable
from safeguarding.errors import ConfigError
from safeguarding.reporting.sections import notifications as notifications_section
from safeguarding.reporting.sections import triage as triage_section
from safeguarding.store import Store
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    PriorityDecision,
    ReportedFile,
    Subject,
    TriageOutcome,
)
from safeguarding.triage import operations
from safeguarding.triage.aggregates import TriageAggregates, min_cell_setting, triage_aggregates
from safeguarding.triage.policy import LEVELS, ROUTES, load_policy
from safeguarding.triage.sample import load_sample
from tests.disclosure.attacker import feasible_intervals


@pytest.fixture
def demo_store(store: Store) -> Store:
    """The demo's triage on sample seed 26: sample reports scored, synthetic outcomes for part,
    the week's queue. Its reports table withholds P3 (15 reports) and informational (1)."""
    load_sample(store, 26)
    operations.demo(store, 26)
    return store


def _tables(found: TriageAggregates) -> list[ProtectedTable]:
    assert found.queue is not None and found.outcomes is not None
    return [found.reports, found.subjects, found.queue.items, found.outcomes.table]


def _extended(protected: ProtectedTable) -> list[list[int | None]]:
    rows = [
        [*cells, total] for cells, total in zip(protected.cells, protected.row_totals, strict=True)
    ]
    return [*rows, [*protected.col_totals, protected.total]]


def _published_counts(found: TriageAggregates) -> list[int | None]:
    assert found.queue is not None
    counts: list[int | None] = []
    for protected in _tables(found):
        counts += [v for row in _extended(protected) for v in row]
    counts += [n for _rule, n in found.reasons]
    counts += [*found.content.values(), found.reports_in_viral_clusters]
    return [*counts, found.queue.youth_care_items]


@pytest.mark.parametrize("min_cell", [10, 30])
def test_no_small_count_is_published_and_none_withheld_can_be_solved(
    demo_store: Store, min_cell: int
) -> None:
    found = triage_aggregates(demo_store, min_cell)
    assert found is not None
    counts = _published_counts(found)
    assert None in counts and any(c for c in counts if c is not None)
    assert all(c is None or c == 0 or c >= min_cell for c in counts)
    for protected in _tables(found):
        for cell, (low, high) in feasible_intervals(_extended(protected)).items():
            assert high - low > 0.5, (protected.title, cell, low, high)
            if protected.status[cell[0]][cell[1]] == "primary":
                assert high >= min_cell, (protected.title, cell, low, high)


def test_linked_tables_show_withheld_levels_only_together(demo_store: Store) -> None:
    found = triage_aggregates(demo_store)
    assert found is not None and found.queue is not None and found.outcomes is not None
    hidden = [
        lv for lv, total in zip(LEVELS, found.reports.row_totals, strict=True) if total is None
    ]
    assert len(hidden) == 2  # the demo withholds two levels (one small, and its complement)
    together = " + ".join(hidden)
    # each level a linked table shows alone is one the reports table shows
    for protected in (found.queue.items, found.outcomes.table):
        assert together in protected.row_labels
        assert not set(hidden) & set(protected.row_labels)
    # hours and waits add up levels, so they are shown only when every level stands alone
    assert found.queue.total_hours is None and found.queue.handled_hours is None
    assert found.queue.started_hours is None
    assert set(found.queue.hours) == {None} and set(found.queue.mean_wait_days) == {None}
    # the synthetic outcomes are said to be there, not counted (that would count the real ones)
    assert found.outcomes.includes_synthetic
    assert "synthetic" not in str(found.outcomes.table.as_dict())


def test_with_a_minimum_cell_of_one_every_count_is_the_stores(demo_store: Store) -> None:
    found = triage_aggregates(demo_store, 1)
    assert found is not None and found.queue is not None and found.outcomes is not None
    with demo_store.session() as db:
        decisions = db.execute(
            select(PriorityDecision.level, PriorityDecision.route, PriorityDecision.reasons)
        ).all()
        per_subject = db.scalars(select(Subject.reports)).all()
        clusters = db.execute(select(ContentCluster.id, ContentCluster.viral)).all()
        file_rows = db.execute(
            select(ReportedFile.report_id, FileCluster.cluster_id).join(
                FileCluster, FileCluster.file_id == ReportedFile.id
            )
        ).all()
    pairs = Counter((level, route) for level, route, _ in decisions)
    assert found.reports.cells == tuple(
        tuple(pairs[(level, route)] for route in ROUTES) for level in LEVELS
    )
    assert found.reports.total == len(decisions)
    several = sum(1 for n in per_subject if n > 1)
    assert found.subjects.cells == ((len(per_subject) - several, several),)
    fired = Counter(rule for *_, reasons in decisions for rule in {r["rule"] for r in reasons})
    assert dict(found.reasons) == dict(fired)
    viral = {cluster for cluster, is_viral in clusters if is_viral}
    assert found.content["clusters"] == len(clusters)
    assert found.reports_in_viral_clusters == len({r for r, c in file_rows if c in viral})
    plan, _ = operations.queue_plans(demo_store, None, "week")
    by_level = plan["offender_queue"]["by_level"]
    assert found.queue.items.row_labels == LEVELS
    assert found.queue.items.row_totals == tuple(row["items"] for row in by_level)
    assert found.queue.hours == tuple(row["estimated_hours"] for row in by_level)
    assert found.queue.mean_wait_days == tuple(row["mean_wait_days"] for row in by_level)
    assert found.queue.total_hours == plan["offender_queue"]["total_hours"]
    stats = operations.stats(demo_store)
    assert found.outcomes.table.total == stats["overall"]["n"]
    for row in found.outcomes.groups:
        if row.group not in stats["level"]:  # a level without outcomes has no share to give
            assert (row.share, row.low, row.high) == (None, None, None)
            continue
        share = stats["level"][row.group]["actionable_share"]
        assert (row.share, row.low, row.high) == (share["value"], share["low"], share["high"])


def test_a_rule_count_is_withheld_where_it_would_bound_withheld_reports(store: Store) -> None:
    """The viral rule caps at P3. Here P3 (15 reports) and informational (1) are withheld, and
    the published numbers say only that together they hold 16. Made to fire for 12 P3 reports
    and nowhere else, its count would say P3 holds at least 12, so informational at most 4,
    which is small. A rule that fired in every withheld cell of a route tells nothing new and is
    shown."""
    load_sample(store, 26)
    operations.run_triage(store, load_policy())
    with store.session() as db:
        decisions = db.scalars(select(PriorityDecision)).all()
        for decision in decisions:
            decision.reasons = [r for r in decision.reasons if r["rule"] != "viral"]
        p3 = [d for d in decisions if d.level == "P3"][:12]
        for decision in p3:
            decision.reasons = [{"rule": "viral", "effect": "at most P3"}, *decision.reasons]
    found = triage_aggregates(store, 10)
    assert found is not None
    hidden = {lv: total for lv, total in zip(LEVELS, found.reports.row_totals, strict=True)}
    assert hidden["P3"] is None and hidden["informational"] is None and len(p3) == 12
    reasons = dict(found.reasons)
    assert reasons["viral"] is None  # twelve: not small, not a withheld count, withheld
    assert reasons["reported_material"] == found.reports.total


def test_a_rule_that_alone_sends_reports_to_youth_care_is_withheld_with_the_route(
    store: Store,
) -> None:
    """Twelve P2 and three P3 reports to youth care: the three are withheld and the twelve with
    them; a rule that fired for exactly the twelve would give them back."""
    load_sample(store, 3)
    operations.run_triage(store, load_policy())
    with store.session() as db:
        for level, n, rule in (("P2", 12, "minor_to_minor"), ("P3", 3, "self_generated_by_minor")):
            ids = db.scalars(
                select(PriorityDecision.report_id).where(PriorityDecision.level == level).limit(n)
            ).all()
            db.execute(
                update(PriorityDecision)
                .where(PriorityDecision.report_id.in_(ids))
                .values(route="youth_care", reasons=[{"rule": rule, "effect": "route youth_care"}])
            )
    found = triage_aggregates(store, 10)
    assert found is not None
    youth = ROUTES.index("youth_care")
    assert found.reports.cells[LEVELS.index("P2")][youth] is None
    assert dict(found.reasons)["minor_to_minor"] is None


def test_the_monitor_shows_withheld_counts_as_x(demo_store: Store) -> None:
    found = triage_aggregates(demo_store)
    section = triage_section.build(demo_store)
    assert found is not None and section is not None
    for rule, n in found.reasons:
        assert f"<td>{rule}</td><td>{'x' if n is None else f'{n:,}'}</td>" in section.body
    merged = " + ".join(
        lv for lv, total in zip(LEVELS, found.reports.row_totals, strict=True) if total is None
    )
    assert merged and f"<td>{merged}</td>" in section.body
    assert "synthetic demo outcomes among them" in section.body
    assert "minimum cell 10" in section.provenance


def test_before_a_run_there_is_nothing_to_show(store: Store) -> None:
    load_sample(store, 2)
    assert triage_aggregates(store) is None
    assert triage_section.build(store) is None


def test_the_minimum_cell_is_a_checked_setting(demo_store: Store, tmp_path: Path) -> None:
    def with_config(text: str) -> Store:
        (tmp_path / "config.toml").write_text(text)
        return Store(load_settings({"SAFEGUARDING_HOME": str(tmp_path)}))

    assert min_cell_setting(with_config("")) == 10
    assert min_cell_setting(with_config("[triage]\nmin_cell = 25\n")) == 25
    for bad in ("0", "1001", "true", "2.5"):
        with pytest.raises(ConfigError, match=r"\[triage\] min_cell = .*: a whole number 1…1000"):
            min_cell_setting(with_config(f"[triage]\nmin_cell = {bad}\n"))
    demo_store.settings.options["triage"] = {"min_cell": 30}
    configured = triage_aggregates(demo_store)
    assert configured is not None and configured.min_cell == 30
    assert configured == triage_aggregates(demo_store, 30)


def _craft(store: Store, table: list[list[int]], youth_rule: str | None = None) -> None:
    """Leave the sample's decisions as reports by level (rows) and route (columns) of ``table``:
    the first reports take the levels and routes, the rest are deleted. Youth-care reports fire
    ``youth_rule``, which sets the route; every report fires ``reported_material``."""
    load_sample(store, 3)
    operations.run_triage(store, load_policy())
    cells = [
        (level, route)
        for level, row in zip(LEVELS, table, strict=True)
        for route, n in zip(ROUTES, row, strict=True)
        for _ in range(n)
    ]
    with store.session() as db:
        decisions = db.scalars(select(PriorityDecision).order_by(PriorityDecision.report_id)).all()
        assert len(decisions) >= len(cells)
        for decision, (level, route) in zip(decisions, cells, strict=False):
            reasons = [{"rule": "reported_material", "effect": ""}]
            if route == "youth_care" and youth_rule:
                reasons.append({"rule": youth_rule, "effect": "route youth_care"})
            decision.level, decision.route, decision.reasons = level, route, reasons
        for decision in decisions[len(cells) :]:
            db.delete(decision)


def test_a_rule_that_sets_the_route_is_withheld_with_the_routes_total(store: Store) -> None:
    """Youth care is where a routing rule fired, so those rules' counts bound the youth-care
    total from above as well: 42 here, and with the grand total that pins both small cells."""
    _craft(store, [[10, 1], [0, 40], [1, 0], [2, 1]], youth_rule="minor_to_minor")
    found = triage_aggregates(store, 10)
    assert found is not None
    assert found.reports.col_totals[ROUTES.index("youth_care")] is None
    assert found.reports.total == 55
    reasons = dict(found.reasons)
    assert reasons["minor_to_minor"] is None and reasons["reported_material"] == 55


def test_linked_tables_are_left_out_where_the_sum_they_bound_is_withheld(store: Store) -> None:
    """Work items are at most the offender queue's reports. With that total withheld, 53 items
    would say the offender reports are at least 53 of 56, the youth-care ones at most 3."""
    _craft(store, [[2, 1], [9, 1], [2, 0], [40, 1]])
    found = triage_aggregates(store, 10)
    assert found is not None
    assert found.reports.col_totals[ROUTES.index("offender")] is None
    assert found.queue is None
    assert found.withheld_parts == (
        "queue: the number of reports in the offender queue is withheld",
    )
    assert found.as_dict()["withheld_parts"] == list(found.withheld_parts)


def test_reports_taken_in_are_withheld_with_the_reports_scored(store: Store) -> None:
    _craft(store, [[1, 0], [2, 10], [0, 0], [0, 12]])
    found = triage_aggregates(store, 10)
    assert found is not None and found.reports.total is None
    assert found.outcomes is None and found.queue is None
    section = notifications_section.build(store)
    assert section is not None
    assert "Reports by source and format: withheld" in section.body
    triage = triage_section.build(store)
    assert triage is not None and "<p>Withheld: outcomes:" in triage.body


def test_hours_are_withheld_where_they_would_count_a_few_merged_reports(store: Store) -> None:
    """Every level stands alone here (minimum cell 2), but a P1 work item holds a single P3
    report: the P1 hours (reports times their level's public minutes) would count it, so hours
    and waits are withheld; with a minimum of 1 they are shown."""
    load_sample(store, 51)
    operations.run_triage(store, load_policy())
    found = triage_aggregates(store, 2)
    assert found is not None and found.queue is not None
    assert found.queue.items.row_labels == LEVELS
    assert None not in found.queue.items.row_totals
    assert set(found.queue.hours) == {None} and found.queue.total_hours is None
    shown = triage_aggregates(store, 1)
    assert shown is not None and shown.queue is not None
    assert None not in shown.queue.hours and shown.queue.total_hours is not None
    # The week's capacity goes to the handled items and the one started, or the queue is done.
    queue = shown.queue
    assert queue.handled_hours is not None and queue.started_hours is not None
    worked = min(queue.capacity_hours, queue.total_hours)
    assert queue.handled_hours + queue.started_hours == pytest.approx(worked, abs=0.02)


def test_outcomes_are_counted_at_their_reports_current_level(demo_store: Store) -> None:
    """After a policy change re-levels a report, its outcome counts with its reports' new
    level, so that a level's outcomes stay among its reports."""

    def by_level(found: TriageAggregates | None) -> dict[str, int | None]:
        assert found is not None and found.outcomes is not None
        table = found.outcomes.table
        return dict(zip(table.row_labels, table.row_totals, strict=True))

    before = by_level(triage_aggregates(demo_store, 1))
    with demo_store.session() as db:
        (report,) = db.scalars(
            select(TriageOutcome.report_id).where(TriageOutcome.level == "P2").limit(1)
        ).all()
        db.execute(
            update(PriorityDecision).where(PriorityDecision.report_id == report).values(level="P3")
        )
    after = by_level(triage_aggregates(demo_store, 1))
    assert after["P2"] == (before["P2"] or 0) - 1 and after["P3"] == (before["P3"] or 0) + 1
