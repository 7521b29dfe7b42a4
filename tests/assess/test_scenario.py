"""Scenario files: the shipped ones load, bad ones are refused with file, line and key."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.assess.montecarlo import run
from safeguarding.assess.scenario import (
    PARAMETERS,
    SCENARIO_DIR,
    load_scenario,
    shipped_scenarios,
    shipped_unchanged,
)
from safeguarding.errors import ValidationError
from safeguarding.evidence import shipped_evidence

MINIMAL = """\
[scenario]
extends = "eu-status-quo"
title = "test"

[volume]
{line}
"""


def _write(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_scenarios_cover_both_regions_and_all_five_measures() -> None:
    names = shipped_scenarios()
    for region in ("eu", "nl"):
        for measure in ("status-quo", "detection-orders", "known-only", "targeted", "proactive"):
            assert f"{region}-{measure}" in names
    for name in names:
        scenario = load_scenario(name)
        assert set(scenario.parameters) == set(PARAMETERS)
        assert scenario.region == name[:2].upper()


def test_every_shipped_parameter_has_a_checked_source() -> None:
    base = shipped_evidence()
    for name in shipped_scenarios():
        for parameter in load_scenario(name):
            source = parameter.source
            assert source.evidence or source.assumption, (name, parameter.name)
            assert all(ident in base for ident in source.evidence)
            if not source.evidence:
                assert source.label == "assumption"


def test_detection_orders_deploy_all_three_technologies_and_known_only_one() -> None:
    orders = load_scenario("eu-detection-orders")
    known = load_scenario("eu-known-only")
    assert all(orders.deployed(t) for t in ("known", "new", "grooming"))
    assert known.deployed("known")
    assert not known.deployed("new") and not known.deployed("grooming")


def test_evidence_reference_takes_the_published_value(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        MINIMAL.format(
            line='messages_per_day = { value = "scientists.whatsapp.2024:messages_per_day" }'
        ),
    )
    parameter = load_scenario(path)["volume.messages_per_day"]
    expected = shipped_evidence().get("scientists.whatsapp.2024").value("messages_per_day").value
    assert parameter.dist.support() == (expected, expected)
    assert parameter.source.evidence == ("scientists.whatsapp.2024",)
    assert parameter.source.label == "evidence"
    assert parameter.location == "s.toml:6"
    # The value read keeps its year (2024, though the reference did not need it) and its tag.
    assert [v.describe() for v in parameter.source.values] == [
        "scientists.whatsapp.2024:messages_per_day:2024 [P]"
    ]


def test_a_reference_to_a_value_of_several_years_must_name_the_year(tmp_path: Path) -> None:
    # de.bka.ncmec has criminally_relevant_share for 2022 (65.8%) and 2023 (49.6%); without a
    # year the first was taken, silently.
    path = _write(
        tmp_path,
        MINIMAL.format(line='scope_share = { value = "de.bka.ncmec:criminally_relevant_share" }'),
    )
    with pytest.raises(ValidationError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        "s.toml:6: volume.scope_share.value: evidence de.bka.ncmec has criminally_relevant_share "
        "for several years (2022, 2023): name the year, as in "
        "de.bka.ncmec:criminally_relevant_share:2023"
    )


def test_a_value_read_from_evidence_keeps_its_year_and_its_own_tag(tmp_path: Path) -> None:
    # fedpol's figure is P; its 2024 counts are S (read in a newspaper). The source must say so.
    path = _write(
        tmp_path,
        MINIMAL.format(line='messages_per_day = { value = "ch.fedpol.ncmec:received:2024" }'),
    )
    parameter = load_scenario(path)["volume.messages_per_day"]
    assert parameter.dist.support() == (15736.0, 15736.0)
    assert shipped_evidence().get("ch.fedpol.ncmec").tag == "P"
    assert parameter.source.as_dict()["values"] == [
        {"reference": "ch.fedpol.ncmec:received:2024", "tag": "S"}
    ]
    assert (
        parameter.source.describe() == "ch.fedpol.ncmec; values ch.fedpol.ncmec:received:2024 [S]"
    )


@pytest.mark.parametrize(
    ("line", "key", "rule"),
    [
        (
            'messages_per_day = { value = -5, assumption = "x" }',
            "volume.messages_per_day",
            "must not be negative",
        ),
        (
            'scope_share = { dist = "uniform", low = 0.5, high = 1.5, assumption = "x" }',
            "volume.scope_share",
            "at most 1",
        ),
        ('colour = { value = 1, assumption = "x" }', "volume.colour", "unknown key"),
        (
            'messages_per_day = { value = 5, assumptoin = "typo" }',
            "volume.messages_per_day.assumptoin",
            "unknown key",
        ),
        ("messages_per_day = { value = 5 }", "volume.messages_per_day", "missing source"),
        ("messages_per_day = 5", "volume.messages_per_day", "must be a table"),
        (
            'messages_per_day = { value = 5, evidence = "no.such.figure" }',
            "volume.messages_per_day.evidence",
            "no evidence figure",
        ),
        (
            'messages_per_day = { value = "ncmec.bundling.2024:nothing" }',
            "volume.messages_per_day.value",
            "has no value nothing",
        ),
        (
            'messages_per_day = { value = 5, evidence = "ie.garda.2020.actionable" }',
            "volume.messages_per_day",
            "unverified (tag U)",
        ),
        (
            'messages_per_day = { dist = ["lognormal"], low = 1, high = 2, assumption = "x" }',
            "volume.messages_per_day.dist",
            "unknown distribution ['lognormal']; dist takes one of fixed, uniform,",
        ),
        (
            'messages_per_day = { dist = 5, value = 1, assumption = "x" }',
            "volume.messages_per_day.dist",
            "unknown distribution 5; dist takes one of",
        ),
        (
            'messages_per_day = { dist = "pert", low = 3, mode = 1, high = 2, assumption = "x" }',
            "volume.messages_per_day",
            "low <= mode <= high",
        ),
    ],
)
def test_invalid_parameters_are_refused_with_key_and_line(
    tmp_path: Path, line: str, key: str, rule: str
) -> None:
    path = _write(tmp_path, MINIMAL.format(line=line))
    with pytest.raises(ValidationError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith("s.toml:6: "), message
    assert f" {key}: " in message
    assert rule in message
    assert caught.value.location == f"{path.resolve()}:6"


def test_probability_above_one_in_a_sub_table_names_its_line(tmp_path: Path) -> None:
    body = (
        '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\n\n'
        "[detection.known]\n"
        'coverage = { value = 0.5, assumption = "x" }\n'
        'sensitivity = { value = 1.2, evidence = "photodna.fpr" }\n'
    )
    with pytest.raises(
        ValidationError, match=r"^s\.toml:7: detection\.known\.sensitivity: .*at most 1"
    ):
        load_scenario(_write(tmp_path, body))


@pytest.mark.parametrize(
    ("written", "got"),
    [
        ("1e400", "inf"),
        ("-1e400", "-inf"),
        ("nan", "nan"),
        ("1e16", "1e+16"),
        ("1" + "0" * 400, "401 digits"),
    ],
)
def test_a_number_outside_the_model_range_is_refused_with_field_and_range(
    tmp_path: Path, written: str, got: str
) -> None:
    # A 400-digit integer ended in "unexpected OverflowError", and 1e200 messages a day in a NaN
    # deep in the simulation, neither naming the file or the field.
    line = f'messages_per_day = {{ dist = "uniform", low = 0, high = {written}, assumption = "x" }}'
    with pytest.raises(ValidationError) as caught:
        load_scenario(_write(tmp_path, MINIMAL.format(line=line)))
    assert str(caught.value) == (
        f"s.toml:6: volume.messages_per_day.high: must be between -1e+15 and 1e+15 (got {got})"
    )


def test_a_complete_scenario_needs_every_required_parameter(tmp_path: Path) -> None:
    body = (
        '[scenario]\ntitle = "alone"\n\n[volume]\n'
        'messages_per_day = { value = 1, assumption = "x" }\n'
    )
    with pytest.raises(ValidationError, match="missing parameter volume.images_per_day"):
        load_scenario(_write(tmp_path, body))


def test_a_partial_technology_is_refused(tmp_path: Path) -> None:
    text = Path(load_scenario("eu-status-quo").file).read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("sensitivity ="))
    with pytest.raises(ValidationError, match=r"missing parameter detection\.\w+\.sensitivity"):
        load_scenario(_write(tmp_path, text))


def test_unknown_scenario_key_and_bad_toml_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"^s\.toml:3: scenario\.author: unknown key"):
        load_scenario(_write(tmp_path, '[scenario]\ntitle = "t"\nauthor = "x"\n'))
    with pytest.raises(ValidationError, match=r"^b\.toml:2: not valid TOML"):
        load_scenario(_write(tmp_path, '[scenario]\ntitle = = "t"\n', "b.toml"))


def test_extends_overrides_only_what_is_given(tmp_path: Path) -> None:
    body = MINIMAL.format(line='scope_share = { value = 0.5, assumption = "half" }')
    child = load_scenario(_write(tmp_path, body))
    parent = load_scenario("eu-status-quo")
    assert child["volume.scope_share"].dist.mean() == 0.5
    for name in PARAMETERS:
        if name != "volume.scope_share":
            assert child[name].dist == parent[name].dist


def test_a_cycle_of_extends_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, '[scenario]\nextends = "b.toml"\ntitle = "a"\n', "a.toml")
    _write(tmp_path, '[scenario]\nextends = "a.toml"\ntitle = "b"\n', "b.toml")
    with pytest.raises(ValidationError, match="extends itself"):
        load_scenario(tmp_path / "a.toml")


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ValidationError, match="eu-status-quo"):
        load_scenario("no-such-scenario")


@settings(max_examples=40, deadline=None)
@given(
    # Queue shares also have to add up to at most 1 together; tested separately.
    st.sampled_from(
        sorted(n for n, s in PARAMETERS.items() if s.kind == "share" and "queue" not in n)
    ),
    st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
    st.integers(0, 5),
)
def test_written_shares_load_back_and_shares_above_one_are_refused(
    tmp_path_factory: pytest.TempPathFactory, name: str, values: list[float], blank: int
) -> None:
    low, mode, high = sorted(values)
    table, key = name.rsplit(".", 1)
    head = '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\n' + "\n" * blank
    line = 6 + blank
    spec = f'dist = "pert", low = {low!r}, mode = {mode!r}, high = {high!r}, assumption = "x"'
    good = f"{head}\n[{table}]\n{key} = {{ {spec} }}\n"
    path = tmp_path_factory.mktemp("s") / "s.toml"
    path.write_text(good, encoding="utf-8")
    loaded = load_scenario(path)[name]
    assert loaded.dist.fields == {"low": low, "mode": mode, "high": high}
    assert loaded.location == f"s.toml:{line}"
    path.write_text(good.replace(f"high = {high!r}", f"high = {high + 1.5!r}"), "utf-8")
    with pytest.raises(ValidationError, match=rf"^s\.toml:{line}: {re.escape(name)}: .*at most 1"):
        load_scenario(path)


def test_queue_shares_above_one_together_are_refused(tmp_path: Path) -> None:
    body = '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\n\n[queue]\n' + "".join(
        f'p{i}_share = {{ value = 0.4, assumption = "x" }}\n' for i in (1, 2, 3)
    )
    with pytest.raises(ValidationError, match=r"^s\.toml:5: queue: .*add up to 1\.2"):
        load_scenario(_write(tmp_path, body))


def test_a_lognormal_is_taken_for_a_positive_parameter(tmp_path: Path) -> None:
    """A lognormal's smallest value is above 0, so a quantity that must be positive takes it."""
    body = (
        '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\n\n[police]\n'
        'minutes_per_notification = { dist = "lognormal", low = 5, high = 50, assumption = "x" }\n'
    )
    parameter = load_scenario(_write(tmp_path, body))["police.minutes_per_notification"]
    assert parameter.dist.fields == {"low": 5.0, "high": 50.0}


