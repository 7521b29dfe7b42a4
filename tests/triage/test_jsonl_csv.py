"""The project's JSON Lines and the simple CSV: every field read, every bad line named."""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from safeguarding.helpline.identifiers import find_identifiers, redact
from safeguarding.triage.formats import ncmec_xml
from safeguarding.triage.formats.csv import parse_csv
from safeguarding.triage.formats.fields import FieldError, clear_text, quoted, unstorable
from safeguarding.triage.formats.jsonl import parse_document, parse_line, parse_lines
from safeguarding.triage.records import Parsed, Rejected, ReportRecord
from tests.triage.xml_samples import REPORT

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def jsonl_report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "report_id": "J-1",
        "incident_type": "Child Sex Trafficking",
        "incident_time": "2026-02-01T08:30:00+01:00",
        "provider": "Example Provider",
        "escalate_to_high_priority": "fictional note",
        "annotations": ["sextortion", "spam"],
        "reported_user": {
            "esp_service": "Example Chat",
            "prior_ct_reports": 3,
            "country": "be",
            "identifiers": [
                {"kind": "esp_id", "value": "acct-1", "scope": "Example Chat"},
                {"kind": "ip", "value": "192.0.2.1", "event_name": "Login",
                 "event_time": "2026-02-01T07:00:00Z"},
            ],
        },
        "victims": [{"age": 11}],
        "internet_details": [{"kind": "chat_im", "client": "Example Chat"}],
        "files": [
            {"file_id": "F-1", "file_name": "a.png", "annotations": ["infant"],
             "industry_classification": "B2",
             "hashes": [{"kind": "pdq", "value": PDQ, "quality": 90},
                        {"kind": "md5", "value": "A" * 32}]},
        ],
    }  # fmt: skip
    report.update(changes)
    return report


def _lines(*reports: dict[str, Any] | str) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in reports).encode()


def test_jsonl_reads_every_field() -> None:
    (record,) = parse_lines(_lines(jsonl_report()), "in.jsonl")
    assert isinstance(record, ReportRecord)
    assert record.incident_time.isoformat() == "2026-02-01T07:30:00+00:00"
    assert record.escalated and record.escalation_text_length == len("fictional note")
    assert record.annotations == {"sextortion", "spam"}
    user, victim = record.parties
    assert user.prior_ct_reports_count == 3 and user.location_country == "BE"
    assert victim.age == 11
    file = record.files[0]
    assert file.industry_classification == "B2" and file.annotations == {"infant"}
    assert {(h.kind, h.value, h.quality) for h in file.hashes} == {
        ("pdq", PDQ, 90), ("md5", "a" * 32, None),
    }  # fmt: skip


def test_jsonl_bad_lines_are_named_and_the_rest_is_read() -> None:
    data = _lines(
        jsonl_report(report_id="ok-1"),
        jsonl_report(report_id="bad-enum", incident_type="Nope"),
        "{not json",
        jsonl_report(report_id="bad-date", incident_time="31/02/2026"),
        jsonl_report(report_id="bad-hash", files=[{"file_id": "x", "hashes": [
            {"kind": "md5", "value": "xyz"}]}]),
        jsonl_report(report_id="typo", incidnet_type="x"),
        jsonl_report(report_id="long", platform="p" * 300),
        jsonl_report(report_id="ok-2"),
    )  # fmt: skip
    # A number of thousands of digits and nesting thousands deep: refused lines, not a failed run.
    hostile = b'{"report_id": ' + b"9" * 5000 + b"}\n" + b"[" * 50_000 + b"\n"
    # A time given as a number (pydantic would read seconds since 1970) is refused as a time.
    epoch = _lines(jsonl_report(report_id="epoch", incident_time=0))
    parsed = parse_lines(data + b"\n\xff\xfe\n" + hostile + epoch, "in.jsonl")
    ok = [p.provider_report_id for p in parsed if isinstance(p, ReportRecord)]
    assert ok == ["ok-1", "ok-2"]
    rules = {p.location: p.rule for p in parsed if isinstance(p, Rejected)}
    assert rules == {
        "in.jsonl:2:incident_type": "unknown_enum",
        "in.jsonl:3": "bad_json",
        "in.jsonl:4:incident_time": "bad_datetime",
        "in.jsonl:5:files.0.hashes.0": "invalid_hash",
        "in.jsonl:6:incidnet_type": "unknown_field",
        "in.jsonl:7:platform": "too_long",
        "in.jsonl:9": "not_utf8",
        "in.jsonl:10": "bad_json",
        "in.jsonl:11": "bad_json",
        "in.jsonl:12:incident_time": "bad_datetime",
    }
    messages = {p.location: p.message for p in parsed if isinstance(p, Rejected)}
    assert "5000 digits" in messages["in.jsonl:10"]
    assert "nested too deeply" in messages["in.jsonl:11"]


