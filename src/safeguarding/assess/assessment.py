"""One assessment: scenarios run side by side, with sensitivity and the queue, as plain data.

This is what the command line prints, what the store keeps and what the monitor report and the web
app show: a JSON-ready dict per scenario, so every consumer reads the same numbers and none of them
needs to re-run the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguarding.assess import queue_sim
from safeguarding.assess.calibration import TriageFigures, calibrate, scope_to_services
from safeguarding.assess.exports import ServicesExport, read_services
from safeguarding.assess.montecarlo import Summary, simulate, summarise
from safeguarding.assess.scenario import Scenario
from safeguarding.assess.sensitivity import first_order_indices, tornado
from safeguarding.errors import ValidationError

# The outputs the comparison and the sensitivity analysis are about.
KEY_OUTPUTS = (
    "notifications",
    "forwarded",
    "ppv_forwarded",
    "people_wrongly_reported",
    "innocent_items_seen",
    "police_hours_needed",
    "police_hours_available",
    "capacity_share",
    "backlog_growth",
    "investigated",
    "proactive_hours_displaced",
    "proactive_cases_foregone",
    "cases_total",
)
SENSITIVITY_OUTPUTS = ("capacity_share", "ppv_forwarded")
TORNADO_BARS = 10
# Above this many notifications a year the queue is simulated for a representative unit that
# receives this many, with the matching share of the capacity, enlarged near full load (see
# queue_sim and docs/assess.md); each run says which share it simulated (unit_share).
QUEUE_MAX = 100_000


def prepare(
    scenario: Scenario,
    *,
    triage: TriageFigures | None = None,
    services: ServicesExport | None = None,
) -> Scenario:
    """Apply observed rates (triage outcomes) and, for a targeted scenario, the services in scope.

    A services export given here wins over one named in the scenario file; scenarios that are
    not targeted (scope "all") are left as they are.
    """
    if scenario.scope == "high-risk":
        export = services or (read_services(scenario.services) if scenario.services else None)
        if export is not None:
            scenario = scope_to_services(scenario, export)
    if triage is not None:
        scenario = calibrate(scenario, triage)
    return scenario


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's summary plus its sensitivity analysis and queue, ready to serialise."""

    summary: Summary
    sensitivity: dict[str, Any]
    queue: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary.as_dict(), "sensitivity": self.sensitivity, "queue": self.queue}


def _mean(scenario: Scenario, name: str) -> float:
    """The mean of a parameter (the queue runs at central values, not over draws)."""
    values = scenario[name].dist
    return float(values.mean()) if not values.is_fixed else values.support()[0]


def queue_for(
    summary: Summary,
    seed: int,
    cap: int = QUEUE_MAX,
    ceiling: int = queue_sim.NEAR_FULL_MAX,
) -> dict[str, Any]:
    """Waiting times under FIFO and priority at several multiples of the forwarded volume.

    The result says what it followed: at most ``cap`` notifications a year (``queue_cap``), a
    representative share of a larger volume (``unit_share`` per run), enlarged near full load up
    to ``ceiling`` (``near_full_max``), beyond which waits are not given.
    """
    scenario = summary.scenario
    per_year = summary.outputs["forwarded"].median
    capacity = summary.outputs["police_hours_available"].median
    if not (math.isfinite(per_year) and math.isfinite(capacity)):
        # An output undefined in every draw has a NaN median; a queue of NaN notifications
        # failed deep in the simulation instead of saying why it was not simulated.
        return {
            "simulated": False,
            "reason": "the forwarded notifications or the police hours have no finite median",
        }
    if per_year <= 0 or capacity <= 0:
        return {"simulated": False, "reason": "no notifications or no capacity"}
    shares = (
        _mean(scenario, "queue.p1_share"),
        _mean(scenario, "queue.p2_share"),
        _mean(scenario, "queue.p3_share"),
    )
    minutes = _mean(scenario, "police.minutes_per_notification")
    runs = queue_sim.growth_runs(
        per_year, shares, minutes, capacity, seed, cap=cap, ceiling=ceiling
    )
    return {
        "simulated": True,
        "queue_cap": cap,
        "near_full_max": ceiling,
        "notifications_per_year": per_year,
        "capacity_hours": capacity,
        "minutes_per_notification": minutes,
        "level_shares": dict(zip(queue_sim.LEVELS[:3], shares, strict=True)),
        "runs": [run.as_dict() for run in runs],
    }


