"""The triage queue for the web, kept between requests so a page over a million reports is fast.

Each triage run leaves the queue's input (per report: work item, level, score, arrival, route)
as columns of its input cache; they are read once per run and kept. The work items are built
from those columns minus the reports with an outcome (one integer column read) by reductions
over runs of sorted columns, again whenever the outcomes change: the state is the last run plus
a fingerprint of the outcomes (count, latest time, total minutes), read with three aggregate
queries on every request.
While the state is unchanged, a request only plans the cached items against its capacity and
period (a cumulative sum over the items, cached too) and slices one page. The items and the plan
are the ones ``safeguarding queue`` computes (``triage.queue``), from the same columns.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from safeguarding.errors import ValidationError
from safeguarding.store import Store
from safeguarding.store.models import TriageOutcome, TriageRun
from safeguarding.triage import store_io
from safeguarding.triage.operations import open_work_items
from safeguarding.triage.policy import ROUTES
from safeguarding.triage.queue import (
    PERIOD_DAYS,
    HandlingEstimate,
    QueueColumns,
    QueuePlan,
    WorkItems,
    plan_queue,
)
from safeguarding.triage.run_options import run_options

log = logging.getLogger(__name__)
StateKey = tuple[Any, ...]
_PLANS_KEPT = 16


@dataclass(frozen=True)
class QueueItems:
    """Work items of each route in queue order, and the estimates they were built with."""

    key: StateKey
    run_id: int
    items: dict[str, WorkItems]
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


def load_columns(store: Store) -> tuple[int, QueueColumns]:
    """The queue's input left by the last run (six columns read, not a row per report)."""
    with store.session() as db:
        return store_io.queue_columns(db)


def build_queue(store: Store, key: StateKey, columns: QueueColumns) -> QueueItems:
    """Work items of both routes from the decisions of reports without an outcome."""
    items, estimates = open_work_items(store, columns)
    return QueueItems(key, int(key[0]), items, estimates)


class QueueCache:
    """The last state's work items and recent plans over them; safe across request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: QueueItems | None = None
        self._columns: tuple[int, QueueColumns] | None = None
        self._plans: OrderedDict[tuple[StateKey, str, float, str], QueuePlan] = OrderedDict()

    def items(self, store: Store) -> QueueItems:
        return self._items_at(store, state_key(store))

    def _items_at(self, store: Store, key: StateKey) -> QueueItems:
        if key[0] is None:
            raise ValidationError("nothing to plan: no triage run yet (run the triage first)")
        with self._lock:
            if self._items is None or self._items.key != key:
                if self._columns is None or self._columns[0] != key[0]:
                    self._columns = load_columns(store)
                self._items = build_queue(store, key, self._columns[1])
                self._plans.clear()
            return self._items

    @property
    def cached_key(self) -> StateKey | None:
        """The state the kept items are of; ``None`` before the first build."""
        with self._lock:
            return None if self._items is None else self._items.key

    def refresh(self, store: Store) -> None:
        """Bring the items up to date now (after a change), so no page request waits for it."""
        key = state_key(store)
        if key[0] is not None:
            self._items_at(store, key)

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


class QueueRefresher:
    """Rebuilds the cached queue in the background when the store changed behind this process.

    A triage run or an outcome recorded from the command line changes the state the cache keys on;
    without this, the first page request after it would pay the rebuild (about a second over a
    million reports). Every ``interval`` seconds the state is compared (three aggregate queries)
    and the items rebuilt if it moved. A failed refresh is logged and tried again at the next tick;
    a request that finds the state changed still rebuilds itself, so a page is never stale.
    """

    def __init__(self, cache: QueueCache, store: Store, interval: float) -> None:
        self._cache = cache
        self._store = store
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="queue-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._cache.refresh(self._store)
            except Exception as error:
                log.warning("queue refresh failed: %s", type(error).__name__)


def default_capacity(store: Store, period: str) -> float:
    """The team's capacity for ``period`` from the ``[triage]`` settings."""
    per_week = run_options(store.settings).capacity_hours_per_week
    return per_week * PERIOD_DAYS.get(period, 7) / 7


def summary(items: QueueItems, plan: QueuePlan, route: str) -> dict[str, Any]:
    """Handled, started and waiting this period, hours and expected waiting per level (as
    ``safeguarding queue``)."""
    return {
        "route": route,
        "period": plan.period,
        "period_days": plan.period_days,
        "capacity_hours": round(plan.capacity_minutes / 60, 4),
        "computed_from": f"triage run {items.run_id} and the outcomes recorded since",
        "estimates_minutes": {
            level: {"minutes": e.minutes, "basis": e.basis} for level, e in items.estimates.items()
        },
        **plan.totals(),
    }
