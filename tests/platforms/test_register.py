"""The register: YAML and CSV import, refused rows named by row and field, round trips."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.errors import ValidationError
from safeguarding.platforms.register import (
    CSV_COLUMNS,
    Service,
    check_parents,
    parse_csv,
    parse_yaml,
    read_register,
)
from safeguarding.platforms.sample import SAMPLE_REGISTER
from safeguarding.platforms.vocabulary import (
    AGE_ASSURANCE,
    FEATURES,
    MEASURES,
    SAFEGUARD_STATUSES,
    SERVICE_TYPES,
    SIZE_CLASSES,
)
from tests.platforms.builders import row


def _yaml(*rows: dict[str, Any]) -> str:
    return yaml.safe_dump({"services": list(rows)}, sort_keys=False)


def test_part_of_must_name_another_service_of_the_file_or_the_register() -> None:
    text = _yaml(
        row(id="app"),
        row(id="app.stories", part_of="app"),
        row(id="app.dm", part_of="stored-app"),
        row(id="ghost.part", part_of="ghost"),
        row(id="self", part_of="self"),
        row(id="loop-a", part_of="loop-b"),
        row(id="loop-b", part_of="loop-a"),
        row(id="loop-a.part", part_of="loop-a"),
        row(id="bad", type="telepathy"),
        row(id="bad.part", part_of="bad"),
    )
    checked = check_parents(parse_yaml(text, "r.yaml"), "r.yaml", {"stored-app"})
    assert [s.id for s in checked.services] == ["app", "app.stories", "app.dm"]
    assert [str(e) for e in checked.errors if e.field == "part_of"] == [
        "r.yaml:19: row 4 (ghost.part): field part_of: names no service of this file or the "
        "register ('ghost'); import the service it is part of first, or in the same file",
        "r.yaml:25: row 5 (self): field part_of: a service cannot be part of itself",
        "r.yaml:31: row 6 (loop-a): field part_of: makes a cycle: loop-a → loop-b → loop-a",
        "r.yaml:37: row 7 (loop-b): field part_of: makes a cycle: loop-b → loop-a → loop-b",
        "r.yaml:43: row 8 (loop-a.part): field part_of: names 'loop-a', whose row is refused",
        "r.yaml:54: row 10 (bad.part): field part_of: names 'bad', whose row is refused",
    ]
    assert [e.field for e in checked.errors if e.row == 9] == ["type"]


def test_sample_register_is_valid_fictional_and_covers_every_type_and_size() -> None:
    parsed = read_register(SAMPLE_REGISTER)
    assert parsed.errors == []
    assert {s.type for s in parsed.services} == set(SERVICE_TYPES)
    assert {s.provider_size for s in parsed.services} == set(SIZE_CLASSES)
    assert all(s.synthetic and "(fictional)" in s.name for s in parsed.services)


def test_yaml_unknown_feature_is_refused_with_row_line_and_field() -> None:
    text = _yaml(row(), row(id="row-two", features=["direct_messaging", "teleporting"]))
    parsed = parse_yaml(text, "reg.yaml")
    assert [s.id for s in parsed.services] == ["row-one"]
    [error] = parsed.errors
    assert (error.row, error.field, error.service_id) == (2, "features[1]", "row-two")
    assert error.line == text.splitlines().index("- id: row-two") + 1
    assert "unknown feature 'teleporting'" in error.message
    assert str(error).startswith(f"reg.yaml:{error.line}: row 2 (row-two): field features[1]:")


def test_yaml_negative_users_are_refused_with_the_field() -> None:
    bad = row(eu_monthly_active_recipients={"value": -1, "source": "x"})
    [error] = parse_yaml(_yaml(bad), "reg.yaml").errors
    assert error.field == "eu_monthly_active_recipients.value"
    assert error.message == "must not be negative (got -1)"


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_volume_that_is_not_a_finite_number_is_refused(value: float) -> None:
    # An infinite volume was stored, then exported as "Infinity" (not JSON), which the
    # assessment then refused to read back.
    bad = row(volumes={"daily_images": value, "source": "x"})
    [error] = parse_yaml(_yaml(bad), "reg.yaml").errors
    assert (error.field, error.message) == (
        "volumes.daily_images",
        "Input should be a finite number",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Chat\x00App"}, "name"),
        ({"provider": "P\x00"}, "provider"),
        ({"source": "annual report\x00"}, "source"),
        ({"volumes": {"daily_images": 5.0, "source": "\x00x"}}, "volumes.source"),
    ],
)
def test_a_nul_character_in_a_text_field_is_refused_with_the_field(
    change: dict[str, Any], field: str
) -> None:
    # Accepted and stored on SQLite; PostgreSQL refuses NUL in text, so the same register
    # failed there half-way through its import.
    [error] = parse_yaml(_yaml(row(**change)), "reg.yaml").errors
    assert (error.field, error.message) == (field, "must not contain a NUL character (\\x00)")


def test_a_nul_character_in_a_csv_register_is_refused_with_row_and_column() -> None:
    [error] = parse_csv("id,name,type,provider,source\na,A\x00,social,p,s\n", "reg.csv").errors
    assert str(error) == (
        "reg.csv:2: row 1 (a): field name: must not contain a NUL character (\\x00)"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": None}, "source"),
        ({"eu_monthly_active_recipients": {"value": 5}}, "eu_monthly_active_recipients.source"),
        ({"volumes": {"daily_messages": 3.0}}, "volumes.source"),
        ({"vlop": {"designated": True}}, "vlop.source"),
    ],
)
def test_yaml_missing_source_is_refused(change: dict[str, Any], field: str) -> None:
    data = {k: v for k, v in row(**change).items() if v is not None}
    [error] = parse_yaml(_yaml(data), "reg.yaml").errors
    assert error.field == field
    assert error.message.startswith("is required")


def test_csv_bad_rows_name_row_line_and_column_and_keep_the_good_ones() -> None:
    text = (
        "id,name,type,provider,eu_monthly_active_recipients,eu_mar_source,features,source\n"
        "good,Good (fictional),social,P,10,pub,direct_messaging;hyperlinking,src\n"
        "neg,Neg (fictional),social,P,-3,pub,,src\n"
        "feat,Feat (fictional),social,P,,,direct_messaging;zap,src\n"
        "nosrc,NoSrc (fictional),social,P,100,,,\n"
    )
    parsed = parse_csv(text, "reg.csv")
    assert [s.id for s in parsed.services] == ["good"]
    assert parsed.services[0].features == ("direct_messaging", "hyperlinking")
    found = {(e.line, e.row, e.service_id, e.field) for e in parsed.errors}
    assert found == {
        (3, 2, "neg", "eu_monthly_active_recipients"),
        (4, 3, "feat", "features"),
        (5, 4, "nosrc", "eu_mar_source"),
        (5, 4, "nosrc", "source"),
    }


def test_unknown_safeguard_measure_and_status_are_named() -> None:
    bad = row(safeguards={"hash_matching": "perhaps", "magic": "proven"})
    messages = {e.field: e.message for e in parse_yaml(_yaml(bad)).errors}
    assert messages["safeguards.hash_matching"].startswith("unknown safeguard status 'perhaps'")
    assert messages["safeguards.magic"].startswith("unknown measure 'magic'")


def test_duplicate_id_is_refused_on_the_later_row() -> None:
    parsed = parse_yaml(_yaml(row(), row(name="Again")))
    assert len(parsed.services) == 1
    [error] = parsed.errors
    assert (error.row, error.field) == (2, "id") and "first in row 1" in error.message


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("services: [unclosed", ".yaml", "not valid YAML"),
        ("people: []\n", ".yaml", "a register holds 'services:'"),
        ("id,colour\n", ".csv", "unknown column(s) colour"),
        ("x", ".txt", "unknown register format .txt"),
    ],
)
def test_bad_files_are_refused_whole(tmp_path: Path, text: str, suffix: str, message: str) -> None:
    path = tmp_path / f"reg{suffix}"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_register(path)


# Property: a valid service written as YAML or CSV reads back as the same service.
_ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=30,
).filter(lambda t: t.strip() == t and t.strip() != "" and ";" not in t)
_audience = st.none() | st.fixed_dictionaries({"value": st.integers(0, 10**10), "source": _text})
_services = st.fixed_dictionaries(
    {
        "id": _ids,
        "name": _text,
        "type": st.sampled_from(SERVICE_TYPES),
        "provider": _text,
        "provider_size": st.none() | st.sampled_from(SIZE_CLASSES),
        "eu_monthly_active_recipients": _audience,
        "features": st.lists(st.sampled_from(FEATURES), unique=True).map(sorted),
        "age_assurance": st.sampled_from(AGE_ASSURANCE),
        "safeguards": st.dictionaries(
            st.sampled_from(MEASURES), st.sampled_from(SAFEGUARD_STATUSES)
        ),
        "source": _text,
    }
).map(Service.model_validate)


def _to_csv(service: Service) -> str:
    cells = {
        "id": service.id,
        "name": service.name,
        "type": service.type,
        "provider": service.provider,
        "provider_size": service.provider_size or "",
        "features": ";".join(service.features),
        "age_assurance": service.age_assurance,
        "safeguards": ";".join(f"{m}={s}" for m, s in service.safeguards.items()),
        "source": service.source,
    }
    audience = service.eu_monthly_active_recipients
    cells["eu_monthly_active_recipients"] = str(audience.value) if audience else ""
    cells["eu_mar_source"] = audience.source if audience else ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), restval="")
    writer.writeheader()
    writer.writerow(cells)
    return out.getvalue()


@settings(max_examples=60, deadline=None)
@given(_services)
def test_yaml_and_csv_round_trip(service: Service) -> None:
    as_yaml = yaml.safe_dump({"services": [service.model_dump(mode="json", exclude_none=True)]})
    from_yaml = parse_yaml(as_yaml)
    assert from_yaml.errors == [] and from_yaml.services == [service]
    from_csv = parse_csv(_to_csv(service))
    assert from_csv.errors == [] and from_csv.services == [service]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_cleanly(text: str) -> None:
    for parse in (parse_yaml, parse_csv):
        try:
            parsed = parse(text)
        except ValidationError as exc:
            assert str(exc)
            continue
        assert all(isinstance(s, Service) for s in parsed.services)
        assert all(e.field and e.message for e in parsed.errors)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"id": _ids, "features": st.lists(st.sampled_from([*FEATURES, "bogus"]))}
        ),
        max_size=6,
    )
)
def test_every_row_is_either_kept_or_refused(rows: list[dict[str, Any]]) -> None:
    parsed = parse_yaml(_yaml(*(row(**r) for r in rows)))
    refused_rows = {e.row for e in parsed.errors}
    assert len(parsed.services) + len(refused_rows) == len(rows)


def test_a_measure_given_twice_in_csv_safeguards_refuses_the_row() -> None:
    text = (
        "id,name,type,provider,safeguards,source\n"
        "good,Good (fictional),social,P,hash_matching=proven,src\n"
        "twice,Twice (fictional),social,P,hash_matching=proven;url_lists=claimed;"
        "hash_matching=absent,src\n"
    )
    parsed = parse_csv(text, "reg.csv")
    assert [s.id for s in parsed.services] == ["good"]
    [error] = parsed.errors
    assert str(error) == (
        "reg.csv:3: row 2 (twice): field safeguards: "
        "measure 'hash_matching' given twice; give each measure once"
    )


def test_a_yaml_value_that_cannot_be_read_is_refused_at_its_line() -> None:
    text = _yaml(row()) + "- id: row-two\n  vlop: {designated: false, date: 2025-02-30}\n"
    with pytest.raises(ValidationError) as caught:
        parse_yaml(text, "e10.yaml")
    line = len(text.splitlines())
    assert str(caught.value) == f"e10.yaml:{line}: not YAML we read (day is out of range for month)"
    assert (caught.value.location, caught.value.rule) == (f"e10.yaml:{line}", "yaml")


def test_csv_rows_after_a_refused_record_keep_their_row_numbers() -> None:
    text = (
        "id,name,type,provider,source\n"
        "extra,Extra (fictional),social,P,src,one too many\n"
        "nosrc,NoSrc (fictional),social,P,\n"
        "dup,Dup (fictional),social,P,src\n"
        "dup,Dup again (fictional),social,P,src\n"
    )
    parsed = parse_csv(text, "reg.csv")
    assert [str(e) for e in parsed.errors] == [
        "reg.csv:2: row 1: field -: more cells than header columns",
        "reg.csv:3: row 2 (nosrc): field source: is required (every row names its source)",
        "reg.csv:5: row 4 (dup): field id: duplicate id (first in row 3)",
    ]