def test_jsonl_takes_numbers_and_yes_or_no_only_as_json_numbers_and_booleans() -> None:
    """JSON says what a value is: true is not an age of 1, "13" is text, 1 is not a yes."""
    user = jsonl_report()["reported_user"]
    file = jsonl_report()["files"][0]
    data = _lines(
        jsonl_report(report_id="age-true", victims=[{"age": True}]),
        jsonl_report(report_id="age-text", victims=[{"age": "13"}]),
        jsonl_report(report_id="prior-true", reported_user={**user, "prior_ct_reports": True}),
        jsonl_report(report_id="viewed-1", files=[{**file, "viewed_by_esp": 1}]),
        jsonl_report(report_id="quality-true", files=[{**file, "hashes": [
            {"kind": "pdq", "value": PDQ, "quality": True}]}]),
        jsonl_report(report_id="ok", victims=[{"age": 13}],
                     files=[{**file, "viewed_by_esp": True}]),
    )  # fmt: skip
    parsed = parse_lines(data, "in.jsonl")
    rejected = {p.location: p.rule for p in parsed if isinstance(p, Rejected)}
    assert rejected == {
        "in.jsonl:1:victims.0.age": "wrong_type",
        "in.jsonl:2:victims.0.age": "wrong_type",
        "in.jsonl:3:reported_user.prior_ct_reports": "wrong_type",
        "in.jsonl:4:files.0.viewed_by_esp": "wrong_type",
        "in.jsonl:5:files.0.hashes.0.quality": "wrong_type",
    }
    (ok,) = [p for p in parsed if isinstance(p, ReportRecord)]
    assert ok.parties[-1].age == 13 and ok.files[0].viewed_by_esp is True


HEADER = (
    "report_id,incident_type,incident_time,provider,escalated,annotations,reported_esp_service,"
    "reported_esp_id,reported_email,file_id,file_name,md5,pdq,pdq_quality"
)
ROW = (
    'C-1,Child Sex Trafficking,2026-01-05T12:00:00Z,Example Provider,true,"sextortion;spam",'
    f"Example Chat,acct-9,x@example.org,F-1,a.jpg,{'b' * 32},{PDQ},77"
)


def test_csv_groups_rows_of_one_report() -> None:
    second_file = ROW.replace("F-1,a.jpg", "F-2,b.jpg").replace("b" * 32, "c" * 32)
    parsed = parse_csv(f"{HEADER}\n{ROW}\n{second_file}\n".encode(), "in.csv")
    (record,) = parsed
    assert isinstance(record, ReportRecord)
    assert record.escalated and record.annotations == {"sextortion", "spam"}
    assert [f.provider_file_id for f in record.files] == ["F-1", "F-2"]
    assert record.files[0].hashes[1].quality == 77
    (user,) = record.parties
    assert {i.kind for i in user.identifiers} == {"esp_id", "email"}


