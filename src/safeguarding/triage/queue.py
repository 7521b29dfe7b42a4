"""The work queue: what to assess first, what fits in the capacity, how long the rest waits.

Work items, not reports: reports about the same subject, and reports sharing content that is not
viral, are one work item, so the same user or the same picture is assessed once. Viral clusters do
not join items (thousands of unrelated sharers would otherwise become one item).

Order: level (P1 first), then score (highest first), then age (oldest report first), then the item
id, so the order is total and repeatable.

Capacity rule: items are taken in queue order while the running sum of their estimated minutes
stays within the capacity; the first item that does not fit ends the period's work, and nothing
behind it is taken, even if it is smaller, because skipping ahead would serve lower priorities
first. So: handled minutes <= capacity, and handled minutes + the next item's minutes > capacity.

Estimated minutes per report: the mean minutes recorded in outcomes for reports of that level, or
the default for the level (``DEFAULT_MINUTES``, an assumption until outcomes are recorded), rounded
up to whole minutes so the capacity check is exact integer arithmetic. An item's estimate is the
sum over its reports. Waiting time: an item starts when everything before it is done, working at
the capacity's pace (capacity hours spread evenly over the period's days), with no new arrivals;
real waits are longer for low levels because new P1 work jumps ahead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from safeguarding.triage.policy import LEVELS
from safeguarding.triage.unionfind import IntArray, UnionFind

DEFAULT_MINUTES: dict[str, int] = {"P1": 180, "P2": 120, "P3": 60, "informational": 15}
PERIOD_DAYS: dict[str, int] = {"week": 7, "month": 30}
DEFAULT_CAPACITY_HOURS_PER_WEEK = 40.0


@dataclass(frozen=True)
class HandlingEstimate:
    minutes: int
    basis: str  # "outcomes (n=12)" or "default"


def handling_estimates(minutes_by_level: Mapping[str, list[float]]) -> dict[str, HandlingEstimate]:
    """Estimated minutes per report of each level, from recorded outcomes where there are any."""
    result = {}
    for level in LEVELS:
        recorded = minutes_by_level.get(level, [])
        if recorded:
            mean = sum(recorded) / len(recorded)
            result[level] = HandlingEstimate(
                max(1, math.ceil(mean)), f"outcomes (n={len(recorded)})"
            )
        else:
            result[level] = HandlingEstimate(DEFAULT_MINUTES[level], "default")
    return result


def work_groups(
    report_subject: IntArray,
    file_report: IntArray,
    file_cluster: IntArray,
    viral_clusters: IntArray,
) -> IntArray:
    """For every report (by position) the position of the first report of its work item: reports
    are joined by subject and by content cluster, except clusters in ``viral_clusters``."""
    uf = UnionFind(report_subject.shape[0])
    uf.union_groups(np.arange(report_subject.shape[0], dtype=np.int64), report_subject)
    shared = ~np.isin(file_cluster, viral_clusters)
    uf.union_groups(file_report[shared], file_cluster[shared])
    return uf.labels()


def build_items(
    item: IntArray,
    report_id: IntArray,
    level: np.ndarray,
    score: np.ndarray,
    received_at: IntArray,
    route: np.ndarray,
    estimates: Mapping[str, HandlingEstimate],
) -> pl.DataFrame:
    """One row per work item (``item``: the work item id of each report), in queue order: its
    reports, best level, highest score, oldest report, route and estimated minutes."""
    per_level = np.array([estimates[name].minutes for name in LEVELS], dtype=np.int64)
    minutes = per_level[level.astype(np.int64) - 1]
    frame = pl.DataFrame(
        {
            "item": item,
            "report_id": report_id,
            "level": level.astype(np.int8),
            "score": score.astype(np.float64),
            "received_at": received_at,
            "route": route.astype(np.int8),
            "minutes": minutes,
        }
    )
    return (
        frame.group_by("item")
        .agg(
            pl.col("report_id").sort().alias("reports"),
            pl.col("level").min(),
            pl.col("score").max(),
            pl.col("received_at").min().alias("oldest"),
            pl.col("route").min(),
            pl.col("minutes").sum(),
        )
        .sort(["level", "score", "oldest", "item"], descending=[False, True, False, False])
    )


@dataclass(frozen=True)
class QueuePlan:
    """Items in queue order with ``handled``, ``start_minutes`` and ``wait_days`` columns."""

    items: pl.DataFrame
    capacity_minutes: float
    period: str
    period_days: int

    @property
    def handled_minutes(self) -> int:
        return int(self.items.filter(pl.col("handled"))["minutes"].sum())

    def by_level(self) -> list[dict[str, object]]:
        rows = []
        for code, name in enumerate(LEVELS, start=1):
            part = self.items.filter(pl.col("level") == code)
            handled = part.filter(pl.col("handled"))
            waits = part["wait_days"]
            rows.append(
                {
                    "level": name,
                    "items": part.height,
                    "reports": int(part["reports"].list.len().sum()) if part.height else 0,
                    "handled": handled.height,
                    "not_handled": part.height - handled.height,
                    "estimated_hours": round(float(part["minutes"].sum()) / 60, 2),
                    "mean_wait_days": round(float(waits.mean()), 2) if part.height else None,  # type: ignore[arg-type]
                    "max_wait_days": round(float(waits.max()), 2) if part.height else None,  # type: ignore[arg-type]
                }
            )
        return rows


def plan_queue(items: pl.DataFrame, capacity_hours: float, period: str) -> QueuePlan:
    """Mark which items (already in queue order) fit in ``capacity_hours`` for the period."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be one of {', '.join(PERIOD_DAYS)}")
    if not capacity_hours >= 0 or math.isinf(capacity_hours):
        raise ValueError("capacity hours must be a non-negative number")
    if items.height and int(items["minutes"].min()) < 1:  # type: ignore[arg-type]
        raise ValueError("every item needs an estimate of at least one minute")
    capacity_minutes = capacity_hours * 60
    days = PERIOD_DAYS[period]
    pace = capacity_minutes / days  # minutes of work per day
    cumulative = items["minutes"].cum_sum()
    start = cumulative - items["minutes"]
    planned = items.with_columns(
        (cumulative <= capacity_minutes).alias("handled"),
        start.alias("start_minutes"),
        (start.cast(pl.Float64) / pace if pace > 0 else pl.lit(float("inf"))).alias("wait_days"),
    )
    return QueuePlan(planned, capacity_minutes, period, days)
