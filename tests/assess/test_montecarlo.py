"""Monte Carlo: seeded and reproducible, intervals ordered, every output traced to its inputs."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from safeguarding.assess.assessment import assess_scenario, queue_for
from safeguarding.assess.funnel import OUTPUTS
from safeguarding.assess.montecarlo import POOL, Interval, Summary, draw, interval, run
from safeguarding.assess.scenario import Scenario, load_scenario
from safeguarding.errors import ValidationError
from safeguarding.evidence import shipped_evidence


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


def _extreme(tmp_path: Path, body: str) -> Scenario:
    path = tmp_path / "extreme.toml"
    path.write_text(
        '[scenario]\nextends = "nl-status-quo"\ntitle = "at the limits"\n' + body, encoding="utf-8"
    )
    return load_scenario(str(path))


# Every number within the documented range (up to 1e15, positive quantities down to 1e-15): the
# chain of products reaches about 1e47 notifications, far past single precision (3e38), where the
# funnel turned infinite, then NaN, and the queue failed on a NaN volume.
AT_THE_LIMITS = """
[volume]
messages_per_day = { dist = "uniform", low = 0.9e15, high = 1e15, assumption = "a" }
message_users = { value = 1e15, assumption = "a" }
messages_per_user_per_day = { value = 1e15, assumption = "a" }
[review]
items_per_report = { value = 1e-15, assumption = "a" }
accounts_per_report = { value = 1e15, assumption = "a" }
[detection.grooming]
coverage = { value = 1, assumption = "a" }
prevalence = { value = 0.5, assumption = "a" }
sensitivity = { value = 1, assumption = "a" }
[police]
hours_per_investigation = { value = 1e15, assumption = "a" }
minutes_per_notification = { value = 1e15, assumption = "a" }
"""


def test_numbers_within_the_documented_limits_keep_every_output_finite(tmp_path: Path) -> None:
    scenario = _extreme(tmp_path, AT_THE_LIMITS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no invalid value on the way
        result = assess_scenario(scenario, 500, 1, sensitivity_draws=500, queue_cap=2_000)
    for name, output in result.summary.outputs.items():
        if name.startswith("ppv") or name == "capacity_share":
            continue  # ratios: defined wherever their denominator is positive
        assert output.undefined == 0.0, name
        assert math.isfinite(output.median) and math.isfinite(output.high), name
    assert result.summary.outputs["notifications"].median > 1e46
    queue = result.queue
    assert queue["simulated"] or queue["reason"]


def test_a_queue_input_without_a_finite_value_is_not_simulated_and_says_why() -> None:
    scenario = load_scenario("nl-status-quo")
    for forwarded, capacity in ((math.nan, 1e5), (math.inf, 1e5), (1e4, math.nan)):
        outputs = {
            "forwarded": Interval(forwarded, forwarded, forwarded),
            "police_hours_available": Interval(capacity, capacity, capacity),
        }
        found = queue_for(Summary(scenario, 1, 1, outputs, {}, {}), 1)
        assert found == {
            "simulated": False,
            "reason": "the forwarded notifications or the police hours have no finite median",
        }


def test_a_positive_quantity_below_the_documented_range_is_refused(tmp_path: Path) -> None:
    # A divisor of 1e-300 is within "-1e15 to 1e15" but makes 1e300 of anything it divides.
    with pytest.raises(ValidationError) as refused:
        _extreme(tmp_path, '[review]\nitems_per_report = { value = 1e-300, assumption = "a" }\n')
    assert str(refused.value) == (
        "extreme.toml:5: review.items_per_report: must be at least 1e-15 (got 1e-300)"
    )
    fraction = (
        '[central]\nbundling_ratio = { dist = "uniform", low = 1e-16, high = 0.5, '
        'assumption = "a" }\n'
    )
    with pytest.raises(ValidationError, match="must be at least 1e-15 and at most 1"):
        _extreme(tmp_path, fraction)
    assert _extreme(tmp_path, '[review]\nitems_per_report = { value = 1e-15, assumption = "a" }\n')


def test_a_trace_tells_evidence_from_assumptions_informed_by_it() -> None:
    summary = run(load_scenario("nl-status-quo"), 500, 1)
    trace = summary.traces("capacity_share")
    kinds = ("from_evidence", "assumptions_with_evidence", "assumptions_only", "from_data")
    named = [name for kind in kinds for name in trace[kind]]
    assert sorted(named) == trace["parameters"]  # each parameter of exactly one kind
    # Hours per investigation is an assumption that evidence informs (about 150 officers made
    # 478 cases): counted as "citing evidence", it read as a measured figure.
    assert "police.hours_per_investigation" in trace["assumptions_with_evidence"]
    assert trace["from_evidence"] == ["central.bundling_ratio"]  # NCMEC's published ratio
    assert trace["assumptions_only"] and not trace["from_data"]
    base = shipped_evidence()
    assert trace["evidence_tags"] == {ident: base.get(ident).tag for ident in trace["evidence"]}
    as_stored = summary.as_dict()
    assert as_stored["evidence_tags"] == {i: base.get(i).tag for i in as_stored["evidence"]}
    hours = next(p for p in as_stored["parameters"] if p["name"] == "police.capacity_hours")
    assert hours["source"]["evidence_tags"] == {"nl.police.staff": base.get("nl.police.staff").tag}
