"""``safeguarding triage run|stats``, ``safeguarding queue`` and ``safeguarding outcome``."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import typer

from safeguarding.access import audit
from safeguarding.cli.common import console, given_text, print_json, print_table, shown, store
from safeguarding.errors import ValidationError
from safeguarding.store.base import ROW_ID_MAX
from safeguarding.triage import operations
from safeguarding.triage.outcomes import NOT_CRIMINAL_REASONS, RESULTS
from safeguarding.triage.policy import LEVELS, load_policy
from safeguarding.triage.queue import PERIOD_DAYS

app = typer.Typer(
    help="Cluster and prioritise stored reports; outcome statistics.", no_args_is_help=True
)


# Past the database's 64-bit integers a limit fails in the driver (OverflowError); no queue is
# read in more than this many items at once.
MAX_LISTED = 1_000_000


@app.command("run")
def run_command(
    policy: Path | None = typer.Option(
        None, "--policy", help="Priority policy TOML (default: the shipped policy)."
    ),
    full: bool = typer.Option(
        False, "--full", help="Read the whole store and cluster afresh (ignore the input cache)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cluster content and subjects, score every report, and say how many levels changed.

    New reports join existing clusters (incremental); re-running with another policy re-levels.
    The store is read in full only with --full or when the input cache the last run left
    cannot be used (the output says which).

    Example: safeguarding triage run --policy my-policy.toml
    """
    chosen = load_policy(policy)
    # Triage works on stored reports: a mistyped data directory got a new, empty store and a
    # run over no reports. Refused like the reading commands; ingest creates the store.
    with store(must_exist=True) as opened:
        summary = operations.run_triage(opened, chosen, full=full, actor=audit.cli_actor())
    if json_out:
        print_json(summary)
        return
    changes = summary["level_changes"]
    console.print(
        f"run {summary['run']} ({summary['mode']}), policy {summary['policy']}: "
        f"{summary['reports']} reports ({summary['new_reports']} new), "
        f"{summary['content_clusters']} content clusters ({summary['viral_clusters']} viral), "
        f"{summary['subjects']} subjects"
    )
    console.print(f"store read: {summary['read']}")
    print_table(
        "Levels",
        ["level", "reports"],
        [[level, count] for level, count in summary["levels"].items()],
    )
    console.print(
        f"routes: offender {summary['routes']['offender']}, "
        f"youth care {summary['routes']['youth_care']}"
    )
    console.print(
        f"level changed for {changes['changed']} of {changes['compared']} earlier scored "
        f"reports ({changes['raised']} raised, {changes['lowered']} lowered); "
        f"{summary['decisions_written']} decisions written, the others unchanged"
    )


@app.command("stats")
def stats_command(
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    export: Path | None = typer.Option(
        None, "--export", help="Write the calibration export (triage-outcome-stats@1) here."
    ),
    period_from: str | None = typer.Option(
        None, "--from", help="Only outcomes recorded on or after this day, YYYY-MM-DD."
    ),
    period_to: str | None = typer.Option(
        None, "--to", help="Only outcomes recorded on or before this day, YYYY-MM-DD."
    ),
) -> None:
    """Outcome statistics: counts, share actionable (Wilson 95% interval), hours per outcome, of
    the outcomes recorded in the period (--from, --to; every outcome by default).

    Example: safeguarding triage stats --from 2026-01-01 --to 2026-03-31
    """
    start = _date(period_from, "--from")
    end = _date(period_to, "--to")
    if start is not None and end is not None and end < start:
        raise typer.BadParameter(f"--to {end} is before --from {start}")
    with store(on_outdated="refuse", must_exist=True) as opened:
        result = operations.stats(opened, start, end)
        document = operations.export(opened, start, end) if export else None
    if export is not None and document is not None:
        try:
            export.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                f"--export {shown(export)}: cannot write ({exc.strerror})"
            ) from exc
    if json_out:
        print_json(result)
        return
    overall = result["overall"]
    share = overall["actionable_share"]
    console.print(
        f"{overall['n']} outcomes{_recorded(start, end)} "
        f"({result['synthetic_outcomes']} synthetic); actionable "
        f"{share['value']:.1%} (95% CI {share['low']:.1%}–{share['high']:.1%}); "
        f"{overall['hours']:.1f} hours"
    )
    for by in ("level", "detection", "provider", "incident_type"):
        print_table(
            f"By {by.replace('_', ' ')}",
            [by, "n", "actionable", "share", "95% CI", "hours"],
            [
                [
                    key,
                    row["n"],
                    row["counts"]["actionable"],
                    f"{row['actionable_share']['value']:.1%}",
                    f"{row['actionable_share']['low']:.1%}–{row['actionable_share']['high']:.1%}",
                    f"{row['hours']:.1f}",
                ]
                for key, row in result[by].items()
            ],
        )
    if export is not None:
        console.print(f"export written to {shown(export)}", soft_wrap=True)


def _recorded(start: date | None, end: date | None) -> str:
    """The period the statistics cover, as the summary line says it ("" for every outcome)."""
    if start and end:
        return f" recorded {start} to {end}"
    if start:
        return f" recorded from {start}"
    return f" recorded until {end}" if end else ""


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{option} {value!r}: expected YYYY-MM-DD") from exc


