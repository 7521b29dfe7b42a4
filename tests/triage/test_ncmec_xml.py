"""Reading CyberTipline XML: what is kept, what is dropped, and every kind of bad document."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.formats.fields import unstorable
from safeguarding.triage.formats.ncmec_xml import parse_document
from safeguarding.triage.generate import GeneratorConfig, generate
from safeguarding.triage.records import FileDetailsRecord, Rejected, ReportRecord
from tests.triage.xml_samples import BILLION_LAUGHS, EXTERNAL_ENTITY, FILE_DETAILS, REPORT


def _report(text: str) -> ReportRecord:
    parsed = parse_document(text.encode(), "r.xml")
    assert isinstance(parsed, ReportRecord), parsed
    return parsed


def _rejected(text: str | bytes, name: str = "r.xml") -> Rejected:
    data = text.encode() if isinstance(text, str) else text
    parsed = parse_document(data, name)
    assert isinstance(parsed, Rejected), parsed
    assert parsed.raw  # the raw input goes to quarantine with the error
    return parsed


def test_report_keeps_what_triage_needs() -> None:
    record = _report(REPORT)
    assert record.provider_report_id == "R-1"
    assert record.incident_type == "Online Enticement of Children for Sexual Acts"
    assert record.incident_time == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert record.provider == "Example Provider" and record.platform == "Example Chat"
    assert record.escalated and record.escalation_text_length == len(
        "child appears to be in danger now"
    )
    assert record.annotations == {"sextortion"}
    assert record.batched_reason == "VIRAL_POTENTIAL_MEME"
    user, victim, recipient = record.parties
    assert (user.role, victim.role, recipient.role) == (
        "reported_user", "victim", "intended_recipient",
    )  # fmt: skip
    kinds = sorted((i.kind, i.scope) for i in user.identifiers)
    assert kinds == [
        ("device_id", "IMEI"), ("email", ""), ("esp_id", "Example Chat"), ("ip", ""),
        ("phone", ""), ("screen_name", "Example Chat"),
    ]  # fmt: skip
    ip = next(i for i in user.identifiers if i.kind == "ip")
    assert ip.event_name == "Login" and ip.event_time == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert user.prior_ct_reports_count == 2
    assert (user.location_country, user.location_region) == ("NL", "Example Region")
    assert user.associated[0].identifiers[0].scope == "Example Photos"
    assert victim.age == 13
    detail = record.internet_details[0]
    assert detail.kind == "web_page" and detail.url_hosts == ("files.example.net",)
    assert detail.third_party_hosted is True
    assert [path for path, _ in record.unknown_elements] == [
        "/report/personOrUserReported[0]/someFutureElement"
    ]
    assert b"kept sealed" in record.unknown_elements[0][1]


def test_file_details_keep_flags_hashes_and_only_the_extension() -> None:
    parsed = parse_document(FILE_DETAILS.encode(), "f.xml")
    assert isinstance(parsed, FileDetailsRecord)
    file = parsed.file
    assert parsed.provider_report_id == "R-1" and file.provider_file_id == "F-1"
    assert file.extension == ".jpg"
    assert (file.viewed_by_esp, file.publicly_available) == (True, False)
    assert file.annotations == {"possibleSelfProduction"}
    assert file.industry_classification == "A1"
    assert [(h.kind, h.value) for h in file.hashes] == [
        ("md5", "0123456789abcdef0123456789abcdef"),
        ("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"),
    ]
    # The NETCLEAN hash: kept, counted, not matched.
    assert parsed.unknown_elements == (
        ("/fileDetails/originalFileHash[1][@hashType=NETCLEAN]", b"opaque"),
    )


def test_billion_laughs_is_refused_before_expansion() -> None:
    rejected = _rejected(BILLION_LAUGHS)
    assert rejected.rule == "xml_dtd_forbidden"
    assert "r.xml" in rejected.message


def test_external_entity_is_refused() -> None:
    rejected = _rejected(EXTERNAL_ENTITY)
    assert rejected.rule == "xml_dtd_forbidden"
    assert "root:" not in rejected.message


def test_truncated_xml_names_line_and_column() -> None:
    rejected = _rejected(REPORT[: len(REPORT) // 2])
    assert rejected.rule == "xml_malformed"
    assert rejected.location.startswith("r.xml:")
    line = int(rejected.location.split(":")[1])
    assert line > 1


def test_wrong_root_element() -> None:
    rejected = _rejected("<invoice><total>3</total></invoice>")
    assert (rejected.rule, rejected.location) == ("wrong_root", "r.xml:/invoice")


@pytest.mark.parametrize(
    ("old", "new", "rule", "path"),
    [
        ("<platform>Example Chat</platform>", f"<platform>{'x' * 257}</platform>", "too_long",
         "/report/incidentSummary/platform"),
        ("2026-03-01T10:00:00Z", "yesterday", "bad_datetime",
         "/report/incidentSummary/incidentDateTime"),
        ("2026-03-01T10:00:00Z", "2999-01-01T00:00:00Z", "datetime_out_of_range",
         "/report/incidentSummary/incidentDateTime"),
        ("Online Enticement of Children for Sexual Acts", "Something Else", "unknown_enum",
         "/report/incidentSummary/incidentType"),
        ('reason="VIRAL_POTENTIAL_MEME"', 'reason="BULK"', "unknown_enum",
         "/report/batchedReport/@reason"),
        ("<eventName>Login</eventName>", "<eventName>Teleport</eventName>", "unknown_enum",
         "/report/personOrUserReported[0]/ipCaptureEvent[0]/eventName"),
        ("<age>13</age>", "<age>-4</age>", "number_out_of_range",
         "/report/victim[0]/victimPerson/age"),
    ],
)  # fmt: skip
def test_bad_fields_name_path_and_rule(old: str, new: str, rule: str, path: str) -> None:
    rejected = _rejected(REPORT.replace(old, new))
    assert rejected.rule == rule
    assert rejected.location == f"r.xml:{path}"
    assert rejected.provider_report_id == "R-1"


@pytest.mark.parametrize(
    ("old", "new", "rule", "path"),
    [
        ("0123456789ABCDEF0123456789ABCDEF", "0123456789ABCDEF", "hash_length",
         "/fileDetails/originalFileHash[0]"),
        ("f8f8f0cee0f4a84f", "not hexadecimal!", "hash_not_hex",
         "/fileDetails/details[0]/nameValuePair[0]"),
    ],
)  # fmt: skip
def test_invalid_hash_in_file_details(old: str, new: str, rule: str, path: str) -> None:
    rejected = _rejected(FILE_DETAILS.replace(old, new), "f.xml")
    assert rejected.rule == rule and rejected.kind == "file_details"
    assert rejected.location == f"f.xml:{path}"


def test_missing_incident_time_and_oversized_document() -> None:
    start = REPORT.index("<incidentDateTime>")
    end = REPORT.index("</incidentDateTime>") + len("</incidentDateTime>")
    assert _rejected(REPORT[:start] + REPORT[end:]).rule == "missing_element"
    huge = parse_document(REPORT.encode() + b" " * 2000, "big.xml", max_bytes=1000)
    assert isinstance(huge, Rejected) and huge.rule == "document_too_large"


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_generated_documents_read_back_as_generated(seed: int) -> None:
    corpus = generate(GeneratorConfig(seed=seed, reports=3, files_per_report=2))
    for report in corpus.reports:
        record = parse_document(corpus.report_xml(report), "g.xml")
        assert isinstance(record, ReportRecord)
        assert (record.provider_report_id, record.incident_type, record.incident_time) == (
            report.report_id, report.incident_type, report.incident_time,
        )  # fmt: skip
        assert record.escalated == report.escalated
        assert sum(p.role == "victim" for p in record.parties) == report.victims
        for file in report.files:
            details = parse_document(corpus.file_details_xml(report, file), "f.xml")
            assert isinstance(details, FileDetailsRecord)
            hashes = {h.kind: h.value for h in details.file.hashes}
            assert hashes == {"md5": file.md5, "sha1": file.sha1, "pdq": file.pdq}


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_reader(data: bytes) -> None:
    parsed = parse_document(data, "fuzz.xml")
    assert isinstance(parsed, Rejected | ReportRecord | FileDetailsRecord)


@pytest.mark.parametrize(
    "document",
    [
        REPORT.replace("Example Provider", "Example&#0;Provider").encode(),
        REPORT.replace("Example Provider", "Example&#xD800;Provider").encode(),
        REPORT.encode().replace(b"Example Provider", b"Example\x00Provider"),
        REPORT.encode().replace(b"Example Provider", b"Example\xed\xa0\x80Provider"),
        REPORT.replace("UTF-8", "UTF-16").encode("utf-16").replace(b"P\x00r", b"\x00\xd8r"),
    ],
)
def test_xml_holds_no_nul_and_no_lone_surrogate(document: bytes) -> None:
    """Text no store can hold (a NUL, refused by PostgreSQL; a lone surrogate, by both drivers)
    cannot reach the store from XML: the parser refuses every way of writing it (a character
    reference, the raw byte, UTF-8 of a surrogate, a UTF-16 surrogate without its pair) as
    malformed, and the rejection itself can be stored."""
    rejected = _rejected(document)
    assert rejected.rule == "xml_malformed"
    assert unstorable(rejected.location) is None and unstorable(rejected.message) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(REPORT)), st.text(max_size=20))
def test_damaged_reports_are_rejected_or_read_never_crash(cut: int, junk: str) -> None:
    parsed = parse_document((REPORT[:cut] + junk + REPORT[cut:]).encode(), "d.xml")
    if isinstance(parsed, Rejected):
        assert parsed.rule and parsed.message.startswith("d.xml")


def test_namespaced_report_reads_as_plain_and_keeps_unknown_elements_well_formed() -> None:
    plain = _report(REPORT)
    namespaced = _report(
        REPORT.replace("<report>", '<report xmlns="urn:example:cybertip">', 1).replace(
            "<someFutureElement", '<someFutureElement xmlns:x="urn:example:x" x:note="n"', 1
        )
    )
    assert namespaced.parties == plain.parties
    assert namespaced.internet_details == plain.internet_details
    assert [p for p, _ in namespaced.unknown_elements] == [p for p, _ in plain.unknown_elements]
    raw = namespaced.unknown_elements[0][1]
    kept = parse_document(b"<wrapper>" + raw + b"</wrapper>", "kept.xml")
    assert isinstance(kept, Rejected) and kept.rule == "wrong_root"  # well-formed, so read
    assert b"urn:example:cybertip" in raw and b"urn:example:x" in raw


def test_an_unknown_declared_encoding_is_rejected_with_the_reason() -> None:
    declared = REPORT.replace('encoding="UTF-8"', 'encoding="U0TF-8"', 1)
    assert declared != REPORT
    parsed = parse_document(declared.encode(), "odd.xml")
    assert isinstance(parsed, Rejected)
    assert parsed.message.startswith("odd.xml") and "unknown encoding" in parsed.message


def test_file_details_with_a_second_file_id_are_refused() -> None:
    """A file's ids are single-valued: a second ``<fileId>`` would be dropped unseen."""
    rejected = _rejected(FILE_DETAILS.replace("</fileId>", "</fileId><fileId>F-2</fileId>"))
    assert (rejected.location, rejected.rule) == (
        "r.xml:/fileDetails/fileId[1]", "repeated_element",
    )  # fmt: skip
    assert rejected.message == (
        "r.xml:/fileDetails/fileId[1]: <fileId> is given more than once; it holds one value"
    )
    assert rejected.kind == "file_details" and rejected.provider_report_id == "R-1"


def test_an_empty_yes_or_no_and_an_empty_report_id_are_refused() -> None:
    """<fileViewedByEsp/> says neither yes nor no (read as yes, it claimed a person looked at
    the file), and an empty <reportId> is not a reason to take the file's name as the id."""
    viewed = _rejected(
        FILE_DETAILS.replace("<fileViewedByEsp>true</fileViewedByEsp>", "<fileViewedByEsp/>"),
        "f.xml",
    )
    assert (viewed.rule, viewed.location) == ("bad_boolean", "f.xml:/fileDetails/fileViewedByEsp")
    assert "empty" in viewed.message
    empty_id = _rejected(REPORT.replace("<reportId>R-1</reportId>", "<reportId> </reportId>"))
    assert (empty_id.rule, empty_id.location) == ("missing_element", "r.xml:/report/reportId")
    no_id = parse_document(REPORT.replace("<reportId>R-1</reportId>", "").encode(), "R-7.xml")
    assert isinstance(no_id, ReportRecord) and no_id.provider_report_id == "R-7"
