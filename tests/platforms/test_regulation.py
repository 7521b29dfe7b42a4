"""Regimes and gaps: the Art. 19 exemption, VLOPs, Ofcom thresholds, missing measures, headline."""

from __future__ import annotations

from typing import Any

import pytest

from safeguarding.evidence import shipped_evidence
from safeguarding.platforms.register import Service
from safeguarding.platforms.regulation import GapReport, gap_report, headline
from safeguarding.platforms.risk import assess_service
from safeguarding.platforms.rules import load_rules
from tests.platforms.builders import service, service_with

RULES = load_rules().rules


def _gaps(svc: Service, cases: dict[str, int] | None = None) -> GapReport:
    return gap_report(RULES, svc, assess_service(RULES, svc, cases, 100))


def _regime(report: GapReport, regime_id: str) -> Any:
    return next(r for r in report.regimes if r.id == regime_id)


SEX_AD_FEATURES = ["direct_messaging", "image_video_sharing", "location_sharing"]


@pytest.mark.parametrize("size", ["micro", "small"])
@pytest.mark.parametrize("assurance", ["none", "self_declaration"])
def test_small_sex_ad_site_without_age_verification_is_a_headline_gap(
    size: str, assurance: str
) -> None:
    site = service(
        type="sex_advertising",
        provider_size=size,
        age_assurance=assurance,
        features=SEX_AD_FEATURES,
    )
    report = _gaps(site)
    assert report.headline
    assert "sexual_exploitation" in report.unobliged_high_harms
    assert _regime(report, "dsa.art19_exemption").applies is True
    assert _regime(report, "dsa.art28").applies is False
    assert "dsa.small_exemption" in _regime(report, "dsa.art19_exemption").source
    assert "age_verification" in {m.id for m in report.missing}
    assert headline([report, _gaps(service())]) == [report]


def test_medium_sex_ad_site_falls_under_art28_and_is_not_on_the_headline() -> None:
    site = service(
        type="sex_advertising",
        provider_size="medium",
        age_assurance="self_declaration",
        features=SEX_AD_FEATURES,
    )
    report = _gaps(site)
    assert _regime(report, "dsa.art28").applies is True
    assert "sexual_exploitation" in report.high_harms
    assert report.unobliged_high_harms == ()
    assert "age_verification" in {m.id for m in report.missing}


def test_age_verified_sex_ad_site_lacks_no_age_verification() -> None:
    site = service(
        type="sex_advertising",
        provider_size="micro",
        age_assurance="verification",
        features=SEX_AD_FEATURES,
    )
    assert "age_verification" not in {m.id for m in _gaps(site).missing}


def test_unknown_provider_size_leaves_art19_and_art28_undecided() -> None:
    site = service(type="sex_advertising", provider_size=None, age_assurance="none")
    report = _gaps(site)
    assert _regime(report, "dsa.art19_exemption").applies is None
    assert _regime(report, "dsa.art28").applies is None
    assert report.headline  # unknown is not a duty


def test_art28_does_not_bind_a_platform_not_accessible_to_minors_whatever_its_size() -> None:
    # Age verification and no child users: Art. 28 cannot apply, so the unknown size that leaves
    # the Art. 19 exemption undecided does not leave Art. 28 undecided.
    site = service(provider_size=None, age_assurance="verification", features=[])
    report = _gaps(site)
    assert _regime(report, "dsa.art19_exemption").applies is None
    art28 = _regime(report, "dsa.art28")
    assert (art28.applies, art28.text) == (
        False,
        "Art. 28 does not bind it (not accessible to minors)",
    )
    children = service(
        provider_size=None, age_assurance="verification", features=["child_users_possible"]
    )
    assert _regime(_gaps(children), "dsa.art28").applies is None


def test_designated_vlop_is_obliged_for_every_harm() -> None:
    big = service(
        type="social",
        provider_size="large",
        age_assurance="self_declaration",
        features=["direct_messaging", "network_expansion_prompts", "child_users_possible"],
        vlop={"designated": True, "source": "Commission decision (test)"},
    )
    report = _gaps(big)
    assert report.dsa_tier.startswith("very large online platform")
    assert "grooming" in report.high_harms and not report.headline
    assert "dsa.art19_exemption" not in {r.id for r in report.regimes}


def test_audience_above_the_vlop_threshold_without_designation_is_noted() -> None:
    threshold = int(
        shipped_evidence().get("dsa.vlop_threshold").value("monthly_active_recipients").value
    )
    svc = service(
        type="channel_platform",
        eu_monthly_active_recipients={"value": threshold, "source": "test"},
    )
    vlop = _regime(_gaps(svc), "dsa.vlop")
    assert vlop.applies is False and "not designated" in vlop.text and "above" in vlop.text


