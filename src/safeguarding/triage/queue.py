"""The work queue: what to assess first, what fits in the capacity, how long the rest waits.

Work items, not reports: reports about the same subject, and reports holding direct copies of the
same new material (files that are not viral, known or allow-listed, with an exact hash in common
or PDQ within the threshold), are one work item, so the same user or the same picture is assessed
once. Not the whole content cluster: near-duplicates chain, and a cluster joined through a meme's
variants holds unrelated new pictures far apart. Viral files do not join items (thousands of
unrelated sharers would otherwise become one item).

Order: level (P1 first), then score (highest first), then age (oldest report first), then the item
id, so the order is total and repeatable.

Capacity rule: items are handled in queue order while the running sum of their estimated minutes
stays within the capacity. The first item that does not fit is started: the rest of the period's
capacity goes to it and it is finished next period. Nothing behind it is taken, even if it is
smaller, because skipping ahead would serve lower priorities first. So: handled minutes <=
capacity < handled minutes + the started item's minutes, and the minutes worked in the period are
the capacity, or all the queue's minutes if they are fewer. An item larger than a whole period's
capacity is therefore started, not left waiting behind an idle team.

Estimated minutes per report: the mean minutes recorded in outcomes for reports of that level, or
the default for the level (``DEFAULT_MINUTES``, an assumption until outcomes are recorded), rounded
up to whole minutes so the capacity check is exact integer arithmetic. An item's estimate is the
sum over its reports. Waiting time: an item starts when everything before it is done, working at
the capacity's pace (capacity hours spread evenly over the period's days), with no new arrivals;
real waits are longer for low levels because new P1 work jumps ahead. Without capacity there is no
pace and no wait to give: the waits are missing (null), not infinite (JSON has no infinity).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from safeguarding.triage.policy import LEVELS
from safeguarding.triage.unionfind import IntArray, UnionFind, members, remap, star_pairs

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


def work_groups(report_subject: IntArray, copy_left: IntArray, copy_right: IntArray) -> IntArray:
    """For every report (by position) the position of the first report of its work item: reports
    are joined by subject, and report ``copy_left[i]`` with ``copy_right[i]`` (reports holding
    direct copies of the same new material)."""
    uf = UnionFind(report_subject.shape[0])
    uf.union_groups(np.arange(report_subject.shape[0], dtype=np.int64), report_subject)
    uf.union_pairs(copy_left, copy_right)
    return uf.labels()


def grown_work_groups(
    previous: IntArray,
    n: int,
    a: IntArray,
    b: IntArray,
    redo: IntArray | None = None,
    links: tuple[IntArray, IntArray, IntArray, IntArray] | None = None,
) -> IntArray:
    """``work_groups`` after reports were added, from the earlier groups: ``previous`` is the
    first report (position) of the work item of each of the first ``len(previous)`` reports,
    the reports after those are new; ``a[i]`` and ``b[i]`` are reports the new ones link (a new
    report and its subject's first report, the reports of a linking new file and of a direct
    copy of it).

    Earlier items whose links may have gone or come (they hold a file of a cluster in which a
    file started or stopped linking) are formed again: ``redo`` their earliest reports'
    positions and ``links`` their reports' (report, subject) and the pairs of their reports
    holding direct copies, as arrays ``(report, subject, copy_left, copy_right)``. Every other
    earlier item
    kept all its links, so items only merge. Nothing may have merged. The result equals
    ``work_groups`` over everything, at the cost of the links and the items formed again."""
    group = np.concatenate([previous, np.arange(previous.shape[0], n, dtype=np.int64)])
    pairs = [(group[a], group[b])]
    if redo is not None and links is not None and redo.size:
        again = np.flatnonzero(members(group, redo))
        group[again] = again  # apart again, then joined by the links they still have
        report, subject, copy_left, copy_right = links
        pairs += [star_pairs(report, subject), (copy_left, copy_right)]
        pairs = [(group[x], group[y]) for x, y in [(a, b), *pairs[1:]]]
    left = np.concatenate([x for x, _ in pairs])
    right = np.concatenate([y for _, y in pairs])
    if left.size == 0:
        return group
    nodes, inverse = np.unique(np.concatenate([left, right]), return_inverse=True)
    uf = UnionFind(nodes.shape[0])
    uf.union_pairs(inverse[: left.shape[0]], inverse[left.shape[0] :])
    # Nodes are ascending positions: the smallest index of a set is its first report.
    first = nodes[uf.labels()]
    moved = first != nodes
    return remap(group, dict(zip(nodes[moved].tolist(), first[moved].tolist(), strict=True)))


@dataclass(frozen=True)
class QueueColumns:
    """The decisions the queue is built from, one entry per report, grouped by work item.

    Sorted by (item, report): every item's reports are one contiguous run, so work items are
    reductions over runs instead of a group-by. ``triage run`` leaves these columns in the input
    cache, so a queue over a million reports is built without reading a million rows.
    """

    item: IntArray
    report: IntArray
    level: npt.NDArray[np.int8]
    score: npt.NDArray[np.float64]
    received_at: IntArray
    route: npt.NDArray[np.int8]

    @classmethod
    def from_decisions(
        cls,
        item: IntArray,
        report_id: IntArray,
        level: np.ndarray,
        score: np.ndarray,
        received_at: IntArray,
        route: np.ndarray,
    ) -> QueueColumns:
        ascending = report_id.shape[0] < 2 or bool(np.all(np.diff(report_id) > 0))
        if ascending:  # as the store's reports come: a stable sort by item alone is enough
            order = (
                pl.DataFrame({"item": np.asarray(item, dtype=np.int64)})
                .with_row_index("at")
                .sort("item", maintain_order=True)["at"]
                .to_numpy()
            )
        else:
            order = np.lexsort((report_id, item))
        return cls(
            np.asarray(item, dtype=np.int64)[order],
            np.asarray(report_id, dtype=np.int64)[order],
            np.asarray(level, dtype=np.int8)[order],
            np.asarray(score, dtype=np.float64)[order],
            np.asarray(received_at, dtype=np.int64)[order],
            np.asarray(route, dtype=np.int8)[order],
        )

    def __len__(self) -> int:
        return int(self.item.shape[0])

    def select(self, mask: npt.NDArray[np.bool_]) -> QueueColumns:
        """The reports where ``mask`` holds, still grouped by item."""
        return QueueColumns(
            self.item[mask], self.report[mask], self.level[mask], self.score[mask],
            self.received_at[mask], self.route[mask],
        )  # fmt: skip

    def without(self, reports: IntArray) -> QueueColumns:
        """The columns minus ``reports`` (the reports that have an outcome)."""
        if reports.size == 0:
            return self
        return self.select(~np.isin(self.report, reports))


@dataclass(frozen=True)
class WorkItems:
    """One row per work item in queue order, and the reports behind the rows.

    ``frame``: item, level (best), score (highest), oldest (first received), route, minutes
    (estimated), reports (how many) and first (where its reports start in ``report_ids``).
    """

    frame: pl.DataFrame
    report_ids: IntArray


def work_items(columns: QueueColumns, estimates: Mapping[str, HandlingEstimate]) -> WorkItems:
    """Work items of ``columns`` (grouped by item) in queue order, with estimated minutes."""
    per_level = np.array([estimates[name].minutes for name in LEVELS], dtype=np.int64)
    n = len(columns)
    if n == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        starts = np.flatnonzero(np.r_[True, columns.item[1:] != columns.item[:-1]])
    counts = np.diff(np.r_[starts, n]).astype(np.int64)

    def reduce(ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values, starts) if n else values[:0]

    level = reduce(np.minimum, columns.level)
    score = reduce(np.maximum, columns.score)
    oldest = reduce(np.minimum, columns.received_at)
    item = columns.item[starts]
    order = np.lexsort((item, oldest, -score, level))
    frame = pl.DataFrame(
        {
            "item": item[order],
            "level": level[order].astype(np.int8),
            "score": score[order].astype(np.float64),
            "oldest": oldest[order].astype(np.int64),
            "route": reduce(np.minimum, columns.route)[order].astype(np.int8),
            "minutes": reduce(np.add, per_level[columns.level.astype(np.int64) - 1])[order],
            "reports": counts[order],
            "first": starts[order].astype(np.int64),
        }
    )
    return WorkItems(frame, columns.report)


@dataclass(frozen=True)
class QueuePlan:
    """Items in queue order with ``handled``, ``started``, ``period_minutes`` (worked on the item
    in the period), ``start_minutes`` and ``wait_days`` columns."""

    items: pl.DataFrame
    report_ids: IntArray
    capacity_minutes: float
    period: str
    period_days: int

    @property
    def handled_minutes(self) -> int:
        return int(self.items.filter(pl.col("handled"))["minutes"].sum())

    @property
    def started_minutes(self) -> float:
        """Minutes of the period spent on the started item (none if no item is started)."""
        return float(self.items.filter(pl.col("started"))["period_minutes"].sum())

    def totals(self) -> dict[str, Any]:
        """Items and hours handled, started and waiting in the period, and per level: what
        ``safeguarding queue`` and the web app's queue page both show."""
        frame = self.items
        handled = int(frame["handled"].sum())
        return {
            "items": frame.height,
            "reports": int(frame["reports"].sum()) if frame.height else 0,
            "handled_items": handled,
            "not_handled_items": frame.height - handled,
            "started_items": int(frame["started"].sum()),
            "handled_hours": round(self.handled_minutes / 60, 2),
            "started_hours": round(self.started_minutes / 60, 2),
            "total_hours": round(float(frame["minutes"].sum()) / 60, 2),
            "by_level": self.by_level(),
        }

    def rows(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Items ``offset`` to ``offset + limit`` in queue order, with their position in the
        whole queue (from 1) and their reports."""
        rows = []
        part = self.items.slice(offset, limit)
        for position, row in enumerate(part.iter_rows(named=True), start=offset + 1):
            rows.append(
                {
                    "position": position,
                    "item": row["item"],
                    "reports": self.reports_of(row),
                    "level": LEVELS[row["level"] - 1],
                    "score": round(row["score"], 2),
                    "minutes": row["minutes"],
                    "handled": row["handled"],
                    "started": row["started"],
                    "wait_days": shown_days(row["wait_days"]),
                }
            )
        return rows

    def reports_of(self, row: Mapping[str, int]) -> list[int]:
        """The report ids of one item row of ``items``."""
        first, count = int(row["first"]), int(row["reports"])
        return [int(r) for r in self.report_ids[first : first + count]]

    def by_level(self) -> list[dict[str, object]]:
        rows = []
        for code, name in enumerate(LEVELS, start=1):
            part = self.items.filter(pl.col("level") == code)
            handled = part.filter(pl.col("handled"))
            mean_wait, max_wait = part["wait_days"].mean(), part["wait_days"].max()
            rows.append(
                {
                    "level": name,
                    "items": part.height,
                    "reports": int(part["reports"].sum()) if part.height else 0,
                    "handled": handled.height,
                    "not_handled": part.height - handled.height,
                    "started": int(part["started"].sum()),
                    "estimated_hours": round(float(part["minutes"].sum()) / 60, 2),
                    "mean_wait_days": shown_days(mean_wait),
                    "max_wait_days": shown_days(max_wait),
                }
            )
        return rows


def shown_days(value: object) -> float | None:
    """A wait as shown, in days to two decimals; None where there is none (no capacity, or no
    items to average)."""
    return None if value is None else round(float(cast(float, value)), 2)


def plan_queue(work: WorkItems, capacity_hours: float, period: str) -> QueuePlan:
    """Mark which items (already in queue order) are handled in ``capacity_hours`` for the period
    and which one is started; their waits are null when the capacity is 0 (no pace to wait at)."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be one of {', '.join(PERIOD_DAYS)}")
    if not capacity_hours >= 0 or math.isinf(capacity_hours):
        raise ValueError("capacity hours must be a non-negative number")
    items = work.frame
    if items.height and int(items["minutes"].min()) < 1:  # type: ignore[arg-type]
        raise ValueError("every item needs an estimate of at least one minute")
    capacity_minutes = capacity_hours * 60
    days = PERIOD_DAYS[period]
    pace = capacity_minutes / days  # minutes of work per day
    cumulative = items["minutes"].cum_sum()
    start = cumulative - items["minutes"]
    wait = start.cast(pl.Float64) / pace if pace > 0 else pl.lit(None, pl.Float64)
    handled = cumulative <= capacity_minutes
    started = ~handled & (start < capacity_minutes)
    worked = (
        pl.when(handled)
        .then(items["minutes"].cast(pl.Float64))
        .when(started)
        .then(capacity_minutes - start.cast(pl.Float64))
        .otherwise(0.0)
    )
    planned = items.with_columns(
        handled.alias("handled"),
        started.alias("started"),
        worked.alias("period_minutes"),
        start.alias("start_minutes"),
        wait.alias("wait_days"),
    )
    return QueuePlan(planned, work.report_ids, capacity_minutes, period, days)
