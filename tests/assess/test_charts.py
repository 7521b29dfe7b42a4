"""The assessment's charts draw what the stored results say, zeros and undefined values included."""

from __future__ import annotations

from typing import Any

from safeguarding.assess.funnel import STAGES
from safeguarding.reporting.assess_charts import (
    BEYOND,
    HIGH_END,
    LOW_END,
    capacity_chart,
    funnel_chart,
    tornado_chart,
    waiting_chart,
)
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


def _queue(p90: dict[str, float | None], beyond: set[float]) -> dict[str, Any]:
    """A stored queue result with P1's 90th percentile wait per volume multiple (FIFO)."""
    return {
        "simulated": True,
        "runs": [
            {
                "growth": growth,
                "policies": {
                    "fifo": [
                        {
                            "level": "P1",
                            "p90_days": days,
                            "p90_beyond_horizon": growth in beyond,
                            "horizon_days": 365.0,
                        }
                    ]
                },
            }
            for growth, days in p90.items()
        ],
    }


def test_a_wait_beyond_the_horizon_is_marked_apart_and_off_the_line() -> None:
    queue = _queue({0.5: 2.0, 1.0: None, 2.0: None}, beyond={1.0, 2.0})
    chart = waiting_chart([{"scenario": "s", "queue": queue}])
    spec = chart.to_dict()
    rows = spec["data"]["values"]
    assert [(r["growth"], r["hours"], r["reading"]) for r in rows] == [
        (0.5, 48.0, "days, as simulated"),
        (1.0, 365.0 * 24, BEYOND),
        (2.0, 365.0 * 24, BEYOND),
    ]
    line, points = spec["layer"]
    assert line["transform"] == [{"filter": "(datum.reading === 'days, as simulated')"}]
    shape = points["encoding"]["shape"]["scale"]
    assert shape == {"domain": ["days, as simulated", BEYOND], "range": ["circle", "triangle-up"]}
    assert spec["title"]["subtitle"] == [
        "▲ over 365 d, beyond the simulated horizon: s fifo at 1×, 2×"
    ]
    assert "<svg" in to_svg(chart)


def test_the_tornado_keeps_which_end_of_the_parameter_gives_which_output() -> None:
    # A parameter that lowers its output as it grows gives the higher output at its 5th
    # percentile. Drawn as one bar from the lower output to the higher, which end was which was
    # lost while the axis spoke of the 5th / 95th percentile.
    bars = [
        {
            "parameter": "falls",
            "low_input": 0.1,
            "high_input": 0.9,
            "low_output": 0.8,
            "high_output": 0.2,
            "base_output": 0.5,
        },
        {
            "parameter": "rises",
            "low_input": 1.0,
            "high_input": 3.0,
            "low_output": 0.4,
            "high_output": 0.7,
            "base_output": 0.5,
        },
        {  # undefined at one end: no bar rather than a made-up one
            "parameter": "undefined",
            "low_input": 0.0,
            "high_input": 1.0,
            "low_output": None,
            "high_output": 0.7,
            "base_output": 0.5,
        },
    ]
    chart = tornado_chart(bars, "ppv_forwarded", "What drives ppv_forwarded")
    spec = chart.to_dict()
    rows = [(r["parameter"], r["end"], r["base"], r["output"]) for r in spec["data"]["values"]]
    assert rows == [
        ("falls", LOW_END, 0.5, 0.8),
        ("falls", HIGH_END, 0.5, 0.2),
        ("rises", LOW_END, 0.5, 0.4),
        ("rises", HIGH_END, 0.5, 0.7),
    ]
    segments = spec["layer"][0]
    assert segments["encoding"]["x"]["field"] == "base"
    assert segments["encoding"]["x2"]["field"] == "output"
    color = segments["encoding"]["color"]
    assert color["field"] == "end" and color["scale"]["domain"] == [LOW_END, HIGH_END]
    assert len(set(color["scale"]["range"])) == 2 and color["legend"] is not None
    assert "<svg" in to_svg(chart)