def test_messaging_is_an_intermediary_unless_the_register_says_otherwise() -> None:
    chat = service(type="messaging")
    assert _gaps(chat).dsa_tier.startswith("intermediary")
    assert "dsa.art28" not in {r.id for r in _gaps(chat).regimes}
    hosted = service(type="messaging", dsa_role="online_platform")
    assert _gaps(hosted).dsa_tier.startswith("online platform")


C9_USERS = int(shipped_evidence().get("ofcom.c9_threshold").value("monthly_uk_users").value)
LARGE_USERS = int(
    shipped_evidence().get("ofcom.large_service").value("monthly_active_uk_users").value
)
FILE_HOST = {"type": "file_sharing", "features": ["file_sharing"], "age_assurance": "none"}


@pytest.mark.parametrize(
    ("overrides", "applies"),
    [
        ({**FILE_HOST, "uk_monthly_active_users": {"value": 1000, "source": "t"}}, True),
        ({**FILE_HOST, "uk_monthly_active_users": {"value": 0, "source": "t"}}, False),
        ({**FILE_HOST}, None),
        (
            {
                "type": "forum",
                "features": ["image_video_sharing", "direct_messaging", "group_messaging"],
                "uk_monthly_active_users": {"value": LARGE_USERS + 1, "source": "t"},
                "age_assurance": "none",
            },
            True,
        ),
        (
            {
                "type": "forum",
                "features": ["image_video_sharing", "direct_messaging", "group_messaging"],
                "uk_monthly_active_users": {"value": C9_USERS + 1, "source": "t"},
                "age_assurance": "none",
            },
            False,
        ),
    ],
    ids=["file-host-uk", "file-host-no-uk", "file-host-uk-unknown", "large-medium", "mid-medium"],
)
def test_ofcom_c9_hash_matching_thresholds(overrides: dict[str, Any], applies: bool | None) -> None:
    report = _gaps(service(**overrides))
    c9 = _regime(report, "ofcom.c9")
    assert c9.applies is applies
    assert "ofcom.c9_threshold" in c9.source
    if applies:
        assert "image_csam" not in report.unobliged_high_harms


def test_measures_follow_the_levels_that_call_for_them() -> None:
    forum = service(
        type="forum",
        age_assurance="none",
        features=["image_video_sharing", "direct_messaging", "group_messaging", "hyperlinking"],
    )
    missing = {m.id: m for m in _gaps(forum).missing}
    assert "hash_matching" in missing and "image_csam at medium" in missing["hash_matching"].reason
    # A claim is not the measure, as it is no safeguard in the risk: listed, marked as claimed.
    claims = forum.model_copy(update={"safeguards": {"hash_matching": "claimed"}})
    claimed = {m.id: m for m in _gaps(claims).missing}["hash_matching"]
    assert claimed.claimed and claimed.text == "perceptual hash matching (claimed, unverified)"
    as_data = {m["id"]: m for m in _gaps(claims).as_dict()["missing_measures"]}
    assert as_data["hash_matching"]["text"] == claimed.text and as_data["hash_matching"]["claimed"]
    assert not missing["hash_matching"].claimed
    with_hashes = forum.model_copy(update={"safeguards": {"hash_matching": "proven"}})
    assert "hash_matching" not in {m.id for m in _gaps(with_hashes).missing}


def test_the_csa_proposal_is_reported_but_never_obliges() -> None:
    report = _gaps(service(type="sex_advertising", provider_size="micro", age_assurance="none"))
    csa = _regime(report, "eu.csa_proposal")
    assert csa.applies is False and csa.obliges_for == () and "not adopted" in csa.text


MEASURE_RULES = [m for m in RULES.measures if m.harm != "any"]


@pytest.mark.parametrize("rule", MEASURE_RULES, ids=[m.id for m in MEASURE_RULES])
def test_each_measure_rule_is_called_for_at_its_level_and_satisfied_by_a_proven_safeguard(
    rule: Any,
) -> None:
    trigger = RULES.harms[rule.harm].high_triggers[0]
    risky = service_with(set(trigger.all_of))
    assert assess_service(RULES, risky).level(rule.harm) == "high"
    missing = {m.id: m for m in _gaps(risky).missing}
    assert rule.id in missing
    assert f"{rule.harm} at high" in missing[rule.id].reason
    assert missing[rule.id].source == RULES.source_text(rule.source)
    claims = risky.model_copy(update={"safeguards": {**risky.safeguards, rule.id: "claimed"}})
    assert {m.id: m for m in _gaps(claims).missing}[rule.id].claimed
    guarded = risky.model_copy(update={"safeguards": {**risky.safeguards, rule.id: "proven"}})
    assert rule.id not in {m.id for m in _gaps(guarded).missing}
    calm = service()
    assert rule.id not in {m.id for m in _gaps(calm).missing}
