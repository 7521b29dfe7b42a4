"""Charts of an assessment, drawn from its stored results (plain dicts), never by re-running it.

- funnel: true and false positives at every stage of one scenario (a symmetric log scale: the
  stages span ten orders of magnitude, and a count or an interval's end can be 0);
- capacity: police hours needed against hours available per scenario, medians with 90% intervals;
- tornado: what moves an output most, one parameter at a time;
- waiting: the waiting time of the highest-priority notifications as the volume grows, under
  first-in-first-out and under priority order.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt

from safeguarding.assess.assessment import untold_waits
from safeguarding.assess.funnel import STAGE_TITLES

WIDTH = 520


def _data(rows: list[dict[str, Any]]) -> Any:
    """Rows embedded in the chart itself: rendering fetches nothing."""
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _finite(value: float | None) -> bool:
    """Whether a stored number can be drawn: json_safe stores NaN and infinities as None."""
    return value is not None and math.isfinite(value)


def _interval(output: dict[str, Any]) -> dict[str, float] | None:
    """Median, low and high to draw, or None for an output undefined in every draw.

    Zeros are drawn as zeros: a log scale has no place for 0, and putting the median in place of
    a lower bound of 0 showed "investigated: 0 to 65" as no interval at all (``_counts_axis``
    places 0).
    """
    if not _finite(output["median"]):
        return None
    return {key: output[key] for key in ("median", "low", "high")}


def _counts_axis(rows: list[dict[str, Any]], title: str) -> Any:
    """An x axis for counts that span decades and may be 0: a symmetric log scale.

    It is linear up to ``constant`` and logarithmic above, so 0 sits at the left edge and the
    decades keep their width. The constant is a tenth of the decade of the smallest positive
    number drawn, which puts 0 about one decade's width left of that decade: close, yet with
    room for its label. Ticks are 0 and each decade (Vega's own ticks on this scale are linear,
    1T, 2T, …, and unreadable).
    """
    values = [row[key] for row in rows for key in ("median", "low", "high")]
    positive = [v for v in values if v > 0]
    lowest = 10.0 ** math.floor(math.log10(min(positive))) if positive else 1.0
    ticks = [0.0, lowest]
    while ticks[-1] < max(positive, default=lowest):
        ticks.append(ticks[-1] * 10)
    return alt.X(
        "median:Q",
        scale=alt.Scale(type="symlog", constant=lowest / 10),
        # Formatted one by one: a shared format gives every tick the largest one's prefix (0T).
        axis=alt.Axis(values=ticks, labelExpr="format(datum.value, '~s')"),
        title=title,
    )


def funnel_chart(result: dict[str, Any]) -> Any:
    rows = []
    for position, stage in enumerate(result["stages"]):
        for kind, key in (
            ("true positives", "true_positives"),
            ("false positives", "false_positives"),
        ):
            drawn = _interval(stage[key])
            if drawn is not None:
                stage_title = f"{position + 1}. {STAGE_TITLES[stage['stage']]}"
                rows.append({"stage": stage_title, "kind": kind, **drawn})
    base = alt.Chart(_data(rows))
    y = alt.Y("stage:N", sort=None, title=None)
    points = base.mark_point(filled=True, size=70).encode(
        x=_counts_axis(rows, "per year (symmetric log scale, so that 0 can be shown)"),
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
            drawn = _interval(result["outputs"][key])
            if drawn is not None:
                rows.append({"scenario": result["scenario"], "hours": kind, **drawn})
    base = alt.Chart(_data(rows))
    y = alt.Y("scenario:N", sort=None, title=None)
    points = base.mark_point(filled=True, size=60).encode(
        x=_counts_axis(rows, "police hours a year (symmetric log scale, so that 0 can be shown)"),
        y=y,
        color=alt.Color("hours:N", title=None),
    )
    rules = base.mark_rule().encode(x="low:Q", x2="high:Q", y=y, color="hours:N")
    return (rules + points).properties(
        width=WIDTH, title="Police hours needed against available (median and 90% interval)"
    )


LOW_END = "parameter at its 5th percentile"
HIGH_END = "parameter at its 95th percentile"
END_COLOURS = ("#e45756", "#4c78a8")


def tornado_chart(bars: list[dict[str, Any]], output: str, title: str) -> Any:
    """Per parameter, two segments from the base output (every parameter at its median): to the
    output with the parameter at its 5th percentile and to the output at its 95th, coloured
    apart with a legend. One bar from the lower to the higher output lost which end gave which,
    so a parameter that lowers the output as it grows read as one that raises it.

    Only bars whose output is defined at both ends and at the base: an output that is undefined
    (PPV where nothing is forwarded) has no bar rather than a made-up one.
    """
    rows = [
        {"parameter": bar["parameter"], "end": end, "base": bar["base_output"], "output": value}
        for bar in bars
        if all(_finite(bar[key]) for key in ("low_output", "high_output", "base_output"))
        for end, value in ((LOW_END, bar["low_output"]), (HIGH_END, bar["high_output"]))
    ]
    base = alt.Chart(_data(rows))
    y = alt.Y("parameter:N", sort=None, title=None)
    segments = base.mark_bar(opacity=0.85).encode(
        x=alt.X("base:Q", title=f"{output}, one parameter moved from its median"),
        x2="output:Q",
        y=y,
        color=alt.Color(
            "end:N",
            scale=alt.Scale(domain=[LOW_END, HIGH_END], range=list(END_COLOURS)),
            legend=alt.Legend(title=None, orient="bottom"),
        ),
    )
    centre = base.mark_tick(color="black").encode(x="base:Q", y=y)
    return (segments + centre).properties(width=WIDTH, title=title)


MEASURED = "days, as simulated"
BEYOND = "beyond the horizon, drawn at it"


def waiting_chart(results: list[dict[str, Any]], level: str = "P1") -> Any:
    """The level's 90th percentile wait per scenario and discipline as the volume grows.

    A percentile beyond the simulation's horizon (over a year for an overloaded queue) is no
    number of days: it is marked apart, an upward triangle drawn at the horizon and named in the
    legend, and the line, which joins measured waits only, does not run through it; the title's
    note names them with the horizon. Points the queue left out near full load are named there
    too rather than silently missing.
    """
    rows = []
    beyond: dict[tuple[str, str, float], list[str]] = {}
    untold = [
        f"{result['scenario']} {policy} at {growth:g}×"
        for result in results
        for growth, policy, levels in untold_waits(result.get("queue", {}))
        if level in levels
    ]
    for result in results:
        queue = result.get("queue", {})
        if not queue.get("simulated"):
            continue
        for run in queue["runs"]:
            for policy, waits in run["policies"].items():
                for wait in waits:
                    if wait["level"] != level:
                        continue
                    if wait.get("p90_beyond_horizon"):
                        days, reading = wait["horizon_days"], BEYOND
                        where = (result["scenario"], policy, days)
                        beyond.setdefault(where, []).append(f"{run['growth']:g}×")
                    elif _finite(wait["p90_days"]):
                        days, reading = wait["p90_days"], MEASURED
                    else:
                        continue
                    rows.append(
                        {
                            "scenario": result["scenario"],
                            "policy": policy,
                            "growth": run["growth"],
                            "hours": max(days * 24, 0.01),
                            "reading": reading,
                        }
                    )
    title: Any = f"Waiting of {level} notifications as volume grows"
    notes = [
        f"▲ over {days:g} d, beyond the simulated horizon: {scenario} {policy} at "
        + ", ".join(growths)
        for (scenario, policy, days), growths in beyond.items()
    ]
    if untold:
        notes.append(
            "not shown, too near full load for the simulated unit to tell: " + ", ".join(untold)
        )
    if notes:
        title = alt.TitleParams(title, subtitle=notes)
    base = alt.Chart(_data(rows)).encode(
        x=alt.X("growth:Q", title="volume as a multiple of the scenario's"),
        y=alt.Y(
            "hours:Q",
            scale=alt.Scale(type="log"),
            title=f"90th percentile wait of {level}, hours (log)",
        ),
        color=alt.Color("scenario:N"),
    )
    lines = (
        base.transform_filter(alt.datum.reading == MEASURED)
        .mark_line()
        .encode(strokeDash=alt.StrokeDash("policy:N"))
    )
    points = base.mark_point(filled=True, size=70).encode(
        shape=alt.Shape(
            "reading:N",
            scale=alt.Scale(domain=[MEASURED, BEYOND], range=["circle", "triangle-up"]),
            title="90th percentile",
        )
    )
    return (lines + points).properties(width=WIDTH, title=title)
