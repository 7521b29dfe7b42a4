"""A year of notifications against police capacity: first-in-first-out against priority order.

Notifications arrive at random through the year (a Poisson process), each with a triage level
(P1: child in imminent danger or ongoing abuse; P2; P3; informational, the levels triage assigns)
and an assessment time (exponential around the mean minutes per notification). The team is one
pooled server that works ``capacity_hours`` a year, spread evenly over the year. Two disciplines:

- ``fifo``: notifications in order of arrival. Waiting times follow from Lindley's recursion,
  computed for all notifications at once with cumulative sums and a running maximum.
- ``priority``: the highest waiting level first, first-in-first-out within a level, without
  interrupting work in hand. An event loop over plain Python lists, one step per notification
  handled, so cost grows with the work done rather than with time steps.

A notification not started by the end of the year is counted as not handled; its waiting time so
far enters no percentile (it would understate the wait). Both disciplines see the same arrivals,
levels and assessment times (common random numbers), so their difference is the discipline's.

Above ``cap`` notifications a year the year is simulated for a representative unit: a share
``unit`` of the notifications and of the capacity. That unit is the whole team's queue over the
first ``unit`` of the year, slowed down by 1/``unit`` (arrival rate and service both scale), so:

- a queue the capacity keeps up with settles within minutes of the team's time, and its waits
  are the team's own: the unit's are read at the team's pace (times ``unit``). Read as they come
  out, they grew as the cap shrank (a pooled team with 1/k of the hours assesses each
  notification k times slower): 0.09 h at a cap of 100,000, 0.97 h at 5,000;
- a queue the capacity cannot keep up with builds a backlog over the whole year, and its waits
  are the backlog's, which the unit builds in proportion: they are read as they come out.

A level is overloaded when its work and that of the levels served before it (under first in,
first out, every level's) exceed the year. Near full load, where neither holds well, the waits
still depend somewhat on the cap.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np

from safeguarding.assess.funnel import FloatArray

LEVELS = ("P1", "P2", "P3", "informational")
POLICIES = ("fifo", "priority")
DAYS = 365.0
GROWTH = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Arrivals:
    """One year of notifications: arrival day, level index (0 = P1) and wall-clock service days."""

    day: FloatArray
    level: np.ndarray[Any, np.dtype[np.int64]]
    service: FloatArray


@dataclass(frozen=True)
class LevelWait:
    """Waiting of one level under one discipline, in days; ``overloaded`` when its queue cannot
    keep up over the year (see the module docstring)."""

    level: str
    arrived: int
    handled: int
    median_days: float
    p90_days: float
    overloaded: bool

    @property
    def unhandled_share(self) -> float:
        return 1 - self.handled / self.arrived if self.arrived else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "arrived": self.arrived,
            "handled": self.handled,
            "median_days": self.median_days,
            "p90_days": self.p90_days,
            "unhandled_share": self.unhandled_share,
            "overloaded": self.overloaded,
        }


def generate(
    per_year: float,
    shares: tuple[float, float, float],
    minutes: float,
    capacity_hours: float,
    seed: int,
) -> Arrivals:
    """Arrivals for a year; the informational level takes what P1–P3 leave of the shares."""
    if per_year < 0 or minutes <= 0 or capacity_hours <= 0:
        raise ValueError("need per_year >= 0, minutes > 0 and capacity_hours > 0")
    rng = np.random.default_rng(seed)
    count = int(rng.poisson(per_year))
    day = np.sort(rng.uniform(0.0, DAYS, count))
    probabilities = np.array([*shares, max(0.0, 1.0 - sum(shares))])
    level = rng.choice(len(LEVELS), size=count, p=probabilities / probabilities.sum())
    # Work-hours become wall-clock days: the team delivers capacity_hours over DAYS days.
    wall_days_per_work_hour = DAYS / capacity_hours
    service = rng.exponential(minutes / 60.0 * wall_days_per_work_hour, count)
    return Arrivals(day=day, level=level.astype(np.int64), service=service)


def fifo_start(arrivals: Arrivals) -> FloatArray:
    """Start day of every notification in arrival order (Lindley, vectorised)."""
    day, service = arrivals.day, arrivals.service
    if day.size == 0:
        return day.copy()
    done_before = np.concatenate(([0.0], np.cumsum(service)[:-1]))
    # finish_n = S_n + max_{k<=n}(a_k - S_{k-1}); start_n = finish_n - s_n.
    return done_before + np.maximum.accumulate(day - done_before)


def priority_start(arrivals: Arrivals, horizon: float = DAYS) -> FloatArray:
    """Start day of every notification under priority order (inf when not started by horizon).

    Non-preemptive: when the team finishes an item it takes the highest-priority waiting one,
    first come first served within a level. Waiting items sit in a heap keyed by (level, arrival
    order), so each item costs two heap operations however long the backlog grows; a scan over
    per-level queues slowed down badly exactly when capacity is short, the case that matters.
    """
    day = arrivals.day.tolist()
    service = arrivals.service.tolist()
    level = arrivals.level.tolist()
    count = len(day)
    start = [float("inf")] * count
    waiting: list[tuple[int, int]] = []
    following, clock = 0, 0.0
    while True:
        if not waiting:
            if following >= count:
                break
            clock = max(clock, day[following])
        if clock > horizon:
            break
        while following < count and day[following] <= clock:
            heapq.heappush(waiting, (level[following], following))
            following += 1
        _, item = heapq.heappop(waiting)
        start[item] = clock
        clock += service[item]
    return np.asarray(start, dtype=np.float64)


def waits(
    arrivals: Arrivals, policy: str, horizon: float = DAYS, unit: float = 1.0
) -> list[LevelWait]:
    """Waiting times per level under ``policy``, for arrivals of a representative ``unit``.

    The waits of a level that keeps up are read at the whole team's pace (times ``unit``); those
    of an overloaded level are the backlog's and stay as simulated (see the module docstring).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
    start = fifo_start(arrivals) if policy == "fifo" else priority_start(arrivals, horizon)
    handled = start <= horizon
    wait = start - arrivals.day
    # Each level's work as a share of the year: the load the queue of that level has to carry.
    work = np.bincount(arrivals.level, weights=arrivals.service, minlength=len(LEVELS)) / horizon
    rows = []
    for index, level in enumerate(LEVELS):
        load = float(work.sum() if policy == "fifo" else work[: index + 1].sum())
        overloaded = load >= 1.0
        scale = 1.0 if overloaded else unit
        mine = arrivals.level == index
        done = wait[mine & handled]
        median, p90 = (
            (float(np.median(done)) * scale, float(np.percentile(done, 90)) * scale)
            if done.size
            else (float("nan"), float("nan"))
        )
        rows.append(LevelWait(level, int(mine.sum()), int(done.size), median, p90, overloaded))
    return rows