def test_csv_bad_rows_are_named_and_valid_rows_survive() -> None:
    rows = [
        ROW,
        ROW.replace("C-1", "C-2").replace("b" * 32, "b" * 31),
        ROW.replace("C-1", "C-3").replace("2026-01-05T12:00:00Z", "soon"),
        ROW.replace("C-1", "C-4").replace("Child Sex Trafficking", "Other"),
        "C-5,too,few",
    ]
    data = (HEADER + "\n" + "\n".join(rows) + "\n").encode()
    data += ROW.replace("C-1", "C-6").encode() + b"\xe9t\xe9\n"  # Latin-1 bytes: not UTF-8
    parsed = parse_csv(data, "in.csv")
    assert [p.provider_report_id for p in parsed if isinstance(p, ReportRecord)] == ["C-1"]
    rules = sorted((p.location, p.rule) for p in parsed if isinstance(p, Rejected))
    assert rules == [
        ("in.csv:3:md5", "hash_length"),
        ("in.csv:4:incident_time", "bad_datetime"),
        ("in.csv:5:incident_type", "unknown_enum"),
        ("in.csv:6", "wrong_column_count"),
        ("in.csv:7", "not_utf8"),
    ]


def test_csv_rows_of_one_report_must_agree_and_header_must_be_known() -> None:
    disagreeing = ROW.replace("F-1", "F-2").replace("Example Provider", "Other Provider")
    (rejected,) = parse_csv(f"{HEADER}\n{ROW}\n{disagreeing}\n".encode(), "in.csv")
    assert isinstance(rejected, Rejected) and rejected.rule == "conflicting_rows"
    (bad,) = parse_csv(b"report_id,colour\n1,red\n", "in.csv")
    assert isinstance(bad, Rejected) and bad.rule == "bad_header"


def test_a_row_without_report_id_is_refused_alone_as_missing_its_id() -> None:
    # Rows without an id were grouped as one report and refused as "line 3 differs from line 2".
    other = ROW.replace("C-1,", ",").replace("Example Provider", "Other Provider")
    rows = [ROW.replace("C-1,", ","), other, ROW.replace("C-1,", "  ,"), ROW]
    parsed = parse_csv(("\n".join([HEADER, *rows]) + "\n").encode(), "in.csv")
    assert [p.provider_report_id for p in parsed if isinstance(p, ReportRecord)] == ["C-1"]
    refused = [(p.location, p.rule, p.message) for p in parsed if isinstance(p, Rejected)]
    assert refused == [
        (
            f"in.csv:{line}:report_id",
            "missing_field",
            f"in.csv:{line}: report_id: is empty (every row names the report it belongs to)",
        )
        for line in (2, 3, 4)
    ]
    jsonl = parse_lines(
        _lines(jsonl_report(report_id=""), jsonl_report(report_id="  ")), "in.jsonl"
    )
    assert [(p.location, p.rule, p.message) for p in jsonl if isinstance(p, Rejected)] == [
        (f"in.jsonl:{line}:report_id", "missing_field", f"in.jsonl:{line}: report_id: is empty")
        for line in (1, 2)
    ]


def test_a_line_csv_cannot_split_is_refused_with_its_number_and_the_others_kept() -> None:
    broken = ROW.replace("F-1", "F\r-9").replace("C-1", "C-2")
    parsed = parse_csv(f"{HEADER}\n{broken}\n{ROW}\n".encode(), "in.csv")
    rejected = [p for p in parsed if isinstance(p, Rejected)]
    assert [(r.location, r.rule) for r in rejected] == [("in.csv:2", "malformed_csv")]
    assert [p.provider_report_id for p in parsed if isinstance(p, ReportRecord)] == ["C-1"]
    (header,) = parse_csv(b"\r\x00", "in.csv")
    assert isinstance(header, Rejected) and (header.location, header.rule) == (
        "in.csv:1",
        "malformed_csv",
    )


@settings(max_examples=50, deadline=None)
@example(b"\r\x00")
@given(st.binary(max_size=300))
def test_readers_never_crash(data: bytes) -> None:
    document = parse_document(data, "f.json")
    for parsed in [document, *parse_lines(data, "f.jsonl"), *parse_csv(data, "f.csv")]:
        assert isinstance(parsed, Rejected | ReportRecord)


