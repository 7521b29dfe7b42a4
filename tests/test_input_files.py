"""Files handed to importers that cannot be read give one clear error naming the file."""

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguarding.errors import ValidationError
from safeguarding.input_files import (
    MAX_CSV_FIELD,
    read_input,
    read_input_text,
    repeated_columns,
)
from tests.cli_runner import invoke


def test_reads_a_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"md5\n" + bytes(range(256)))
    assert read_input(path) == b"md5\n" + bytes(range(256))
    assert read_input(path, max_bytes=260) == path.read_bytes()


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_paths_name_the_file_and_the_rule(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "input.csv"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(ValidationError) as caught:
        read_input(path)
    assert str(caught.value).startswith(f"{path}: cannot read (")
    assert caught.value.rule == "read" and caught.value.location == str(path)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 101)
    with pytest.raises(ValidationError) as caught:
        read_input(path, max_bytes=100)
    assert caught.value.rule == "file_too_large"
    assert str(caught.value) == f"{path}: 101 bytes, files up to 100 bytes are accepted"


def test_text_must_be_utf8_and_a_bom_is_dropped_where_asked(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbfcolumn\n")
    assert read_input_text(path, encoding="utf-8-sig") == "column\n"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(ValidationError) as caught:
        read_input_text(path)
    assert str(caught.value) == f"{path}: not UTF-8 text (byte 3)"
    assert caught.value.rule == "utf-8"


@pytest.mark.parametrize(
    "args",
    [
        ("hashlist", "import", "{dir}", "--name", "known"),
        ("platforms", "import", "{dir}"),
        ("cases", "import", "{dir}"),
    ],
)
def test_commands_answer_a_directory_with_the_clear_error(
    store: object, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    suffix = ".csv" if args[0] != "platforms" else ".yaml"
    directory = tmp_path / f"input{suffix}"
    directory.mkdir()
    result = invoke(capsys, *(a.replace("{dir}", str(directory)) for a in args))
    assert result.code == 1
    assert f"{directory}: cannot read (" in result.err
    assert "Traceback" not in result.err


def test_a_header_that_names_a_column_twice_is_refused_by_every_csv_reader(
    tmp_path: Path,
) -> None:
    # Read by name, a row would keep only the last of the two: the first value lost unsaid.
    from safeguarding.helpline.importer import read_csv
    from safeguarding.platforms.cases import parse_cases_csv
    from safeguarding.platforms.register import parse_csv as parse_register
    from safeguarding.triage.formats.csv import parse_csv as parse_reports
    from safeguarding.triage.listformats import read_hash_csv
    from safeguarding.triage.records import Rejected

    header = b"report_id,incident_type,incident_time,md5,md5\n"
    reports = parse_reports(header + b"R-1,Other,2026-01-01T00:00:00Z,,\n", "r.csv")
    assert [(r.location, r.rule) for r in reports if isinstance(r, Rejected)] == [
        ("r.csv:1", "bad_header")
    ]
    assert "columns given twice [md5]" in reports[0].message  # type: ignore[union-attr]
    lists = read_hash_csv(b"hash,type,hash\n" + b"a" * 32 + b",md5,\n", "l.csv", hash_type=None)
    assert lists.entries == [] and [r.rule for r in lists.rejected] == ["repeated_column"]
    with pytest.raises(ValidationError, match=r"h.csv:1: column\(s\) given twice: month"):
        list(read_csv(tmp_path / "h.csv", "month,channel,month\n2025-03,phone,2024-12\n"))
    with pytest.raises(ValidationError, match=r"p.csv:1: column\(s\) given twice: type"):
        parse_register("id,name,type,type\na,A,social,chat\n", "p.csv")
    with pytest.raises(ValidationError, match=r"c.csv:1: column\(s\) given twice: year"):
        parse_cases_csv("case,platform,stage,role_pair,year,source,year\n", "c.csv")


@given(st.lists(st.sampled_from(["a", "b", "c", "d", ""]), max_size=12))
def test_repeated_columns_are_the_names_given_more_than_once(header: list[str]) -> None:
    assert repeated_columns(header) == sorted({n for n in header if header.count(n) > 1})


def test_a_very_wide_header_is_refused_with_a_short_message(tmp_path: Path) -> None:
    # 50,000 columns took minutes (each column counted against the whole header) and the
    # refusal listed every one of them.
    from safeguarding.helpline.importer import read_csv
    from safeguarding.platforms.cases import parse_cases_csv
    from safeguarding.platforms.register import parse_csv as parse_register
    from safeguarding.triage.formats.csv import parse_csv as parse_reports

    names = [f"c{i}" for i in range(50_000)]
    wide = ",".join(names)
    reports = parse_reports(f"report_id,provider,{wide}\n".encode(), "r.csv")
    assert [r.rule for r in reports] == ["bad_header"]  # type: ignore[union-attr]
    message = reports[0].message  # type: ignore[union-attr]
    assert len(message) < 300 and message.endswith("and 49990 more]")
    twice = parse_reports(f"report_id,provider,{wide},{wide}\n".encode(), "r.csv")
    assert "and 49990 more" in twice[0].message  # type: ignore[union-attr]
    refusals = []
    for refuse in (
        lambda: list(read_csv(tmp_path / "h.csv", f"month,{wide}\n")),
        lambda: parse_register(f"id,{wide}\n", "p.csv"),
        lambda: parse_cases_csv(f"case,{wide}\n", "c.csv"),
    ):
        with pytest.raises(ValidationError) as caught:
            refuse()
        refusals.append(str(caught.value))
    for message in refusals:
        assert "and 49990 more" in message and "c20000," not in message
        assert len(message) < 500


def test_a_byte_order_mark_is_read_past_by_every_text_reader(tmp_path: Path) -> None:
    # Spreadsheets and some editors start UTF-8 files with one; it was read as part of the
    # first column's name or refused as an invalid statement.
    from safeguarding.assess.scenario import load_scenario
    from safeguarding.config import load_settings
    from safeguarding.platforms.register import parse_register_bytes
    from safeguarding.platforms.workflow import cases_text

    bom = "\ufeff"
    register = parse_register_bytes(f"{bom}id,name\n".encode(), "r.csv")
    assert register.services == [] and register.errors == []
    assert cases_text(f"{bom}case,platform\n".encode(), "c.csv") == "case,platform\n"
    (tmp_path / "config.toml").write_text(f"{bom}[web]\nsession_hours = 4\n", "utf-8")
    assert load_settings({"SAFEGUARDING_HOME": str(tmp_path)}).section("web") == {
        "session_hours": 4
    }
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'{bom}[scenario]\nname = "s"\n', "utf-8")
    with pytest.raises(ValidationError) as caught:
        load_scenario(scenario)
    assert "not valid TOML" not in str(caught.value)  # read, then refused for what it lacks


def _csv_readers(tmp_path: Path) -> dict[str, tuple[str, Callable[[str], object]]]:
    """Each CSV reader with a header it accepts, taking the text of a file named ``f.csv``."""
    from safeguarding.helpline.importer import read_csv
    from safeguarding.platforms.cases import parse_cases_csv
    from safeguarding.platforms.register import parse_csv as parse_register

    return {
        "helpline": ("month,channel", lambda text: list(read_csv(tmp_path / "f.csv", text))),
        "register": ("id,name,type,provider,source", lambda text: parse_register(text, "f.csv")),
        "cases": (
            "case,platform,stage,role_pair,year,source",
            lambda text: parse_cases_csv(text, "f.csv"),
        ),
    }


@pytest.mark.parametrize("reader", ["helpline", "register", "cases"])
def test_a_quoted_field_never_closed_refuses_the_file_naming_the_line_it_opens(
    tmp_path: Path, reader: str
) -> None:
    # Read leniently, every line after the quote became part of that one field: the rows after
    # it vanished into a cell without a word.
    header, read = _csv_readers(tmp_path)[reader]
    cells = len(header.split(","))
    good = ",".join(["a"] * cells)
    multiline = ",".join(['"two\nlines"'] + ["b"] * (cells - 2) + ['"open'])
    text = f"{header}\n{good}\n{multiline}\n{good}\n{good}\n"
    with pytest.raises(ValidationError) as caught:
        read(text)
    assert caught.value.rule == "unterminated_quote"
    assert caught.value.location == "f.csv:4"  # the record starts on line 3, the quote on 4
    assert str(caught.value).startswith("f.csv:4: a quoted field opens on this line")
    with pytest.raises(ValidationError, match="f.csv:1: a quoted field"):
        read(header.replace(",", ',"', 1) + "\n")


def test_an_over_long_field_refuses_only_its_row_naming_line_column_and_limit(
    tmp_path: Path,
) -> None:
    # Python's csv raised on a field over 131,072 characters and the whole file was refused.
    from safeguarding.helpline.importer import read_csv
    from safeguarding.platforms.cases import parse_cases_csv
    from safeguarding.platforms.register import parse_csv as parse_register

    long = "x" * (MAX_CSV_FIELD + 1)
    limit = f"{MAX_CSV_FIELD + 1} characters, at most {MAX_CSV_FIELD} allowed"
    contacts = list(read_csv(tmp_path / "h.csv", f"month,channel\n2025-03,{long}\n2025-04,chat\n"))
    assert [(r.row, r.line, r.problem) for r in contacts] == [
        (1, 2, f"channel: {limit}"),
        (2, 3, ""),
    ]
    register = parse_register(
        f"id,name,type,provider,source\na,{long},social,p,s\nb,B,social,p,s\n", "r.csv"
    )
    assert [s.id for s in register.services] == ["b"]
    assert [str(e) for e in register.errors] == [f"r.csv:2: row 1: field name: {limit}"]
    good, errors = parse_cases_csv(
        "case,platform,stage,role_pair,year,source\n"
        f'1,"{long}",S1,offender-victim,2020,s\n2,app,S1,offender-victim,2020,s\n',
        "c.csv",
    )
    assert [(line, m.case) for line, m in good] == [(3, "2")]
    assert [str(e) for e in errors] == [f"c.csv:2: field platform: {limit}"]


def test_text_after_a_closing_quote_refuses_that_row_and_the_next_is_read(
    tmp_path: Path,
) -> None:
    # '"ab"c' was read as 'abc' by the register and case readers: a cell no one wrote.
    from safeguarding.helpline.importer import read_csv
    from safeguarding.platforms.cases import parse_cases_csv
    from safeguarding.platforms.register import parse_csv as parse_register

    refusal = "not valid CSV (',' expected after '\"')"
    contacts = list(read_csv(tmp_path / "h.csv", 'month,channel\n"2025-03"x,chat\n2025-04,chat\n'))
    assert [(r.line, r.problem) for r in contacts] == [(2, refusal), (3, "")]
    register = parse_register(
        'id,name,type,provider,source\na,"A"b,social,p,s\nb,B,social,p,s\n', "r.csv"
    )
    assert [s.id for s in register.services] == ["b"]
    assert [str(e) for e in register.errors] == [f"r.csv:2: row 1: field -: {refusal}"]
    good, errors = parse_cases_csv(
        'case,platform,stage,role_pair,year,source\n1,"app"x,S1,offender-victim,2020,s\n'
        "2,app,S1,offender-victim,2020,s\n",
        "c.csv",
    )
    assert [(line, m.case) for line, m in good] == [(3, "2")]
    assert [str(e) for e in errors] == [f"c.csv:2: field -: {refusal}"]


def test_a_key_given_twice_is_refused_by_every_json_reader(tmp_path: Path) -> None:
    # json keeps the last of two equal keys: the first value was dropped without a word.
    from safeguarding.assess.exports import read_services
    from safeguarding.helpline.importer import read_jsonl
    from safeguarding.triage.formats.jsonl import parse_line
    from safeguarding.triage.listformats import read_vics
    from safeguarding.triage.records import Rejected

    twice = "key 'month' given twice in one object"
    records = list(read_jsonl('{"month": "2025-03", "month": "2024-12"}\n{"month": "2025-04"}\n'))
    assert [(r.row, r.problem) for r in records] == [(1, f"not JSON we read ({twice})"), (2, "")]
    report = parse_line(b'{"report_id": "R-1", "files": [{"file_id": "a", "file_id": "b"}]}', "r:1")
    assert isinstance(report, Rejected)
    assert (report.rule, report.message) == (
        "repeated_key",
        "r:1: key 'file_id' given twice in one object",
    )
    vics = read_vics(b'{"value": [{"MD5": "00", "Category": 1, "Category": 2}]}', "v.json")
    assert vics.entries == []
    assert [(r.rule, r.message) for r in vics.rejected] == [
        ("repeated_key", "v.json: key 'Category' given twice in one object")
    ]
    export = tmp_path / "services.json"
    export.write_text(
        '{"format": "safeguarding/high-risk-services@1", "services": [], "services": []}'
    )
    with pytest.raises(ValidationError) as caught:
        read_services(export)
    assert str(caught.value) == "services.json: key 'services' given twice in one object"
    assert caught.value.rule == "repeated_key"


@pytest.mark.parametrize(
    ("text", "message", "rule"),
    [
        (
            "services:\n  - {id: a, name: A, type: social, provider: p, source: s}\n"
            "services:\n  - {id: b, name: B, type: social, provider: p, source: s}\n",
            "r.yaml:3: key 'services' given twice in one mapping",
            "repeated_key",
        ),
        (
            "services:\n  - id: a\n    name: A\n    type: social\n    type: dating\n",
            "r.yaml:5: key 'type' given twice in one mapping",
            "repeated_key",
        ),
        (
            "services:\n  - &first {id: a, name: A, type: social, provider: p, source: s}\n"
            "  - <<: *first\n    id: b\n",
            "r.yaml:3: merge keys (<<) are not read; write the fields out",
            "merge_key",
        ),
    ],
)
def test_a_register_with_a_key_twice_or_a_merge_key_is_refused_at_its_line(
    text: str, message: str, rule: str
) -> None:
    # The second 'services:' replaced the first list whole; a merge key built a row from
    # another's fields, and two 'services:' lists of different lengths ended in a traceback.
    from safeguarding.platforms.register import parse_yaml

    with pytest.raises(ValidationError) as caught:
        parse_yaml(text, "r.yaml")
    assert (str(caught.value), caught.value.rule) == (message, rule)


def test_risk_rules_with_a_key_twice_are_refused_at_its_line() -> None:
    from safeguarding.platforms.rules import DEFAULT_RULES, parse_rules

    lines = DEFAULT_RULES.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line[:1].isalpha())  # the first top-level key
    with pytest.raises(ValidationError) as caught:
        parse_rules("\n".join([lines[at], *lines]), "rules.yaml")
    key = lines[at].split(":")[0]
    assert str(caught.value) == f"rules.yaml:{at + 2}: key {key!r} given twice in one mapping"
    assert caught.value.rule == "repeated_key"
