"""Case evidence: the parser, the platform × stage matrix against hand counts, trends, audience."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.errors import ValidationError
from safeguarding.platforms.cases import (
    CASE_COLUMNS,
    LabelNote,
    StoredMention,
    cases_by_platform_and_harm,
    label_notes,
    mention_frame,
    parse_cases_csv,
    stage_matrix,
    with_register_ids,
    year_trend,
)
from safeguarding.platforms.sample import generate_cases
from safeguarding.platforms.vocabulary import ROLE_PAIRS, STAGES

HAND_FILE = """case,platform,stage,role_pair,year,source
A,chat,S1,offender-victim,2020,file 1
A,chat,S3,offender-victim,2020,file 1
A,chat,S3,offender-victim,2020,file 1 page 2
A,ads,S6,offender-buyer,2020,file 1
B,chat,S1,offender-victim,2021,file 2
B,social,S2,offender-victim,2021,file 2
B,,S8,victim-buyer,2021,file 2
C,unknown,S1,offender-victim,2021,file 3
D,ads,S6,offender-buyer,2021,file 4
D,social,S7,victim-buyer,2021,file 4
"""


def _mentions(text: str) -> list[StoredMention]:
    good, errors = parse_cases_csv(text)
    assert errors == []
    return [
        StoredMention(m.case, m.platform, m.stage, m.role_pair, m.year, m.source) for _, m in good
    ]


def test_matrix_counts_equal_hand_counts() -> None:
    matrix = stage_matrix(_mentions(HAND_FILE))
    # By hand: A uses chat at S1 and S3 (twice at S3: still one case), ads at S6; B chat S1,
    # social S2, unknown S8; C only unknown; D ads S6, social S7.
    assert matrix.total_cases == 4
    assert matrix.denominator == 3  # A, B, D name a platform; C does not
    assert matrix.counts["chat"] == {**dict.fromkeys(STAGES, 0), "S1": 2, "S3": 1}
    assert matrix.counts["ads"] == {**dict.fromkeys(STAGES, 0), "S6": 2}
    assert matrix.counts["social"] == {**dict.fromkeys(STAGES, 0), "S2": 1, "S7": 1}
    assert matrix.row_totals == {"chat": 2, "ads": 2, "social": 2}
    assert matrix.stage_totals["S1"] == 2 and matrix.stage_totals["S8"] == 0
    assert matrix.share("chat", "S1") == pytest.approx(2 / 3)
    data = matrix.as_dict()
    assert data["denominator"] == 3 and data["cases_platform_unknown"] == 1


def test_matrix_by_type_groups_registered_platforms_and_marks_the_rest() -> None:
    matrix = stage_matrix(
        _mentions(HAND_FILE), groups={"chat": "messaging", "social": "social"}, by="type"
    )
    assert matrix.row_totals == {"messaging": 2, "social": 2, "unregistered": 2}
    assert matrix.denominator == 3


def test_audience_normalisation_only_where_audience_is_known() -> None:
    matrix = stage_matrix(_mentions(HAND_FILE), audience={"chat": 4_000_000, "ads": 0})
    assert matrix.per_million == {"chat": 0.5}
    assert "ads" not in matrix.per_million


def test_trend_per_year_with_its_denominators() -> None:
    trend = year_trend(_mentions(HAND_FILE))
    assert trend.years == [2020, 2021]
    assert trend.denominators == {2020: 1, 2021: 2}
    assert trend.counts["chat"] == {2020: 1, 2021: 1}
    assert trend.share("ads", 2021) == pytest.approx(0.5)


def test_chart_cells_cover_every_row_and_stage_or_year_once() -> None:
    matrix = stage_matrix(_mentions(HAND_FILE))
    cells = matrix.cells()
    assert len(cells) == len(matrix.rows) * len(STAGES)
    assert {(c["platform"], c["stage"]) for c in cells} == {
        (row, stage) for row in matrix.rows for stage in STAGES
    }
    assert {"platform": "chat", "stage": "S1", "cases": 2, "share": 0.667} in cells
    trend = year_trend(_mentions(HAND_FILE))
    assert {"type": "ads", "year": 2021, "cases": 1, "share": 0.5} in trend.cells()
    assert sum(c["cases"] for c in trend.cells()) == sum(
        sum(years.values()) for years in trend.counts.values()
    )


def test_cases_per_harm_follow_the_stage_mapping() -> None:
    per_harm, denominator = cases_by_platform_and_harm(
        _mentions(HAND_FILE), {"grooming": ["S1", "S2", "S3"], "sexual_exploitation": ["S6", "S7"]}
    )
    assert denominator == 3
    assert per_harm == {
        "chat": {"grooming": 2},
        "social": {"grooming": 1, "sexual_exploitation": 1},
        "ads": {"sexual_exploitation": 2},
    }


def test_labels_that_are_not_register_ids_are_named_with_the_id_they_may_mean() -> None:
    ids = {"example-ads", "example-chat", "example_forum"}
    counts = {"example-chat": 9, "Example-Ads": 5, "example_ads": 2, "Example Forum": 1, "tg": 4}
    assert label_notes(counts, ids) == [
        LabelNote("Example-Ads", 5, counted_as="example-ads"),
        LabelNote("tg", 4),
        LabelNote("example_ads", 2, near="example-ads"),
        LabelNote("Example Forum", 1, near="example_forum"),
    ]
    assert str(label_notes({"EXAMPLE-ADS": 3}, ids)[0]) == (
        "platform 'EXAMPLE-ADS' (3 mention(s)) is register id 'example-ads' but for letter case: "
        "counted as it"
    )
    assert "did you mean 'example-ads'?" in str(label_notes({"Example_Ads": 1}, ids)[0])


def test_a_label_in_another_letter_case_counts_for_the_register_id() -> None:
    text = HAND_FILE.replace("D,ads,S6", "D,ADS,S6").replace("A,ads,S6", "A,Ads,S6")
    frame = with_register_ids(mention_frame(_mentions(text)), {"ads", "chat"})
    assert stage_matrix(frame).counts["ads"]["S6"] == 2
    assert "Ads" not in stage_matrix(frame).rows
    per_harm, _ = cases_by_platform_and_harm(frame, {"sexual_exploitation": ["S6"]})
    assert per_harm["ads"] == {"sexual_exploitation": 2}


def test_bad_case_rows_are_named_by_line_and_field_and_the_rest_kept() -> None:
    text = (
        "case,platform,stage,role_pair,year,source\n"
        "A,chat,S11,offender-victim,2020,f\n"
        "B,chat,S1,pimp-victim,2020,f\n"
        "C,chat,S1,offender-victim,1890,f\n"
        "D,chat,S1,offender-victim,2020,\n"
        "E,chat,S1,offender-victim,2020,f\n"
    )
    good, errors = parse_cases_csv(text, "c.csv")
    assert [m.case for _, m in good] == ["E"]
    assert [(e.line, e.field) for e in errors] == [
        (2, "stage"),
        (3, "role_pair"),
        (4, "year"),
        (5, "source"),
    ]
    assert str(errors[0]).startswith("c.csv:2: field stage: unknown value 'S11'")


def test_a_nul_character_in_a_case_row_is_refused_with_the_field() -> None:
    # PostgreSQL refuses NUL in text: the import failed in the store instead of naming the row.
    good, errors = parse_cases_csv(
        "case,platform,stage,role_pair,year,source\n"
        "1,chat\x00,S1,offender-victim,2020,file\n2,chat,S1,offender-victim,2020,file\n",
        "c.csv",
    )
    assert [line for line, _ in good] == [3]
    assert [str(e) for e in errors] == [
        "c.csv:2: field platform: must not contain a NUL character (\\x00)"
    ]


def test_a_case_file_with_the_wrong_columns_is_refused() -> None:
    with pytest.raises(ValidationError, match="missing role_pair"):
        parse_cases_csv("case,platform,stage,year,source\n")


def test_a_case_file_cannot_bring_attributes_of_people() -> None:
    """Case counts are published as counted because no person attribute can enter the table
    (docs/platforms.md): a column beyond the six is refused, never ignored."""
    header = "case,platform,stage,role_pair,year,source,victim_age"
    row = "C-1,example-chat,S1,offender-victim,2021,file,14"
    with pytest.raises(ValidationError, match="unknown victim_age") as refused:
        parse_cases_csv(f"{header}\n{row}\n", "c.csv")
    assert refused.value.location == "c.csv:1"


def test_generated_sample_follows_the_letters_pattern_and_is_deterministic() -> None:
    text = generate_cases(7)
    assert text == generate_cases(7) and text != generate_cases(8)
    mentions = _mentions(text)
    stages_of: dict[str, set[str]] = defaultdict(set)
    for m in mentions:
        if m.platform:
            stages_of[m.platform].add(m.stage)
    # Messaging at every stage; sex-advertisement sites only to advertise and meet buyers.
    assert stages_of["example-chat"] == set(STAGES)
    assert stages_of["example-redlantern"] <= {"S6", "S7"}
    assert stages_of["example-nightlistings"] <= {"S6", "S7"}
    assert {"S2", "S7"} <= stages_of["example-friendbook"]
    # Dating apps decline: a smaller share of each year's cases at the end than at the start.
    trend = year_trend(mentions)
    first, last = trend.years[0], trend.years[-1]
    assert trend.share("example-datr", last) < trend.share("example-datr", first)
    matrix = stage_matrix(mentions)
    assert 0 < matrix.denominator < matrix.total_cases


_rows = st.lists(
    st.fixed_dictionaries(
        {
            "case": st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
            "platform": st.sampled_from(["", "p1", "p2", "p3"]),
            "stage": st.sampled_from(STAGES),
            "role_pair": st.sampled_from(ROLE_PAIRS),
            "year": st.integers(2015, 2024),
            "source": st.just("s"),
        }
    ),
    max_size=40,
)


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CASE_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@settings(max_examples=100, deadline=None)
@given(_rows)
def test_matrix_equals_a_naive_count_for_any_file(rows: list[dict[str, object]]) -> None:
    matrix = stage_matrix(_mentions(_csv(rows)))
    cells: dict[tuple[str, str], set[str]] = defaultdict(set)
    known: set[str] = set()
    for r in rows:
        if r["platform"]:
            cells[(str(r["platform"]), str(r["stage"]))].add(str(r["case"]))
            known.add(str(r["case"]))
    assert matrix.denominator == len(known)
    assert matrix.total_cases == len({r["case"] for r in rows})
    for row in matrix.rows:
        for stage in STAGES:
            assert matrix.counts[row][stage] == len(cells.get((row, stage), set()))
            assert 0 <= matrix.share(row, stage) <= 1
    per_year: dict[int, set[str]] = defaultdict(set)
    per_row_year: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r in rows:
        if r["platform"]:
            per_year[int(str(r["year"]))].add(str(r["case"]))
            per_row_year[(str(r["platform"]), int(str(r["year"])))].add(str(r["case"]))
    trend = year_trend(_mentions(_csv(rows)))
    assert trend.denominators == {y: len(c) for y, c in sorted(per_year.items())}
    assert {(row, y): n for row, ys in trend.counts.items() for y, n in ys.items()} == {
        key: len(c) for key, c in per_row_year.items()
    }


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_the_case_parser_never_fails_uncleanly(text: str) -> None:
    try:
        good, errors = parse_cases_csv("case,platform,stage,role_pair,year,source\n" + text)
    except ValidationError:
        return
    assert all(e.line >= 2 and e.field for e in errors)
    assert all(m.stage in STAGES for _, m in good)