@settings(max_examples=30, deadline=None)
@given(
    report_id=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                      max_size=64).filter(str.strip),
    platform=st.text(max_size=256).filter(
        lambda s: s.strip() == s and s and not unstorable(s) and not find_identifiers(s)
    ),
    age=st.integers(0, 130),
)  # fmt: skip
def test_jsonl_round_trips_any_valid_values(report_id: str, platform: str, age: int) -> None:
    line = jsonl_report(report_id=report_id, platform=platform, victims=[{"age": age}])
    (record,) = parse_lines(json.dumps(line).encode(), "p.jsonl")
    assert isinstance(record, ReportRecord)
    assert record.provider_report_id == report_id.strip()
    assert record.platform == platform and record.parties[1].age == age


# Text as a provider might type it (no control characters, which XML and CSV carry differently),
# and such text with an identifier in it.
_PLAIN = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=80
).map(str.strip)
_IDENTIFIERS = st.sampled_from(
    ["jane@example.org", "+31 6 12345678", "0612345678", "198.51.100.7", "2001:db8::1"]
)
_WITH_IDENTIFIER = st.builds(lambda a, b, c: f"{a} {b} {c}".strip(), _PLAIN, _IDENTIFIERS, _PLAIN)


def _with_provider(reader: str, provider: str) -> tuple[Parsed, str]:
    """A report of ``reader``'s format naming ``provider``, read; and the refused field's name."""
    if reader == "xml":
        xml = REPORT.replace("Example Provider", escape(provider), 1)
        return ncmec_xml.parse_document(xml.encode(), "p.xml"), "p.xml:/report/reporter/espName"
    if reader == "jsonl":
        (parsed,) = parse_lines(json.dumps(jsonl_report(provider=provider)).encode(), "p.jsonl")
        return parsed, "p.jsonl:1:provider"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["report_id", "incident_type", "incident_time", "provider"])
    writer.writerow(["C-1", "Child Sex Trafficking", "2026-01-05T12:00:00Z", provider])
    (parsed,) = parse_csv(out.getvalue().encode(), "p.csv")
    return parsed, "p.csv:2:provider"


@pytest.mark.parametrize("reader", ["xml", "jsonl", "csv"])
@settings(max_examples=60, deadline=None)
@given(provider=st.one_of(_PLAIN, _WITH_IDENTIFIER).filter(bool))
def test_a_provider_is_stored_as_given_unless_it_holds_an_identifier(
    reader: str, provider: str
) -> None:
    """The provider's name is stored in clear, in every format: it is kept exactly when the
    scanner finds no identifier in it, and refused at its field otherwise, the message naming
    the kinds found and none of the text."""
    parsed, location = _with_provider(reader, provider)
    if not find_identifiers(provider):
        assert isinstance(parsed, ReportRecord) and parsed.provider == provider
        return
    assert isinstance(parsed, Rejected)
    assert (parsed.location, parsed.rule) == (location, "identifier_in_scope")
    assert "may not hold an identifier: it holds " in parsed.message
    assert provider not in parsed.message


def test_a_file_name_suffix_that_holds_an_identifier_is_not_kept_as_its_extension() -> None:
    """Only a file name's extension is stored, in clear: a phone number after the last dot
    would be stored with it."""
    files = [{"file_id": f"F-{i}", "file_name": name}
             for i, name in enumerate(["a.JPG", "call me.0612345678", "part.001"])]  # fmt: skip
    (record,) = parse_lines(json.dumps(jsonl_report(files=files)).encode(), "f.jsonl")
    assert isinstance(record, ReportRecord)
    assert [f.extension for f in record.files] == [".jpg", None, ".001"]