def untold_waits(queue: dict[str, Any]) -> list[tuple[float, str, list[str]]]:
    """The waits a queue result leaves out, as (volume multiple, policy, levels).

    A level is left out (``indeterminate``) where the simulated unit was too small to tell its
    waits so near full load (queue_sim); whoever shows the waits says which are missing, so a
    gap is not read as "no wait". Results stored before the flag existed have none.
    """
    if not queue.get("simulated"):
        return []
    return [
        (run["growth"], policy, names)
        for run in queue["runs"]
        for policy, levels in run["policies"].items()
        if (names := [level["level"] for level in levels if level.get("indeterminate")])
    ]


def assess_scenario(
    scenario: Scenario,
    draws: int,
    seed: int,
    *,
    sensitivity_draws: int = 20_000,
    queue_cap: int = QUEUE_MAX,
    queue_ceiling: int = queue_sim.NEAR_FULL_MAX,
) -> ScenarioResult:
    """Run one scenario: Monte Carlo summary, tornado and first-order indices, the queue.

    ``queue_cap`` bounds the notifications the queue simulation follows one by one (a
    representative share of the year above it, with the same share of capacity, enlarged near
    full load up to ``queue_ceiling``); it sets the cost and the sampling noise of the waits, not
    what they estimate. Waits too near full load for ``queue_ceiling`` are not given.
    """
    simulation = simulate(scenario, draws, seed)
    summary = summarise(simulation)
    probe = (
        simulation if draws <= sensitivity_draws else simulate(scenario, sensitivity_draws, seed)
    )
    sensitivity = {
        output: {
            "tornado": [
                {**vars(bar), "swing": bar.swing}
                for bar in tornado(probe, output, top=TORNADO_BARS)
            ],
            "first_order": first_order_indices(probe, output),
        }
        for output in SENSITIVITY_OUTPUTS
    }
    return ScenarioResult(summary, sensitivity, queue_for(summary, seed, queue_cap, queue_ceiling))


def require_distinct_names(scenarios: Sequence[Scenario]) -> None:
    """Refuse a run in which two scenarios share a name.

    The name is the key of everything a run writes: the comparison's columns, the chart files
    (``funnel-NAME.svg``) and the stored rows. Two scenarios of one name (``a/x.toml`` and
    ``b/x.toml`` without a ``name``, or one scenario given twice) would silently become one
    column and overwrite each other's charts.
    """
    first: dict[str, Scenario] = {}
    for scenario in scenarios:
        earlier = first.setdefault(scenario.name, scenario)
        if earlier is scenario:
            continue
        if earlier.file == scenario.file:
            raise ValidationError(
                f"scenario {scenario.name!r} is given twice ({Path(scenario.file).name}); "
                "give each scenario once",
                location=scenario.file,
                rule="distinct scenario names",
            )
        raise ValidationError(
            f"two scenarios are named {scenario.name!r} ({earlier.file} and {scenario.file}); "
            'a run keys its comparison, charts and stored rows by name: set name = "..." in '
            "the [scenario] table of one of them",
            location=scenario.file,
            rule="distinct scenario names",
        )


def comparison(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Key outputs side by side: one row per output, one cell per scenario."""
    return [
        {
            "output": name,
            "unit": results[0]["outputs"][name]["unit"] if results else "",
            "scenarios": {
                r["scenario"]: {
                    k: r["outputs"][name].get(k) for k in ("median", "low", "high", "undefined")
                }
                for r in results
            },
        }
        for name in KEY_OUTPUTS
    ]
