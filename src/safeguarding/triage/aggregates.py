"""Triage counts as they may leave the system: the monitor report's triage section and the
researchers' overview in the web app.

Every count here is about reports, the people reported, or the police work on them, so each goes
through disclosure control (``disclosure.suppression``) before anyone outside the triage team
sees it. Counts that add up to published totals are published as one protected table with those
totals: reports by level and route, subjects by number of reports, work items by level and
whether they fit the week, outcomes by level and result. Every total shown (reports scored,
routes, outcomes) is read from the margins of its table, so no number is withheld in one place and
published in another.

Rule frequencies are not a partition (a report fires several rules), so they have no total and get
the minimum cell size alone, with one more guard: a rule can decide a level or route by itself
(``route = "youth_care"``), and its count then equals a margin of the reports table. A rule count
equal to any count withheld from that table is therefore withheld as well. Figures derived from a
withheld count (hours, waits, shares and their intervals) are withheld with it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from safeguarding.disclosure.suppression import (
    DEFAULT_MIN_CELL,
    ProtectedTable,
    extend,
    protect_table,
)
from safeguarding.errors import ConfigError, ValidationError
from safeguarding.statistics import wilson
from safeguarding.store import Store
from safeguarding.store.models import (
    ContentCluster,
    FileCluster,
    PriorityDecision,
    ReportedFile,
    Subject,
)
from safeguarding.triage import operations
from safeguarding.triage.outcomes import RESULTS
from safeguarding.triage.policy import LEVELS, ROUTES

SUBJECT_GROUPS = ("one report", "more than one report")
QUEUE_COLUMNS = ("handled", "not handled")
CONTENT_COUNTS = ("clusters", "viral", "large", "annotated", "batched")


def min_cell_setting(store: Store) -> int:
    """``[triage] min_cell`` from the settings file (default 10), checked."""
    value = store.settings.section("triage").get("min_cell", DEFAULT_MIN_CELL)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1_000:
        raise ConfigError(f"[triage] min_cell = {value!r}: a whole number 1…1000")
    return value


def small_withheld(count: int, min_cell: int) -> int | None:
    """A count with no published total around it: withheld when it counts 1 to min_cell - 1."""
    return None if 0 < count < min_cell else count


@dataclass(frozen=True)
class QueueAggregates:
    """The offender queue planned against one week's capacity, in work items by level."""

    capacity_hours: float
    items: ProtectedTable
    hours: tuple[float | None, ...]
    mean_wait_days: tuple[float | None, ...]
    total_hours: float | None
    handled_hours: float | None
    youth_care_items: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity_hours": self.capacity_hours,
            "items": self.items.as_dict(),
            "estimated_hours": list(self.hours),
            "mean_wait_days": list(self.mean_wait_days),
            "total_hours": self.total_hours,
            "handled_hours": self.handled_hours,
            "youth_care_items": self.youth_care_items,
        }


@dataclass(frozen=True)
class LevelOutcome:
    """One level's share actionable with its Wilson interval, and the hours its outcomes took;
    ``None`` where the counts they come from are withheld."""

    level: str
    share: float | None
    low: float | None
    high: float | None
    hours: float | None


@dataclass(frozen=True)
class OutcomeAggregates:
    table: ProtectedTable
    synthetic: int | None
    levels: tuple[LevelOutcome, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": self.table.as_dict(),
            "synthetic": self.synthetic,
            "actionable_share": [
                {"level": r.level, "value": r.share, "low": r.low, "high": r.high}
                for r in self.levels
            ],
            "hours": {r.level: r.hours for r in self.levels},
        }


@dataclass(frozen=True)
class TriageAggregates:
    policy: str
    min_cell: int
    reports: ProtectedTable
    subjects: ProtectedTable
    reasons: tuple[tuple[str, int | None], ...]
    content: dict[str, int | None]
    reports_in_viral_clusters: int | None
    queue: QueueAggregates | None
    outcomes: OutcomeAggregates | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "min_cell": self.min_cell,
            "reports": self.reports.as_dict(),
            "subjects": self.subjects.as_dict(),
            "reasons": [{"rule": rule, "reports": n} for rule, n in self.reasons],
            "content_clusters": self.content,
            "reports_in_viral_clusters": self.reports_in_viral_clusters,
            "queue": self.queue.as_dict() if self.queue else None,
            "outcomes": self.outcomes.as_dict() if self.outcomes else None,
        }


def _reports_table(
    decisions: list[tuple[str, str]], min_cell: int
) -> tuple[ProtectedTable, set[int]]:
    """Reports by level and route, and the true values of its withheld counts (margins too)."""
    counts = Counter(decisions)
    rows = [[counts[(level, route)] for route in ROUTES] for level in LEVELS]
    protected = protect_table(
        rows, LEVELS, ROUTES, title="reports by level and route", unit="reports", min_cell=min_cell
    )
    extended = extend(rows)
    withheld = {
        int(extended[i, j])
        for i, statuses in enumerate(protected.status)
        for j, status in enumerate(statuses)
        if status != "published"
    }
    return protected, withheld


