"""Model outputs written for people, the same in the terminal, the web app and the report.

A share above 1 (capacity consumed can exceed the capacity) reads better as 3.7× than as 370%,
and a count of 12 million as 12 M; every view of an assessment shows its figures this way.
"""

from __future__ import annotations

import math
from typing import Any


def human(value: float | None, unit: str = "") -> str:
    """A number for people: shares as percentages, ratios with ×, large counts with k, M, bn."""
    if value is None or not math.isfinite(value):
        return "–"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "ratio":
        return f"{value:.3g}×"
    magnitude = abs(value)
    for size, suffix in ((1e12, " tn"), (1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if magnitude >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


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
