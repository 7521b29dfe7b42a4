"""Benchmark of the assessment model against the targets of its specification.

- 1,000,000 Monte Carlo draws of the full funnel for one scenario, summarised: <= 2 s;
- five scenarios at 1,000,000 draws each: <= 10 s;
- a year's queue with 1,000,000 notifications, FIFO and priority: <= 30 s.

There is no reference tool for this model; the script prints each figure against its target.
Run: .venv/bin/python benchmarks/assess_montecarlo.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from safeguarding.assess.montecarlo import run
from safeguarding.assess.queue_sim import Year, waits
from safeguarding.assess.scenario import load_scenario

DRAWS = 1_000_000
FIVE = ("nl-status-quo", "nl-detection-orders", "nl-known-only", "nl-targeted", "nl-proactive")


def best_of(repeats: int, job: Callable[[], object]) -> tuple[float, float]:
    """Best wall-clock time and the CPU time of that run (all threads of the process)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        job()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def report(label: str, measured: tuple[float, float], target: float) -> None:
    wall, cpu = measured
    verdict = "within" if wall <= target else "OVER"
    print(f"{label:<56} {wall:6.2f} s wall, {cpu:6.2f} s CPU  (target {target:g} s: {verdict})")


def main() -> None:
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}; load average: {load:.2f}; draws per scenario: {DRAWS:,}")
    scenarios = {name: load_scenario(name) for name in FIVE}
    one = scenarios["nl-detection-orders"]
    report(
        "1 scenario, 1 M draws, full funnel + summary (best of 3)",
        best_of(3, lambda: run(one, DRAWS, 1)),
        2.0,
    )
    report(
        "5 scenarios, 1 M draws each (best of 2)",
        best_of(2, lambda: [run(s, DRAWS, 1) for s in scenarios.values()]),
        10.0,
    )

    def queue() -> None:
        # 1 M notifications a year against capacity for 1.2 M at 30 minutes each.
        year = Year(1_000_000, (0.002, 0.1, 0.3), 30.0, 600_000.0)
        arrivals = year.arrivals(year.per_year, seed=1)
        assert arrivals.day.size > 990_000
        waits(arrivals, "fifo", year)
        waits(arrivals, "priority", year)

    report("queue, 1 M notifications, FIFO + priority (best of 2)", best_of(2, queue), 30.0)


if __name__ == "__main__":
    main()