def _reasons(
    decisions: list[list[dict[str, Any]]], withheld: set[int], min_cell: int
) -> tuple[tuple[str, int | None], ...]:
    fired: Counter[str] = Counter()
    for reasons in decisions:
        fired.update({item["rule"] for item in reasons})
    return tuple(
        (rule, None if n in withheld else small_withheld(n, min_cell))
        for rule, n in sorted(fired.items(), key=lambda item: (-item[1], item[0]))
    )


def _subjects(reports_per_subject: list[int], min_cell: int) -> ProtectedTable:
    several = sum(1 for n in reports_per_subject if n > 1)
    return protect_table(
        [[len(reports_per_subject) - several, several]],
        ["subjects"],
        SUBJECT_GROUPS,
        title="subjects by number of reports",
        unit="subjects",
        min_cell=min_cell,
    )


def _queue(store: Store, min_cell: int) -> QueueAggregates | None:
    try:
        plan, _plans = operations.queue_plans(store, None, "week")
    except ValidationError:  # no triage run with a queue yet
        return None
    by_level = {row["level"]: row for row in plan["offender_queue"]["by_level"]}
    rows = [[int(by_level[lv]["handled"]), int(by_level[lv]["not_handled"])] for lv in LEVELS]
    items = protect_table(
        rows, LEVELS, QUEUE_COLUMNS, title="offender-queue work items by level, one week",
        unit="work items", min_cell=min_cell,
    )  # fmt: skip
    shown = [total is not None for total in items.row_totals]
    hours = tuple(
        float(by_level[lv]["estimated_hours"]) if ok else None
        for lv, ok in zip(LEVELS, shown, strict=True)
    )
    waits = tuple(
        by_level[lv]["mean_wait_days"] if ok else None for lv, ok in zip(LEVELS, shown, strict=True)
    )
    # Hours per item follow from recorded minutes per level, so a total of hours over a level
    # whose items are withheld would give that level's work back: totals only when all are shown.
    offender = plan["offender_queue"]
    return QueueAggregates(
        capacity_hours=float(plan["capacity_hours"]),
        items=items,
        hours=hours,
        mean_wait_days=waits,
        total_hours=float(offender["total_hours"]) if all(shown) else None,
        handled_hours=float(offender["handled_hours"]) if all(shown) else None,
        youth_care_items=small_withheld(int(plan["youth_care_queue"]["items"]), min_cell),
    )


def _outcomes(store: Store, min_cell: int) -> OutcomeAggregates | None:
    stats = operations.stats(store)
    if not stats["overall"]["n"]:
        return None
    groups = stats["level"]
    labels = [lv for lv in LEVELS if lv in groups] + sorted(set(groups) - set(LEVELS))
    table = protect_table(
        [[int(groups[lv]["counts"][result]) for result in RESULTS] for lv in labels],
        labels, RESULTS, title="outcomes by level and result", unit="reports", min_cell=min_cell,
    )  # fmt: skip
    actionable = RESULTS.index("actionable")
    levels = []
    for lv, cells, n in zip(labels, table.cells, table.row_totals, strict=True):
        successes = cells[actionable]
        if n is None or successes is None:
            hours = None if n is None else groups[lv]["hours"]
            levels.append(LevelOutcome(lv, None, None, None, hours))
            continue
        share = wilson(successes, n)
        levels.append(LevelOutcome(lv, share.value, share.low, share.high, groups[lv]["hours"]))
    return OutcomeAggregates(
        table=table,
        synthetic=small_withheld(int(stats["synthetic_outcomes"]), min_cell),
        levels=tuple(levels),
    )


def triage_aggregates(store: Store, min_cell: int | None = None) -> TriageAggregates | None:
    """The triage figures for the monitor and for researchers; ``None`` before any triage run."""
    cell = min_cell_setting(store) if min_cell is None else min_cell
    with store.session() as session:
        decisions = session.execute(
            select(PriorityDecision.level, PriorityDecision.route, PriorityDecision.reasons)
        ).all()
        if not decisions:
            return None
        policy = session.scalar(select(PriorityDecision.policy).limit(1)) or ""
        clusters = session.execute(
            select(
                func.count(), func.count().filter(ContentCluster.viral),
                func.count().filter(ContentCluster.large),
                func.count().filter(ContentCluster.annotated),
                func.count().filter(ContentCluster.batched),
            )
        ).one()  # fmt: skip
        in_viral = session.scalar(
            select(func.count(ReportedFile.report_id.distinct()))
            .join(FileCluster, FileCluster.file_id == ReportedFile.id)
            .join(ContentCluster, ContentCluster.id == FileCluster.cluster_id)
            .where(ContentCluster.viral)
        )
        subjects = list(session.scalars(select(Subject.reports)))
    reports, withheld = _reports_table([(d[0], d[1]) for d in decisions], cell)
    viral_reports = int(in_viral or 0)
    return TriageAggregates(
        policy=policy,
        min_cell=cell,
        reports=reports,
        subjects=_subjects(subjects, cell),
        reasons=_reasons([d[2] for d in decisions], withheld, cell),
        content={
            name: small_withheld(int(n), cell)
            for name, n in zip(CONTENT_COUNTS, clusters, strict=True)
        },
        reports_in_viral_clusters=(
            None if viral_reports in withheld else small_withheld(viral_reports, cell)
        ),
        queue=_queue(store, cell),
        outcomes=_outcomes(store, cell),
    )
