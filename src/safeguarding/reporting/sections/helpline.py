"""Helpline contacts in the monitor report: counts, trends and young/older shares, all protected.

Every number here comes from a table that went through disclosure control (minimum cell size,
secondary suppression); withheld cells are shown as "x" and left out of the charts. The published
yearly figures stand next to the stored ones with their evidence ids and tags, and a sample is
labelled synthetic where it is shown.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from safeguarding.disclosure.suppression import ProtectedTable
from safeguarding.evidence import shipped_evidence
from safeguarding.helpline.published import published_set
from safeguarding.helpline.stats import ShareComparison, load_facts, min_cell_setting
from safeguarding.reporting.charts import to_svg
from safeguarding.reporting.html import Section, figure_tags, table, tag_badge, text
from safeguarding.reporting.protected import WITHHELD, cell, protected_table
from safeguarding.store import Store

INDICATOR_LABELS = {
    "escalating_pornography": "habitual or escalating pornography use",
    "asking_for_help": "asking for help (to stop, treatment, crisis)",
}


def _data(values: list[dict[str, Any]]) -> Any:
    """Inline chart data (the report embeds its data; nothing is fetched)."""
    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def _published(year: str) -> tuple[str, str, str, str]:
    """Published contacts, people, people aged 26 or younger, and the citation (id + tag)."""
    evidence = shipped_evidence()
    figure_id = f"nl.stopitnow.{year}"
    if figure_id not in evidence:
        return "–", "–", "–", ""
    figure = evidence.get(figure_id)
    values = {v.name: v for v in figure.values if v.year == int(year)}
    contacts = values.get("contacts")
    people = values.get("people")
    shown = [v for v in (contacts, people) if v is not None]
    young = "–"
    if "people_aged_26_or_younger" in values:
        young = f"{values['people_aged_26_or_younger'].value:,.0f}"
        shown.append(values["people_aged_26_or_younger"])
    elif "share_aged_26_or_younger" in values:
        share = values["share_aged_26_or_younger"]
        young = f"{'about ' if share.bound == 'about' else ''}{100 * share.value:.0f}%"
        shown.append(share)
    return (
        f"{contacts.value:,.0f}" if contacts else "–",
        f"{people.value:,.0f}" if people else "–",
        young,
        f"<code>{text(figure.id)}</code> {tag_badge(figure.tag_of_values(shown))}",
    )


YOUNG_BANDS = ("<18", "18–21", "22–26")


def _young_callers(callers: ProtectedTable, column: int) -> str:
    """Callers aged 26 or younger in one year, as far as the published cells determine it."""
    values = {
        label: cells[column] for label, cells in zip(callers.row_labels, callers.cells, strict=True)
    }
    total = callers.col_totals[column]
    young = [values.get(band, 0) for band in YOUNG_BANDS]
    older = [v for label, v in values.items() if label not in YOUNG_BANDS]
    if all(v is not None for v in young):
        count: int | None = sum(v for v in young if v is not None)
    elif total is not None and all(v is not None for v in older):
        count = total - sum(v for v in older if v is not None)
    else:
        return WITHHELD
    share = f" ({100 * count / total:.0f}%)" if count is not None and total else ""
    return f"{count:,}{share}"


def _year_table(contacts: ProtectedTable, callers: ProtectedTable) -> str:
    """Yearly totals: the column totals of the protected age-band × year tables."""
    rows = []
    for j, year in enumerate(contacts.col_labels):
        published = _published(year)
        column = callers.col_labels.index(year) if year in callers.col_labels else None
        rows.append(
            [
                text(year),
                cell(contacts.col_totals[j]),
                cell(callers.col_totals[column]) if column is not None else WITHHELD,
                _young_callers(callers, column) if column is not None else WITHHELD,
                *published,
            ]
        )
    return table(
        [
            "year",
            "contacts (stored)",
            "callers, estimated (stored)",
            "callers aged ≤26 (stored)",
            "contacts (published)",
            "people (published)",
            "people aged ≤26 (published)",
            "source",
        ],
        rows,
        raw_columns=[7],
    )


def _year_chart(contacts: ProtectedTable, callers: ProtectedTable) -> str:
    data: list[dict[str, Any]] = []
    for unit, protected in (("contacts", contacts), ("callers (estimated)", callers)):
        for label, total in zip(protected.col_labels, protected.col_totals, strict=True):
            if total is not None:
                data.append({"year": label, "unit": unit, "count": total})
    chart = (
        alt.Chart(_data(data))
        .mark_bar()
        .encode(
            x=alt.X("year:N", title="year"),
            xOffset="unit:N",
            y=alt.Y("count:Q", title="count"),
            color=alt.Color("unit:N", title=None),
        )
        .properties(width=360, height=200, title="Contacts and estimated callers per year")
    )
    return to_svg(chart)


def _month_chart(by_month: ProtectedTable) -> str:
    data = [
        {"month": label, "contacts": cells[0]}
        for label, cells in zip(by_month.row_labels, by_month.cells, strict=True)
        if cells[0] is not None
    ]
    chart = (
        alt.Chart(_data(data))
        .mark_line(point=True)
        .encode(x=alt.X("month:O", title="month"), y=alt.Y("contacts:Q", title="contacts"))
        .properties(width=520, height=180, title="Contacts per month (withheld months omitted)")
    )
    return to_svg(chart)


def _share_chart(comparisons: list[ShareComparison]) -> str:
    data = [
        {
            "indicator": INDICATOR_LABELS[c.indicator],
            "group": row.group,
            "share": row.share,
            "low": row.low,
            "high": row.high,
        }
        for c in comparisons
        for row in c.rows
        if row.share is not None
    ]
    base = alt.Chart(_data(data)).encode(
        y=alt.Y("group:N", title=None, sort=["<18", "18–26", "≤26", "27+"]),
        yOffset=alt.YOffset("indicator:N"),
        color=alt.Color(
            "indicator:N", title=None, legend=alt.Legend(orient="bottom", columns=1, labelLimit=500)
        ),
    )
    points = base.mark_point(filled=True, size=50).encode(
        x=alt.X(
            "share:Q",
            title="share of contacts",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="%"),
        )
    )
    bars = base.mark_rule(strokeWidth=2).encode(x="low:Q", x2="high:Q")
    chart = alt.layer(bars, points).properties(
        width=420,
        height=220,
        title="Young against older self-concerned callers (95% Wilson intervals)",
    )
    return to_svg(chart)


def _percent(value: float | None) -> str:
    return WITHHELD if value is None else f"{100 * value:.1f}%"


def _share_table(comparison: ShareComparison) -> str:
    return table(
        ["age group", "with", "of", "share", "95% interval"],
        (
            [
                row.group,
                cell(row.numerator),
                cell(row.denominator),
                _percent(row.share),
                WITHHELD if row.low is None else f"{_percent(row.low)}–{_percent(row.high)}",
            ]
            for row in comparison.rows
        ),
    )


def build(store: Store) -> Section | None:
    with store.session() as session:
        facts = load_facts(session)
    if facts.contacts.height == 0:
        return None
    min_cell = min_cell_setting(store.settings.section("helpline"))
    # One set of tables protected together (helpline.published): the page, the API and this
    # report never publish a number in one place that another withholds.
    found = published_set(facts, min_cell)
    by_age, callers_by_age = found.ages.contacts, found.ages.callers
    latest, by_month = found.latest, found.months.contacts
    comparisons = list(found.comparisons)
    rapporteur = shipped_evidence().get("nl.rapporteur.young.2023")
    parts = []
    if facts.synthetic:
        parts.append(
            '<p class="synthetic"><b>SYNTHETIC sample data.</b> These contacts are generated to '
            "match the published yearly totals; they are not real helpline contacts.</p>"
        )
    parts += [
        f"<p>Disclosure control: cells below {min_cell} and the cells that would reveal them "
        f"are withheld (<b>{WITHHELD}</b>). Contacts and estimated unique callers are counted "
        "separately. Free-text notes never enter these figures.</p>",
        "<h3>Contacts and callers per year, next to the published figures</h3>",
        _year_table(by_age, callers_by_age),
        _year_chart(by_age, callers_by_age),
        f"<h3>Contacts per month, {latest}</h3>",
        _month_chart(by_month),
        "<h3>Contacts by age band and year</h3>",
        protected_table(by_age),
        f"<h3>Young against older self-concerned callers, {latest}</h3>",
        _share_chart(comparisons),
    ]
    for comparison in comparisons:
        parts.append(
            f"<h4>{text(INDICATOR_LABELS[comparison.indicator])}</h4>"
            f"<p>Share of {text(comparison.population)}.</p>"
        )
        parts.append(_share_table(comparison))
    parts.append(
        f"<p>Published: {text(rapporteur.statement)} — <code>{text(rapporteur.id)}</code> "
        f"{figure_tags(rapporteur)} ({text(rapporteur.source)}).</p>"
    )
    return Section(
        anchor="helpline",
        title="Helpline contacts" + (" (synthetic sample)" if facts.synthetic else ""),
        body="".join(parts),
        provenance=(
            f"computed from {cell(by_age.total)} coded contact reports in the store by "
            "safeguarding.helpline.stats, under disclosure control "
            f"(minimum cell {min_cell}, secondary suppression); published figures from the "
            "evidence base (nl.stopitnow.*, nl.rapporteur.young.2023)"
        ),
    )