def test_text_no_store_can_hold_is_refused_with_its_field() -> None:
    """A NUL (PostgreSQL refuses it in text, SQLite keeps it) or a lone surrogate (no UTF-8 text
    holds one) reached the store and failed the transaction there, with nothing quarantined:
    both are refused by the reader with the field, a key included, and the rejection itself
    quotes them only as escapes, so that it can be stored. An escaped backslash before u0000,
    or a character escaped as a surrogate pair (as ``json.dumps`` writes it), is text like any
    other."""
    user = jsonl_report()["reported_user"]
    lines = [
        json.dumps(jsonl_report(report_id="N-1", provider="P\x00x")),
        json.dumps(jsonl_report(report_id="N-2\x00")),
        json.dumps(jsonl_report(report_id="N-3", reported_user={**user, "region": "R\x00"})),
        '{"report_id": "N-4", "\\u0000": 1}',
        json.dumps(jsonl_report(report_id="A\ud800")),
        json.dumps(jsonl_report(report_id="N-6", victims=[{"\udfff": 1}])),
        json.dumps(jsonl_report(report_id="ok", platform="\\u0000 and \U0001f600 are fine")),
    ]
    parsed = parse_lines("\n".join(lines).encode(), "n.jsonl")
    refused = [
        (p.location, p.rule, p.provider_report_id) for p in parsed if isinstance(p, Rejected)
    ]
    assert refused == [
        ("n.jsonl:1:provider", "nul_character", "N-1"),
        ("n.jsonl:2:report_id", "nul_character", None),
        ("n.jsonl:3:reported_user.region", "nul_character", "N-3"),
        ("n.jsonl:4:\\x00", "nul_character", "N-4"),
        ("n.jsonl:5:report_id", "lone_surrogate", None),
        ("n.jsonl:6:victims.0.\\udfff", "lone_surrogate", "N-6"),
    ]
    assert parsed[0].message == "n.jsonl:1: provider: must not contain a NUL character (\\x00)"
    (ok,) = [p for p in parsed if isinstance(p, ReportRecord)]
    assert ok.platform == "\\u0000 and \U0001f600 are fine"
    header = "report_id,incident_type,incident_time,provider"
    rows = ["C-1,Child Sex Trafficking,2026-01-05T12:00:00Z,P\x00x", "C-2,x\x00,y,z", ROW]
    data = (header + "\n" + "\n".join(rows[:2]) + "\n").encode()
    csv_refused = [(p.location, p.rule, p.provider_report_id) for p in parse_csv(data, "n.csv")]
    assert csv_refused == [
        ("n.csv:2:provider", "nul_character", "C-1"),
        ("n.csv:3:incident_type", "nul_character", "C-2"),
    ]


