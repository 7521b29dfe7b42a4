"""The evidence base as a readable page: every figure with its source and reliability tag."""

from __future__ import annotations

from itertools import groupby

from sqlalchemy import select

from safeguarding.reporting.html import Section, table, text, value_tags
from safeguarding.store import Store
from safeguarding.store.models import EvidenceFigureRow


def _years(row: EvidenceFigureRow) -> str:
    if row.year_from is None:
        return "–"
    if row.year_to is None or row.year_to == row.year_from:
        return str(row.year_from)
    return f"{row.year_from}–{row.year_to}"


def _source(row: EvidenceFigureRow) -> str:
    if row.url:
        return f'<a href="{text(row.url)}" rel="noreferrer">{text(row.source)}</a>'
    return text(row.source)


def _tags(row: EvidenceFigureRow) -> str:
    """The figure's tag and the values whose own tag differs (e.g. one year only via press)."""
    return value_tags(row.tag, ((v["name"], v.get("year"), v.get("tag")) for v in row.values))


def build(store: Store) -> Section | None:
    with store.session() as session:
        rows = list(
            session.scalars(
                select(EvidenceFigureRow).order_by(EvidenceFigureRow.topic, EvidenceFigureRow.id)
            )
        )
    if not rows:
        return None
    parts = [
        "<p>Published figures the system cites. Tags: <b>P</b> primary source; <b>S</b> secondary "
        "source citing the primary (usable, shown with its tag); <b>U</b> unverified (used only "
        "as a labelled assumption).</p>"
    ]
    for topic, group in groupby(rows, key=lambda r: r.topic):
        figures = list(group)
        parts.append(f"<h3>{text(topic)}</h3>")
        parts.append(
            table(
                ["id", "figure", "years", "source", "tag", "note"],
                (
                    [
                        f"<code>{text(r.id)}</code>",
                        text(r.statement),
                        text(_years(r)),
                        _source(r),
                        _tags(r),
                        text(r.note or ""),
                    ]
                    for r in figures
                ),
                raw_columns=range(6),
            )
        )
    version = rows[0].data_version
    return Section(
        anchor="evidence",
        title=f"Evidence base ({len(rows)} figures)",
        body="".join(parts),
        provenance=f"evidence data files shipped with the package, version {version}",
    )
