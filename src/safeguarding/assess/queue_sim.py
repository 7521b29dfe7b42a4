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

A notification not started by the end of the year is counted as not handled. Its wait still counts:
leaving it out of the percentiles took them over the handled notifications alone, so a queue that
handled a sixth of its P1 notifications gave the median of that sixth (167 days) for a wait that
for most of them is longer than the year. The simulation therefore runs on for a second year at the
same volume and capacity (``RUN_DAYS``), and the year's notifications are followed through it: every
wait of up to a year (``DAYS``) is seen in full, and a notification still waiting a year after it
arrived is censored there, ranked after every wait that was seen. A percentile that falls among
those is not a number of days but "over a year" (``beyond``, NaN in the number); one that does
not is the exact percentile, since every wait up to a year is known. Both disciplines see the same
arrivals, levels and assessment times (common random numbers), so their difference is the
discipline's.

Above ``cap`` notifications a year the year is simulated for a representative unit: a share
``unit`` of the notifications and of the capacity. That unit is the whole team's queue over the
first ``unit`` of the year, slowed down by 1/``unit`` (arrival rate and service both scale). How
its waits stand for the team's depends on the queue's expected load (work ÷ capacity, from the
scenario, not from the sample, whose realised load scatters around it):

- a queue the capacity keeps up with (load below 1) settles within minutes of the team's time,
  and its waits are the team's own: the unit's are read at the team's pace (times ``unit``). Read
  as they come out, they grew as the cap shrank (a pooled team with 1/k of the hours assesses each
  notification k times slower): 0.09 h at a cap of 100,000, 0.97 h at 5,000;
- a queue the capacity cannot keep up with (``overloaded``, load 1 or more) builds a backlog over
  the whole year, and its waits are the backlog's, which the unit builds in proportion: they are
  read as they come out.

Neither holds near full load, and reading the unit by its own realised load there made the waits
jump between the two readings from seed to seed (P1 medians of 0.06 to 3.5 days at a load of 0.99
where the whole team waits 0.10 to 0.28). Near full load a queue's workload is a random walk that
drifts slowly, and its waits depend on how many notifications the year holds (at exactly full load
they grow as its square root): a year of n notifications is in the regime of its load ρ only when
the drift over the year outweighs the workload's random swing, |ρ − 1| √n / (ρ √2) >= ``CLEAR``
(exponential assessment times); the whole team, with more notifications, then is too. Nearer full
load the unit is enlarged until it is clear, up to the whole team; if that takes more than
``NEAR_FULL_MAX`` notifications, the level's waits are not given (``indeterminate``, NaN) rather
than read from a unit in the wrong regime. The queue a level waits in is that of every level under
first in, first out, and under priority order that of the level and the levels served before it
(each of which must be clear). A unit's waits scatter around the team's by about 1.4/``CLEAR`` in
log terms where it is just clear, less further out: sampling noise, which a larger cap reduces.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from safeguarding.assess.funnel import FloatArray

LEVELS = ("P1", "P2", "P3", "informational")
POLICIES = ("fifo", "priority")
# The year whose notifications are measured, and the span simulated: a second year at the same
# volume and capacity, so that each of the year's notifications is followed for at least a year.
DAYS = 365.0
RUN_DAYS = 2 * DAYS
GROWTH = (0.5, 1.0, 2.0, 4.0)
# How many of the workload's random swings over the year the drift towards empty or towards a
# backlog must amount to before a simulated year is taken to be in that regime. At 5 a unit just
# clear of full load scatters around the whole team's waits by a log sd of about 0.3 (100 seeds)
# without a bias that shows; at 10 by 0.15, for four times the notifications simulated.
CLEAR = 5.0
# The most notifications a year simulated one by one to settle a queue near full load: a year of a
# million, followed through the year after it, costs about 5 s for both disciplines on 2 cores.
NEAR_FULL_MAX = 1_000_000


@dataclass(frozen=True)
class Arrivals:
    """Notifications over ``span`` days: arrival day, level index (0 = P1) and wall-clock service
    days."""

    day: FloatArray
    level: np.ndarray[Any, np.dtype[np.int64]]
    service: FloatArray
    span: float = DAYS