def _texts(value: object) -> list[str]:
    """Every text in a parsed record (its named tuples, sets and tuples, nested)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | frozenset | list):
        return [t for item in value for t in _texts(item)]
    return []


# JSON values whose texts hold anything, NUL and lone surrogates included.
_ANY_TEXT = st.builds(
    lambda a, b, c: a + b + c,
    st.text(max_size=12),
    st.sampled_from(["", "\x00", "\ud800", "\udfff", "\U0001f600"]),
    st.text(max_size=12),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(["report_id", "provider", "platform", "escalate_to_high_priority"]),
    value=_ANY_TEXT,
    extra=st.dictionaries(_ANY_TEXT, _JSON, max_size=2),
)
def test_whatever_a_line_holds_what_the_reader_gives_can_be_stored(
    field: str, value: str, extra: dict[str, object]
) -> None:
    """A line is read as a record or refused, never an error; every text of either, the
    rejection's location, message and report id too, can be stored by both backends; and a
    value no store can hold is refused by its own rule."""
    line = json.dumps({**jsonl_report(), field: value, **extra}).encode()
    parsed = parse_line(line, "h.jsonl:1")
    assert parsed is not None
    if isinstance(parsed, Rejected):
        texts = [parsed.location, parsed.message, parsed.provider_report_id or ""]
    else:
        texts = _texts(parsed[:-1])
    assert [t for t in texts if unstorable(t)] == []
    rule = unstorable(value)
    if rule and not extra:
        assert isinstance(parsed, Rejected) and parsed.rule == rule
        assert parsed.location == f"h.jsonl:1:{field}"


# Text a UTF-8 line of CSV can hold: no lone surrogate, no line break (which ends the line).
_LINE_TEXT = _ANY_TEXT.map(lambda s: "".join(c for c in s if c not in "\n\r\ud800\udfff"))


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, len(ROW)), junk=_LINE_TEXT)
def test_whatever_a_csv_row_holds_what_the_reader_gives_can_be_stored(cut: int, junk: str) -> None:
    """Text put anywhere in a row, a NUL included, is read or refused with its line, never an
    error, and what comes out can be stored; a row holding a NUL is refused."""
    parsed = parse_csv(f"{HEADER}\n{ROW[:cut]}{junk}{ROW[cut:]}\n".encode(), "h.csv")
    for item in parsed:
        if isinstance(item, Rejected):
            assert item.location.startswith("h.csv:2")
            texts = [item.location, item.message, item.provider_report_id or ""]
        else:
            texts = _texts(item[:-1])
        assert [t for t in texts if unstorable(t)] == []
    if "\x00" in junk:
        assert [type(item) for item in parsed] == [Rejected]


@settings(max_examples=60, deadline=None)
@given(
    indent=st.one_of(st.none(), st.integers(0, 4), st.just("\t")),
    sort_keys=st.booleans(),
    platform=_PLAIN.filter(lambda s: s and not find_identifiers(s)),
    victims=st.lists(st.fixed_dictionaries({"age": st.integers(0, 130)}), max_size=3),
)
def test_a_report_reads_the_same_in_any_layout(
    indent: int | str | None, sort_keys: bool, platform: str, victims: list[dict[str, int]]
) -> None:
    """One report as a JSON document (a web submission of ``application/json``) is the same
    record as that report on one line, whatever its indentation and key order."""
    report = jsonl_report(platform=platform, victims=victims)
    line = parse_line(json.dumps(report).encode(), "r:1")
    layout = json.dumps(report, indent=indent, sort_keys=sort_keys).encode()
    document = parse_document(layout, "r:1")
    assert isinstance(line, ReportRecord) and isinstance(document, ReportRecord)
    assert document == line._replace(origin=("r:1", layout))


@settings(max_examples=100, deadline=None)
@given(
    words=st.text("abcdefghij ", max_size=300),
    identifiers=st.lists(_IDENTIFIERS, min_size=1, max_size=4),
    limit=st.integers(1, 80),
)
def test_a_quoted_value_shows_none_of_the_identifiers_in_it(
    words: str, identifiers: list[str], limit: int
) -> None:
    """What a refusal quotes of a value (stored in clear in the quarantine) is its start with
    each identifier replaced by its kind: none of them shows, however far in the value it is
    and wherever the quote is cut."""
    text = " and ".join([words, *identifiers])
    shown = quoted(text, limit)
    assert shown == repr(redact(text)[0][:limit])
    assert not any(identifier[:6] in shown for identifier in identifiers)


def test_a_client_named_with_its_version_is_kept_only_where_a_client_is_named() -> None:
    """``Skype 8.110.0.215`` is a client and its version in a client's field, and kept there; in
    any other field stored in clear the dotted quad is an address. A text found clean as a
    client's name is remembered apart, so the same text is not then let through as a platform."""
    assert clear_text("chatClient", "Skype 8.110.0.215") == "Skype 8.110.0.215"
    assert clear_text("client", "WhatsApp 2.24.1.6 (Android)") == "WhatsApp 2.24.1.6 (Android)"
    for name, value in [("platform", "Skype 8.110.0.215"), ("gameName", "from 192.0.2.7")]:
        with pytest.raises(FieldError) as refused:
            clear_text(name, value)
        assert refused.value.rule == "identifier_in_scope"
        assert str(refused.value).endswith("it holds IPv4 address ×1")
