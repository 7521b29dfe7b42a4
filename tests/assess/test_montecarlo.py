"""Monte Carlo: seeded and reproducible, intervals ordered, every output traced to its inputs."""

from __future__ import annotations

import numpy as np

from safeguarding.assess.funnel import OUTPUTS
from safeguarding.assess.montecarlo import POOL, draw, interval, run
from safeguarding.assess.scenario import load_scenario


def test_same_seed_same_results_and_another_seed_differs() -> None:
    scenario = load_scenario("nl-status-quo")
    first, again, other = run(scenario, 3000, 11), run(scenario, 3000, 11), run(scenario, 3000, 12)
    assert first.as_dict() == again.as_dict()
    assert first.outputs["forwarded"] != other.outputs["forwarded"]


def test_same_seed_same_draws_beyond_the_pool() -> None:
    scenario = load_scenario("eu-status-quo")
    a = draw(scenario, POOL + 1000, 5)
    b = draw(scenario, POOL + 1000, 5)
    for name, values in a.items():
        assert np.array_equal(np.asarray(values), np.asarray(b[name]))
    varying = [np.asarray(v) for v in a.values() if np.ndim(v) > 0]
    assert varying and all(v.size == POOL + 1000 for v in varying)


def test_draws_of_one_parameter_do_not_depend_on_the_others() -> None:
    full = load_scenario("eu-status-quo")
    orders = load_scenario("eu-detection-orders")
    name = "police.hours_per_investigation"  # the same distribution in both
    assert full[name].dist == orders[name].dist
    assert np.array_equal(draw(full, 500, 3)[name], draw(orders, 500, 3)[name])


def test_every_output_has_an_ordered_interval_and_traces() -> None:
    summary = run(load_scenario("eu-detection-orders"), 4000, 2)
    for output in OUTPUTS:
        found = summary.outputs[output.name]
        if np.isfinite(found.median):
            assert found.low <= found.median <= found.high
        trace = summary.traces(output.name)
        assert trace["parameters"]
        for ident in trace["evidence"]:
            assert any(ident in summary.scenario[p].source.evidence for p in trace["parameters"])
    trace = summary.traces("false_items_flagged")
    assert "detection.grooming.false_positive_rate" in trace["parameters"]
    assert "scientists.whatsapp.2024" in trace["evidence"]
    assert "police.capacity_hours" not in trace["parameters"]


def test_interval_leaves_out_undefined_draws_and_says_how_many() -> None:
    values = np.array([np.nan, 1.0, 2.0, 3.0, np.inf])
    found = interval(values)
    assert found.median == 2.0
    assert found.undefined == 0.4  # two of five draws had no value; they used to vanish unsaid
    assert found.as_dict()["undefined"] == 0.4
    constant = interval(np.broadcast_to(np.float64(4.0), (10,)))
    assert (constant.low, constant.median, constant.high, constant.undefined) == (4, 4, 4, 0)
    nothing = interval(np.array([np.nan]))
    assert np.isnan(nothing.median) and nothing.undefined == 1.0
    assert interval(np.broadcast_to(np.float64(np.nan), (10,))).undefined == 1.0


def test_the_scenarios_argue_in_the_expected_direction() -> None:
    """Detection orders produce more notifications and a lower PPV than the status quo."""
    quo = run(load_scenario("nl-status-quo"), 4000, 1).outputs
    orders = run(load_scenario("nl-detection-orders"), 4000, 1).outputs
    proactive = run(load_scenario("nl-proactive"), 4000, 1).outputs
    assert orders["notifications"].median > 10 * quo["notifications"].median
    assert orders["ppv_forwarded"].median < quo["ppv_forwarded"].median
    assert orders["capacity_share"].median > quo["capacity_share"].median
    assert proactive["cases_total"].median > quo["cases_total"].median
