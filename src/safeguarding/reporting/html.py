"""Small pieces of HTML shared by report sections: escaping, tables, tags and sections."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from safeguarding.evidence.loader import TAGS, EvidenceFigure


@dataclass(frozen=True)
class Section:
    """One area of the monitor report: an anchor, a title, the body HTML and where it came from."""

    anchor: str
    title: str
    body: str
    provenance: str


def text(value: Any) -> str:
    return escape("" if value is None else str(value))


def tag_badge(tag: str) -> str:
    """A reliability tag shown next to a figure: P, S or U with its meaning on hover."""
    meaning = TAGS.get(tag, "unknown")
    return f'<span class="tag tag-{text(tag)}" title="{text(meaning)}">{text(tag)}</span>'


def value_tags(tag: str, values: Iterable[tuple[str, int | None, str | None]]) -> str:
    """A figure's tag, then every other tag its values carry, naming the values that carry it.

    ``values`` are (name, year, own tag or None). A figure tagged P can hold values read only in
    a secondary source; showing the figure's P alone would present those values as primary.
    """
    others: dict[str, list[str]] = {}
    for name, year, own in values:
        if own is not None and own != tag:
            others.setdefault(own, []).append(name if year is None else f"{name} {year}")
    parts = [tag_badge(tag)]
    for other, names in others.items():
        parts.append(f"<small>({tag_badge(other)} {text(', '.join(names))})</small>")
    return " ".join(parts)


def figure_tags(figure: EvidenceFigure) -> str:
    """``value_tags`` for a figure from the evidence base."""
    return value_tags(figure.tag, ((v.name, v.year, v.tag) for v in figure.values))


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, raw_columns: Iterable[int] = ()
) -> str:
    """An HTML table; cells are escaped unless their column index is in ``raw_columns``."""
    raw = set(raw_columns)
    head = "".join(f"<th>{text(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{cell if i in raw else text(cell)}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
