"""Triage counts as they may leave the system: the monitor report's triage section and the
researchers' overview in the web app.

Every count here is about reports, the people reported, or the police work on them, so each goes
through disclosure control (``disclosure.suppression``) before anyone outside the triage team
sees it. Counts that add up to published totals are one protected table with those totals:
reports by level and route, subjects by number of reports, work items by level and whether they
fit the week, outcomes by level and result. Every total shown is read from the margins of its
table, so no number is withheld in one place and published in another.

The tables are linked: a level's work items and its outcomes are at most its reports. A large
number of outcomes shown for a level whose reports are withheld would tell that those reports are
many, and so (through the published totals) that the level withheld beside it is small. So the
work items and outcomes of the levels whose reports are withheld are shown as one group
(``P3 + informational``, say), whose reports follow from the published numbers anyway. Hours and
waits are shown only when every level stands alone and no count of open reports by their work
item's level and their own is small: hours are reports times the minutes of their level, and a
level's waits add up the hours of the levels before it.

Rule frequencies are not a partition (a report fires several rules) and have no total. Each has
the minimum cell, and one more test: a rule that fired only in some cells of the reports table
tells that those cells hold at least its count. Where that is more than their withheld cells are
known to hold anyway (at least 1 each, or their sum where they are every withheld cell of a
route or level whose total is published), the rule's count is withheld. Reports in viral clusters
are tested the same way. Whether outcomes include synthetic demo data is said, not how many:
their number would give the number of real ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from safeguarding.disclosure.suppression import DEFAULT_MIN_CELL, ProtectedTable, protect_table
from safeguarding.errors import ConfigError, ValidationError
from safeguarding.statistics import wilson
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
from safeguarding.triage.outcomes import RESULTS
from safeguarding.triage.policy import LEVELS, ROUTES
from safeguarding.triage.queue import QueuePlan

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
    """The offender queue planned against one week's capacity, in work items by level (levels
    whose reports are withheld as one group); hours and waits only where every level stands
    alone, else ``None``."""

    capacity_hours: float
    items: ProtectedTable
    hours: tuple[float | None, ...]
    mean_wait_days: tuple[float | None, ...]
    total_hours: float | None
    handled_hours: float | None
    started_hours: float | None
    youth_care_items: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity_hours": self.capacity_hours,
            "items": self.items.as_dict(),
            "estimated_hours": list(self.hours),
            "mean_wait_days": list(self.mean_wait_days),
            "total_hours": self.total_hours,
            "handled_hours": self.handled_hours,
            "started_hours": self.started_hours,
            "youth_care_items": self.youth_care_items,
        }


@dataclass(frozen=True)
class GroupOutcome:
    """One row's share actionable with its Wilson interval, and the hours its outcomes took;
    ``None`` where the counts they come from are withheld."""

    group: str
    share: float | None
    low: float | None
    high: float | None
    hours: float | None


@dataclass(frozen=True)
class OutcomeAggregates:
    table: ProtectedTable
    includes_synthetic: bool
    groups: tuple[GroupOutcome, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": self.table.as_dict(),
            "includes_synthetic": self.includes_synthetic,
            "actionable_share": [
                {"group": r.group, "value": r.share, "low": r.low, "high": r.high}
                for r in self.groups
            ],
            "hours": {r.group: r.hours for r in self.groups},
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
    withheld_parts: tuple[str, ...] = ()

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
            "withheld_parts": list(self.withheld_parts),
        }


Decision = tuple[str, str, list[dict[str, Any]]]  # level, route, reasons


class ReportsTable:
    """Reports by level and route, protected, with what the linked figures need to know: which
    counts are withheld and what they are."""

    def __init__(self, decisions: list[Decision], min_cell: int) -> None:
        counts = Counter((level, route) for level, route, _ in decisions)
        self.rows = [[counts[(level, route)] for route in ROUTES] for level in LEVELS]
        self.table = protect_table(
            self.rows, LEVELS, ROUTES, title="reports by level and route", unit="reports",
            min_cell=min_cell,
        )  # fmt: skip
        self.min_cell = min_cell

    def shown(self, level: str, route: str | None = None) -> bool:
        """Whether the count of ``level`` (in ``route``, or all routes) is published."""
        i = LEVELS.index(level)
        if route is None:
            return self.table.row_totals[i] is not None
        return self.table.cells[i][ROUTES.index(route)] is not None

    def groups(self, route: str | None = None) -> list[tuple[str, tuple[str, ...]]]:
        """Rows for a linked table: each level whose count is shown alone, the others as one."""
        alone = [(level, (level,)) for level in LEVELS if self.shown(level, route)]
        hidden = tuple(level for level in LEVELS if not self.shown(level, route))
        return alone + ([(" + ".join(hidden), hidden)] if hidden else [])

    def tells_more(self, cells: Counter[tuple[str, str]]) -> bool:
        """Whether a count of ``sum(cells.values())`` reports, all in the given cells, bounds
        the withheld cells among them beyond what the published numbers already tell.

        It says that those withheld cells hold at least the count minus the published cells.
        That is nothing new where they are all the withheld cells of some routes (or levels)
        whose totals are published: their sum follows from the totals. Otherwise all that is
        known is that each holds at least 1.
        """
        withheld: set[tuple[int, int]] = set()
        published = 0
        for level, route in cells:
            i, j = LEVELS.index(level), ROUTES.index(route)
            if self.table.cells[i][j] is None:
                withheld.add((i, j))
            else:
                published += self.rows[i][j]
        if not withheld or self._sum_is_known(withheld):
            return False
        return sum(cells.values()) - published > len(withheld)

    def _sum_is_known(self, cells: set[tuple[int, int]]) -> bool:
        """Whether ``cells`` are exactly the withheld cells of some columns with published
        totals, or of some rows with published totals, or of the whole table with its total
        published (then their sum follows from published numbers)."""
        hidden = {
            (i, j)
            for i, row in enumerate(self.table.cells)
            for j, value in enumerate(row)
            if value is None
        }
        columns = {j for _i, j in cells}
        rows = {i for i, _j in cells}
        by_column = {c for c in hidden if c[1] in columns} == cells and all(
            self.table.col_totals[j] is not None for j in columns
        )
        by_row = {c for c in hidden if c[0] in rows} == cells and all(
            self.table.row_totals[i] is not None for i in rows
        )
        everything = hidden == cells and self.table.total is not None
        return by_column or by_row or everything

    def guarded(self, count: int, cells: Counter[tuple[str, str]]) -> int | None:
        """A count that has no total around it: the minimum cell, then ``tells_more``."""
        if small_withheld(count, self.min_cell) is None or self.tells_more(cells):
            return None
        return count


def _reasons(
    decisions: list[Decision], reports: ReportsTable
) -> tuple[tuple[str, int | None], ...]:
    """Rule frequencies. A rule that sets the route also bounds the routes from above: a report
    goes to youth care only when such a rule fired, so their counts add up to at least the
    youth-care column. Where a route's total is withheld, they are all withheld."""
    cells: dict[str, Counter[tuple[str, str]]] = {}
    routing: set[str] = set()
    for level, route, reasons in decisions:
        for item in reasons:
            if "route " in str(item.get("effect", "")):
                routing.add(item["rule"])
        for rule in {item["rule"] for item in reasons}:
            cells.setdefault(rule, Counter())[(level, route)] += 1
    routes_withheld = None in reports.table.col_totals
    fired = sorted(cells.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return tuple(
        (rule, None if routes_withheld and rule in routing else reports.guarded(sum(c.values()), c))
        for rule, c in fired
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


def _has_small_composition(plan: QueuePlan, level_of: dict[int, str], min_cell: int) -> bool:
    """Whether the open offender reports, counted by their work item's level and their own,
    hold a count from 1 to ``min_cell - 1``. Hours are reports times their level's minutes
    (public defaults, or means that the published outcomes give), so a level's hours, and the
    waits of the levels after it, would give such counts back."""
    counts: Counter[tuple[int, str | None]] = Counter()
    for row in plan.items.iter_rows(named=True):
        for report in plan.reports_of(row):
            counts[(int(row["level"]), level_of.get(report))] += 1
    return any(0 < n < min_cell for n in counts.values())


def _queue(store: Store, reports: ReportsTable, level_of: dict[int, str]) -> QueueAggregates | None:
    try:
        plan, plans = operations.queue_plans(store, None, "week")
    except ValidationError:  # no triage run with a queue yet
        return None
    by_level = {row["level"]: row for row in plan["offender_queue"]["by_level"]}
    groups = reports.groups("offender")
    rows = [
        [sum(int(by_level[lv]["handled"]) for lv in levels),
         sum(int(by_level[lv]["not_handled"]) for lv in levels)]
        for _label, levels in groups
    ]  # fmt: skip
    items = protect_table(
        rows, [label for label, _ in groups], QUEUE_COLUMNS,
        title="offender-queue work items by level, one week", unit="work items",
        min_cell=reports.min_cell,
    )  # fmt: skip
    every_level_shown = (
        len(groups) == len(LEVELS)
        and all(total is not None for total in items.row_totals)
        and not _has_small_composition(plans["offender"], level_of, reports.min_cell)
    )
    offender = plan["offender_queue"]
    youth_shown = reports.table.col_totals[ROUTES.index("youth_care")] is not None
    youth = int(plan["youth_care_queue"]["items"])
    return QueueAggregates(
        capacity_hours=float(plan["capacity_hours"]),
        items=items,
        hours=tuple(
            float(by_level[levels[0]]["estimated_hours"]) if every_level_shown else None
            for _label, levels in groups
        ),
        mean_wait_days=tuple(
            by_level[levels[0]]["mean_wait_days"] if every_level_shown else None
            for _label, levels in groups
        ),
        total_hours=float(offender["total_hours"]) if every_level_shown else None,
        handled_hours=float(offender["handled_hours"]) if every_level_shown else None,
        started_hours=float(offender["started_hours"]) if every_level_shown else None,
        youth_care_items=small_withheld(youth, reports.min_cell) if youth_shown else None,
    )


NOT_SCORED = "(not scored)"


def _outcomes(store: Store, reports: ReportsTable) -> OutcomeAggregates | None:
    """Outcomes by the current level of their report, so that a level's outcomes are among its
    reports (the level recorded with an outcome is that of the policy of its day)."""
    with store.session() as session:
        recorded = session.execute(
            select(PriorityDecision.level, TriageOutcome.result, TriageOutcome.minutes,
                   TriageOutcome.synthetic)
            .select_from(TriageOutcome)
            .outerjoin(PriorityDecision, PriorityDecision.report_id == TriageOutcome.report_id)
        ).all()  # fmt: skip
    if not recorded:
        return None
    counts: Counter[tuple[str, str]] = Counter()
    minutes: defaultdict[str, float] = defaultdict(float)
    for level, result, spent, _synthetic in recorded:
        counts[(level or NOT_SCORED, result)] += 1
        minutes[level or NOT_SCORED] += float(spent)
    others = [(NOT_SCORED, (NOT_SCORED,))] if any(k[0] == NOT_SCORED for k in counts) else []
    groups = reports.groups() + others
    table = protect_table(
        [[sum(counts[(lv, result)] for lv in levels) for result in RESULTS]
         for _label, levels in groups],
        [label for label, _ in groups], RESULTS, title="outcomes by level and result",
        unit="reports", min_cell=reports.min_cell,
    )  # fmt: skip
    actionable = RESULTS.index("actionable")
    rows = []
    for (label, levels), cells, n in zip(groups, table.cells, table.row_totals, strict=True):
        hours = None if n is None else round(sum(minutes[lv] for lv in levels) / 60, 4)
        successes = cells[actionable]
        if n is None or successes is None or n == 0:
            rows.append(GroupOutcome(label, None, None, None, hours))
            continue
        share = wilson(successes, n)
        rows.append(GroupOutcome(label, share.value, share.low, share.high, hours))
    synthetic = any(row[3] for row in recorded)
    return OutcomeAggregates(table=table, includes_synthetic=synthetic, groups=tuple(rows))


def triage_aggregates(store: Store, min_cell: int | None = None) -> TriageAggregates | None:
    """The triage figures for the monitor and for researchers; ``None`` before any triage run."""
    cell = min_cell_setting(store) if min_cell is None else min_cell
    with store.session() as session:
        rows = session.execute(
            select(
                PriorityDecision.report_id, PriorityDecision.level, PriorityDecision.route,
                PriorityDecision.reasons,
            )
        ).all()  # fmt: skip
        if not rows:
            return None
        decisions: list[Decision] = [(level, route, reasons) for _id, level, route, reasons in rows]
        cell_of = {report: (level, route) for report, level, route, _reasons in rows}
        policy = session.scalar(select(PriorityDecision.policy).limit(1)) or ""
        clusters = session.execute(
            select(
                func.count(), func.count().filter(ContentCluster.viral),
                func.count().filter(ContentCluster.large),
                func.count().filter(ContentCluster.annotated),
                func.count().filter(ContentCluster.batched),
            )
        ).one()  # fmt: skip
        viral_reports = session.scalars(
            select(ReportedFile.report_id)
            .distinct()
            .join(FileCluster, FileCluster.file_id == ReportedFile.id)
            .join(ContentCluster, ContentCluster.id == FileCluster.cluster_id)
            .where(ContentCluster.viral)
        ).all()
        subjects = list(session.scalars(select(Subject.reports)))
    reports = ReportsTable(decisions, cell)
    level_of = {report: level for report, (level, _route) in cell_of.items()}
    in_viral = Counter(cell_of[report] for report in viral_reports if report in cell_of)
    # A linked table's total is at most the reports it comes from: shown, it would put a floor
    # under that sum where the reports table withholds it.
    withheld: list[str] = []
    queue = None
    if reports.table.col_totals[ROUTES.index("offender")] is None:
        withheld.append("queue: the number of reports in the offender queue is withheld")
    else:
        queue = _queue(store, reports, level_of)
    outcomes = None
    if reports.table.total is None:
        withheld.append("outcomes: the number of reports scored is withheld")
    else:
        outcomes = _outcomes(store, reports)
    return TriageAggregates(
        policy=policy,
        min_cell=cell,
        reports=reports.table,
        subjects=_subjects(subjects, cell),
        reasons=_reasons(decisions, reports),
        content={
            name: small_withheld(int(n), cell)
            for name, n in zip(CONTENT_COUNTS, clusters, strict=True)
        },
        reports_in_viral_clusters=reports.guarded(sum(in_viral.values()), in_viral),
        queue=queue,
        outcomes=outcomes,
        withheld_parts=tuple(withheld),
    )


def scored_reports_withheld(store: Store, min_cell: int) -> bool:
    """Whether the triage section withholds the number of reports scored: then no other part
    of the monitor may show the number of reports taken in, which is the same number once every
    report is scored (and an upper bound on it before)."""
    with store.session() as session:
        decisions: list[Decision] = [
            (level, route, [])
            for level, route in session.execute(
                select(PriorityDecision.level, PriorityDecision.route)
            )
        ]
    return bool(decisions) and ReportsTable(decisions, min_cell).table.total is None
