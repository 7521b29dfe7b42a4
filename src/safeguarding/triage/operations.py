"""Triage operations over the store, as the command line and the demo use them.

Each function opens its own transactions, calls the pure core and returns plain dictionaries that
the CLI prints as tables or JSON; none of them prints.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select

from safeguarding.access import audit
from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.store import Store
from safeguarding.store.models import (
    PriorityDecision,
    ProviderReport,
    TriageOutcome,
    TriageRun,
)
from safeguarding.triage import engine, store_io
from safeguarding.triage.demo_outcomes import synthetic_outcomes
from safeguarding.triage.outcomes import (
    OutcomeRecord,
    check_outcome,
    check_period,
    export_document,
    level_mix,
    recorded_within,
)
from safeguarding.triage.outcomes import outcome_stats as compute_stats
from safeguarding.triage.policy import LEVELS, ROUTES, Policy, load_policy
from safeguarding.triage.queue import (
    PERIOD_DAYS,
    HandlingEstimate,
    QueueColumns,
    QueuePlan,
    WorkItems,
    handling_estimates,
    plan_queue,
    work_items,
)
from safeguarding.triage.run_options import run_options
from safeguarding.triage.sealing import Sealer

NOTE_PURPOSE = "triage-outcome-note"


def run_triage(
    store: Store, policy: Policy, *, full: bool = False, actor: audit.Actor | None = None
) -> dict[str, Any]:
    """Cluster and score every stored report; returns what the pass did. ``full``: read the
    whole store and cluster afresh instead of starting from the input cache. With ``actor`` the
    run is written to the audit log in the transaction that stores it: a run is never stored
    without its event, nor an event without its run."""
    options = run_options(store.settings)
    started = datetime.now(UTC)
    with store.session() as session:
        loaded = store_io.load(session, options, use_cache=not full)
    if len(loaded.reports) == 0:
        raise ValidationError("no reports in the store; run: safeguarding ingest PATH")
    result = engine.run(
        loaded.reports, loaded.files, loaded.identifiers, loaded.previous, policy,
        options.content, options.subjects, loaded.content_index, loaded.subject_index,
        loaded.summaries, recluster=loaded.read == "full", changed_files=loaded.changed_files,
    )  # fmt: skip
    with store.session() as session:
        run, written, _cache = store_io.save(session, loaded, result, policy, started)
        run_id = run.id
        if actor is not None:
            detail = {"policy": policy.label, "reports": str(len(loaded.reports)),
                      "changed": str(result.changes["changed"])}  # fmt: skip
            audit.record(session, actor, "triage.run", "triage_run", str(run_id), detail)
    levels = np.bincount(result.priorities.level, minlength=len(LEVELS) + 1)
    routes = np.bincount(result.priorities.route, minlength=len(ROUTES))
    return {
        "run": run_id,
        "mode": result.mode,
        "read": loaded.read if not loaded.reason else f"{loaded.read} ({loaded.reason})",
        "policy": policy.label,
        "reports": len(loaded.reports),
        "new_reports": result.new_reports,
        "new_files": result.new_files,
        "content_clusters": result.content_summary.height,
        "viral_clusters": int(result.content_summary["viral"].sum()),
        "subjects": result.subject_summary.height,
        "merged_clusters": len(result.merged_clusters),
        "merged_subjects": len(result.merged_subjects),
        "levels": {level: int(levels[code]) for code, level in enumerate(LEVELS, start=1)},
        "routes": {route: int(routes[code]) for code, route in enumerate(ROUTES)},
        "level_changes": result.changes,
        "decisions_written": written,
    }


def _minutes_by_level(store: Store) -> dict[str, list[float]]:
    with store.session() as session:
        rows = session.execute(select(TriageOutcome.level, TriageOutcome.minutes)).all()
    grouped: dict[str, list[float]] = defaultdict(list)
    for level, minutes in rows:
        if level:
            grouped[level].append(float(minutes))
    return grouped


def open_work_items(
    store: Store, columns: QueueColumns
) -> tuple[dict[str, WorkItems], dict[str, HandlingEstimate]]:
    """Work items of each route from a run's queue input minus the reports with an outcome,
    estimated with the minutes outcomes recorded (the queue command's and the web page's)."""
    with store.session() as session:
        done = np.asarray(session.scalars(select(TriageOutcome.report_id)).all(), dtype=np.int64)
    estimates = handling_estimates(_minutes_by_level(store))
    open_columns = columns.without(done)
    items = {
        route: work_items(open_columns.select(open_columns.route == code), estimates)
        for code, route in enumerate(ROUTES)
    }
    return items, estimates


def queue_plans(
    store: Store, capacity_hours: float | None, period: str
) -> tuple[dict[str, Any], dict[str, QueuePlan]]:
    """The offender queue planned against the capacity; the youth-care queue listed apart."""
    if period not in PERIOD_DAYS:
        raise ValidationError(f"--period: use one of {', '.join(PERIOD_DAYS)}")
    options = run_options(store.settings)
    if capacity_hours is None:
        capacity_hours = options.capacity_hours_per_week * PERIOD_DAYS[period] / 7
    with store.session() as session:
        _run, columns = store_io.queue_columns(session)
        not_in_queue = store_io.reports_since_run(session)
    items, estimates = open_work_items(store, columns)
    plans = {
        route: plan_queue(items[route], capacity_hours if route == "offender" else 0.0, period)
        for route in ROUTES
    }
    offender = plans["offender"]
    youth = plans["youth_care"]
    summary = {
        "period": period,
        "period_days": PERIOD_DAYS[period],
        "capacity_hours": capacity_hours,
        "estimates_minutes": {
            level: {"minutes": e.minutes, "basis": e.basis} for level, e in estimates.items()
        },
        "offender_queue": offender.totals(),
        # Youth-care items are not planned against the capacity, but a P1 among them must not
        # go unseen: their levels are counted.
        "youth_care_queue": {
            "items": youth.items.height,
            "total_hours": round(float(youth.items["minutes"].sum()) / 60, 2),
            "by_level": {row["level"]: row["items"] for row in youth.by_level()},
        },
        # Reports stored after the run whose columns the queue is built from: not in it yet.
        "reports_not_in_queue": not_in_queue,
    }
    return summary, plans


def record_outcome(
    store: Store,
    report_id: int,
    result: str,
    minutes: float,
    reason: str | None = None,
    note: str | None = None,
    *,
    synthetic: bool = False,
    recorded_at: datetime | None = None,
    actor: audit.Actor | None = None,
    clear_note: bool = False,
) -> dict[str, Any]:
    """Record (or replace) the outcome of a report; the note is sealed, never stored in clear.

    Recording again without a note keeps the earlier note: it cannot be read back to be given
    again (sealed, never shown), so dropping it on a corrected result or minutes would lose it for
    good. ``clear_note`` removes it; a new ``note`` replaces it. With ``actor`` the change is
    written to the audit log in the same transaction.
    """
    check_outcome(result, reason, minutes)
    if note and clear_note:
        raise ValidationError(
            "note: give a new note or clear the note, not both",
            location="note",
            rule="note or clear note",
        )
    sealed = None
    if note:
        sealed = Sealer(store.secret("notes")).seal(note.encode(), f"{NOTE_PURPOSE}:{report_id}")
    with store.session() as session:
        if session.get(ProviderReport, report_id) is None:
            raise NotFoundError(f"no report with id {report_id} in the store")
        decision = session.get(PriorityDecision, report_id)
        existing = session.get(TriageOutcome, report_id)
        values: dict[str, Any] = {
            "result": result, "reason": reason, "minutes": float(minutes),
            "level": decision.level if decision else None,
            "synthetic": synthetic, "recorded_at": recorded_at or datetime.now(UTC),
        }  # fmt: skip
        had_note = existing is not None and existing.note_sealed is not None
        if sealed is not None or clear_note:
            values["note_sealed"] = sealed
        note_state = _note_state(sealed, had_note, clear_note)
        if existing is None:
            session.add(TriageOutcome(report_id=report_id, **values))
        else:
            for key, value in values.items():
                setattr(existing, key, value)
        if actor is not None:
            detail = {
                "result": result,
                "minutes": f"{minutes:g}",
                "reason": reason or "",
                "replaced": str(existing is not None).lower(),
                "note": note_state or "",
            }
            if synthetic:
                detail["synthetic"] = "yes"
            audit.record(session, actor, "outcome.record", "report", str(report_id), detail)
    return {"report": report_id, "result": result, "reason": reason, "minutes": minutes,
            "replaced": existing is not None, "note": note_state}  # fmt: skip


def _note_state(sealed: bytes | None, had_note: bool, clear_note: bool) -> str | None:
    """What became of the note, as the answer and the audit event say it (never the note)."""
    if sealed is not None:
        return "sealed"
    if not had_note:
        return None
    return "cleared" if clear_note else "kept"


def outcome_records(store: Store) -> list[OutcomeRecord]:
    with store.session() as session:
        rows = session.execute(
            select(
                TriageOutcome.report_id, TriageOutcome.result, TriageOutcome.reason,
                TriageOutcome.minutes, TriageOutcome.recorded_at, ProviderReport.provider,
                ProviderReport.incident_type, PriorityDecision.detection, TriageOutcome.level,
            )
            .join(ProviderReport, ProviderReport.id == TriageOutcome.report_id)
            .outerjoin(PriorityDecision, PriorityDecision.report_id == TriageOutcome.report_id)
            .order_by(TriageOutcome.report_id)
        ).all()  # fmt: skip
    return [
        OutcomeRecord(
            report_id=r[0],
            result=r[1],
            reason=r[2],
            minutes=float(r[3]),
            recorded_at=r[4] if r[4].tzinfo else r[4].replace(tzinfo=UTC),
            provider=r[5] or "(unknown provider)",
            incident_type=r[6] or "(none)",
            detection=r[7] or "(not scored)",
            level=r[8] or "(not scored)",
        )
        for r in rows
    ]


def stats(
    store: Store, period_from: date | None = None, period_to: date | None = None
) -> dict[str, Any]:
    """Outcome statistics of the outcomes recorded in the period (every outcome when open), with
    how many of those are synthetic demo outcomes."""
    check_period(period_from, period_to)
    records = recorded_within(outcome_records(store), period_from, period_to)
    with store.session() as session:
        synthetic = set(
            session.scalars(select(TriageOutcome.report_id).where(TriageOutcome.synthetic)).all()
        )
    result = compute_stats(records)
    result["synthetic_outcomes"] = sum(1 for r in records if r.report_id in synthetic)
    result["period"] = {
        "from": period_from.isoformat() if period_from else None,
        "to": period_to.isoformat() if period_to else None,
    }
    return result


def export(store: Store, period_from: date | None, period_to: date | None) -> dict[str, Any]:
    records = outcome_records(store)
    days = [r.recorded_at.date() for r in records]
    today = datetime.now(UTC).date()
    start = period_from or (min(days) if days else today)
    end = period_to or (max(days) if days else today)
    source = f"safeguarding triage outcomes in {store.display_url}"
    if records:
        # Among the outcomes the export counts: those recorded within its period.
        with store.session() as session:
            times = session.scalars(
                select(TriageOutcome.recorded_at).where(TriageOutcome.synthetic)
            ).all()
        synthetic = sum(1 for t in times if start <= t.date() <= end)
        if synthetic:
            source += f" ({synthetic} synthetic demo outcomes)"
    with store.session() as session:
        counts = dict(
            session.execute(
                select(PriorityDecision.level, func.count())
                .where(PriorityDecision.route == "offender")
                .group_by(PriorityDecision.level)
            ).all()
        )
        policy = session.scalar(select(TriageRun.policy).order_by(TriageRun.id.desc()).limit(1))
    return export_document(
        records,
        period_from=start,
        period_to=end,
        source=source,
        generated_at=datetime.now(UTC),
        levels=level_mix(counts, policy or "", LEVELS) if policy else None,
    )


def demo(store: Store, seed: int) -> str:
    """The demo step: a triage run over the sample, synthetic outcomes for part of it, the queue.
    The run and the outcomes are audited as the commands' are: the demo's store is a store too."""
    actor = audit.cli_actor()
    summary = run_triage(store, load_policy(), actor=actor)
    with store.session() as session:
        rows = session.execute(
            select(PriorityDecision.report_id, PriorityDecision.level).order_by(
                PriorityDecision.report_id
            )
        ).all()
    recorded = synthetic_outcomes([r[0] for r in rows], [r[1] for r in rows], seed)
    for item in recorded:
        record_outcome(
            store, item.report_id, item.result, item.minutes, item.reason,
            synthetic=True, recorded_at=item.recorded_at, actor=actor,
        )  # fmt: skip
    plan, _plans = queue_plans(store, None, "week")
    offender = plan["offender_queue"]
    return (
        f"{summary['reports']} reports in {summary['content_clusters']} content clusters "
        f"and {summary['subjects']} subjects; {len(recorded)} synthetic outcomes; "
        f"queue: {offender['items']} items, {offender['handled_items']} handled and "
        f"{offender['started_items']} started in {plan['capacity_hours']:g} h this week"
    )
