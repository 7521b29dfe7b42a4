"""Triage in the monitor: levels and routes, reasons, subjects, viral content, the queue against
capacity and outcome statistics with their intervals.

Counts only, and every count under disclosure control (``triage.aggregates``): the monitor is
read by researchers as well as by supervisors. No report, subject or file identifiers, no media.
"""

from __future__ import annotations

from safeguarding.reporting.html import Section, table, text
from safeguarding.reporting.protected import WITHHELD, cell, protected_table
from safeguarding.store import Store
from safeguarding.triage.aggregates import (
    OutcomeAggregates,
    QueueAggregates,
    TriageAggregates,
    triage_aggregates,
)


def _pct(value: float | None) -> str:
    return WITHHELD if value is None else f"{value:.1%}"


def _number(value: float | None, digits: int) -> str:
    return WITHHELD if value is None else f"{value:,.{digits}f}"


def _started(hours: float | None) -> str:
    """The hours that go to the work item started this week and finished after it."""
    if hours is None or hours == 0:
        return ""
    return f", and {_number(hours, 1)} h to a work item started this week and finished later"


def _queue(queue: QueueAggregates) -> list[str]:
    items = queue.items
    rows = [
        [label, *(cell(v) for v in cells), cell(total), _number(hours, 1),
         "–" if total == 0 else _number(wait, 1)]
        for label, cells, total, hours, wait in zip(
            items.row_labels, items.cells, items.row_totals, queue.hours, queue.mean_wait_days,
            strict=True,
        )
    ]  # fmt: skip
    rows.append(
        ["total", *(cell(v) for v in items.col_totals), cell(items.total),
         _number(queue.total_hours, 1), "–"]
    )  # fmt: skip
    return [
        "<h3>Queue against capacity (one week)</h3>",
        f"<p>Capacity {queue.capacity_hours:g} h: {_number(queue.handled_hours, 1)} of "
        f"{_number(queue.total_hours, 1)} estimated hours of the offender queue handled this "
        f"week{_started(queue.started_hours)}. Youth-care queue: "
        f"{cell(queue.youth_care_items)} work items.</p>",
        table(
            ["level", *items.col_labels, "work items", "estimated hours", "mean wait (days)"], rows
        ),
    ]


def _outcomes(outcomes: OutcomeAggregates) -> list[str]:
    synthetic = ", synthetic demo outcomes among them" if outcomes.includes_synthetic else ""
    return [
        f"<h3>Outcomes ({cell(outcomes.table.total)}{synthetic})</h3>",
        protected_table(outcomes.table),
        table(
            ["level", "share actionable", "95% Wilson interval", "hours"],
            [
                [
                    row.group,
                    _pct(row.share),
                    WITHHELD if row.low is None else f"{_pct(row.low)}–{_pct(row.high)}",
                    _number(row.hours, 1),
                ]
                for row in outcomes.groups
            ],
        ),
    ]


def _body(found: TriageAggregates) -> str:
    content = found.content
    parts = [
        f"<p>Disclosure control: counts below {found.min_cell} and the counts that would reveal "
        f"them are withheld (<b>{WITHHELD}</b>); hours, waits and shares computed from a withheld "
        "count are withheld with it. Work items and outcomes of the levels whose reports are "
        "withheld are shown together, and hours and waits only when every level is shown.</p>",
        f"<p>{cell(found.reports.total)} reports scored with policy "
        f"<code>{text(found.policy)}</code>; {cell(content['clusters'])} content clusters.</p>",
        "<h3>Reports by level and route</h3>",
        protected_table(found.reports),
        "<h3>Subjects (reported people and accounts)</h3>",
        protected_table(found.subjects),
        "<h3>Reasons (rules fired)</h3>",
        table(["rule", "reports"], [[rule, cell(n)] for rule, n in found.reasons]),
        "<h3>Viral content</h3>",
        table(
            ["viral clusters", "by spread", "annotated", "batched", "reports in viral clusters"],
            [
                [cell(content[k]) for k in ("viral", "large", "annotated", "batched")]
                + [cell(found.reports_in_viral_clusters)]
            ],
        ),
    ]
    parts += [f"<p>Withheld: {text(part)}.</p>" for part in found.withheld_parts]
    if found.queue is not None:
        parts += _queue(found.queue)
    if found.outcomes is not None:
        parts += _outcomes(found.outcomes)
    return "".join(parts)


def build(store: Store) -> Section | None:
    found = triage_aggregates(store)
    if found is None:
        return None
    return Section(
        anchor="triage",
        title="Triage: priorities, queue and outcomes",
        body=_body(found),
        provenance=(
            "computed by safeguarding triage run (policy named above), the queue plan "
            "(estimates from recorded outcomes, defaults otherwise) and triage stats, under "
            f"disclosure control (minimum cell {found.min_cell}, secondary suppression); "
            "outcomes marked synthetic are demo data"
        ),
    )