def test_a_lognormal_too_wide_for_the_model_is_refused_with_its_line(tmp_path: Path) -> None:
    """Draws of 1e-300 .. 1e15 overflow single precision; the results would have been taken
    over the draws left, without a word."""
    body = (
        '[scenario]\nextends = "eu-status-quo"\ntitle = "t"\n\n[volume]\n'
        'images_per_day = { dist = "lognormal", low = 1e-300, high = 1e15, assumption = "x" }\n'
    )
    with pytest.raises(
        ValidationError, match=r"^s\.toml:6: volume\.images_per_day: .*too wide.*narrow"
    ):
        load_scenario(_write(tmp_path, body))


def test_a_result_says_whether_its_scenario_is_the_shipped_file_unchanged(tmp_path: Path) -> None:
    shipped = load_scenario("nl-status-quo")
    assert shipped_unchanged(shipped)
    # The shipped file's text at another path is the shipped scenario: what counts is what it
    # says, not where it lies.
    copy = tmp_path / "nl-status-quo.toml"
    copy.write_text((SCENARIO_DIR / "nl-status-quo.toml").read_text(encoding="utf-8"))
    assert shipped_unchanged(load_scenario(copy))
    assert load_scenario(copy).digest() == shipped.digest()
    # Extending it under its own name and changing one parameter makes it another scenario.
    custom = tmp_path / "custom-nl.toml"
    custom.write_text(
        '[scenario]\nextends = "nl-status-quo"\nname = "nl-status-quo"\n'
        'title = "CUSTOM: status quo with 100x known prevalence"\n\n[detection.known]\n'
        'prevalence = { dist = "lognormal", low = 3e-4, high = 3e-3, assumption = "100x" }\n',
        encoding="utf-8",
    )
    modified = load_scenario(custom)
    assert modified.name == "nl-status-quo" and not shipped_unchanged(modified)
    assert modified.digest() != shipped.digest()
    # A scenario of a name nothing ships is not a shipped one either.
    assert not shipped_unchanged(replace(shipped, name="my-own"))
    result = run(modified, 100, 1).as_dict()
    assert result["shipped"] is False and result["digest"] == modified.digest()
    assert result["title"].startswith("CUSTOM") and result["file"] == "custom-nl.toml"
    assert run(shipped, 100, 1).as_dict()["shipped"] is True


