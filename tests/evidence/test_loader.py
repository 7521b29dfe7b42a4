"""The evidence loader: the shipped base is valid; a broken rule is named with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguarding.errors import ValidationError
from safeguarding.evidence import load_evidence, shipped_evidence

GOOD = """topic = "Test"

[[figure]]
id = "a.b"
statement = "12 reports"
years = [2020]
source = "A source"
tag = "P"
values = [{ name = "reports", value = 12, unit = "reports", year = 2020 }]
"""


def write(tmp_path: Path, body: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_evidence_is_valid_and_complete() -> None:
    base = shipped_evidence()
    assert len(base) >= 50
    for figure in base:
        assert figure.source and figure.tag in {"P", "S", "U"}
        assert figure.values


def test_shipped_values_say_what_their_statements_say() -> None:
    base = shipped_evidence()
    # Recommendation 2003/361/EC: a small enterprise has fewer than 50 staff, not 50 or fewer.
    staff = base.get("dsa.small_exemption").value("staff")
    assert (staff.value, staff.bound) == (50, "below")
    assert "< 50 staff" in base.get("dsa.small_exemption").statement
    assert base.get("ofcom.large_service").value("monthly_active_uk_users").bound == "above"
    assert base.get("dsa.vlop_threshold").value("monthly_active_recipients").bound == "at_least"
    # Each figure's years cover the years of its values.
    assert base.get("eu.reports.2019").years == (2010, 2019)
    assert base.get("ec.interim.errors.2025").years == (2024, 2025)
    assert base.get("ec.eu_centre.budget").years == (2030,)


def test_figures_are_looked_up_by_id_and_value() -> None:
    base = shipped_evidence()
    threshold = base.get("pdq.threshold")
    assert threshold.value("max_distance").value == 31
    assert threshold.value("min_quality").value == 50
    fedpol = base.get("ch.fedpol.ncmec")
    assert fedpol.value("forwarded", 2017).value == 428
    assert fedpol.tag_of(fedpol.value("forwarded", 2024)) == "S"
    with pytest.raises(KeyError, match="no evidence figure"):
        base.get("no.such.figure")
    with pytest.raises(KeyError, match="has no value"):
        threshold.value("nonsense")
    # A value given for several years is never read as its first year by default.
    with pytest.raises(KeyError, match=r"forwarded for several years \(2017, 2018, .*, 2024\)"):
        fedpol.value("forwarded")


def test_a_good_file_loads(tmp_path: Path) -> None:
    base = load_evidence([write(tmp_path, GOOD)])
    assert base.get("a.b").value("reports").value == 12
    assert base.get("a.b").line == 3


@pytest.mark.parametrize(
    ("edit", "line", "rule"),
    [
        (('tag = "P"', 'tag = "X"'), 8, "tag must be one of P, S, U"),
        (("years = [2020]", "years = [1800]"), 6, "years must be"),
        (('unit = "reports"', 'unit = "furlongs"'), 9, "unknown unit 'furlongs'"),
        (("value = 12", "value = -12"), 9, "must not be negative"),
        (("value = 12", "value = nan"), 9, "figure a.b: value reports must be a finite number"),
        (("value = 12", "value = inf"), 9, "figure a.b: value reports must be a finite number"),
        (("value = 12", "value = -inf"), 9, "figure a.b: value reports must be a finite number"),
        (('unit = "reports"', 'unit = "share"'), 9, "share reports must be between 0 and 1"),
        (('source = "A source"', 'source = ""'), 7, "source is required"),
        (('id = "a.b"', 'id = "Not An Id"'), 4, "figure id must be dotted"),
        (('statement = "12 reports"', 'statment = "12 reports"'), 5, "unknown key statment"),
        (("years = [2020]", "years = [2020"), 7, "not valid TOML"),
        # A value's own year outside the years the figure describes contradicts them.
        (
            ("years = [2020]", "years = [2021, 2023]"),
            9,
            "value reports is for 2020, outside the figure's years (2021-2023)",
        ),
        (("years = [2020]\n", ""), 8, "value reports is for 2020, outside the figure's years (no"),
        (('unit = "reports"', 'unit = "reports", bound = "under"'), 9, "unknown bound 'under'"),
    ],
)
def test_each_broken_rule_names_file_line_and_rule(
    tmp_path: Path, edit: tuple[str, str], line: int, rule: str
) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ValidationError) as caught:
        load_evidence([path])
    message = str(caught.value)
    assert message.startswith(f"t.toml:{line}:"), message
    assert rule in message


SPACED = """topic = "Test"

