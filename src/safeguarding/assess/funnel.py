"""The detection funnel: from content scanned to cases investigated, true and false positives apart.

Stages (per year)::

    scanned → flagged → after provider review → reported → after central filtering
            → forwarded to police → actionable → investigated

Every stage carries true positives (TP: the content is what the detector looks for) and false
positives (FP: innocent content). The positive predictive value at a stage is TP / (TP + FP).

The arithmetic is plain numpy over arrays: each parameter is an array of Monte Carlo draws (or a
scalar) and every output is an array of the same length, so a million draws are one pass. What
each output depends on is declared in ``DEPENDS`` and resolved to parameter names by
``output_inputs``; a test perturbs each parameter and checks that nothing outside the declared
inputs moves.

Conventions, stated once:
- Items flagged by different technologies are counted per technology (an image scanned by both
  the hash matcher and the classifier counts twice as "scanned"); the overlap of two false flags
  on the same innocent image is negligible at the rates involved.
- Provider review (a share per technology): a reviewed item goes on if the reviewer confirms
  it; unreviewed items are reported as flagged. Reports bundle ``items_per_report`` items and
  name ``accounts_per_report`` accounts; the central body then bundles reports per incident
  (``bundling_ratio``).
- Police assess every forwarded notification first (``minutes_per_notification``), then spend
  what is left of the capacity on investigations of actionable notifications; what does not fit
  is backlog. Hours spent assessing notifications that lead nowhere are hours that proactive work
  did not get: their foregone yield is ``proactive_cases_per_1000_hours`` per 1,000 hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from safeguarding.assess.scenario import PARAMETERS, TECHNOLOGIES

FloatArray = NDArray[np.floating[Any]]
Value = FloatArray | float
DAYS_PER_YEAR = 365.0
STAGES = (
    "scanned",
    "flagged",
    "reviewed",
    "reported",
    "filtered",
    "forwarded",
    "actionable",
    "investigated",
)
STAGE_TITLES = {
    "scanned": "content scanned",
    "flagged": "flagged by detection",
    "reviewed": "after provider review",
    "reported": "reported (notifications)",
    "filtered": "after central filtering",
    "forwarded": "forwarded to police",
    "actionable": "actionable",
    "investigated": "investigated",
}


@dataclass(frozen=True)
class Output:
    """One result of the model: its name, unit and meaning."""

    name: str
    unit: str
    description: str


OUTPUTS: tuple[Output, ...] = (
    Output("items_scanned", "items/year", "item scans (per technology)"),
    Output("items_flagged", "items/year", "items flagged by detection"),
    Output("false_items_flagged", "items/year", "innocent items flagged"),
    Output("notifications", "reports/year", "notifications received by the central body"),
    Output("forwarded", "reports/year", "notifications forwarded to this jurisdiction's police"),
    Output("actionable", "reports/year", "actionable notifications"),
    Output("investigated", "cases/year", "investigations the capacity allows"),
    Output("ppv_flagged", "share", "positive predictive value of flags"),
    Output("ppv_reviewed", "share", "PPV after provider review"),
    Output("ppv_reported", "share", "PPV of notifications"),
    Output("ppv_forwarded", "share", "PPV of notifications forwarded to police"),
    Output("people_wrongly_reported", "accounts/year", "innocent accounts reported"),
    Output("people_wrongly_forwarded", "accounts/year", "innocent accounts forwarded to police"),
    Output(
        "innocent_items_seen",
        "items/year",
        "private items of innocent users seen by human reviewers (provider, central, police)",
    ),
    Output("police_hours_needed", "hours/year", "assessment plus investigation hours needed"),
    Output("police_hours_available", "hours/year", "police hours available"),
    Output("capacity_share", "share", "share of police capacity the notifications consume"),
    Output("backlog_growth", "reports/year", "forwarded notifications not assessed in the year"),
    Output(
        "actionable_not_investigated", "cases/year", "actionable notifications left uninvestigated"
    ),
    Output(
        "proactive_hours_displaced",
        "hours/year",
        "hours spent on notifications that lead nowhere",
    ),
    Output(
        "proactive_cases_foregone", "cases/year", "cases those hours would have yielded proactively"
    ),
    Output("proactive_hours", "hours/year", "hours left for (or added to) proactive work"),
    Output("proactive_cases", "cases/year", "cases from proactive work"),
    Output("cases_total", "cases/year", "investigations from notifications plus proactive cases"),
)
OUTPUT_BY_NAME = {output.name: output for output in OUTPUTS}


def _tech_nodes() -> dict[str, tuple[str, ...]]:
    nodes: dict[str, tuple[str, ...]] = {}
    for tech in TECHNOLOGIES:
        base = "messages" if tech == "grooming" else "visual"
        nodes[f"{tech}_scanned"] = (base, f"detection.{tech}.coverage")
        nodes[f"{tech}_pos"] = (f"{tech}_scanned", f"detection.{tech}.prevalence")
        nodes[f"{tech}_tp"] = (f"{tech}_pos", f"detection.{tech}.sensitivity")
        nodes[f"{tech}_fp"] = (
            f"{tech}_scanned",
            f"{tech}_pos",
            f"detection.{tech}.false_positive_rate",
        )
        nodes[f"{tech}_tp_reviewed"] = (
            f"{tech}_tp",
            f"detection.{tech}.review_share",
            "review.true_confirmed",
        )
        nodes[f"{tech}_fp_reviewed"] = (
            f"{tech}_fp",
            f"detection.{tech}.review_share",
            "review.false_confirmed",
        )
        nodes[f"{tech}_fp_seen"] = (f"{tech}_fp", f"detection.{tech}.review_share")
    return nodes


# Each intermediate or output, and the parameters or intermediates it is computed from.
DEPENDS: dict[str, tuple[str, ...]] = {
    "messages": (
        "volume.messages_per_day",
        "volume.message_users",
        "volume.messages_per_user_per_day",
        "volume.scope_share",
    ),
    "visual": (
        "volume.images_per_day",
        "volume.image_users",
        "volume.images_per_user_per_day",
        "volume.videos_per_day",
        "volume.video_users",
        "volume.videos_per_user_per_day",
        "volume.scope_share",
    ),
    **_tech_nodes(),
    "scanned": tuple(f"{t}_scanned" for t in TECHNOLOGIES),
    "tp_flagged": tuple(f"{t}_tp" for t in TECHNOLOGIES),
    "fp_flagged": tuple(f"{t}_fp" for t in TECHNOLOGIES),
    "tp_reviewed": tuple(f"{t}_tp_reviewed" for t in TECHNOLOGIES),
    "fp_reviewed": tuple(f"{t}_fp_reviewed" for t in TECHNOLOGIES),
    "fp_seen_by_provider": tuple(f"{t}_fp_seen" for t in TECHNOLOGIES),
    "tp_reported": ("tp_reviewed", "review.items_per_report", "central.bundling_ratio"),
    "fp_reported": ("fp_reviewed", "review.items_per_report", "central.bundling_ratio"),
    "tp_filtered": ("tp_reported",),
    "fp_filtered": ("fp_reported", "central.unfounded_removed"),
    "tp_forwarded": (
        "tp_filtered",
        "central.duplicate_share",
        "central.deduplicated",
        "central.jurisdiction_share",
    ),
    "fp_forwarded": ("fp_filtered", "central.jurisdiction_share"),
    "forwarded": ("tp_forwarded", "fp_forwarded"),
    "tp_actionable": ("tp_forwarded", "police.actionable_share"),
    "assess_hours": ("forwarded", "police.minutes_per_notification"),
    "investigated": (
        "tp_actionable",
        "assess_hours",
        "police.capacity_hours",
        "police.hours_per_investigation",
    ),
    # outputs
    "items_scanned": ("scanned",),
    "items_flagged": ("tp_flagged", "fp_flagged"),
    "false_items_flagged": ("fp_flagged",),
    "notifications": ("tp_reported", "fp_reported"),
    "actionable": ("tp_actionable",),
    "ppv_flagged": ("tp_flagged", "fp_flagged"),
    "ppv_reviewed": ("tp_reviewed", "fp_reviewed"),
    "ppv_reported": ("tp_reported", "fp_reported"),
    "ppv_forwarded": ("tp_forwarded", "fp_forwarded"),
    "people_wrongly_reported": ("fp_reported", "review.accounts_per_report"),
    "people_wrongly_forwarded": ("fp_forwarded", "review.accounts_per_report"),
    "innocent_items_seen": (
        "fp_seen_by_provider",
        "fp_reviewed",
        "fp_forwarded",
        "review.items_per_report",
        "central.bundling_ratio",
    ),
    "police_hours_needed": ("assess_hours", "tp_actionable", "police.hours_per_investigation"),
    "police_hours_available": ("police.capacity_hours",),
    "capacity_share": ("police_hours_needed", "police.capacity_hours"),
    "backlog_growth": ("forwarded", "assess_hours", "police.capacity_hours"),
    "actionable_not_investigated": ("tp_actionable", "investigated"),
    "proactive_hours_displaced": (
        "assess_hours",
        "forwarded",
        "tp_actionable",
        "police.capacity_hours",
    ),
    "proactive_cases_foregone": (
        "proactive_hours_displaced",
        "police.proactive_cases_per_1000_hours",
    ),
    "proactive_hours": (
        "police_hours_needed",
        "police.capacity_hours",
        "police.extra_proactive_hours",
    ),
    "proactive_cases": ("proactive_hours", "police.proactive_cases_per_1000_hours"),
    "cases_total": ("investigated", "proactive_cases"),
}


@cache
def output_inputs(name: str) -> frozenset[str]:
    """The parameters an output (or intermediate) is computed from, transitively."""
    found: set[str] = set()
    for item in DEPENDS[name]:
        if item in PARAMETERS:
            found.add(item)
        else:
            found |= output_inputs(item)
    return frozenset(found)


@dataclass(frozen=True)
class FunnelResult:
    """True and false positives per stage, and every output, as arrays over draws."""

    tp: dict[str, FloatArray]
    fp: dict[str, FloatArray]
    outputs: dict[str, FloatArray]


def _ratio(numerator: Value, denominator: Value) -> FloatArray:
    num, den = np.asarray(numerator), np.asarray(denominator)
    out = np.full(np.broadcast(num, den).shape, np.nan, dtype=np.float64)
    with np.errstate(over="ignore"):
        np.divide(num, den, out=out, where=den > 0)
    return out


def run_funnel(p: Mapping[str, Value], size: int | None = None) -> FunnelResult:
    """Evaluate the funnel for parameter values (arrays of draws or scalars) keyed by name.

    In double precision (``montecarlo.draw``): within the documented limits (numbers up to 1e15,
    positive ones down to 1e-15) the products reach 1e47 notifications and 1e60 police hours,
    far beyond single precision's 3e38, where they turned infinite and then NaN; double's 1e308
    leaves room for the few more such factors any output multiplies.
    """
    scope = p["volume.scope_share"]
    messages = (
        p["volume.messages_per_day"]
        + p["volume.message_users"] * p["volume.messages_per_user_per_day"]
    ) * (scope * DAYS_PER_YEAR)
    visual = (
        p["volume.images_per_day"]
        + p["volume.image_users"] * p["volume.images_per_user_per_day"]
        + p["volume.videos_per_day"]
        + p["volume.video_users"] * p["volume.videos_per_user_per_day"]
    ) * (scope * DAYS_PER_YEAR)

    true_kept = p["review.true_confirmed"]
    false_kept = p["review.false_confirmed"]
    scanned: Value = 0.0
    positives: Value = 0.0
    negatives: Value = 0.0
    tp_flagged: Value = 0.0
    fp_flagged: Value = 0.0
    tp_reviewed: Value = 0.0
    fp_reviewed: Value = 0.0
    fp_seen_by_provider: Value = 0.0
    for tech in TECHNOLOGIES:
        items = messages if tech == "grooming" else visual
        tech_scanned = items * p[f"detection.{tech}.coverage"]
        prevalence = p[f"detection.{tech}.prevalence"]
        tech_pos = tech_scanned * prevalence
        tech_neg = tech_scanned * (1 - prevalence)
        tech_tp = tech_pos * p[f"detection.{tech}.sensitivity"]
        tech_fp = tech_neg * p[f"detection.{tech}.false_positive_rate"]
        reviewed = p[f"detection.{tech}.review_share"]
        scanned = scanned + tech_scanned
        positives = positives + tech_pos
        negatives = negatives + tech_neg
        tp_flagged = tp_flagged + tech_tp
        fp_flagged = fp_flagged + tech_fp
        tp_reviewed = tp_reviewed + tech_tp * (1 - reviewed + reviewed * true_kept)
        fp_reviewed = fp_reviewed + tech_fp * (1 - reviewed + reviewed * false_kept)
        fp_seen_by_provider = fp_seen_by_provider + tech_fp * reviewed

    per_report = p["central.bundling_ratio"] / p["review.items_per_report"]
    tp_reported = tp_reviewed * per_report
    fp_reported = fp_reviewed * per_report

    tp_filtered = tp_reported
    fp_filtered = fp_reported * (1 - p["central.unfounded_removed"])

    jurisdiction = p["central.jurisdiction_share"]
    merged = p["central.duplicate_share"] * p["central.deduplicated"]
    tp_forwarded = tp_filtered * (1 - merged) * jurisdiction
    fp_forwarded = fp_filtered * jurisdiction
    forwarded = tp_forwarded + fp_forwarded

    tp_actionable = tp_forwarded * p["police.actionable_share"]
    capacity = p["police.capacity_hours"]
    assess_hours = forwarded * p["police.minutes_per_notification"] / 60.0
    hours_per_case = p["police.hours_per_investigation"]
    investigable = np.maximum(capacity - assess_hours, 0.0) / hours_per_case
    investigated = np.minimum(tp_actionable, investigable)
    hours_needed = assess_hours + tp_actionable * hours_per_case

    assessed = np.minimum(forwarded, _safe_scale(forwarded, capacity, assess_hours))
    backlog = forwarded - assessed
    fruitless_share = np.where(forwarded > 0, 1 - _nan_to_zero(_ratio(tp_actionable, forwarded)), 0)
    displaced = np.minimum(assess_hours, capacity) * fruitless_share
    yield_rate = p["police.proactive_cases_per_1000_hours"] / 1000.0
    proactive_hours = np.maximum(capacity - hours_needed, 0.0) + p["police.extra_proactive_hours"]
    proactive_cases = proactive_hours * yield_rate

    items_per_report = p["review.items_per_report"]
    bundling = p["central.bundling_ratio"]
    innocent_seen = (
        fp_seen_by_provider  # provider reviewers
        + fp_reviewed  # the central body looks at every reported item
        + fp_forwarded * items_per_report / bundling  # police look at forwarded items
    )
    accounts = p["review.accounts_per_report"]

    tp = {
        "scanned": positives,
        "flagged": tp_flagged,
        "reviewed": tp_reviewed,
        "reported": tp_reported,
        "filtered": tp_filtered,
        "forwarded": tp_forwarded,
        "actionable": tp_actionable,
        "investigated": investigated,
    }
    fp = {
        "scanned": negatives,
        "flagged": fp_flagged,
        "reviewed": fp_reviewed,
        "reported": fp_reported,
        "filtered": fp_filtered,
        "forwarded": fp_forwarded,
        "actionable": 0.0,
        "investigated": 0.0,
    }
    outputs: dict[str, Value] = {
        "items_scanned": scanned,
        "items_flagged": tp_flagged + fp_flagged,
        "false_items_flagged": fp_flagged,
        "notifications": tp_reported + fp_reported,
        "forwarded": forwarded,
        "actionable": tp_actionable,
        "investigated": investigated,
        "ppv_flagged": _ratio(tp_flagged, tp_flagged + fp_flagged),
        "ppv_reviewed": _ratio(tp_reviewed, tp_reviewed + fp_reviewed),
        "ppv_reported": _ratio(tp_reported, tp_reported + fp_reported),
        "ppv_forwarded": _ratio(tp_forwarded, forwarded),
        "people_wrongly_reported": fp_reported * accounts,
        "people_wrongly_forwarded": fp_forwarded * accounts,
        "innocent_items_seen": innocent_seen,
        "police_hours_needed": hours_needed,
        "police_hours_available": capacity,
        "capacity_share": _ratio(hours_needed, capacity),
        "backlog_growth": backlog,
        "actionable_not_investigated": tp_actionable - investigated,
        "proactive_hours_displaced": displaced,
        "proactive_cases_foregone": displaced * yield_rate,
        "proactive_hours": proactive_hours,
        "proactive_cases": proactive_cases,
        "cases_total": investigated + proactive_cases,
    }
    n = size if size is not None else _size(p)
    return FunnelResult(
        tp={k: _full(v, n) for k, v in tp.items()},
        fp={k: _full(v, n) for k, v in fp.items()},
        outputs={k: _full(v, n) for k, v in outputs.items()},
    )


def _safe_scale(forwarded: Value, capacity: Value, assess_hours: Value) -> FloatArray:
    """Notifications the capacity can assess: forwarded × capacity / assessment hours."""
    scaled = _ratio(np.asarray(forwarded) * capacity, assess_hours)
    return np.where(np.isnan(scaled), np.asarray(forwarded, dtype=np.float64), scaled)


def _nan_to_zero(values: FloatArray) -> FloatArray:
    return np.nan_to_num(values, nan=0.0)


def _size(p: Mapping[str, Value]) -> int:
    sizes = {np.size(v) for v in p.values() if np.ndim(v) > 0}
    return max(sizes) if sizes else 1


def _full(value: Value, size: int) -> FloatArray:
    """``value`` as an array of ``size`` draws; a constant becomes a read-only broadcast view."""
    array = np.asarray(value)
    if array.shape == (size,):
        return array
    return np.broadcast_to(array.astype(np.float64), (size,))
