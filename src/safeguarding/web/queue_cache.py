"""The triage queue for the web, kept between requests so a page over a million reports is fast.

Reading every priority decision (one row per report) is the expensive part; it is done once per
triage run and kept as columns. The work items are built from those columns minus the reports
with an outcome (one integer column read), again whenever the outcomes change: the state is the
last run plus a fingerprint of the outcomes (count, latest time, total minutes), read with three
aggregate queries on every request. While the state is unchanged, a request only plans the cached
items against its capacity and period (a cumulative sum over the items, cached too) and slices
one page. The items and the
plan are the ones ``safeguarding queue`` computes (``triage.queue``), from the same rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import func, select

from safeguarding.errors import ValidationError
from safeguarding.store import Store
from safeguarding.store.models import PriorityDecision, ProviderReport, TriageOutcome, TriageRun
from safeguarding.triage.operations import _minutes_by_level
from safeguarding.triage.policy import LEVEL_CODE, LEVELS, ROUTES
from safeguarding.triage.queue import (
    PERIOD_DAYS,
    HandlingEstimate,
    QueuePlan,
    build_items,
    handling_estimates,
    plan_queue,
)
from safeguarding.triage.run_options import run_options

StateKey = tuple[Any, ...]
_PLANS_KEPT = 16


@dataclass(frozen=True)
class QueueItems:
    """Work items of each route in queue order, and the estimates they were built with."""

    key: StateKey
    run_id: int
    items: dict[str, pl.DataFrame]
    estimates: dict[str, HandlingEstimate]


def state_key(store: Store) -> StateKey:
    """What the queue depends on: the last run and the outcomes recorded since."""
    with store.session() as db:
        run_id = db.scalar(select(func.max(TriageRun.id)))
        count, latest, minutes = db.execute(
            select(
                func.count(TriageOutcome.report_id),
                func.max(TriageOutcome.recorded_at),
                func.sum(TriageOutcome.minutes),
            )
        ).one()
    return (run_id, count, str(latest), float(minutes or 0.0))


def load_decisions(store: Store) -> pl.DataFrame:
    """Every priority decision of the last run, one row per report (the expensive read)."""
    with store.session() as db:
        rows = db.execute(
            select(
                PriorityDecision.work_item, PriorityDecision.report_id, PriorityDecision.level,
                PriorityDecision.score, ProviderReport.received_at, PriorityDecision.route,
            ).join(ProviderReport, ProviderReport.id == PriorityDecision.report_id)
        ).all()  # fmt: skip
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 6
    received = pl.Series("received", columns[4], dtype=pl.Datetime("us", "UTC"), strict=False)
    return pl.DataFrame(
        {
            "item": np.asarray(columns[0], dtype=np.int64),
            "report": np.asarray(columns[1], dtype=np.int64),
            "level": pl.Series(columns[2], dtype=pl.String).replace_strict(
                LEVEL_CODE, return_dtype=pl.Int8
            ),
            "score": np.asarray(columns[3], dtype=np.float64),
            "received": received.dt.epoch("s").fill_null(0),
            "route": pl.Series(columns[5], dtype=pl.String).replace_strict(
                {name: code for code, name in enumerate(ROUTES)}, return_dtype=pl.Int8
            ),
        }
    )


def build_queue(store: Store, key: StateKey, decisions: pl.DataFrame) -> QueueItems:
    """Work items of both routes from the decisions of reports without an outcome."""
    with store.session() as db:
        done = np.asarray(db.scalars(select(TriageOutcome.report_id)).all(), dtype=np.int64)
    estimates = handling_estimates(_minutes_by_level(store))
    frame = decisions.filter(~pl.col("report").is_in(done)) if done.size else decisions
    items = {}
    for code, route in enumerate(ROUTES):
        part = frame.filter(pl.col("route") == code)
        items[route] = build_items(
            part["item"].to_numpy(), part["report"].to_numpy(), part["level"].to_numpy(),
            part["score"].to_numpy(), part["received"].to_numpy(), part["route"].to_numpy(),
            estimates,
        )  # fmt: skip
    return QueueItems(key, int(key[0]), items, estimates)


class QueueCache:
    """The last state's work items and recent plans over them; safe across request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: QueueItems | None = None
        self._decisions: tuple[int, pl.DataFrame] | None = None
        self._plans: OrderedDict[tuple[StateKey, str, float, str], QueuePlan] = OrderedDict()

    def items(self, store: Store) -> QueueItems:
        key = state_key(store)
        if key[0] is None:
            raise ValidationError("nothing to plan: no triage run yet (run the triage first)")
        with self._lock:
            if self._items is None or self._items.key != key:
                if self._decisions is None or self._decisions[0] != key[0]:
                    self._decisions = (key[0], load_decisions(store))
                self._items = build_queue(store, key, self._decisions[1])
                self._plans.clear()
            return self._items

    def plan(
        self, store: Store, route: str, capacity_hours: float, period: str
    ) -> tuple[QueueItems, QueuePlan]:
        if period not in PERIOD_DAYS:
            raise ValidationError(
                f"period: use one of {', '.join(PERIOD_DAYS)}", location="period", rule="period"
            )
        if route not in ROUTES:
            raise ValidationError(
                f"route: use one of {', '.join(ROUTES)}", location="route", rule="route"
            )
        items = self.items(store)
        capacity = capacity_hours if route == "offender" else 0.0
        wanted = (items.key, route, capacity, period)
        with self._lock:
            found = self._plans.get(wanted)
            if found is None:
                found = plan_queue(items.items[route], capacity, period)
                self._plans[wanted] = found
                while len(self._plans) > _PLANS_KEPT:
                    self._plans.popitem(last=False)
            return items, found


def default_capacity(store: Store, period: str) -> float:
    """The team's capacity for ``period`` from the ``[triage]`` settings."""
    per_week = run_options(store.settings).capacity_hours_per_week
    return per_week * PERIOD_DAYS.get(period, 7) / 7


def summary(items: QueueItems, plan: QueuePlan, route: str) -> dict[str, Any]:
    """Handled this period or not, hours and expected waiting per level (as ``safeguarding
    queue``)."""
    frame = plan.items
    return {
        "route": route,
        "period": plan.period,
        "period_days": plan.period_days,
        "capacity_hours": round(plan.capacity_minutes / 60, 4),
        "computed_from": f"triage run {items.run_id} and the outcomes recorded since",
        "estimates_minutes": {
            level: {"minutes": e.minutes, "basis": e.basis} for level, e in items.estimates.items()
        },
        "items": frame.height,
        "reports": int(frame["reports"].list.len().sum()) if frame.height else 0,
        "handled_items": int(frame["handled"].sum()),
        "not_handled_items": frame.height - int(frame["handled"].sum()),
        "handled_hours": round(plan.handled_minutes / 60, 2),
        "total_hours": round(float(frame["minutes"].sum()) / 60, 2),
        "by_level": plan.by_level(),
    }


def page_rows(plan: QueuePlan, offset: int, limit: int) -> list[dict[str, Any]]:
    """One page of work items in queue order, with their position in the whole queue."""
    rows = []
    part = plan.items.slice(offset, limit)
    for position, row in enumerate(part.iter_rows(named=True), start=offset + 1):
        rows.append(
            {
                "position": position,
                "item": row["item"],
                "reports": row["reports"],
                "level": LEVELS[row["level"] - 1],
                "score": round(row["score"], 2),
                "minutes": row["minutes"],
                "handled": row["handled"],
                "wait_days": round(row["wait_days"], 2),
            }
        )
    return rows
