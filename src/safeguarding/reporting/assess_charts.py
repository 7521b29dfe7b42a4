"""Charts of an assessment, drawn from its stored results (plain dicts), never by re-running it.

- funnel: true and false positives at every stage of one scenario (log scale: the stages span
  ten orders of magnitude);
- capacity: police hours needed against hours available per scenario, medians with 90% intervals;
- tornado: what moves an output most, one parameter at a time;
- waiting: the waiting time of the highest-priority notifications as the volume grows, under
  first-in-first-out and under priority order.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt

from safeguarding.assess.funnel import STAGE_TITLES

WIDTH = 520


def _data(rows: list[dict[str, Any]]) -> Any:
    """Rows embedded in the chart itself: rendering fetches nothing."""
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _positive(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None


def funnel_chart(result: dict[str, Any]) -> Any:
    rows = []
    for position, stage in enumerate(result["stages"]):
        for kind, key in (
            ("true positives", "true_positives"),
            ("false positives", "false_positives"),
        ):
            value = _positive(stage[key]["median"])
            if value is not None:
                rows.append(
                    {
                        "stage": f"{position + 1}. {STAGE_TITLES[stage['stage']]}",
                        "kind": kind,
                        "median": value,
                        "low": _positive(stage[key]["low"]) or value,
                        "high": _positive(stage[key]["high"]) or value,
                    }
                )
    base = alt.Chart(_data(rows))
    y = alt.Y("stage:N", sort=None, title=None)
    points = base.mark_point(filled=True, size=70).encode(
        x=alt.X(
            "median:Q",
            scale=alt.Scale(type="log"),
            axis=alt.Axis(format="~s"),
            title="per year (log scale)",
        ),
        y=y,
        yOffset="kind:N",
        color=alt.Color("kind:N", title=None),
    )
    rules = base.mark_rule().encode(x="low:Q", x2="high:Q", y=y, yOffset="kind:N", color="kind:N")
    return (rules + points).properties(
        width=WIDTH, title=f"Funnel: {result['title']} (median and 90% interval)"
    )


def capacity_chart(results: list[dict[str, Any]]) -> Any:
    rows = []
    for result in results:
        for kind, key in (
            ("needed", "police_hours_needed"),
            ("available", "police_hours_available"),
        ):
            out = result["outputs"][key]
            median = _positive(out["median"])
            if median is not None:
                rows.append(
                    {
                        "scenario": result["scenario"],
                        "hours": kind,
                        "median": median,
                        "low": _positive(out["low"]) or median,
                        "high": _positive(out["high"]) or median,
                    }
                )
    base = alt.Chart(_data(rows))
    y = alt.Y("scenario:N", sort=None, title=None)
    points = base.mark_point(filled=True, size=60).encode(
        x=alt.X(
            "median:Q",
            scale=alt.Scale(type="log"),
            axis=alt.Axis(format="~s"),
            title="police hours a year (log scale)",
        ),
        y=y,
        color=alt.Color("hours:N", title=None),
    )
    rules = base.mark_rule().encode(x="low:Q", x2="high:Q", y=y, color="hours:N")
    return (rules + points).properties(
        width=WIDTH, title="Police hours needed against available (median and 90% interval)"
    )


def _finite(value: float | None) -> bool:
    """Whether a stored number can be drawn: json_safe stores NaN and infinities as None."""
    return value is not None and math.isfinite(value)


def tornado_chart(bars: list[dict[str, Any]], output: str, title: str) -> Any:
    """The bars whose output is defined at both ends and at the base; an output that is
    undefined (PPV where nothing is forwarded) has no bar rather than a made-up one."""
    rows = [
        {
            "parameter": bar["parameter"],
            "low": min(bar["low_output"], bar["high_output"]),
            "high": max(bar["low_output"], bar["high_output"]),
            "base": bar["base_output"],
        }
        for bar in bars
        if all(_finite(bar[key]) for key in ("low_output", "high_output", "base_output"))
    ]
    base = alt.Chart(_data(rows))
    y = alt.Y("parameter:N", sort=None, title=None)
    spans = base.mark_bar(color="#4c78a8").encode(
        x=alt.X("low:Q", title=f"{output} with the parameter at its 5th / 95th percentile"),
        x2="high:Q",
        y=y,
    )
    centre = base.mark_tick(color="black").encode(x="base:Q", y=y)
    return (spans + centre).properties(width=WIDTH, title=title)


def waiting_chart(results: list[dict[str, Any]], level: str = "P1") -> Any:
    rows = []
    for result in results:
        queue = result.get("queue", {})
        if not queue.get("simulated"):
            continue
        for run in queue["runs"]:
            for policy, waits in run["policies"].items():
                for wait in waits:
                    days = wait["p90_days"]
                    if wait["level"] == level and _finite(days):
                        rows.append(
                            {
                                "scenario": result["scenario"],
                                "policy": policy,
                                "growth": run["growth"],
                                "hours": max(days * 24, 0.01),
                            }
                        )
    return (
        alt.Chart(_data(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("growth:Q", title="volume as a multiple of the scenario's"),
            y=alt.Y(
                "hours:Q",
                scale=alt.Scale(type="log"),
                title=f"90th percentile wait of {level}, hours (log)",
            ),
            color=alt.Color("scenario:N"),
            strokeDash=alt.StrokeDash("policy:N"),
        )
        .properties(width=WIDTH, title=f"Waiting of {level} notifications as volume grows")
    )
