"""Platforms in the monitor report: the headline gap list, the risk matrix, the platform × stage
heatmap of case evidence and its trend per year, each with its source."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from safeguarding.evidence import shipped_evidence
from safeguarding.platforms.cases import stage_matrix, year_trend
from safeguarding.platforms.regulation import GapReport, headline
from safeguarding.platforms.storage import load_mention_frame, load_services
from safeguarding.platforms.vocabulary import HARM_LABELS, LEVELS, STAGE_LABELS, STAGES
from safeguarding.platforms.workflow import RunGaps, latest_gaps, stale_note
from safeguarding.reporting.charts import to_svg
from safeguarding.reporting.html import Section, figure_tags, table, text
from safeguarding.store import Store

LEVEL_COLOURS = ["#e8f1e4", "#c9dfae", "#f4c26b", "#d9534f"]
REGIME_EVIDENCE = (
    "dsa.vlop_threshold",
    "dsa.small_exemption",
    "ofcom.large_service",
    "ofcom.c9_threshold",
)
CONTEXT_EVIDENCE = ("ckm.nl.2021", "nspcc.sexcomm.2023", "nspcc.sexcomm.2024")


def _chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


def cite(figure_id: str) -> str:
    figure = shipped_evidence().get(figure_id)
    return f"<code>{text(figure.id)}</code> {figure_tags(figure)} {text(figure.source)}"


def risk_chart(rows: list[dict[str, Any]]) -> str:
    chart = (
        alt.Chart(pl.DataFrame(rows))
        .mark_rect(stroke="white")
        .encode(
            x=alt.X(
                "harm:N",
                sort=list(HARM_LABELS.values()),
                title=None,
                axis=alt.Axis(labelAngle=0, orient="top", labelLimit=260),
            ),
            y=alt.Y("service:N", sort=None, title=None),
            color=alt.Color(
                "level:O",
                sort=list(LEVELS),
                scale=alt.Scale(domain=list(LEVELS), range=LEVEL_COLOURS),
                title="level",
            ),
            tooltip=["service:N", "harm:N", "level:O"],
        )
    )
    labels = chart.mark_text(fontSize=10).encode(text="level:O", color=alt.value("#1d2329"))
    return to_svg((chart + labels).properties(width=520, height=18 * (len(rows) // 4 or 1)))


def stage_heatmap(rows: list[dict[str, Any]], platforms: list[str]) -> str:
    base = alt.Chart(pl.DataFrame(rows)).encode(
        x=alt.X("stage:O", sort=list(STAGES), title="stage"),
        y=alt.Y("platform:N", sort=platforms, title=None),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("cases:Q", scale=alt.Scale(scheme="blues"), title="cases"),
        tooltip=["platform:N", "stage:O", "cases:Q", "share:Q"],
    )
    labels = base.mark_text(fontSize=10).encode(text="cases:Q", color=alt.value("#1d2329"))
    return to_svg((rect + labels).properties(width=520, height=20 * max(len(platforms), 1)))


def trend_chart(rows: list[dict[str, Any]]) -> str:
    chart = (
        alt.Chart(pl.DataFrame(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("year:O", title="year"),
            y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="share of cases"),
            color=alt.Color("type:N", title="service type"),
            tooltip=["type:N", "year:O", "cases:Q", "share:Q"],
        )
        .properties(width=520, height=220)
    )
    return to_svg(chart)


def _headline(reports: list[GapReport]) -> list[str]:
    top = headline(reports)
    return [
        f"<h3>Headline: {len(top)} high-risk service(s) that no regime obliges to act</h3>"
        "<p>High risk of a harm (by risk factors and case evidence) while no binding regime "
        "imposes a proactive duty for that harm. Regime thresholds: "
        + "; ".join(cite(i) for i in REGIME_EVIDENCE)
        + ".</p>",
        table(
            ["service", "type", "DSA tier", "unobliged high risk", "why no duty", "lacks"],
            (
                [
                    r.name,
                    r.type,
                    r.dsa_tier,
                    ", ".join(HARM_LABELS[h] for h in r.unobliged_high_harms),
                    r.why_unobliged,
                    "; ".join(m.text for m in r.missing) or "-",
                ]
                for r in top
            ),
        ),
    ]


def _assessment(store: Store, latest: RunGaps) -> list[str]:
    """The latest run: what it has not seen, its headline gaps (or why they are not shown), and
    its risk matrix, which is stored with the run and shown whatever became of its rules."""
    run = latest.run
    parts: list[str] = []
    note = stale_note(store, run)
    if note:
        parts.append(
            f"<p class='note' id='platforms-stale'>Note: {text(note)}; the levels shown do not "
            "reflect them until the next assessment.</p>"
        )
    if latest.problem:
        parts.append(
            "<p class='note' id='platforms-gaps-problem'>Regulatory gaps not shown: "
            f"{text(latest.problem)}.</p>"
        )
    else:
        parts.extend(_headline(latest.gaps))
    risk_rows = [
        {"service": a.name, "harm": HARM_LABELS[h.harm], "level": h.level}
        for a in run.assessments
        for h in a.harms
    ]
    parts.append("<h3>Risk matrix: level per service and harm (highest score first)</h3>")
    parts.append(_chart(risk_chart(risk_rows)))
    parts.append(
        f"<p class='provenance'>Computed by the risk rules version {text(run.rules_version)} "
        f"({text(run.rules_name)}, digest {text(run.rules_digest[:12])}) from the register's "
        "risk factors and safeguards and the case evidence below; levels follow Ofcom-style "
        "rules, the score is the project's own calibration for ranking.</p>"
    )
    return parts


def build(store: Store) -> Section | None:
    with store.session() as session:
        services = load_services(session)
        mentions = load_mention_frame(session)
    if not services and mentions.is_empty():
        return None
    parts: list[str] = []
    if any(s.synthetic for s in services):
        parts.append(
            '<p class="synthetic">The register holds synthetic sample data: fictional services '
            "and generated case files. No figure below describes a real service.</p>"
        )
    provenance = [f"{len(services)} registered services", f"{mentions.height} case mentions"]
    latest = latest_gaps(store)
    if latest is None:
        parts.append("<p>No risk assessment shown: no assessment run yet.</p>")
    else:
        parts.extend(_assessment(store, latest))
        provenance.append(f"assessment run {latest.run.id} with rules {latest.run.rules_version}")
    if not mentions.is_empty():
        matrix = stage_matrix(mentions)
        parts.append("<h3>Platforms by stage in coded case files</h3>")
        parts.append(_chart(stage_heatmap(matrix.cells(), matrix.rows)))
        parts.append(
            f"<p class='provenance'>Distinct cases per platform and stage. Denominator: "
            f"{matrix.denominator} of {matrix.total_cases} cases name at least one platform; "
            f"{matrix.total_cases - matrix.denominator} name none. Counts are published as "
            "counted: they count anonymised case files about platforms, not people, and the risk "
            "rules cite them. Stages: "
            + "; ".join(f"{s} {text(STAGE_LABELS[s])}" for s in STAGES)
            + ".</p>"
        )
        types = {s.id: s.type for s in services}
        trend = year_trend(mentions, groups=types)
        parts.append("<h3>Trend: share of cases per service type and year</h3>")
        parts.append(_chart(trend_chart(trend.cells())))
        parts.append(
            "<p class='provenance'>Share of each year's cases with a known platform; "
            "denominators: "
            + ", ".join(f"{y}: {n}" for y, n in trend.denominators.items())
            + ".</p>"
        )
    parts.append(
        "<h3>Published context</h3><p>Platform shares in published figures are shares of cases "
        "where the platform is known, which is the minority: "
        + "; ".join(cite(i) for i in CONTEXT_EVIDENCE)
        + ".</p>"
    )
    return Section(
        anchor="platforms",
        title="Platforms: risk, regulatory gaps and evidence by stage",
        body="".join(parts),
        provenance="; ".join(provenance),
    )