@dataclass(frozen=True)
class LevelWait:
    """Waiting of one level under one discipline, in the whole team's days.

    ``arrived`` and ``handled`` count the year's notifications and those started within it. The
    median and 90th percentile are taken over every notification of the year; one that lies
    beyond ``horizon_days`` (the longest wait the run follows, in the team's days) is NaN with
    ``median_beyond`` or ``p90_beyond`` set: more than a year, not a number of days (module
    docstring). ``load`` is the expected load of the queue the level waits in; ``indeterminate``
    when the simulated unit was too small to tell its waits so near full load (they are then NaN,
    not a number from a unit in the wrong regime).
    """

    level: str
    arrived: int
    handled: int
    median_days: float
    p90_days: float
    load: float
    indeterminate: bool
    median_beyond: bool = False
    p90_beyond: bool = False
    horizon_days: float = DAYS

    @property
    def unhandled_share(self) -> float:
        return 1 - self.handled / self.arrived if self.arrived else 0.0

    @property
    def overloaded(self) -> bool:
        """The capacity cannot keep up with the level's queue over the year."""
        return self.load >= 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "arrived": self.arrived,
            "handled": self.handled,
            "median_days": self.median_days,
            "median_beyond_horizon": self.median_beyond,
            "p90_days": self.p90_days,
            "p90_beyond_horizon": self.p90_beyond,
            "horizon_days": self.horizon_days,
            "unhandled_share": self.unhandled_share,
            "load": self.load,
            "overloaded": self.overloaded,
            "indeterminate": self.indeterminate,
        }


@dataclass(frozen=True)
class Year:
    """The whole team's year as the scenario expects it: what a simulated year is read against.

    Every level has the same mean assessment time, so a set of levels carries the total load
    times its share of the notifications.
    """

    per_year: float
    shares: tuple[float, float, float]
    minutes: float
    capacity_hours: float

    def __post_init__(self) -> None:
        if self.per_year < 0 or self.minutes <= 0 or self.capacity_hours <= 0:
            raise ValueError("need per_year >= 0, minutes > 0 and capacity_hours > 0")

    @property
    def load(self) -> float:
        return self.per_year * self.minutes / 60.0 / self.capacity_hours

    def queue_shares(self, policy: str) -> FloatArray:
        """Per level, the share of the notifications in the queue it waits in: all of them
        under first in, first out; under priority, its own and those of the levels before it."""
        shares = level_shares(self.shares)
        return np.ones_like(shares) if policy == "fifo" else np.cumsum(shares)

    def queue_loads(self, policy: str) -> FloatArray:
        """Per level, the expected load of the queue it waits in."""
        return self.load * self.queue_shares(policy)

    def clear_size(self, policy: str) -> FloatArray:
        """Per level, the notifications a simulated year needs for every queue the level's waits
        depend on to sit clearly on one side of full load (``CLEAR``, module docstring).

        A queue holding a share q of n notifications at load ρq is clear when
        |ρq − 1| √(qn) / (ρq √2) >= CLEAR, that is n >= 2 CLEAR² ρ² q / (ρq − 1)²; infinite at
        exactly full load. Under priority a level also waits behind the levels before it, and a
        queue of those near full load leaves it a capacity that swings as theirs does.
        """
        shares = self.queue_shares(policy)
        loads = self.load * shares
        with np.errstate(divide="ignore"):
            needed = np.where(
                loads == 1.0, np.inf, 2 * CLEAR**2 * self.load**2 * shares / (loads - 1.0) ** 2
            )
        return np.maximum.accumulate(needed)

    def unit_size(self, base: float, ceiling: float) -> float:
        """The notifications to simulate: the representative ``base`` (expected), enlarged to
        what the levels near full load need to be clear when that is at most ``ceiling``, and
        never more than the whole team's."""
        needed = np.concatenate([self.clear_size(policy) for policy in POLICIES])
        reachable = np.minimum(needed, self.per_year)
        reachable = reachable[reachable <= ceiling]
        return min(self.per_year, max(base, float(reachable.max(initial=0.0))))

    def unit(self, size: float) -> float:
        """The share of the team a simulated year of ``size`` expected notifications stands for."""
        return size / self.per_year if size < self.per_year else 1.0

    def arrivals(self, size: float, seed: int) -> Arrivals:
        """A simulated year of ``size`` expected notifications with the matching capacity, and
        the year after it at the same pace (``RUN_DAYS``), which the year's waits run into."""
        capacity = self.capacity_hours * self.unit(size)
        return generate(size, self.shares, self.minutes, capacity, seed, span=RUN_DAYS)


def level_shares(shares: tuple[float, float, float]) -> FloatArray:
    """Each level's share of the notifications; the informational level takes what P1–P3 leave."""
    probabilities = np.array([*shares, max(0.0, 1.0 - sum(shares))])
    return np.asarray(probabilities / probabilities.sum(), dtype=np.float64)


