"""Statistics: Wilson intervals by hand, callers against contacts, shares, and no free text."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from benchmarks.disclosure_linked_tables import largest, published
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event

import safeguarding.helpline.stats as stats_module
import safeguarding.reporting.sections.helpline as section_module
from safeguarding.disclosure.suppression import PUBLISHED, ProtectedTable, suppress
from safeguarding.helpline.importer import IngestKeys, PreparedContact, store_contacts
from safeguarding.helpline.notes import NoteCipher
from safeguarding.helpline.schema import ContactReport
from safeguarding.helpline.stats import (
    callers,
    compare_young_older,
    helpline_stats,
    load_facts,
    parse_by,
    unattributed,
    wilson_interval,
)
from safeguarding.reporting.monitor import render_monitor
from safeguarding.store import Store
from tests.disclosure.attacker import feasible_intervals

KEYS = IngestKeys(pseudonym_secret=b"p" * 32, cipher=NoteCipher(b"n" * 32), note_retention_days=9)
MARKER = "ZEBRA-QUILT-MARKER"


# Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (Wilson score).
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(low, abs=5e-5)
    assert got[1] == pytest.approx(high, abs=5e-5)


def test_wilson_by_hand() -> None:
    # 0/10: upper = z² / (n + z²) = 3.8415 / 13.8415.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(3.841459 / 13.841459, abs=1e-6))
    # 5/10: centre 0.5, half-width z·sqrt(0.025 + z²/400) / (1 + z²/10) = 0.263407.
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.236593, abs=1e-6), pytest.approx(0.763407, abs=1e-6))
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_share_and_mirrors(pair: tuple[int, int]) -> None:
    k, n = pair
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert low < high
    mirror_low, mirror_high = wilson_interval(n - k, n)
    assert mirror_low == pytest.approx(1 - high, abs=1e-12)
    assert mirror_high == pytest.approx(1 - low, abs=1e-12)


def _store(store: Store, records: list[dict[str, object]]) -> None:
    contacts = [
        PreparedContact(ContactReport.model_validate(r), f"key-{i}") for i, r in enumerate(records)
    ]
    with store.session() as session:
        store_contacts(session, contacts, KEYS)


def test_contacts_and_callers_are_counted_apart(store: Store) -> None:
    base = {"month": "2023-03"}
    _store(
        store,
        [
            {**base, "caller_token": "heron", "contact_kind": "first"},
            {**base, "caller_token": "heron", "contact_kind": "repeat"},
            {"month": "2023-05", "caller_token": "heron"},
            {"month": "2024-01", "caller_token": "heron", "contact_kind": "repeat"},
            {**base, "contact_kind": "first"},
            {**base, "contact_kind": "first"},
            {**base, "contact_kind": "repeat"},
            {**base},
        ],
    )
    with store.session() as session:
        facts = load_facts(session)
    assert facts.contacts.height == 8
    per_year = callers(facts.contacts).group_by("year").len().sort("year").rows()
    # 2023: heron + two first contacts without a token; 2024: heron again (once per year).
    assert per_year == [(2023, 3), (2024, 1)]
    assert unattributed(facts.contacts) == 1
    result = helpline_stats(facts, ("year",), min_cell=1)
    contacts_table, callers_table = result.tables
    assert contacts_table.cells == ((7,), (1,)) and contacts_table.total == 8
    assert callers_table.cells == ((3,), (1,)) and "once per year" in callers_table.unit
    assert result.unattributed_contacts == 1
    assert helpline_stats(facts, ("year",)).unattributed_contacts is None


def _self(age: str, porn: bool, n: int) -> list[dict[str, object]]:
    factors = [{"factor": "escalating_pornography", "basis": "stated"}] if porn else []
    return [
        {
            "month": "2023-01",
            "caller_type": "self_concerned",
            "age_band": age,
            "risk_factors": factors,
            "help_needs": ["wants_to_stop"] if porn else [],
        }
    ] * n


def test_young_against_older_shares(store: Store) -> None:
    records = (
        _self("under_18", True, 30)
        + _self("under_18", False, 10)
        + _self("18_21", True, 20)
        + _self("22_26", False, 20)
        + _self("36_plus", True, 12)
        + _self("27_35", False, 36)
        + _self("unknown", True, 3)
        + [{"month": "2023-01", "caller_type": "self_concerned", "age_band": "18_21"}] * 4
        + [
            {
                "month": "2023-01",
                "caller_type": "professional",
                "age_band": "36_plus",
                "risk_factors": [{"factor": "escalating_pornography", "basis": "stated"}],
            }
        ]
        * 5
    )
    _store(store, records)
    with store.session() as session:
        facts = load_facts(session)
    comparison = compare_young_older(facts, "escalating_pornography")
    rows = {row.group: row for row in comparison.rows}
    assert [row.group for row in comparison.rows] == ["<18", "18–26", "≤26", "27+"]
    # Unknown age, unrecorded risk factors and other caller types are outside the population.
    assert (rows["<18"].numerator, rows["<18"].denominator) == (30, 40)
    assert (rows["18–26"].numerator, rows["18–26"].denominator) == (20, 40)
    assert (rows["≤26"].numerator, rows["≤26"].denominator) == (50, 80)
    assert (rows["27+"].numerator, rows["27+"].denominator) == (12, 48)
    assert rows["≤26"].share == 50 / 80
    assert (rows["≤26"].low, rows["≤26"].high) == wilson_interval(50, 80)
    help_rows = {r.group: r for r in compare_young_older(facts, "asking_for_help").rows}
    assert (help_rows["27+"].numerator, help_rows["27+"].denominator) == (12, 48)


def test_small_groups_are_withheld_and_young_is_derived_only_when_safe(store: Store) -> None:
    _store(
        store,
        _self("under_18", True, 4)
        + _self("under_18", False, 30)
        + _self("18_21", True, 25)
        + _self("18_21", False, 25)
        + _self("27_35", True, 40)
        + _self("27_35", False, 40),
    )
    with store.session() as session:
        facts = load_facts(session)
    rows = {row.group: row for row in compare_young_older(facts, "escalating_pornography").rows}
    assert rows["<18"].numerator is None and rows["<18"].share is None
    assert rows["≤26"].denominator == 84
    # ≤26 "with" would be 29 = column total 69 minus 27+ (40): derivable only if both published.
    table = compare_young_older(facts, "escalating_pornography").table
    derivable = table.col_totals[0] is not None and table.cells[2][0] is not None
    assert (rows["≤26"].numerator is not None) == derivable


def test_parse_by() -> None:
    assert parse_by("age_band, year") == ("age_band", "year")
    for bad in ("", "a,b,c", "colour", "year,year"):
        with pytest.raises(ValueError):
            parse_by(bad)


def _imports(module: object) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_statistics_code_never_names_the_note_table() -> None:
    for module in (stats_module, section_module):
        assert "HelplineNoteRow" not in _imports(module)
        assert "helpline.notes" not in Path(module.__file__).read_text()
    assert "note" not in {column.key for column in stats_module.FACT_COLUMNS}


def test_no_statistic_ever_includes_free_text(store: Store) -> None:
    records = _self("18_21", True, 30) + _self("36_plus", False, 30)
    records = [{**r, "note": f"{MARKER} {i}"} for i, r in enumerate(records)]
    _store(store, records)
    statements: list[str] = []

    def capture(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.lower())

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.session() as session:
            facts = load_facts(session)
        output = json.dumps(helpline_stats(facts, ("age_band", "year")).as_dict())
        html = render_monitor(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert statements, "the statistics did read the store"
    assert all("helpline_note" not in s and "ciphertext" not in s for s in statements)
    assert all(column not in facts.contacts.columns for column in ("note", "ciphertext"))
    assert MARKER not in output and MARKER not in html
    assert "Helpline contacts" in html


@pytest.mark.parametrize(("contacts", "shown"), [(4, "x"), (30, "30")])
def test_the_monitor_section_names_its_contact_count_only_when_published(
    store: Store, contacts: int, shown: str
) -> None:
    _store(store, _self("18_21", True, contacts))
    section = section_module.build(store)
    assert section is not None
    assert f"computed from {shown} coded contact reports" in section.provenance


def _extended(table: ProtectedTable) -> list[list[int | None]]:
    rows = [[*cells, total] for cells, total in zip(table.cells, table.row_totals, strict=True)]
    return [*rows, [*table.col_totals, table.total]]


def _small_cells_stay_deniable(
    table: ProtectedTable, counts: list[int], floors: dict[tuple[int, int], int]
) -> None:
    """An intruder with the table and the floors a linked table gives still cannot tell a small
    count (1 to min_cell - 1) from one of min_cell."""
    intervals = feasible_intervals(_extended(table), floors)
    for i, count in enumerate(counts):
        if 0 < count < table.min_cell:
            assert intervals[(i, 0)][1] >= table.min_cell, (i, intervals[(i, 0)])


def _caller(age: str, token: str, kind: str) -> dict[str, object]:
    return {"month": "2023-02", "age_band": age, "caller_token": token, "contact_kind": kind}


def test_callers_are_withheld_where_their_contacts_are(store: Store) -> None:
    """12 contacts aged 22–26 by 11 callers: with the contacts withheld (complement of the 3
    under 18), 11 callers published would say at least 11 contacts, so at most 4 under 18."""
    counts = {"under_18": 3, "18_21": 60, "22_26": 12, "27_35": 20, "36_plus": 50}
    records = []
    for age, n in counts.items():
        people = {"22_26": 11, "27_35": 9}.get(age, n)
        records += [
            _caller(age, f"{age}-{i % people}", "first" if i < people else "repeat")
            for i in range(n)
        ]
    _store(store, records)
    with store.session() as session:
        facts = load_facts(session)
    contacts, callers_table = helpline_stats(facts, ("age_band",)).tables
    assert contacts.cells[0] == (None,) and contacts.cells[2] == (None,)
    assert callers_table.cells[2] == (None,)
    for row, caller_row in zip(contacts.cells, callers_table.cells, strict=True):
        assert row[0] is not None or caller_row[0] in (None, 0)
    floors = {
        (i, 0): value[0]
        for i, value in enumerate(callers_table.cells)
        if contacts.cells[i][0] is None and value[0]
    }
    _small_cells_stay_deniable(contacts, list(counts.values()), floors)


def test_an_age_group_compared_beside_a_withheld_band_is_withheld(store: Store) -> None:
    """72 self-concerned contacts aged 18–26 compared beside 60 aged 18–21 would say at least 12
    aged 22–26, and so at most 3 under 18 (the two withheld counts sum to 15)."""
    counts = {"under_18": 3, "18_21": 60, "22_26": 12, "27_35": 35, "36_plus": 55}
    hits = {"under_18", "18_21", "27_35"}
    _store(store, [r for age, n in counts.items() for r in _self(age, age in hits, n)])
    with store.session() as session:
        facts = load_facts(session)
    result = helpline_stats(facts, ("age_band",))
    contacts = result.tables[0]
    assert contacts.cells[0] == (None,) and contacts.cells[2] == (None,)
    for comparison in result.comparisons:
        groups = {row.group: row for row in comparison.rows}
        assert groups["18–26"].denominator is None and groups["18–26"].share is None
        assert comparison.table.row_totals[1] is None
        # What is still published gives no floor above 1: <18 alone is withheld anyway.
        floors: dict[tuple[int, int], int] = {}
        bands = {"<18": [0], "18–26": [1, 2], "27+": [3, 4]}
        for group, members in bands.items():
            size = groups[group].denominator
            hidden = [m for m in members if contacts.cells[m][0] is None]
            if size is None or len(hidden) != 1:
                continue
            shown = sum(contacts.cells[m][0] or 0 for m in members if m not in hidden)
            floors[(hidden[0], 0)] = size - shown
        _small_cells_stay_deniable(contacts, list(counts.values()), floors)


def test_without_the_linked_checks_both_attacks_would_work(store: Store) -> None:
    """The intruder of the two tests above is real: with the floors the unprotected callers
    count and age group would give, the 3 under 18 is seen to be small."""
    counts = {"under_18": 3, "18_21": 60, "22_26": 12, "27_35": 35, "36_plus": 55}
    _store(store, [r for age, n in counts.items() for r in _self(age, False, n)])
    with store.session() as session:
        facts = load_facts(session)
    contacts = helpline_stats(facts, ("age_band",)).tables[0]
    intervals = feasible_intervals(_extended(contacts), {(2, 0): 11})
    assert intervals[(0, 0)][1] < contacts.min_cell


def test_a_callers_zero_beside_a_withheld_contacts_count_is_withheld() -> None:
    """Contacts [[5, 12], [0, 3], [12, 1]] and callers [[5, 9], [0, 3], [11, 0]]: a callers 0
    published at the withheld contacts 1 made the published callers of that column (12) a floor
    under the other two contacts of it, and left the 1 at most 4."""
    contacts = suppress([[5, 12], [0, 3], [12, 1]])
    callers = suppress([[5, 9], [0, 3], [11, 0]], withhold=contacts.status != PUBLISHED)
    assert contacts.status[2, 1] != PUBLISHED and callers.status[2, 1] != PUBLISHED
    assert largest(published(contacts), published(callers), (2, 1)) >= 10


def test_a_zero_in_an_age_group_withheld_beside_a_band_is_published(store: Store) -> None:
    """Nobody with escalating use recorded, and the 9 compared aged 36+ withheld beside the
    withheld 36+ count (9, with 8 of unknown age): withheld with them, their 0 lay on no cycle
    of positive cells, and protecting the comparison failed for the command, the page and the
    API alike."""
    self_concerned = {"caller_type": "self_concerned", "risk_factors": []}
    _store(
        store,
        [{"month": "2024-02", "age_band": "36_plus", **self_concerned}] * 9
        + [{"month": "2024-02", "caller_type": "relative_partner"}] * 8
        + [{"month": "2024-03", "age_band": "22_26", **self_concerned}] * 83
        + [{"month": "2024-01", "age_band": "22_26", "caller_type": "other"}] * 45,
    )
    with store.session() as session:
        facts = load_facts(session)
    result = helpline_stats(facts, ("age_band",))
    assert result.tables[0].cells == ((128,), (None,), (None,))
    porn = result.comparisons[0].table
    assert porn.cells[2] == (0, None) and porn.row_totals[2] is None
    assert porn.col_totals[0] == 0
