"""The assessment of detection measures: shipped scenarios, the latest stored comparison, each
scenario's charts and parameter sources, and running chosen scenarios on request.

A run on request is bounded so that its cost is: at most ``MAX_SCENARIOS`` scenarios of at most
``MAX_DRAWS`` draws, and a queue that follows at most ``WEB_QUEUE_CAP`` notifications a year (a
representative sample of a larger volume, enlarged near full load up to
``WEB_QUEUE_NEAR_FULL_MAX``, as the demo's), which the result says. The queue cost seconds of CPU
per scenario whatever the draws when it followed up to a million notifications. About a second of
CPU per scenario remains, so each account has a budget of runs (``[web] assess_run_*``, 429 with
Retry-After beyond it). A run is shown, not stored: the stored comparison stays the one
``safeguarding assess SCENARIO... --save`` (or the demo) wrote, with its draws and seed. Charts
are the monitor report's Altair charts rendered to inline SVG on the server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from safeguarding.access.roles import allowed
from safeguarding.assess.assessment import KEY_OUTPUTS, assess_scenario, comparison
from safeguarding.assess.demo_run import DEMO_QUEUE_CAP
from safeguarding.assess.montecarlo import MAX_SEED
from safeguarding.assess.scenario import load_scenario, shipped_scenarios
from safeguarding.assess.stored import json_safe, latest_run, origin, origins
from safeguarding.errors import NotFoundError, ValidationError
from safeguarding.reporting.assess_charts import (
    capacity_chart,
    funnel_chart,
    tornado_chart,
    waiting_chart,
)
from safeguarding.reporting.charts import to_svg
from safeguarding.reporting.sections.assess import (
    interval_cell,
    parameters_table,
    trace_cell,
    waits_table,
)
from safeguarding.store import Store
from safeguarding.web.auth import auth_state, is_api
from safeguarding.web.ratelimit import retry_after_header
from safeguarding.web.roles import require
from safeguarding.web.routers.common import store_of
from safeguarding.web.templating import render

router = APIRouter()
READ = [Depends(require("aggregates.read"))]
RUN = [Depends(require("assess.run"))]
MAX_DRAWS = 2_000
MIN_DRAWS = 100
MAX_SCENARIOS = 3
# The queue of a run on request follows what the demo's does (20,000 notifications a year), and
# near full load at most five times that: a scenario's queue then costs well under a second.
WEB_QUEUE_CAP = DEMO_QUEUE_CAP
WEB_QUEUE_NEAR_FULL_MAX = 5 * DEMO_QUEUE_CAP


class RunRequest(BaseModel):
    """Scenarios to run now, with the number of Monte Carlo draws and the seed."""

    model_config = ConfigDict(extra="forbid")

    scenarios: list[str] = Field(min_length=1, max_length=MAX_SCENARIOS)
    draws: int = Field(1_000, ge=MIN_DRAWS, le=MAX_DRAWS)
    seed: int = Field(1, ge=0, le=MAX_SEED)


@lru_cache(maxsize=1)
def _shipped() -> tuple[dict[str, Any], ...]:
    """Name, file, title, region, description and parameters of each shipped scenario (the
    package's files do not change)."""
    found = []
    for name in shipped_scenarios():
        scenario = load_scenario(name)
        found.append(
            {
                "scenario": name,
                "file": f"{name}.toml",
                "title": scenario.title,
                "region": scenario.region,
                "description": scenario.description,
                "scope": scenario.scope,
                "parameters": [p.as_dict() for p in scenario],
            }
        )
    return tuple(found)


def _latest(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        return latest_run(session)


def _named(store: Store, name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The shipped scenario ``name`` and the latest stored run's result of that name, either
    None; NotFound when there is neither. A stored run may hold scenarios of names nothing
    ships (the comparison links to them), and a stored result of a shipped name may come from
    another file that keeps the name (``result["shipped"]`` says)."""
    shipped = next((s for s in _shipped() if s["scenario"] == name), None)
    stored = next((r for r in _latest(store) if r["scenario"] == name), None)
    if shipped is None and stored is None:
        known = ", ".join(s["scenario"] for s in _shipped())
        raise NotFoundError(
            f"no scenario {name!r}, shipped or in the latest stored run; shipped: {known}"
        )
    return shipped, stored


def _as_stored(result: dict[str, Any]) -> dict[str, Any]:
    """A stored result's own name, title, region, description, scope and file."""
    keys = ("scenario", "title", "region", "description", "scope", "file")
    return {key: result.get(key) for key in keys}


def _comparison_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """Key outputs as rows of HTML cells: output, unit, median [90% interval] per scenario, then
    what the output is computed from in each (``trace_cell``)."""
    return [
        [
            name,
            results[0]["outputs"][name]["unit"],
            *(interval_cell(r["outputs"][name]) for r in results),
            trace_cell(results, name),
        ]
        for name in KEY_OUTPUTS
    ]


def _overview_charts(results: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "capacity": to_svg(capacity_chart(results)),
        "waiting": to_svg(waiting_chart(results)),
    }


def _scenario_charts(result: dict[str, Any]) -> dict[str, str]:
    charts = {"funnel": to_svg(funnel_chart(result))}
    charts |= {f"{k}": v for k, v in _overview_charts([result]).items()}
    for output, data in result["sensitivity"].items():
        charts[f"tornado-{output}"] = to_svg(
            tornado_chart(data["tornado"], output, f"What drives {output}")
        )
    return charts


def _check_names(request: RunRequest) -> None:
    shipped = {s["scenario"] for s in _shipped()}
    unknown = [name for name in request.scenarios if name not in shipped]
    if unknown:
        raise ValidationError(
            f"unknown scenario(s) {', '.join(unknown)}; shipped: {', '.join(sorted(shipped))}",
            location="scenarios",
            rule="shipped scenario",
        )


def _too_many_runs(request: Request) -> Response | None:
    """429 with Retry-After when the account has used its runs (form and API alike), else None.

    Taken only for a request that will run: one refused for its fields costs nothing.
    """
    wait = auth_state(request).assess_run_limiter.take(request.state.principal.name)
    if wait is None:
        return None
    retry = retry_after_header(wait)
    message = (
        "too many assessment runs from this account: each keeps a core busy for a second or "
        f"more; try again in {retry} s"
    )
    headers = {"Retry-After": retry}
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=429, headers=headers)
    page = render(request, "error.html", {"title": "Too many runs", "message": message}, status=429)
    page.headers.update(headers)
    return page


def _run(request: RunRequest) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(request.scenarios))
    return [
        json_safe(
            assess_scenario(
                load_scenario(name),
                request.draws,
                request.seed,
                sensitivity_draws=request.draws,
                queue_cap=WEB_QUEUE_CAP,
                queue_ceiling=WEB_QUEUE_NEAR_FULL_MAX,
            ).as_dict()
        )
        for name in names
    ]


# ---------------------------------------------------------------------------------------- pages


@router.get("/assess", dependencies=READ, include_in_schema=False)
def assess_page(request: Request) -> Response:
    results = _latest(store_of(request))
    context: dict[str, Any] = {
        "shipped": _shipped(),
        "results": results,
        "origins": origins(results),
        "max_draws": MAX_DRAWS,
        "min_draws": MIN_DRAWS,
        "max_scenarios": MAX_SCENARIOS,
        "can_run": allowed(request.state.principal.role, "assess.run"),
    }
    if results:
        context["rows"] = _comparison_rows(results)
        context["charts"] = _overview_charts(results)
    return render(request, "assess/list.html", context)


@router.get("/assess/scenarios/{scenario}", dependencies=READ, include_in_schema=False)
def scenario_page(request: Request, scenario: str) -> Response:
    """A scenario as the latest stored run holds it (its own title, description and file, and
    whether that is the shipped file unchanged), else as shipped."""
    shipped, stored = _named(store_of(request), scenario)
    heading = _as_stored(stored) if stored is not None else shipped
    context: dict[str, Any] = {"scenario": heading, "result": stored, "shipped": shipped}
    context["parameters"] = parameters_table(stored or shipped or {})
    if stored is not None:
        context["origin"] = origin(stored)
        context["charts"] = _scenario_charts(stored)
        context["rows"] = _comparison_rows([stored])
        context["waits"] = waits_table(stored)
    return render(request, "assess/scenario.html", context)


def _whole_number(raw: object, field: str) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise ValidationError(
            f"{field}: must be a whole number", location=field, rule="whole number"
        ) from None


def _broken_rule(error: ErrorDetails) -> str:
    """A form field and the rule it broke, in words: pydantic's own message ends with the address
    of its documentation, which named neither to the person filling in the form."""
    field = ".".join(str(part) for part in error["loc"])
    limits = error.get("ctx", {})
    rules = {
        "less_than_equal": f"must be at most {limits.get('le')}",
        "greater_than_equal": f"must be at least {limits.get('ge')}",
        "too_long": f"choose at most {limits.get('max_length')}",
        "too_short": f"choose at least {limits.get('min_length')}",
    }
    return f"{field}: {rules.get(error['type'], error['msg'])}"


@router.post("/assess/run", dependencies=RUN, include_in_schema=False)
async def run_page(request: Request) -> Response:
    form = await request.form()
    try:
        run = RunRequest(
            scenarios=[str(v) for v in form.getlist("scenarios")],
            draws=_whole_number(form.get("draws", "1000"), "draws"),
            seed=_whole_number(form.get("seed", "1"), "seed"),
        )
    except PydanticValidationError as exc:
        raise ValidationError(
            "; ".join(_broken_rule(error) for error in exc.errors())
            + f" (choose 1-{MAX_SCENARIOS} scenarios, {MIN_DRAWS}-{MAX_DRAWS:,} draws and a "
            "seed of 0 or more)",
            location=".".join(str(part) for part in exc.errors()[0]["loc"]),
            rule="run form",
        ) from None
    _check_names(run)
    refused = _too_many_runs(request)
    if refused is not None:
        return refused
    return await run_in_threadpool(_run_page, request, run)


def _run_page(request: Request, run: RunRequest) -> Response:
    """The page of a run: the run and its charts, on a worker thread. Rendering the charts of
    three scenarios to SVG takes seconds of CPU, as long as the run itself; on the event loop
    it held every other request (a sign-in, a report submission) for as long."""
    results = _run(run)
    context: dict[str, Any] = {
        "results": results,
        "request_": run,
        "rows": _comparison_rows(results),
        "charts": _overview_charts(results),
        "scenario_charts": {r["scenario"]: _scenario_charts(r) for r in results},
        "scenario_waits": {r["scenario"]: waits_table(r) for r in results},
        "queue_cap": WEB_QUEUE_CAP,
        "queue_near_full_max": WEB_QUEUE_NEAR_FULL_MAX,
    }
    return render(request, "assess/run.html", context)


# ------------------------------------------------------------------------------------------ API


@router.get("/api/assess/scenarios", dependencies=READ, tags=["assess"], summary="Scenarios")
def api_scenarios() -> list[dict[str, Any]]:
    """The shipped scenarios with their parameters and sources (evidence ids or assumptions)."""
    return list(_shipped())


@router.get(
    "/api/assess/scenarios/{scenario}", dependencies=READ, tags=["assess"], summary="One scenario"
)
def api_scenario(request: Request, scenario: str) -> dict[str, Any]:
    """One scenario and, when the latest stored run holds it, its full result.

    ``shipped`` says whether the scenario's own fields are a shipped scenario's; otherwise they
    are the stored result's (a scenario of a name nothing ships). The result's own ``shipped``
    says whether it ran the shipped file unchanged (absent in results stored before it was
    recorded), and its ``title``, ``description`` and ``file`` are its own.
    """
    shipped, stored = _named(store_of(request), scenario)
    if shipped is not None:
        return {**shipped, "shipped": True, "result": json_safe(stored)}
    assert stored is not None  # _named found one of the two
    own = {**_as_stored(stored), "parameters": stored["parameters"]}
    return {**own, "shipped": False, "result": json_safe(stored)}


@router.get(
    "/api/assess/latest", dependencies=READ, tags=["assess"], summary="Latest stored comparison"
)
def api_latest(request: Request) -> dict[str, Any]:
    """Medians and 90% intervals of the key outputs per scenario, from the latest stored run."""
    results = _latest(store_of(request))
    if not results:
        return {"run": None, "comparison": []}
    first = results[0]
    return {
        "run": first["run"],
        "draws": first["draws"],
        "seed": first["seed"],
        "scenarios": [r["scenario"] for r in results],
        "comparison": comparison(results),
    }


@router.post(
    "/api/assess/run",
    dependencies=RUN,
    tags=["assess"],
    summary="Run scenarios",
    responses={429: {"description": "Too many runs from this account: retry after Retry-After."}},
)
async def api_run(request: Request, run: RunRequest) -> Response:
    """Run 1-3 shipped scenarios with up to 2,000 draws; the results are returned, not stored.

    The queue follows at most ``queue.cap`` notifications a year (a representative sample of a
    larger volume, ``unit_share`` per run; enlarged near full load up to ``queue.near_full_max``).
    """
    _check_names(run)
    refused = _too_many_runs(request)
    if refused is not None:
        return refused
    return await run_in_threadpool(_api_run, run)


def _api_run(run: RunRequest) -> JSONResponse:
    """The API's answer to a run, made whole on a worker thread, as the run's page is. The run
    alone went there: FastAPI validates and encodes what an async route returns on the event
    loop, and three scenarios' results are hundreds of kilobytes of JSON, during which no other
    request was answered. A response made here leaves the loop only the sending."""
    results = _run(run)
    return JSONResponse(
        {
            "draws": run.draws,
            "seed": run.seed,
            "queue": {"cap": WEB_QUEUE_CAP, "near_full_max": WEB_QUEUE_NEAR_FULL_MAX},
            "scenarios": [r["scenario"] for r in results],
            "comparison": comparison(results),
            "results": results,
        }
    )
