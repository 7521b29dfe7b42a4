"""The assessment's charts draw what the stored results say, zeros and undefined values included."""

from __future__ import annotations

from typing import Any

from safeguarding.assess.funnel import STAGES
from safeguarding.reporting.assess_charts import capacity_chart, funnel_chart
from safeguarding.reporting.charts import to_svg


def _stage(median: float | None, low: float | None, high: float | None) -> dict[str, Any]:
    return {"median": median, "low": low, "high": high}


def _result() -> dict[str, Any]:
    stages = [
        {
            "stage": stage,
            "true_positives": _stage(1000.0 / (i + 1), 500.0 / (i + 1), 4000.0),
            "false_positives": _stage(2.0e9, 1.0e8, 3.0e10),
        }
        for i, stage in enumerate(STAGES)
    ]
    # As in detection orders: a median of 0 investigations with an interval up to 65, and an
    # interval from 0 around a median of 5.
    stages[-1]["true_positives"] = _stage(0.0, 0.0, 65.0)
    stages[-2]["true_positives"] = _stage(5.0, 0.0, 65.0)
    stages[-1]["false_positives"] = _stage(None, None, None)  # undefined in every draw
    return {"scenario": "s", "title": "S", "stages": stages}


def _rows(chart: Any) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    rows: list[dict[str, Any]] = spec["data"]["values"]
    return rows


def test_the_funnel_draws_an_interval_from_zero_and_a_median_of_zero() -> None:
    chart = funnel_chart(_result())
    rows = {(r["stage"], r["kind"]): r for r in _rows(chart)}
    # The lower bound of 0 used to be replaced by the median (no interval drawn), and a median of
    # 0 dropped the stage: a log scale has no place for 0.
    assert rows[("7. actionable", "true positives")] == {
        "stage": "7. actionable",
        "kind": "true positives",
        "median": 5.0,
        "low": 0.0,
        "high": 65.0,
    }
    assert rows[("8. investigated", "true positives")]["median"] == 0.0
    assert ("8. investigated", "false positives") not in rows
    x = chart.to_dict()["layer"][1]["encoding"]["x"]
    # Linear below a tenth of the smallest positive number's decade (5 → 1), so 0 sits about a
    # decade's width left of the tick at 1.
    assert x["scale"] == {"type": "symlog", "constant": 0.1}
    assert x["axis"]["values"][:3] == [0.0, 1.0, 10.0]
    assert x["axis"]["values"][-1] >= 3.0e10
    assert "<svg" in to_svg(chart)


def test_the_capacity_chart_draws_hours_needed_from_zero() -> None:
    outputs = {
        "police_hours_needed": _stage(1000.0, 0.0, 50_000.0),
        "police_hours_available": _stage(200_000.0, 175_000.0, 236_000.0),
    }
    rows = _rows(capacity_chart([{"scenario": "s", "outputs": outputs}]))
    assert [(r["hours"], r["low"]) for r in rows] == [("needed", 0.0), ("available", 175_000.0)]
