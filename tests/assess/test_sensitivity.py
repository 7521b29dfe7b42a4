"""Sensitivity: first-order indices recover known variance shares; tornado ranks real drivers."""

from __future__ import annotations

import numpy as np
import pytest

from safeguarding.assess.funnel import output_inputs
from safeguarding.assess.montecarlo import simulate
from safeguarding.assess.scenario import load_scenario
from safeguarding.assess.sensitivity import first_order, first_order_indices, tornado


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (2.0, 1.0), (1.0, 0.0), (0.3, 1.0)])
def test_first_order_of_a_linear_model_is_its_variance_share(a: float, b: float) -> None:
    rng = np.random.default_rng(4)
    x1, x2 = rng.uniform(0, 1, 100_000), rng.uniform(0, 1, 100_000)
    y = a * x1 + b * x2
    expected = a**2 / (a**2 + b**2)
    assert first_order(x1, y) == pytest.approx(expected, abs=0.02)
    assert first_order(x2, y) == pytest.approx(1 - expected, abs=0.02)


def test_first_order_of_an_unrelated_input_is_near_zero() -> None:
    rng = np.random.default_rng(5)
    assert first_order(rng.normal(size=50_000), rng.normal(size=50_000)) < 0.01


def test_tornado_ranks_inputs_of_the_output_by_swing() -> None:
    simulation = simulate(load_scenario("nl-detection-orders"), 4000, 1)
    bars = tornado(simulation, "capacity_share")
    assert bars
    assert all(bar.parameter in output_inputs("capacity_share") for bar in bars)
    swings = [bar.swing for bar in bars]
    assert swings == sorted(swings, reverse=True)
    assert all(bar.low_input <= bar.high_input for bar in bars)
    # Capacity is in the denominator: more capacity, a smaller share consumed.
    capacity = next(bar for bar in bars if bar.parameter == "police.capacity_hours")
    assert capacity.high_output < capacity.low_output


def test_first_order_indices_are_shares() -> None:
    simulation = simulate(load_scenario("eu-status-quo"), 4000, 1)
    indices = first_order_indices(simulation, "ppv_forwarded")
    assert indices and all(0.0 <= v <= 1.0 for v in indices.values())
    assert sum(indices.values()) <= 1.2
    assert list(indices.values()) == sorted(indices.values(), reverse=True)
