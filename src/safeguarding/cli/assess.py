"""``safeguarding assess``: what a detection measure costs and yields, with uncertainty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from safeguarding.access import audit
from safeguarding.assess.assessment import (
    KEY_OUTPUTS,
    assess_scenario,
    comparison,
    prepare,
    require_distinct_names,
    untold_waits,
)
from safeguarding.assess.calibration import (
    PublishedTriage,
    exact_figures,
    published_checks,
    published_figures,
)
from safeguarding.assess.display import (
    WAIT_TITLE,
    computed_from,
    human,
    interval,
    sample_note,
    undefined_note,
    wait_rows,
)
from safeguarding.assess.exports import read_services, read_triage_stats
from safeguarding.assess.montecarlo import MAX_SEED
from safeguarding.assess.scenario import load_scenario, shipped_scenarios
from safeguarding.assess.stored import json_safe, save_run
from safeguarding.cli.common import (
    console,
    print_json,
    print_table,
    progress,
    shown,
    store,
    writing,
)
from safeguarding.errors import SafeguardingError, ValidationError
from safeguarding.store import Store
from safeguarding.triage.aggregates import triage_aggregates
from safeguarding.triage.outcomes import RESULTS
from safeguarding.triage.policy import LEVELS, ROUTES

# The most draws a scenario takes: a million draws of the full funnel peak near 700 MB and take a
# couple of seconds (docs/benchmarks.md); 10**8 ran out of memory (a MemoryError, or the process
# killed) after the scenarios had been read, instead of a refusal naming the option.
MAX_DRAWS = 1_000_000


def published_triage(opened: Store) -> PublishedTriage | None:
    """The figures calibration could take, as the triage section publishes them (None before
    any triage run): a run that is stored is shown to researchers beside that section."""
    found = triage_aggregates(opened)
    if found is None:
        return None
    table = found.outcomes.table if found.outcomes else None
    groups = found.outcomes.groups if found.outcomes else ()
    hours = tuple(group.hours for group in groups if group.hours is not None)
    offender = ROUTES.index("offender")
    return PublishedTriage(
        policy=found.policy,
        outcomes=table.total if table else None,
        actionable=table.col_totals[RESULTS.index("actionable")] if table else None,
        not_criminal=table.col_totals[RESULTS.index("not_criminal")] if table else None,
        hours=hours if groups and len(hours) == len(groups) else None,
        offender=found.reports.col_totals[offender],
        levels={level: found.reports.cells[i][offender] for i, level in enumerate(LEVELS)},
    )


def cell(output: dict[str, Any]) -> str:
    median, low, high = interval(output)
    return f"{median} [{low}–{high}]{undefined_note(output)}"


def _print_scenario(result: dict[str, Any]) -> None:
    outputs = result["outputs"]
    print_table(
        f"{result['title']}  ({result['scenario']}, {result['draws']:,} draws, seed "
        f"{result['seed']}; median [90% interval])",
        ["output", "median [90% interval]", "unit", "computed from"],
        (
            [name, cell(out), out["unit"], computed_from(out["inputs"])]
            for name, out in outputs.items()
        ),
    )
    for seen in result["observed"]:
        console.print(
            Text.assemble(
                ("observed", "cyan"),
                f" {seen['output']}: {human(seen['value'], 'share')} "
                f"[{human(seen['low'], 'share')}–{human(seen['high'], 'share')}] "
                f"({seen['source']}); model: {cell({**seen['model'], 'unit': 'share'})}",
            )
        )
    for replaced in result["replaced"]:
        console.print(
            Text.assemble(
                ("replaced", "yellow"),
                f" {replaced['name']}: {replaced['before']} → {replaced['after']} "
                f"({replaced['reason']})",
            )
        )
    for kept in result["kept"]:
        console.print(
            Text.assemble(("kept", "green"), f" {kept['name']}: {kept['value']} ({kept['reason']})")
        )
    queue = result["queue"]
    columns, rows = wait_rows(queue)
    if rows:
        print_table(WAIT_TITLE, columns, rows)
        if note := sample_note(queue):
            console.print(Text.assemble(("queue", "magenta"), f" {note}"))
    elif "reason" in queue:
        console.print(Text.assemble(("queue", "magenta"), f" not simulated: {queue['reason']}"))
    untold = untold_waits(queue)
    if untold:
        where = "; ".join(
            f"{policy} at {growth:g}× ({', '.join(levels)})" for growth, policy, levels in untold
        )
        console.print(
            Text.assemble(
                ("queue", "magenta"),
                " waits not given, too near full load for the simulated unit to tell "
                f"(docs/assess.md): {where}",
            )
        )


def _write_charts(results: list[dict[str, Any]], out: Path) -> list[Path]:
    from safeguarding.reporting.assess_charts import (
        capacity_chart,
        funnel_chart,
        tornado_chart,
        waiting_chart,
    )
    from safeguarding.reporting.charts import to_svg

    out.mkdir(parents=True, exist_ok=True)
    charts = {"capacity.svg": capacity_chart(results), "waiting.svg": waiting_chart(results)}
    for result in results:
        name = result["scenario"]
        charts[f"funnel-{name}.svg"] = funnel_chart(result)
        for output, data in result["sensitivity"].items():
            charts[f"tornado-{name}-{output}.svg"] = tornado_chart(
                data["tornado"], output, f"{result['title']}: what drives {output}"
            )
    written = []
    for file_name, chart in charts.items():
        path = out / file_name
        path.write_text(to_svg(chart), encoding="utf-8")
        written.append(path)
    data_path = out / "assessment.json"
    data_path.write_text(
        json.dumps(
            {"scenarios": json_safe(results), "comparison": json_safe(comparison(results))},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    written.append(data_path)
    return written


def _list(json_out: bool) -> None:
    rows = []
    for name in shipped_scenarios():
        scenario = load_scenario(name)
        rows.append({"name": name, "region": scenario.region, "title": scenario.title})
    if json_out:
        print_json(rows)
        return
    print_table(
        f"{len(rows)} shipped scenarios",
        ["name", "region", "title"],
        ([r["name"], r["region"], r["title"]] for r in rows),
    )


def _checks(json_out: bool, seed: int) -> None:
    checks = published_checks(seed)
    if json_out:
        print_json([c.as_dict() for c in checks])
    else:
        print_table(
            "The model against published figures",
            ["check", "evidence", "published", "model", "model's 90% interval", "tolerance", "ok"],
            (
                [
                    c.name,
                    f"{c.evidence} [{c.tag}]",
                    c.published_text(),
                    c.model_text(),
                    c.interval_text(),
                    c.tolerance,
                    "yes" if c.passed else "NO",
                ]
                for c in checks
            ),
        )
    failed = [c.name for c in checks if not c.passed]
    if failed:
        raise SafeguardingError(f"{len(failed)} calibration checks failed: {', '.join(failed)}")


def assess(
    scenarios: list[str] = typer.Argument(
        None, help="Scenario files or shipped scenario names (see --list)."
    ),
    draws: int = typer.Option(
        20_000,
        "--draws",
        min=100,
        max=MAX_DRAWS,
        help="Monte Carlo draws per scenario.",
    ),
    seed: int = typer.Option(
        1,
        "--seed",
        min=0,
        max=MAX_SEED,
        help="Random seed: the same seed, the same results.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    out: Path | None = typer.Option(None, "--out", help="Write charts (SVG) and JSON here."),
    calibrate: Path | None = typer.Option(
        None,
        "--calibrate",
        help="Triage outcome statistics (JSON) to replace defaults with (with --save, only the "
        "figures the triage section publishes).",
    ),
    services: Path | None = typer.Option(
        None, "--services", help="High-risk services export (JSON) for targeted scenarios."
    ),
    save: bool = typer.Option(
        False, "--save", help="Keep the results in the store (shown to researchers)."
    ),
    list_only: bool = typer.Option(False, "--list", help="List the shipped scenarios."),
    checks: bool = typer.Option(False, "--checks", help="Run the model against published figures."),
) -> None:
    """Run detection scenarios through the funnel model and compare them.

    Each scenario gives every output as a median with its 90% interval, and names the evidence
    it rests on. Parameters replaced by --calibrate or --services are listed. A stored run is
    shown to researchers, so with --save, --calibrate takes only the figures the triage section
    publishes; the others keep the scenario's value, and the output says why.

    Example: safeguarding assess nl-status-quo nl-detection-orders --draws 20000 --out var/assess
    """
    if list_only:
        _list(json_out)
        return
    if checks:
        _checks(json_out, seed)
        return
    if not scenarios:
        raise typer.BadParameter("give at least one scenario (or --list)", param_hint="SCENARIO")
    if out is not None and out.exists() and not out.is_dir():
        # Found only when the charts were written, after every scenario had been run.
        raise ValidationError(
            f"--out {shown(out)} is a file, not a directory; give the directory to write to"
        )
    triage = None
    if calibrate:
        stats = read_triage_stats(calibrate)
        if save:
            with store() as opened:
                triage = published_figures(stats, published_triage(opened))
        else:
            triage = exact_figures(stats)
    export = read_services(services) if services else None
    loaded = [prepare(load_scenario(ref), triage=triage, services=export) for ref in scenarios]
    require_distinct_names(loaded)
    if export is not None and not any(s.scope == "high-risk" for s in loaded):
        raise typer.BadParameter(
            '--services scopes targeted scenarios (scope = "high-risk"), and none is given',
            param_hint="--services",
        )
    results = []
    with progress() as bar:
        task = bar.add_task("assessing", total=len(loaded))
        for scenario in loaded:
            results.append(json_safe(assess_scenario(scenario, draws, seed).as_dict()))
            bar.advance(task)
    written: list[Path] = []
    if out is not None:
        with writing(out, "--out"):
            written = _write_charts(results, out)
    run_id = None
    if save:
        with store() as opened, opened.session() as session:
            run_id = save_run(session, results, draws=draws, seed=seed, actor=audit.cli_actor())
    if json_out:
        print_json(
            {
                "scenarios": results,
                "comparison": json_safe(comparison(results)),
                "written": [shown(p) for p in written],
                "run": run_id,
            }
        )
        return
    for result in results:
        _print_scenario(result)
    if len(results) > 1:
        print_table(
            "Comparison (median [90% interval], per year)",
            ["output", *[r["scenario"] for r in results]],
            ([name, *[cell(r["outputs"][name]) for r in results]] for name in KEY_OUTPUTS),
        )
    for path in written:
        console.print(f"wrote {shown(path)}", soft_wrap=True)
    if run_id:
        console.print(f"stored as run {run_id}")


def register(app: typer.Typer) -> None:
    app.command()(assess)
