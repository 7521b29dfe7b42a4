"""Documents built to exhaust a reader: a number of thousands of digits (Python refuses to
convert it) and nesting thousands deep (the readers recurse). Every entry point that reads
JSON, TOML, YAML or XML refuses them with its usual error naming the file, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguarding.assess.exports import read_services, read_triage_stats
from safeguarding.assess.scenario import load_scenario
from safeguarding.config import load_settings
from safeguarding.errors import ConfigError, ValidationError
from safeguarding.helpline.importer import read_jsonl
from safeguarding.platforms.register import parse_yaml
from safeguarding.triage.formats.ncmec_xml import parse_document
from safeguarding.triage.listformats import read_vics
from safeguarding.triage.records import Rejected

HUGE = "9" * 5000
DEEP_JSON = "[" * 50_000


@pytest.mark.parametrize("text", [f'{{"value": [{HUGE}]}}', DEEP_JSON])
def test_a_vics_list_is_refused_with_its_reason(text: str) -> None:
    parsed = read_vics(text.encode(), "list.json")
    assert parsed.entries == []
    assert [r.rule for r in parsed.rejected] == ["bad_json"]
    assert "digits" in parsed.rejected[0].message or "deeply" in parsed.rejected[0].message


@pytest.mark.parametrize("line", [f'{{"month": {HUGE}}}', DEEP_JSON])
def test_a_helpline_line_is_refused_and_the_next_read(line: str) -> None:
    records = list(read_jsonl(line + '\n{"month": "2025-03"}\n'))
    assert [(r.row, r.data is None) for r in records] == [(1, True), (2, False)]
    assert "not JSON we read" in records[0].problem


def test_an_unknown_element_nested_thousands_deep_rejects_its_document() -> None:
    deep = "<x>" * 5000 + "</x>" * 5000
    report = (
        "<report><reportId>R-1</reportId><incidentSummary><incidentType>Child Pornography "
        "(possession, manufacture, and distribution)</incidentType><incidentDateTime>"
        f"2026-01-01T00:00:00Z</incidentDateTime></incidentSummary>{deep}</report>"
    )
    parsed = parse_document(report.encode(), "deep.xml")
    assert isinstance(parsed, Rejected)
    assert (parsed.rule, parsed.provider_report_id) == ("xml_too_deep", "R-1")


@pytest.mark.parametrize("value", [HUGE, "[" * 5000 + "]" * 5000])
def test_a_settings_file_is_refused_naming_it(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[web]\nsession_hours = {value}\n")
    with pytest.raises(ConfigError, match="config.toml"):
        load_settings({"SAFEGUARDING_HOME": str(tmp_path)})


def test_a_settings_file_in_another_encoding_is_refused_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes("[web]\nsecure_cookies = false # caf\u00e9\n".encode("utf-16"))
    with pytest.raises(ConfigError, match=r"config.toml: not UTF-8"):
        load_settings({"SAFEGUARDING_HOME": str(tmp_path)})


@pytest.mark.parametrize("reader", [read_triage_stats, read_services])
@pytest.mark.parametrize("text", [f'{{"a": {HUGE}}}', DEEP_JSON])
def test_an_assessment_export_is_refused_naming_it(
    tmp_path: Path, reader: object, text: str
) -> None:
    path = tmp_path / "export.json"
    path.write_text(text)
    with pytest.raises(ValidationError, match="export.json: not JSON we read"):
        reader(path)  # type: ignore[operator]


@pytest.mark.parametrize("value", [HUGE, "[" * 5000 + "]" * 5000])
def test_a_scenario_is_refused_naming_it(tmp_path: Path, value: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[scenario]\nname = "s"\ntitle = "t"\ndraws = {value}\n')
    with pytest.raises(ValidationError, match="s.toml: not TOML we read"):
        load_scenario(path)


@pytest.mark.parametrize("value", [HUGE, "[" * 5000 + "]" * 5000])
def test_a_register_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValidationError, match="register.yaml"):
        parse_yaml(f"services:\n  - id: a\n    daily_images: {value}\n")
