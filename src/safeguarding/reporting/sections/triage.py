"""Triage in the monitor: levels, reasons, viral clusters, the queue against capacity and outcome
statistics with their intervals. Counts only: no report, subject or file identifiers, no media."""

from __future__ import annotations

from safeguarding.errors import ValidationError
from safeguarding.reporting.html import Section, table, text
from safeguarding.store import Store
from safeguarding.triage import operations
from safeguarding.triage.policy import LEVELS


def _pct(value: float) -> str:
    return f"{value:.1%}"


def build(store: Store) -> Section | None:
    summary = operations.overview(store)
    if summary is None:
        return None
    parts = [
        f"<p>{summary['reports']} reports scored with policy "
        f"<code>{text(summary['policy'])}</code>; "
        f"{summary['clusters']} content clusters, {summary['subjects']} subjects "
        f"({summary['subjects_with_several_reports']} with more than one report).</p>",
        "<h3>Levels</h3>",
        table(["level", "reports"], [[lvl, summary["levels"].get(lvl, 0)] for lvl in LEVELS]),
        f"<p>Routes: offender queue {summary['routes'].get('offender', 0)}, youth care "
        f"{summary['routes'].get('youth_care', 0)}.</p>",
        "<h3>Reasons (rules fired)</h3>",
        table(["rule", "reports"], summary["reasons"]),
        "<h3>Viral content</h3>",
        table(
            ["viral clusters", "by spread", "annotated", "batched", "reports in viral clusters"],
            [
                [
                    summary["viral"][k]
                    for k in ("clusters", "large", "annotated", "batched", "reports_in_viral")
                ]
            ],
        ),
    ]
    try:
        plan, _plans = operations.queue_plans(store, None, "week")
    except ValidationError:
        plan = None
    if plan is not None:
        offender = plan["offender_queue"]
        parts.append("<h3>Queue against capacity (one week)</h3>")
        parts.append(
            f"<p>Capacity {plan['capacity_hours']:g} h: {offender['handled_items']} of "
            f"{offender['items']} work items ({offender['handled_hours']} of "
            f"{offender['total_hours']} estimated hours) handled this week. Youth-care queue: "
            f"{plan['youth_care_queue']['items']} items.</p>"
        )
        parts.append(
            table(
                ["level", "items", "handled", "not handled", "hours", "mean wait (days)"],
                [
                    [
                        r["level"],
                        r["items"],
                        r["handled"],
                        r["not_handled"],
                        r["estimated_hours"],
                        r["mean_wait_days"] if r["mean_wait_days"] is not None else "–",
                    ]
                    for r in offender["by_level"]
                ],
            )
        )
    stats = operations.stats(store)
    if stats["overall"]["n"]:
        parts.append(
            f"<h3>Outcomes ({stats['overall']['n']}, of which {stats['synthetic_outcomes']} "
            "synthetic)</h3>"
        )
        parts.append(
            table(
                ["level", "n", "actionable", "share", "95% Wilson interval", "hours"],
                [
                    [
                        key,
                        row["n"],
                        row["counts"]["actionable"],
                        _pct(row["actionable_share"]["value"]),
                        f"{_pct(row['actionable_share']['low'])}–{_pct(row['actionable_share']['high'])}",
                        f"{row['hours']:.1f}",
                    ]
                    for key, row in stats["level"].items()
                ],
            )
        )
    return Section(
        anchor="triage",
        title="Triage: priorities, queue and outcomes",
        body="".join(parts),
        provenance=(
            "computed by safeguarding triage run (policy named above), the queue plan "
            "(estimates from recorded outcomes, defaults otherwise) and triage stats; "
            "outcomes marked synthetic are demo data"
        ),
    )