@dataclass(frozen=True)
class QueueRun:
    """Waiting per level and discipline at one multiple of the scenario's volume."""

    growth: float
    notifications: int
    by_policy: dict[str, list[LevelWait]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "growth": self.growth,
            "notifications": self.notifications,
            "policies": {k: [w.as_dict() for w in v] for k, v in self.by_policy.items()},
        }


def unit_share(per_year: float, cap: float | None) -> float:
    """The share of the year's notifications (and capacity) a representative unit receives."""
    return 1.0 if cap is None or per_year <= cap else cap / per_year


def growth_runs(
    per_year: float,
    shares: tuple[float, float, float],
    minutes: float,
    capacity_hours: float,
    seed: int,
    growth: tuple[float, ...] = GROWTH,
    cap: float | None = None,
) -> list[QueueRun]:
    """The queue at several multiples of the yearly volume, both disciplines each time.

    Above ``cap`` notifications a year a representative unit is simulated (``unit_share``); the
    waits do not depend on the cap but near full load (see the module docstring).
    """
    unit = unit_share(per_year, cap)
    runs = []
    for factor in growth:
        arrivals = generate(per_year * unit * factor, shares, minutes, capacity_hours * unit, seed)
        runs.append(
            QueueRun(
                factor,
                int(arrivals.day.size),
                {policy: waits(arrivals, policy, unit=unit) for policy in POLICIES},
            )
        )
    return runs
