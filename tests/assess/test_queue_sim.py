"""The queue: vectorised FIFO and the priority loop agree with plain step-by-step references."""

from __future__ import annotations

import heapq

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.assess.queue_sim import (
    Arrivals,
    fifo_start,
    generate,
    growth_runs,
    priority_start,
    waits,
)


@st.composite
def arrivals(draw: st.DrawFn) -> Arrivals:
    n = draw(st.integers(0, 60))
    days = sorted(draw(st.lists(st.floats(0, 50), min_size=n, max_size=n)))
    levels = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    service = draw(st.lists(st.floats(0.001, 5), min_size=n, max_size=n))
    return Arrivals(
        np.array(days, dtype=float), np.array(levels, dtype=np.int64), np.array(service)
    )


def reference_fifo(a: Arrivals) -> list[float]:
    clock, starts = 0.0, []
    for day, service in zip(a.day.tolist(), a.service.tolist(), strict=True):
        clock = max(clock, day)
        starts.append(clock)
        clock += service
    return starts


def reference_priority(a: Arrivals, horizon: float) -> list[float]:
    starts = [float("inf")] * a.day.size
    waiting: list[tuple[int, float, int]] = []
    pending = list(range(a.day.size))
    clock = 0.0
    while pending or waiting:
        while pending and a.day[pending[0]] <= clock:
            i = pending.pop(0)
            heapq.heappush(waiting, (int(a.level[i]), float(a.day[i]), i))
        if not waiting:
            clock = float(a.day[pending[0]])
            continue
        if clock > horizon:
            break
        _, _, i = heapq.heappop(waiting)
        starts[i] = clock
        clock += float(a.service[i])
    return starts


@settings(max_examples=150, deadline=None)
@given(arrivals())
def test_vectorised_fifo_equals_the_step_by_step_queue(a: Arrivals) -> None:
    assert np.allclose(fifo_start(a), reference_fifo(a), rtol=1e-9, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(arrivals(), st.floats(1, 200))
def test_priority_loop_equals_a_heap_queue(a: Arrivals, horizon: float) -> None:
    mine = priority_start(a, horizon)
    ref = np.array(reference_priority(a, horizon))
    assert np.array_equal(np.isinf(mine), np.isinf(ref))
    finite = np.isfinite(ref)
    assert np.allclose(mine[finite], ref[finite])


def test_priority_shortens_the_wait_of_p1_when_overloaded() -> None:
    a = generate(20_000, (0.01, 0.1, 0.3), 30.0, 5_000.0, seed=3)  # twice the capacity
    fifo, prio = waits(a, "fifo"), waits(a, "priority")
    assert prio[0].p90_days < 1 < fifo[0].p90_days
    assert prio[0].handled == prio[0].arrived
    assert fifo[3].unhandled_share > 0.3 and prio[3].unhandled_share > fifo[3].unhandled_share


def test_the_capacity_bounds_the_work_done() -> None:
    a = generate(5_000, (0.01, 0.1, 0.3), 60.0, 1_000.0, seed=4)  # 5,000 hours of work, 1,000 h
    for policy in ("fifo", "priority"):
        start = fifo_start(a) if policy == "fifo" else priority_start(a)
        started = start <= 365.0
        # Everything started but the last item finished by the end of the year.
        done = a.service[started].sum() - a.service[started].max()
        assert done <= 365.0 + 1e-9
        assert 0.15 < started.mean() < 0.25


def test_growth_runs_are_seeded_and_grow() -> None:
    runs = growth_runs(2_000, (0.01, 0.1, 0.3), 30.0, 2_000.0, seed=1)
    again = growth_runs(2_000, (0.01, 0.1, 0.3), 30.0, 2_000.0, seed=1)
    assert [r.as_dict() for r in runs] == [r.as_dict() for r in again]
    counts = [r.notifications for r in runs]
    assert counts == sorted(counts)
