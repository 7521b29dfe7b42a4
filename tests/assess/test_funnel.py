"""Funnel invariants: conservation, ordering of stages, PPV bounds, monotonicity, traced inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.assess.funnel import (
    DEPENDS,
    OUTPUTS,
    STAGES,
    Value,
    output_inputs,
    run_funnel,
)
from safeguarding.assess.scenario import PARAMETERS, TECHNOLOGIES

# Shares and volumes are zero or far above the floating-point floor. Products of tiny ones
# (a scope share of 8e-116 times a jurisdiction share of 2e-224) fall below 2.2e-308, where a
# float keeps only a few significant bits and ratios such as PPV stop being exact: a property of
# the numbers, not of the model, and of no scenario anyone could hold.
share = st.one_of(st.just(0.0), st.floats(1e-9, 1.0))
positive = st.floats(0.01, 1e4)
volume = st.one_of(st.just(0.0), st.floats(1e-3, 1e11))


@st.composite
def parameter_sets(draw: st.DrawFn) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for name, spec in PARAMETERS.items():
        if spec.kind == "share":
            values[name] = draw(share)
        elif spec.kind == "positive":
            values[name] = draw(positive)
        elif spec.kind == "fraction":
            values[name] = draw(st.floats(0.01, 1.0))
        else:
            values[name] = draw(volume)
    return values


def _one(params: dict[str, Value], name: str) -> float:
    return float(run_funnel(params, size=1).outputs[name][0])


@settings(max_examples=200, deadline=None)
@given(parameter_sets())
def test_true_and_false_positives_add_up_at_every_stage(p: dict[str, Value]) -> None:
    result = run_funnel(p, size=1)
    out = {k: float(v[0]) for k, v in result.outputs.items()}
    tp = {k: float(v[0]) for k, v in result.tp.items()}
    fp = {k: float(v[0]) for k, v in result.fp.items()}
    assert tp["scanned"] + fp["scanned"] == pytest.approx(out["items_scanned"], rel=1e-9)
    assert tp["flagged"] + fp["flagged"] == pytest.approx(out["items_flagged"], rel=1e-9)
    assert tp["reported"] + fp["reported"] == pytest.approx(out["notifications"], rel=1e-9)
    assert tp["forwarded"] + fp["forwarded"] == pytest.approx(out["forwarded"], rel=1e-9)
    assert out["investigated"] + out["actionable_not_investigated"] == pytest.approx(
        out["actionable"], rel=1e-9, abs=1e-9
    )
    for stage in STAGES:
        assert tp[stage] >= 0 and fp[stage] >= 0


@settings(max_examples=200, deadline=None)
@given(parameter_sets())
def test_each_stage_keeps_no_more_than_the_one_before(p: dict[str, Value]) -> None:
    result = run_funnel(p, size=1)
    tp = {k: float(v[0]) for k, v in result.tp.items()}
    fp = {k: float(v[0]) for k, v in result.fp.items()}
    tol = 1e-9
    item_stages = ("scanned", "flagged", "reviewed")
    report_stages = ("reported", "filtered", "forwarded", "actionable", "investigated")
    for stages in (item_stages, report_stages):
        for before, after in itertools.pairwise(stages):
            assert tp[after] <= tp[before] * (1 + tol) + tol
            assert fp[after] <= fp[before] * (1 + tol) + tol


@settings(max_examples=200, deadline=None)
@given(parameter_sets())
def test_ppv_and_capacity_share_are_well_formed(p: dict[str, Value]) -> None:
    out = run_funnel(p, size=1).outputs
    for name in ("ppv_flagged", "ppv_reviewed", "ppv_reported", "ppv_forwarded"):
        value = float(out[name][0])
        assert np.isnan(value) or 0.0 <= value <= 1.0
    hours = float(out["police_hours_needed"][0])
    available = float(out["police_hours_available"][0])
    share_used = float(out["capacity_share"][0])
    if available > 0:
        assert share_used == pytest.approx(hours / available)
    assert float(out["backlog_growth"][0]) >= 0
    assert float(out["proactive_hours_displaced"][0]) <= available * (1 + 1e-9) + 1e-9


@settings(max_examples=150, deadline=None)
@given(parameter_sets(), st.sampled_from(TECHNOLOGIES), share, share)
def test_a_higher_false_positive_rate_never_helps(
    p: dict[str, Value], tech: str, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    name = f"detection.{tech}.false_positive_rate"
    at_low, at_high = run_funnel(p | {name: low}, size=1), run_funnel(p | {name: high}, size=1)
    for output in ("false_items_flagged", "people_wrongly_reported", "police_hours_needed"):
        assert at_high.outputs[output][0] >= at_low.outputs[output][0] * (1 - 1e-12)
    for output in ("ppv_flagged", "ppv_forwarded"):
        lo, hi = at_low.outputs[output][0], at_high.outputs[output][0]
        if not (np.isnan(lo) or np.isnan(hi)):
            assert hi <= lo + 1e-12
    assert at_high.outputs["investigated"][0] <= at_low.outputs["investigated"][0] * (1 + 1e-9)


@settings(max_examples=150, deadline=None)
@given(parameter_sets(), st.floats(1.0, 100.0))
def test_more_volume_means_more_notifications_and_hours(p: dict[str, Value], factor: float) -> None:
    bigger = dict(p)
    for kind in ("message", "image", "video"):
        for name in (f"volume.{kind}s_per_day", f"volume.{kind}_users"):
            bigger[name] = float(p[name]) * factor
    small, large = run_funnel(p, size=1).outputs, run_funnel(bigger, size=1).outputs
    for output in ("items_scanned", "notifications", "forwarded", "police_hours_needed"):
        assert large[output][0] >= small[output][0] * (1 - 1e-12)
    # PPV does not depend on volume at all.
    for output in ("ppv_flagged", "ppv_forwarded"):
        if np.isfinite(small[output][0]) and np.isfinite(large[output][0]):
            assert large[output][0] == pytest.approx(small[output][0], rel=1e-9)


def test_every_output_names_its_inputs_and_every_node_resolves() -> None:
    for output in OUTPUTS:
        assert output.name in DEPENDS
        assert output_inputs(output.name) <= set(PARAMETERS)
    for node, inputs in DEPENDS.items():
        for item in inputs:
            assert item in PARAMETERS or item in DEPENDS, (node, item)


@settings(max_examples=60, deadline=None)
@given(parameter_sets(), st.sampled_from(sorted(PARAMETERS)), st.floats(0.1, 0.9))
def test_outputs_move_only_with_the_inputs_they_declare(
    p: dict[str, Value], name: str, fraction: float
) -> None:
    spec = PARAMETERS[name]
    changed = float(p[name]) * fraction if spec.kind != "share" else 1 - float(p[name])
    if spec.kind in {"positive", "fraction"}:
        changed = max(changed, 0.005)
    before = run_funnel(p, size=1).outputs
    after = run_funnel(p | {name: changed}, size=1).outputs
    for output in OUTPUTS:
        if name not in output_inputs(output.name):
            a, b = before[output.name][0], after[output.name][0]
            assert (np.isnan(a) and np.isnan(b)) or a == b, (output.name, name)


def test_vectorised_draws_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    arrays: dict[str, Value] = {}
    for name, spec in PARAMETERS.items():
        if spec.kind == "share":
            arrays[name] = rng.uniform(0, 1, 50)
        elif spec.kind == "positive":
            arrays[name] = rng.uniform(0.5, 50, 50)
        elif spec.kind == "fraction":
            arrays[name] = rng.uniform(0.1, 1, 50)
        else:
            arrays[name] = rng.uniform(0, 1e9, 50)
    together = run_funnel(arrays, size=50).outputs
    for i in (0, 17, 49):
        single = run_funnel({k: float(np.asarray(v)[i]) for k, v in arrays.items()}, size=1)
        for output in OUTPUTS:
            a, b = together[output.name][i], single.outputs[output.name][0]
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12)
