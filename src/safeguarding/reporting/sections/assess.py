"""The assessment of detection measures: scenarios compared, with intervals, charts and sources."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from safeguarding.assess.assessment import KEY_OUTPUTS
from safeguarding.assess.calibration import published_checks
from safeguarding.assess.display import (
    WAIT_TITLE,
    computed_from,
    human,
    interval,
    sample_note,
    undefined_note,
    wait_rows,
)
from safeguarding.assess.stored import latest_run, origin, origins
from safeguarding.evidence import shipped_evidence
from safeguarding.reporting.assess_charts import (
    capacity_chart,
    funnel_chart,
    tornado_chart,
    waiting_chart,
)
from safeguarding.reporting.charts import to_svg
from safeguarding.reporting.html import Section, figure_tags, table, tag_badge, text
from safeguarding.store import Store


def interval_cell(output: dict[str, Any]) -> str:
    median, low, high = interval(output)
    return f"{median} <small>[{low}–{high}]{text(undefined_note(output))}</small>"


def _evidence(ids: list[str]) -> str:
    """Cited figures with their tags, naming any value whose own tag differs from its figure's."""
    base = shipped_evidence()
    parts = []
    for ident in ids:
        tags = figure_tags(base.get(ident)) if ident in base else tag_badge("U")
        parts.append(f"<code>{text(ident)}</code> {tags}")
    return ", ".join(parts)


def trace_cell(results: list[dict[str, Any]], output: str) -> str:
    """What ``output`` is computed from in each scenario, folded away: its parameters counted by
    kind (evidence, assumptions informed by evidence, assumptions alone, data files) and the
    figures they cite with their tags. A median and interval alone do not say what they rest
    on; a ``details`` element needs no script, so the monitor stays self-contained."""
    parts = [
        f"<p><b>{text(r['scenario'])}</b>: {text(computed_from(inputs))}"
        + (f"; evidence: {_evidence(inputs['evidence'])}" if inputs["evidence"] else "")
        + (f"; data: {text(', '.join(inputs['data']))}" if inputs.get("data") else "")
        + "</p>"
        for r in results
        if (inputs := r["outputs"][output].get("inputs"))
    ]
    return f"<details><summary>computed from</summary>{''.join(parts)}</details>"


def _source(source: dict[str, Any]) -> str:
    parts = []
    if source["evidence"]:
        parts.append(_evidence(source["evidence"]))
    if source.get("values"):  # runs stored before values were kept have none
        read = ", ".join(
            f"<code>{text(v['reference'])}</code> {tag_badge(v['tag'])}" for v in source["values"]
        )
        parts.append(f"value read: {read}")
    if source.get("data"):
        parts.append(f"data: {text(source['data'])}")
    if source.get("assumption"):
        parts.append(f"<b>assumption</b>: {text(source['assumption'])}")
    return "<br>".join(parts)


def parameters_table(result: dict[str, Any]) -> str:
    return table(
        ["parameter", "unit", "distribution", "source", "written at"],
        (
            [
                f"<code>{text(p['name'])}</code>",
                text(p["unit"]),
                text(p["describe"]),
                _source(p["source"]),
                text(p["location"]),
            ]
            for p in result["parameters"]
        ),
        raw_columns=(0, 3),
    )


def waits_table(result: dict[str, Any]) -> str:
    """The queue's waits per volume multiple, discipline and level (``display.wait_rows``), or
    why the queue was not simulated."""
    queue = result.get("queue", {})
    columns, rows = wait_rows(queue)
    if not rows:
        return f"<p>Queue not simulated: {text(queue.get('reason', 'no queue result'))}.</p>"
    note = sample_note(queue)
    shown = f"<p>{text(WAIT_TITLE)}:</p>" + table(columns, rows)
    return shown + (f'<p class="provenance">The queue was {text(note)}.</p>' if note else "")


