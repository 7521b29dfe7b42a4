"""How counts under disclosure control look in the report: a withheld count is an ``x``, never a
blank or a zero, so a reader cannot mistake "not published" for "none"."""

from __future__ import annotations

from safeguarding.disclosure.suppression import ProtectedTable
from safeguarding.reporting.html import table

WITHHELD = "x"


def cell(value: int | None) -> str:
    return WITHHELD if value is None else f"{value:,}"


def protected_table(protected: ProtectedTable) -> str:
    """The table with its row and column totals, withheld values shown as ``x``; a one-row table
    has no total row (it would repeat the row)."""
    columns = ["", *protected.col_labels, "total"]
    rows = [
        [label, *(cell(v) for v in cells), cell(total)]
        for label, cells, total in zip(
            protected.row_labels, protected.cells, protected.row_totals, strict=True
        )
    ]
    if len(rows) > 1:
        rows.append(["total", *(cell(v) for v in protected.col_totals), cell(protected.total)])
    return table(columns, rows)