def queue(
    capacity_hours: float | None = typer.Option(
        None, "--capacity-hours", min=0, help="Hours of assessment in the period."
    ),
    period: str = typer.Option("week", "--period", help="week or month."),
    limit: int = typer.Option(15, "--limit", min=1, max=MAX_LISTED, help="Items to list."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The prioritised work queue against the capacity: handled this period, waiting per level.

    Example: safeguarding queue --capacity-hours 40 --period week
    """
    if period not in PERIOD_DAYS:
        raise typer.BadParameter(f"--period {period!r}: use week or month")
    if capacity_hours is not None and not math.isfinite(capacity_hours):
        # The option's range lets inf through; no plan has an endless capacity.
        raise typer.BadParameter(f"--capacity-hours {capacity_hours}: give a finite number")
    with store(on_outdated="refuse", must_exist=True) as opened:
        summary, plans = operations.queue_plans(opened, capacity_hours, period)
        rows = plans["offender"].rows(0, limit)
        # Youth-care items are listed too: a P1 routed there must not vanish from the queue.
        youth_rows = plans["youth_care"].rows(0, limit)
        # Seeing the queue's items is a read of the reports they list, audited as on the web.
        capacity = f"{summary['capacity_hours']:g}"
        with opened.session() as session:
            for route in ("offender", "youth_care") if youth_rows else ("offender",):
                asked = {"route": route, "period": period, "capacity_hours": capacity}
                asked["limit"] = str(limit)
                audit.record(session, audit.cli_actor(), "queue.list", "queue", "", asked)
    if json_out:
        print_json({**summary, "offender_items": rows, "youth_care_items": youth_rows})
        return
    if summary["reports_not_in_queue"]:
        console.print(
            f"{summary['reports_not_in_queue']} reports stored since the last triage run are not "
            "in this queue; run `safeguarding triage run`"
        )
    offender = summary["offender_queue"]
    started = (
        f", 1 item started ({offender['started_hours']} h this {period}, finished later)"
        if offender["started_items"]
        else ""
    )
    console.print(
        f"offender queue: {offender['items']} items, {offender['total_hours']} h estimated; "
        f"capacity {summary['capacity_hours']:g} h per {period}: {offender['handled_items']} "
        f"items ({offender['handled_hours']} h) handled this {period}{started}"
    )
    print_table(
        "Queue (first items)",
        ["#", "item", "reports", "level", "score", "min", "this period", "wait (days)"],
        [
            [
                r["position"],
                r["item"],
                len(r["reports"]),
                r["level"],
                f"{r['score']:g}",
                r["minutes"],
                "yes" if r["handled"] else ("started" if r["started"] else "no"),
                "–" if r["wait_days"] is None else r["wait_days"],
            ]
            for r in rows
        ],
    )
    print_table(
        "By level",
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
    estimates = summary["estimates_minutes"]
    console.print(
        "minutes per report: "
        + ", ".join(
            f"{lvl} {estimates[lvl]['minutes']} ({estimates[lvl]['basis']})" for lvl in LEVELS
        )
    )
    youth = summary["youth_care_queue"]
    levels = ", ".join(f"{level} {count}" for level, count in youth["by_level"].items())
    console.print(
        f"youth-care queue (separate route): {youth['items']} items ({levels}), "
        f"{youth['total_hours']} h"
    )
    if youth_rows:
        print_table(
            "Youth-care queue (first items)",
            ["#", "item", "reports", "level", "score", "min"],
            [
                [r["position"], r["item"], len(r["reports"]), r["level"], f"{r['score']:g}",
                 r["minutes"]]
                for r in youth_rows
            ],
        )  # fmt: skip


def outcome(
    report: int = typer.Argument(
        ..., min=1, max=ROW_ID_MAX, metavar="REPORT", help="Report id (as listed by the queue)."
    ),
    result: str = typer.Option(..., "--result", help=f"One of: {', '.join(RESULTS)}."),
    minutes: float = typer.Option(..., "--minutes", help="Minutes spent on the report."),
    reason: str | None = typer.Option(
        None, "--reason", help=f"For not_criminal: {', '.join(NOT_CRIMINAL_REASONS)}."
    ),
    note: str | None = typer.Option(
        None,
        "--note",
        help="Free text; stored sealed (encrypted), never in statistics. Recording again "
        "without --note keeps the earlier note.",
    ),
    clear_note: bool = typer.Option(
        False, "--clear-note", help="Remove the note recorded earlier."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Record what came of an assessed report and the minutes it took.

    Example: safeguarding outcome 42 --result not_criminal --reason adult --minutes 25
    """
    if note and clear_note:
        raise typer.BadParameter("give --note or --clear-note, not both")
    if note is not None:
        given_text(note, "--note")
    with store(must_exist=True) as opened:
        recorded = operations.record_outcome(
            opened, report, result, minutes, reason, note, actor=audit.cli_actor(),
            clear_note=clear_note,
        )  # fmt: skip
    if json_out:
        print_json(recorded)
        return
    verb = "replaced" if recorded["replaced"] else "recorded"
    note_said = f"; note {recorded['note']}" if recorded["note"] else ""
    console.print(f"report {report}: {result} {verb} ({minutes:g} minutes){note_said}")


def register(root: typer.Typer) -> None:
    root.command("queue")(queue)
    root.command("outcome")(outcome)
