"""Triage counts under disclosure control: what the monitor and researchers see.

A published count is 0 or at least the minimum cell; no withheld count can be solved from the
published ones; with a minimum cell of 1 nothing is withheld and every count is the store's own.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from safeguarding.config import load_settings
from safeguarding.disclosure.suppression import ProtectedTable, bridges
from safeguarding.errors import ConfigError
from safeguarding.reporting.sections import triage as triage_section
from safeguarding.store import Store
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    PriorityDecision,
    ReportedFile,
    Subject,
)
from safeguarding.triage import operations
from safeguarding.triage.aggregates import TriageAggregates, min_cell_setting, triage_aggregates
from safeguarding.triage.outcomes import RESULTS
from safeguarding.triage.policy import LEVELS, ROUTES, load_policy
from safeguarding.triage.sample import load_sample


@pytest.fixture
def demo_store(store: Store) -> Store:
    """The demo's triage: sample reports scored, synthetic outcomes for part, the week's queue."""
    load_sample(store, 20240501)
    operations.demo(store, 20240501)
    return store


def _tables(found: TriageAggregates) -> list[ProtectedTable]:
    assert found.queue is not None and found.outcomes is not None
    return [found.reports, found.subjects, found.queue.items, found.outcomes.table]


def _published_counts(found: TriageAggregates) -> list[int | None]:
    assert found.queue is not None and found.outcomes is not None
    counts: list[int | None] = []
    for protected in _tables(found):
        counts += [v for row in protected.cells for v in row]
        counts += [*protected.row_totals, *protected.col_totals, protected.total]
    counts += [n for _rule, n in found.reasons]
    counts += [*found.content.values(), found.reports_in_viral_clusters]
    counts += [found.queue.youth_care_items, found.outcomes.synthetic]
    return counts


@pytest.mark.parametrize("min_cell", [10, 30])
def test_no_small_count_is_published_and_no_withheld_count_can_be_solved(
    demo_store: Store, min_cell: int
) -> None:
    found = triage_aggregates(demo_store, min_cell)
    assert found is not None
    counts = _published_counts(found)
    assert None in counts and any(c for c in counts if c is not None)
    assert all(c is None or c == 0 or c >= min_cell for c in counts)
    for protected in _tables(found):
        withheld = np.array([[s != "published" for s in row] for row in protected.status])
        assert bridges(withheld) == [], protected.title
    # derived figures go with the counts they come from
    assert found.queue is not None and found.outcomes is not None
    for total, hours in zip(found.queue.items.row_totals, found.queue.hours, strict=True):
        assert (total is None) == (hours is None)
    actionable = RESULTS.index("actionable")
    for row, cells, n in zip(
        found.outcomes.levels, found.outcomes.table.cells, found.outcomes.table.row_totals,
        strict=True,
    ):  # fmt: skip
        assert (row.share is None) == (n is None or cells[actionable] is None)
        assert (row.hours is None) == (n is None)


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
    assert found.queue.items.row_totals == tuple(row["items"] for row in by_level)
    assert found.queue.hours == tuple(row["estimated_hours"] for row in by_level)
    assert found.queue.total_hours == plan["offender_queue"]["total_hours"]
    stats = operations.stats(demo_store)
    assert found.outcomes.table.total == stats["overall"]["n"]
    for row, label in zip(found.outcomes.levels, found.outcomes.table.row_labels, strict=True):
        share = stats["level"][label]["actionable_share"]
        assert (row.share, row.low, row.high) == (share["value"], share["low"], share["high"])


def test_a_rule_count_equal_to_a_withheld_count_is_withheld(store: Store) -> None:
    """A rule that alone sends reports to youth care counts exactly the reports of a withheld
    cell: publishing it would give that cell back, and through the totals the small one."""
    load_sample(store, 3)
    operations.run_triage(store, load_policy())
    with store.session() as db:
        p2 = db.scalars(
            select(PriorityDecision.report_id).where(PriorityDecision.level == "P2").limit(12)
        ).all()
        p3 = db.scalars(
            select(PriorityDecision.report_id).where(PriorityDecision.level == "P3").limit(3)
        ).all()
        for ids, rule in ((p2, "minor_interaction"), (p3, "self_produced")):
            db.execute(
                update(PriorityDecision)
                .where(PriorityDecision.report_id.in_(ids))
                .values(route="youth_care", reasons=[{"rule": rule, "effect": "route youth_care"}])
            )
    found = triage_aggregates(store, 10)
    assert found is not None
    youth = ROUTES.index("youth_care")
    assert found.reports.status[LEVELS.index("P2")][youth] == "secondary"
    assert found.reports.col_totals[youth] == 15
    reasons = dict(found.reasons)
    assert reasons["minor_interaction"] is None
    assert reasons["reported_material"] is not None and reasons["reported_material"] >= 10


def test_the_monitor_shows_withheld_counts_as_x(demo_store: Store) -> None:
    found = triage_aggregates(demo_store)
    section = triage_section.build(demo_store)
    assert found is not None and section is not None
    for rule, n in found.reasons:
        assert f"<td>{rule}</td><td>{'x' if n is None else f'{n:,}'}</td>" in section.body
    assert "minimum cell 10" in section.provenance


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