[[figure]]  # a comment after the header
id = "a.one"
statement = "one"
note = '''
[[figure]] inside a string is text, not a table
'''
source = "s"
tag = "P"
values = [{ name = "n", value = 1, unit = "count" }]

[[ figure ]]
id = "a.two"
statement = "two"
source = "s"
tag = "X"
values = [{ name = "n", value = 1, unit = "count" }]
"""

VALUES = """topic = "Test"

[[figure]]
id = "b.one"
statement = "one"
source = "s"
tag = "P"
values = [
  { name = "a", value = 1, unit = "count" },  # {"not": "a value"}, [nor this]
  # { name = "commented out", value = 0, unit = "count" },
  { name = "b", value = 2, unit = "count" },
  { name = "c", value = 3, unit = "counts" },
]
"""


def test_lines_are_found_past_comments_spaced_headers_and_strings(tmp_path: Path) -> None:
    # Headers written "[[figure]]  # ..." or "[[ figure ]]" were not counted and a header in a
    # string was, so every later figure's errors pointed at another figure's lines.
    with pytest.raises(ValidationError) as caught:
        load_evidence([write(tmp_path, SPACED)])
    assert str(caught.value).startswith("t.toml:17: figure a.two: tag must be one of P, S, U")
    good = load_evidence([write(tmp_path, SPACED.replace('tag = "X"', 'tag = "P"'))])
    assert (good.get("a.one").line, good.get("a.two").line) == (3, 13)


def test_a_bad_value_is_named_at_its_own_line(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        load_evidence([write(tmp_path, VALUES)])
    assert str(caught.value) == "t.toml:12: figure b.one: value c has unknown unit 'counts'"
    twice = VALUES.replace(
        'name = "c", value = 3, unit = "counts"', 'name = "a", value = 3, unit = "count"'
    )
    with pytest.raises(ValidationError, match=r"^t\.toml:12: figure b\.one: a value name/year"):
        load_evidence([write(tmp_path, twice)])
    tables = VALUES.split("values = [")[0] + (
        '[[figure.values]]\nname = "a"\nvalue = 1\nunit = "count"\n\n'
        '[[figure.values]]  # the second\nname = "b"\nvalue = -2\nunit = "count"\n'
    )
    with pytest.raises(ValidationError, match=r"^t\.toml:13: figure b\.one: value b must not be"):
        load_evidence([write(tmp_path, tables)])


@pytest.mark.parametrize("number", ["nan", "inf", "+inf"])
def test_a_non_finite_share_is_refused_with_file_figure_and_value(
    tmp_path: Path, number: str
) -> None:
    # NaN passes both the "< 0" and the "> 1" check of a share.
    body = GOOD.replace(
        'values = [{ name = "reports", value = 12, unit = "reports", year = 2020 }]',
        f'values = [{{ name = "s", value = {number}, unit = "share" }}]',
    )
    with pytest.raises(ValidationError) as caught:
        load_evidence([write(tmp_path, body)])
    assert str(caught.value).startswith("t.toml:9: figure a.b: value s must be a finite number")


def test_duplicate_ids_across_files_name_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, GOOD, "a.toml")
    second = write(tmp_path, GOOD, "b.toml")
    with pytest.raises(
        ValidationError, match=r"b.toml:3: duplicate figure id a.b \(first in a.toml:3\)"
    ):
        load_evidence([first, second])


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(GOOD.encode("utf-8").replace(b"A source", b"A \xff source"))
    with pytest.raises(ValidationError, match="t.toml:1: file must be UTF-8"):
        load_evidence([path])
