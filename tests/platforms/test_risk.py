"""Risk levels: the effect of each rule on a hand-built service, and monotonicity properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.errors import ValidationError
from safeguarding.platforms.register import Service
from safeguarding.platforms.risk import assess_harm, assess_service, service_factors
from safeguarding.platforms.rules import DEFAULT_RULES, load_rules, parse_rules
from safeguarding.platforms.vocabulary import (
    AGE_ASSURANCE,
    FEATURES,
    HARMS,
    MEASURES,
    SAFEGUARD_STATUSES,
    SERVICE_TYPES,
    level_rank,
)
from tests.platforms.builders import service, service_with

RULES = load_rules().rules
EMPTY: frozenset[str] = frozenset()


def _level(svc: Service, harm: str, cases: int = 0, denominator: int = 0) -> str:
    return assess_service(RULES, svc, {harm: cases}, denominator).level(harm)


def test_child_access_is_possible_under_self_declaration_but_not_verification() -> None:
    assert "child_access_possible" in service_factors(service(age_assurance="self_declaration"))
    assert "child_access_possible" not in service_factors(service(age_assurance="verification"))
    assert "child_access_possible" in service_factors(
        service(age_assurance="verification", features=["child_users_possible"])
    )


def test_grooming_is_negligible_without_child_access_and_low_with_it() -> None:
    closed = service(features=["direct_messaging"])
    assert _level(closed, "grooming") == "negligible"
    open_ = service(features=["direct_messaging", "child_users_possible"])
    assert _level(open_, "grooming") == "low"


def test_image_csam_is_negligible_without_images_files_or_livestreams() -> None:
    text_only = service(features=["direct_messaging", "hyperlinking"])
    assert _level(text_only, "image_csam") == "negligible"
    assert _level(service(features=["image_video_sharing"]), "image_csam") == "low"


@pytest.mark.parametrize("harm", HARMS)
def test_several_factors_give_medium_and_one_fewer_stays_low(harm: str) -> None:
    spec = RULES.harms[harm]
    several = RULES.several_for(harm)
    factors = set(spec.requires_all) | set(spec.requires_any[:1])
    counts: dict[int, str] = {}
    for extra in (None, *(f.id for f in spec.factors)):
        if extra is not None:
            factors.add(extra)
        result = assess_harm(RULES, harm, frozenset(factors), EMPTY)
        if any(d.kind in {"trigger", "many"} for d in result.drivers):
            continue
        counts[len(result.factors)] = result.level
    assert counts[several - 1] == "low"
    assert counts[several] == "medium"


TRIGGERS = [(harm, t) for harm, spec in RULES.harms.items() for t in spec.high_triggers]


@pytest.mark.parametrize(("harm", "trigger"), TRIGGERS, ids=[t.id for _, t in TRIGGERS])
def test_each_high_trigger_makes_its_harm_high(harm: str, trigger: Any) -> None:
    with_all = service_with(set(trigger.all_of))
    result = assess_service(RULES, with_all).harms[HARMS.index(harm)]
    assert result.level == "high"
    assert any(d.kind == "trigger" and d.id == trigger.id for d in result.drivers)
    for missing in trigger.all_of:
        without = service_with(set(trigger.all_of) - {missing})
        drivers = assess_service(RULES, without).harms[HARMS.index(harm)].drivers
        assert not any(d.kind == "trigger" and d.id == trigger.id for d in drivers), missing


FACTOR_RULES = [(harm, f.id) for harm, spec in RULES.harms.items() for f in spec.factors]


@pytest.mark.parametrize(
    ("harm", "factor"), FACTOR_RULES, ids=[f"{h}:{f}" for h, f in FACTOR_RULES]
)
def test_each_factor_rule_counts_for_its_harm(harm: str, factor: str) -> None:
    spec = RULES.harms[harm]
    prerequisites = set(spec.requires_all) | set(spec.requires_any[:1])
    before = assess_harm(RULES, harm, frozenset(prerequisites - {factor}), EMPTY)
    after = assess_harm(RULES, harm, frozenset(prerequisites | {factor}), EMPTY)
    assert factor in after.factors and factor not in before.factors
    assert after.score > before.score
    assert level_rank(after.level) >= level_rank(before.level)
    driver = next(d for d in after.drivers if d.kind == "factor" and d.id == factor)
    rule = next(f for f in spec.factors if f.id == factor)
    assert driver.source == RULES.source_text(rule.source)
    assert driver.confidence == rule.confidence


def test_many_image_factors_make_image_csam_high() -> None:
    spec = RULES.harms["image_csam"]
    assert spec.many is not None
    factors = [f.id for f in spec.factors if f.id != "type.file_sharing"][: spec.many]
    assert assess_harm(RULES, "image_csam", frozenset(factors), EMPTY).level == "high"
    fewer = frozenset(factors[: spec.many - 1])
    assert assess_harm(RULES, "image_csam", fewer, EMPTY).level == "medium"


@pytest.mark.parametrize("harm", ["grooming", "sexual_exploitation"])
def test_case_evidence_gives_medium_then_high(harm: str) -> None:
    probe = service(features=["direct_messaging", "child_users_possible"])
    evidence = RULES.harms[harm].evidence
    assert _level(probe, harm, cases=0) in {"negligible", "low"}
    assert _level(probe, harm, cases=evidence.medium_at, denominator=1000) == "medium"
    threshold = evidence.high_threshold(1000)
    assert threshold == pytest.approx(max(evidence.high_at, evidence.high_share * 1000))
    assert _level(probe, harm, cases=int(threshold) - 1, denominator=1000) == "medium"
    assert _level(probe, harm, cases=int(threshold), denominator=1000) == "high"
    assert _level(probe, harm, cases=evidence.high_at, denominator=evidence.high_at) == "high"


def test_evidence_overrides_a_missing_precondition() -> None:
    closed = service(features=["direct_messaging"])
    assert _level(closed, "grooming") == "negligible"
    assert _level(closed, "grooming", cases=1, denominator=50) == "medium"


GUARDED = [(h, s.comprehensive_safeguards) for h, s in RULES.harms.items()]


@pytest.mark.parametrize(("harm", "guard"), GUARDED, ids=[h for h, _ in GUARDED])
def test_comprehensive_proven_safeguards_cap_at_low_without_evidence(harm: str, guard: Any) -> None:
    spec = RULES.harms[harm]
    factors = frozenset(
        {f.id for f in spec.factors} | set(spec.requires_all) | set(spec.requires_any)
    )
    bare = assess_harm(RULES, harm, factors, EMPTY)
    assert bare.level == "high" or bare.level == "medium"
    proven = frozenset(guard.all_of)
    guarded = assess_harm(RULES, harm, factors, proven)
    assert guarded.level == "low"
    assert any(d.kind == "safeguards" for d in guarded.drivers)
    partly = frozenset(guard.all_of[:-1])
    assert assess_harm(RULES, harm, factors, partly).level == bare.level
    with_cases = assess_harm(RULES, harm, factors, proven, cases=1, denominator=100)
    assert with_cases.level in {"medium", "high"}


def test_claimed_safeguards_do_not_lower_a_level() -> None:
    features = ["image_video_sharing", "direct_messaging", "group_messaging", "livestreaming"]
    claimed = service(
        features=features, safeguards={"hash_matching": "claimed", "classifiers": "claimed"}
    )
    proven = service(
        features=features, safeguards={"hash_matching": "proven", "classifiers": "proven"}
    )
    assert _level(claimed, "image_csam") == "medium"
    assert _level(proven, "image_csam") == "low"


def test_sex_advertising_without_age_verification_is_high_for_sexual_exploitation() -> None:
    site = service(
        type="sex_advertising", age_assurance="self_declaration", features=["direct_messaging"]
    )
    result = assess_service(RULES, site).harms[HARMS.index("sexual_exploitation")]
    assert result.level == "high"
    assert "sexual_exploitation.adult_without_age_verification" in {d.id for d in result.drivers}
    verified = service(
        type="sex_advertising", age_assurance="verification", features=["direct_messaging"]
    )
    assert _level(verified, "sexual_exploitation") != "high"


def test_edited_rules_change_the_result_and_carry_their_version() -> None:
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    edited = parse_rules(
        text.replace('version: "', 'version: "edited-', 1).replace("several: 3", "several: 1", 1)
    )
    probe = service(features=["direct_messaging", "child_users_possible"])
    assert _level(probe, "grooming") == "low"
    result = assess_service(edited, probe)
    assert result.level("grooming") == "medium"
    assert result.rules_version.startswith("edited-")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("{id: type.gaming,", "{id: type.arcade,", "unknown factor 'type.arcade'"),
        ("evidence_ids: [ckm.nl.2021]", "evidence_ids: [no.such]", "unknown evidence id"),
        (
            "all_of: [posting_without_account, hyperlinking]",
            "all_of: [posting_without_account]",
            "can never fire alone",
        ),
        (
            "{id: type.social, source: ofcom_level_tables,",
            "{id: type.social, source: rumour,",
            "unknown source 'rumour'",
        ),
        ("confidence: S}", "confidence: Q}", "confidence"),
        # A run stores the version; PostgreSQL refuses a NUL in it, SQLite kept it.
        ('version: "', 'version: "\\0', "field version: .*must not contain a NUL character"),
        ("label: grooming", 'label: "groo\\0ming"', "harms.grooming.label: .*NUL character"),
        ("  csam_links:\n", "  csam_linkz:\n", "harms: missing csam_links"),
        ("low: 10,", "low: 500,", "level_points"),
        # Flat points would rank a high risk with a lower one: the docs promise they are refused.
        ("medium: 40,", "medium: 10,", "level_points must give .* rising points"),
        (
            "{negligible: 0, low: 10, medium: 40, high: 100}",
            "{negligible: 0, low: 0, medium: 0, high: 0}",
            "rising points",
        ),
        # A factor listed twice under one harm counted twice towards "several" and the score.
        (
            "      - {id: direct_messaging, source: ofcom_level_tables, confidence: S}\n",
            "      - {id: direct_messaging, source: ofcom_level_tables, confidence: S}\n" * 2,
            r"harms\.grooming\.factors\[\d\]\.id: factor 'direct_messaging' is listed twice",
        ),
    ],
)
def test_bad_rules_are_refused_with_the_field(old: str, new: str, message: str) -> None:
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(ValidationError, match=message):
        parse_rules(text.replace(old, new, 1), "mine.yaml")


# Properties over random hand-built services.
_services = st.builds(
    lambda kind, features, assurance, safeguards, adult: service(
        type=kind,
        features=sorted(features),
        age_assurance=assurance,
        safeguards=safeguards,
        adult=adult,
    ),
    st.sampled_from(SERVICE_TYPES),
    st.sets(st.sampled_from(FEATURES)),
    st.sampled_from(AGE_ASSURANCE),
    st.dictionaries(st.sampled_from(MEASURES), st.sampled_from(SAFEGUARD_STATUSES)),
    st.none() | st.booleans(),
)
_cases = st.dictionaries(st.sampled_from(HARMS), st.integers(0, 20))


def _levels(svc: Service, cases: dict[str, int], denominator: int = 100) -> list[int]:
    return [level_rank(h.level) for h in assess_service(RULES, svc, cases, denominator).harms]


@settings(max_examples=200, deadline=None)
@given(_services, st.sampled_from(FEATURES), _cases)
def test_adding_a_risk_factor_never_lowers_a_level_or_the_score(
    svc: Service, feature: str, cases: dict[str, int]
) -> None:
    more = svc.model_copy(update={"features": tuple(sorted({*svc.features, feature}))})
    before, after = _levels(svc, cases), _levels(more, cases)
    assert all(a >= b for a, b in zip(after, before, strict=True))
    assert (
        assess_service(RULES, more, cases, 100).score
        >= assess_service(RULES, svc, cases, 100).score
    )


@settings(max_examples=200, deadline=None)
@given(_services, st.sampled_from(MEASURES), _cases)
def test_adding_a_proven_safeguard_never_raises_a_level(
    svc: Service, measure: str, cases: dict[str, int]
) -> None:
    guarded = svc.model_copy(update={"safeguards": {**svc.safeguards, measure: "proven"}})
    before, after = _levels(svc, cases), _levels(guarded, cases)
    assert all(a <= b for a, b in zip(after, before, strict=True))


@settings(max_examples=150, deadline=None)
@given(_services, _cases)
def test_age_verification_never_raises_a_level(svc: Service, cases: dict[str, int]) -> None:
    verified = svc.model_copy(update={"age_assurance": "verification"})
    assert all(a <= b for a, b in zip(_levels(verified, cases), _levels(svc, cases), strict=True))


@settings(max_examples=150, deadline=None)
@given(_services, _cases, st.sampled_from(HARMS))
def test_more_case_evidence_never_lowers_a_level(
    svc: Service, cases: dict[str, int], harm: str
) -> None:
    more = {**cases, harm: cases.get(harm, 0) + 1}
    assert all(a >= b for a, b in zip(_levels(svc, more), _levels(svc, cases), strict=True))


@settings(max_examples=100, deadline=None)
@given(_services, _cases)
def test_every_level_above_low_names_what_drove_it(svc: Service, cases: dict[str, int]) -> None:
    for result in assess_service(RULES, svc, cases, 100).harms:
        kinds = {d.kind for d in result.drivers}
        if result.level == "high":
            assert kinds & {"trigger", "many", "evidence"}
        if result.level == "medium":
            assert kinds & {"several", "evidence"}
        if result.level == "negligible":
            assert "precondition" in kinds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The date constructor raises a bare ValueError; the line is that of the value.
        (
            'format: "x"\nversion: 2025-02-30\n',
            "mine.yaml:2: not YAML we read (day is out of range for month)",
        ),
        ("[" * 3000, "mine.yaml: not YAML we read (nested too deeply)"),
    ],
    ids=["impossible-date", "nested-too-deeply"],
)
def test_rules_yaml_that_cannot_be_read_is_refused_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rules(text, "mine.yaml")
    assert (str(caught.value), caught.value.rule) == (message, "yaml")