def _scenario_details(result: dict[str, Any]) -> str:
    parts = [
        f"<details><summary><b>{text(result['title'])}</b> (<code>{text(result['scenario'])}"
        f"</code>)</summary><p>{text(result['description'])}</p>",
        to_svg(funnel_chart(result)),
        waits_table(result),
    ]
    for output, data in result["sensitivity"].items():
        parts.append(to_svg(tornado_chart(data["tornado"], output, f"What drives {output}")))
        indices = list(data["first_order"].items())[:8]
        parts.append(
            f"<p>First-order variance shares of {text(output)} (share of its variance each input "
            "explains alone):</p>"
            + table(["parameter", "first-order index"], ([k, f"{v:.2f}"] for k, v in indices))
        )
    if result["observed"]:
        parts.append(
            table(
                ["observed output", "observed", "source", "model"],
                (
                    [
                        o["output"],
                        f"{human(o['value'], 'share')} [{human(o['low'], 'share')}–"
                        f"{human(o['high'], 'share')}]",
                        o["source"],
                        f"{human(o['model']['median'], 'share')} "
                        f"[{human(o['model']['low'], 'share')}–"
                        f"{human(o['model']['high'], 'share')}]",
                    ]
                    for o in result["observed"]
                ),
            )
        )
    if result["replaced"]:
        parts.append(
            table(
                ["replaced parameter", "before", "after", "why"],
                ([r["name"], r["before"], r["after"], r["reason"]] for r in result["replaced"]),
            )
        )
    if result.get("kept"):  # runs stored before kept parameters were recorded have none
        parts.append(
            table(
                ["kept parameter", "as in the scenario", "why"],
                ([k["name"], k["value"], k["reason"]] for k in result["kept"]),
            )
        )
    parts.append(parameters_table(result))
    parts.append("</details>")
    return "".join(parts)


def published_checks_table() -> str:
    return table(
        ["check", "evidence", "published", "model", "model's 90% interval", "tolerance", "holds"],
        (
            [
                c.name,
                f"<code>{text(c.evidence)}</code> {tag_badge(c.tag)}",
                c.published_text(),
                c.model_text(),
                c.interval_text(),
                c.tolerance,
                "yes" if c.passed else "<b>no</b>",
            ]
            for c in published_checks()
        ),
        raw_columns=(1, 6),
    )


# Sections already rendered, by database and stored run: a stored run never changes, and the
# section depends on nothing else but the package (its scenarios' evidence and the checks).
_RENDERED: OrderedDict[tuple[str, str], Section] = OrderedDict()
_RENDERED_KEPT = 4
_RENDERED_LOCK = threading.Lock()


def build(store: Store) -> Section | None:
    """The section of the latest stored run that may be shown to researchers (None without one).

    Rendering it takes seconds (a funnel and two tornado charts per scenario), most of what the
    monitor report costs, so it is kept per stored run and rendered again only for a new one.
    """
    with store.session() as session:
        results = latest_run(session)
    if not results:
        return None
    key = (store.settings.database_url, results[0]["run"])
    with _RENDERED_LOCK:
        kept = _RENDERED.get(key)
    if kept is not None:
        return kept
    section = _render(results)
    with _RENDERED_LOCK:
        _RENDERED[key] = section
        while len(_RENDERED) > _RENDERED_KEPT:
            _RENDERED.popitem(last=False)
    return section


def _render(results: list[dict[str, Any]]) -> Section:
    first = results[0]
    names = [r["scenario"] for r in results]
    comparison = table(
        ["output", "unit", *names, "computed from"],
        (
            [
                text(name),
                text(results[0]["outputs"][name]["unit"]),
                *[interval_cell(r["outputs"][name]) for r in results],
                trace_cell(results, name),
            ]
            for name in KEY_OUTPUTS
        ),
        raw_columns=range(2, 3 + len(names)),
    )
    legend = table(
        ["scenario", "region", "title", "detection", "scenario file"],
        (
            [
                r["scenario"],
                r["region"],
                r["title"],
                "; ".join(r["technologies"]) or "none",
                origin(r),
            ]
            for r in results
        ),
    )
    body = "".join(
        [
            "<p>What each detection measure costs and yields per year, as a median with its 90% "
            "interval over Monte Carlo draws of every uncertain input. In the Dutch scenarios the "
            "stages up to the central body are the EU-wide measure; from forwarding on, the Dutch "
            "share. Every parameter names its evidence (with its reliability tag) or is labelled "
            "an assumption with its reasoning.</p>",
            legend,
            comparison,
            to_svg(capacity_chart(results)),
            to_svg(waiting_chart(results)),
            "<h3>The model against published figures</h3>",
            published_checks_table(),
            "<h3>Scenarios, sensitivity and parameter sources</h3>",
            *(_scenario_details(r) for r in results),
        ]
    )
    return Section(
        anchor="assess",
        title=f"Assessment of detection measures ({len(results)} scenarios)",
        body=body,
        provenance=(
            f"assessment run {first['run']}: {first['draws']:,} draws per scenario, seed "
            f"{first['seed']}; {origins(results)}; evidence ids as listed"
        ),
    )