def generate(
    per_year: float,
    shares: tuple[float, float, float],
    minutes: float,
    capacity_hours: float,
    seed: int,
    span: float = DAYS,
) -> Arrivals:
    """Arrivals over ``span`` days at ``per_year`` a year, against ``capacity_hours`` a year; the
    informational level takes what P1–P3 leave of the shares."""
    if per_year < 0 or minutes <= 0 or capacity_hours <= 0:
        raise ValueError("need per_year >= 0, minutes > 0 and capacity_hours > 0")
    rng = np.random.default_rng(seed)
    count = int(rng.poisson(per_year * span / DAYS))
    day = np.sort(rng.uniform(0.0, span, count))
    level = rng.choice(len(LEVELS), size=count, p=level_shares(shares))
    # Work-hours become wall-clock days: the team delivers capacity_hours over DAYS days.
    wall_days_per_work_hour = DAYS / capacity_hours
    service = rng.exponential(minutes / 60.0 * wall_days_per_work_hour, count)
    return Arrivals(day=day, level=level.astype(np.int64), service=service, span=span)


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


def censored_percentiles(waited: FloatArray, observed: float) -> tuple[FloatArray, FloatArray]:
    """The median and 90th percentile of ``waited`` with every wait above ``observed`` censored
    there (not seen to its end), and whether each lies beyond it (then it is NaN).

    Censored waits rank after every wait that was seen, whatever their length: each is longer
    than ``observed`` and every seen wait is at most that. Empirical quantiles (no interpolation),
    so a percentile is a wait that was seen or lies beyond, never a blend of the two.
    """
    if not waited.size:
        return np.full(2, math.nan), np.zeros(2, dtype=bool)
    ranked = np.where(waited <= observed, waited, math.inf)
    found = np.percentile(ranked, [50.0, 90.0], method="inverted_cdf")
    beyond = np.isinf(found)
    return np.where(beyond, math.nan, found), beyond


def waits(
    arrivals: Arrivals,
    policy: str,
    year: Year,
    size: float | None = None,
    horizon: float = DAYS,
) -> list[LevelWait]:
    """Waiting times per level under ``policy``, as the whole team's ``year`` would see them.

    ``arrivals`` hold the whole year and the year after it, or a representative unit of ``size``
    expected notifications a year; its waits are read at the team's pace where the level's queue
    keeps up and as simulated where it is overloaded, and not at all where the unit is too small
    to tell so near full load (see the module docstring). Which applies follows from the expected
    load, so it does not change with the seed. The waits are those of the notifications arriving
    before ``horizon``, each followed for ``horizon`` days: longer ones are beyond it.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}")
    if arrivals.span < 2 * horizon:
        raise ValueError(
            f"arrivals over {arrivals.span:g} days cannot follow a year of {horizon:g} days "
            "through the waits of up to that long (Year.arrivals simulates two)"
        )
    start = fifo_start(arrivals) if policy == "fifo" else priority_start(arrivals, arrivals.span)
    in_year = arrivals.day < horizon
    handled = start <= horizon
    wait = start - arrivals.day
    simulated = year.per_year if size is None else size
    unit = year.unit(simulated)
    loads = year.queue_loads(policy)
    # A unit stands for the team only where it is clear of full load; the whole team always does.
    told = (year.clear_size(policy) <= simulated) | (unit == 1.0)
    rows = []
    for index, level in enumerate(LEVELS):
        load = float(loads[index])
        indeterminate = not told[index]
        scale = unit if load < 1.0 else 1.0
        mine = in_year & (arrivals.level == index)
        (median, p90), (median_beyond, p90_beyond) = (
            censored_percentiles(wait[mine], horizon)
            if not indeterminate
            else (np.full(2, math.nan), np.zeros(2, dtype=bool))
        )
        rows.append(
            LevelWait(
                level,
                int(mine.sum()),
                int((mine & handled).sum()),
                float(median) * scale,
                float(p90) * scale,
                load,
                indeterminate,
                median_beyond=bool(median_beyond),
                p90_beyond=bool(p90_beyond),
                horizon_days=horizon * scale,
            )
        )
    return rows


@dataclass(frozen=True)
class QueueRun:
    """Waiting per level and discipline at one multiple of the scenario's volume."""

    growth: float
    unit_share: float
    notifications: int
    by_policy: dict[str, list[LevelWait]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "growth": self.growth,
            "unit_share": self.unit_share,
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
    ceiling: float = NEAR_FULL_MAX,
) -> list[QueueRun]:
    """The queue at several multiples of the yearly volume, both disciplines each time.

    Above ``cap`` notifications a year a representative unit is simulated (``unit_share``),
    enlarged near full load up to ``ceiling`` notifications; the waits do not depend on the cap
    beyond the unit's sampling noise (see the module docstring).
    """
    unit = unit_share(per_year, cap)
    runs = []
    for factor in growth:
        year = Year(per_year * factor, shares, minutes, capacity_hours)
        size = year.unit_size(year.per_year * unit, ceiling)
        arrivals = year.arrivals(size, seed)
        runs.append(
            QueueRun(
                factor,
                year.unit(size),
                int(np.count_nonzero(arrivals.day < DAYS)),
                {policy: waits(arrivals, policy, year, size) for policy in POLICIES},
            )
        )
    return runs