CENTRAL = """\
[scenario]
extends = "eu-status-quo"
title = "test"

[central]
{line}
"""


def test_evidence_alone_cannot_contradict_a_bound_its_figure_states(tmp_path: Path) -> None:
    # meta.duplicates.2020: more than 90% were duplicates. A share drawn mostly below 0.9 that
    # cites it alone presents the figure as saying what it does not.
    below = (
        'duplicate_share = { dist = "pert", low = 0.7, mode = 0.9, high = 0.95, '
        'evidence = "meta.duplicates.2020" }'
    )
    with pytest.raises(ValidationError) as caught:
        load_scenario(_write(tmp_path, CENTRAL.format(line=below)))
    assert str(caught.value) == (
        "s.toml:6: central.duplicate_share: can be 0.7, but meta.duplicates.2020 gives "
        "duplicate_or_similar_share (2020) above 0.9: keep to it, or add an "
        'assumption = "<reasoning>" for the wider range'
    )
    explained = below.replace(" }", ', assumption = "other providers may see fewer" }')
    assert load_scenario(_write(tmp_path, CENTRAL.format(line=explained)))
    within = below.replace("low = 0.7", "low = 0.9")
    assert load_scenario(_write(tmp_path, CENTRAL.format(line=within)))


def test_the_shipped_duplicate_share_says_why_it_reaches_below_the_published_bound() -> None:
    parameter = load_scenario("eu-status-quo")["central.duplicate_share"]
    assert parameter.dist.support()[0] < 0.9
    assert parameter.source.label == "assumption" and parameter.source.assumption
    assert parameter.source.evidence == ("meta.duplicates.2020",)
