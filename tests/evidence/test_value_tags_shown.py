"""A value's own reliability tag is what the report shows beside it, not its figure's tag."""

from __future__ import annotations

import re

from safeguarding.evidence import shipped_evidence
from safeguarding.evidence.store_sync import sync_evidence
from safeguarding.reporting.sections import assess as assess_section
from safeguarding.reporting.sections import evidence as evidence_section
from safeguarding.store import Store


def _row(html: str, first_cell: str) -> str:
    """The table row whose text starts with ``first_cell``."""
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        if cells and re.sub(r"<[^>]+>", "", cells[0]).strip().startswith(first_cell):
            return row
    raise AssertionError(f"no row starting {first_cell!r}")


def _badges(html: str) -> list[str]:
    return re.findall(r'<span class="tag tag-([PSU])"', html)


def test_the_fedpol_checks_show_the_tag_of_the_2024_values_they_rest_on() -> None:
    # police.toml tags the 2024 counts S (via SonntagsBlick) inside a P figure. Every fedpol row
    # draws its interval from the share fitted to all years, 2024 included, so every row is S,
    # 2017's too, and so is the 7–20% row, which sends all years' reports through that share.
    table = assess_section.published_checks_table()
    for year in range(2017, 2025):
        assert _badges(_row(table, f"fedpol cases forwarded {year}")) == ["S"], year
    assert _badges(_row(table, "fedpol forwarded share within")) == ["S"]


def test_the_evidence_section_names_values_whose_tag_differs(store: Store) -> None:
    with store.session() as session:
        sync_evidence(session, shipped_evidence())
    built = evidence_section.build(store)
    assert built is not None
    row = _row(built.body, "ch.fedpol.ncmec")
    assert _badges(row) == ["P", "S"]
    assert "received 2024, forwarded 2024" in row
    assert _badges(_row(built.body, "de.bka.ncmec")) == ["S"]


def test_a_citation_of_values_carries_their_tag() -> None:
    figure = shipped_evidence().get("ch.fedpol.ncmec")
    assert figure.citation([figure.value("forwarded", 2024)]).startswith("ch.fedpol.ncmec [S]")
    assert figure.citation([figure.value("forwarded", 2017)]).startswith("ch.fedpol.ncmec [P]")
    assert figure.citation().startswith("ch.fedpol.ncmec [P]")
