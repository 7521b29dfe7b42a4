"""Model outputs written for people, the same in the terminal, the web app and the report.

A share above 1 (capacity consumed can exceed the capacity) reads better as 3.7× than as 370%,
a count of 12 million as 12 M, and a wait beyond what the queue simulation follows as "> 365 d"
rather than a number; every view of an assessment shows its figures this way.
"""

from __future__ import annotations

import math
from typing import Any


def human(value: float | None, unit: str = "") -> str:
    """A number for people: shares as percentages, ratios with ×, large counts with k, M, bn, tn.

    Three significant digits, and the suffix is chosen for the number as rounded: 999,600 is
    1 M, where choosing it first gave 999.6 k rounded to "1e+03 k". Beyond a thousand trillion
    the trillions are written out ("1,000 tn").
    """
    if value is None or not math.isfinite(value):
        return "–"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "ratio":
        return f"{_count(value)}×"
    return _count(value)


def _count(value: float) -> str:
    rounded = float(f"{value:.3g}")
    for size, suffix in ((1e12, " tn"), (1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(rounded) >= size:
            scaled = rounded / size
            return (f"{scaled:,.0f}" if abs(scaled) >= 1000 else f"{scaled:.3g}") + suffix
    return f"{rounded:.3g}"


def undefined_note(output: dict[str, Any]) -> str:
    """`` (12.5% of draws undefined)`` when an output has no value in some draws, else ``""``.

    Its median and interval hold only for the other draws, which the reader must be told.
    Results stored before the share was recorded have none.
    """
    share = output.get("undefined") or 0.0
    if share <= 0:
        return ""
    shown = "<0.1%" if share < 0.001 else f"{share:.1%}"
    return f" ({shown} of draws undefined)"


def interval(output: dict[str, Any]) -> tuple[str, str, str]:
    """An output's median, low and high (its 90 % interval) as ``human`` writes them."""
    unit = output.get("unit", "")
    if unit == "share" and (output["high"] or 0) > 1:
        unit = "ratio"
    return human(output["median"], unit), human(output["low"], unit), human(output["high"], unit)


def duration(days: float) -> str:
    """A wait in days as people read it: minutes under an hour, hours under a day, else days;
    a wait of seconds is "< 1 min" (assessment takes half an hour: seconds say nothing)."""
    if days == 0:
        return "0 min"
    if days < 1 / 24 / 60:
        return "< 1 min"
    if days < 1 / 24:
        return f"{days * 24 * 60:.3g} min"
    if days < 1:
        return f"{days * 24:.3g} h"
    return f"{days:.3g} d"


def wait_text(wait: dict[str, Any], key: str) -> str:
    """A level's ``median`` or ``p90`` wait from a stored queue result.

    A percentile beyond the simulation's horizon is "> 365 d", not a number; one the unit was too
    small to tell near full load is "not given". Results stored before waits were followed past
    the year took them over the notifications handled within it, which understates them when
    some were not: such a figure says so.
    """
    if wait.get("indeterminate"):
        return "not given"
    if wait.get(f"{key}_beyond_horizon"):
        return f"> {wait['horizon_days']:g} d"
    days = wait.get(f"{key}_days")
    if days is None or not math.isfinite(days):
        return "–"
    shown = duration(days)
    if "horizon_days" not in wait and wait.get("unhandled_share"):
        return f"{shown} (of those handled)"
    return shown


def wait_cell(wait: dict[str, Any]) -> str:
    """Median / 90th percentile wait of a level and the share of it handled within the year."""
    if not wait.get("arrived"):
        return "none arrived"
    handled = human(1.0 - wait["unhandled_share"], "share")
    return f"{wait_text(wait, 'median')} / {wait_text(wait, 'p90')} ({handled})"


WAIT_COLUMNS = ("volume", "discipline")
WAIT_TITLE = (
    "Queue waits per level: median / 90th percentile (share handled within the year), at "
    "multiples of the forwarded volume"
)


def wait_rows(queue: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The queue's waits as a table for people: columns, then one row per volume multiple and
    discipline with a cell per level (``wait_cell``); no rows where the queue was not simulated."""
    if not queue.get("simulated") or not queue["runs"]:
        return [], []
    first = next(iter(queue["runs"][0]["policies"].values()))
    columns = [*WAIT_COLUMNS, *(w["level"] for w in first)]
    rows = [
        [f"{run['growth']:g}×", policy, *(wait_cell(w) for w in levels)]
        for run in queue["runs"]
        for policy, levels in run["policies"].items()
    ]
    return columns, rows


def sample_note(queue: dict[str, Any]) -> str:
    """Whether the queue followed a sample of the year rather than all of it, and how large.

    Above its cap the queue follows a representative share of the notifications with the same
    share of the capacity (``queue_sim``): its waits estimate the team's with sampling noise, which
    the reader is told. Results stored before the cap was recorded give the shares alone.
    """
    if not queue.get("simulated"):
        return ""
    shares = [run["unit_share"] for run in queue["runs"]]
    if min(shares, default=1.0) >= 1.0:
        return ""
    cap = queue.get("queue_cap")
    largest = queue.get("near_full_max")
    bound = (
        f"at most {cap:,} notifications a year, {largest:,} near full load; "
        if cap and largest
        else ""
    )
    spread = (
        human(min(shares), "share")
        if min(shares) == max(shares)
        else f"{human(min(shares), 'share')}–{human(max(shares), 'share')}"
    )
    return (
        f"simulated on a representative sample ({bound}{spread} of the year's notifications), "
        "with the same share of the capacity"
    )


def computed_from(inputs: dict[str, Any]) -> str:
    """How many of an output's parameters rest on evidence alone, are assumptions informed by
    evidence, are assumptions alone and come from data files, and how many figures they cite.

    Results stored before the first two were told apart counted both as citing evidence; they
    are shown as such, saying so, rather than as evidence.
    """
    data = f", {len(inputs['from_data'])} from data files" if inputs["from_data"] else ""
    if "from_evidence" in inputs:
        kinds = (
            f"{len(inputs['from_evidence'])} evidence, "
            f"{len(inputs['assumptions_with_evidence'])} assumptions informed by evidence"
        )
    else:
        kinds = (
            f"{len(inputs['citing_evidence'])} evidence or assumptions informed by it (stored "
            "before they were told apart)"
        )
    return (
        f"{len(inputs['parameters'])} parameters: {kinds}, "
        f"{len(inputs['assumptions_only'])} assumptions only{data}; "
        f"{len(inputs['evidence'])} evidence ids"
    )
