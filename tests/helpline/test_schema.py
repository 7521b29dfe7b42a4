"""The contact report: coded fields, unknown defaults, tokens that cannot reach a caller."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from safeguarding.helpline.schema import ContactReport, reference_problem, token_problem


def test_missing_coded_fields_are_unknown_and_date_is_cut_to_month() -> None:
    report = ContactReport(month="2023-05-17")
    assert report.month == "2023-05"
    assert (report.channel, report.caller_type, report.age_band, report.gender) == (
        "unknown",
        "unknown",
        "unknown",
        "unknown",
    )
    assert report.risk_factors == "unknown" and report.help_needs == "unknown"
    assert report.concern == "not_applicable"


def test_concern_only_for_self_concerned_callers() -> None:
    assert ContactReport(month="2023-01", caller_type="self_concerned").concern == "unknown"
    with pytest.raises(ValidationError) as caught:
        ContactReport(month="2023-01", caller_type="professional", concern="viewing_csam")
    assert caught.value.errors()[0]["loc"] == ("concern",)


@pytest.mark.parametrize(
    "token",
    ["jan@example.org", "06 1234 5678", "+31612345678", "192.0.2.4", "2001:db8::7", "a1234567"],
)
def test_tokens_that_could_reach_the_caller_are_refused(token: str) -> None:
    assert token_problem(token) is not None
    with pytest.raises(ValidationError) as caught:
        ContactReport(month="2023-01", caller_token=token)
    assert caught.value.errors()[0]["loc"] == ("caller_token",)


@pytest.mark.parametrize(
    "reference",
    ["0612345678", "198.51.100.77", "2001:db8::7", "0031612345678", "case:1234567", "HL-2024-0001"],
)
def test_a_reference_that_could_reach_the_caller_is_refused(reference: str) -> None:
    """The reference is stored in clear and listed to staff: a phone number or IP address kept
    there would undo the token rule."""
    with pytest.raises(ValidationError) as caught:
        ContactReport(month="2023-01", contact_id=reference)
    error = caught.value.errors()[0]
    assert error["loc"] == ("contact_id",)
    assert "never the caller's number or address" in error["msg"]
    assert reference not in error["msg"]


@pytest.mark.parametrize("reference", ["HL-0001", "SYNTH-23-1716", "K1", "chat:2024-07"])
def test_helpline_references_are_accepted(reference: str) -> None:
    assert reference_problem(reference) is None
    assert ContactReport(month="2023-01", contact_id=reference).contact_id == reference


@pytest.mark.parametrize("token", ["blue-heron", "wolf_85", "Tulip.2023"])
def test_nicknames_are_accepted(token: str) -> None:
    assert ContactReport(month="2023-01", caller_token=token).caller_token == token


@pytest.mark.parametrize(
    ("field", "value"),
    [("month", "2023-13"), ("month", "23-01"), ("month", "1999-01"), ("age_band", "young")],
)
def test_bad_values_name_their_field(field: str, value: str) -> None:
    data = {"month": "2023-01", field: value}
    with pytest.raises(ValidationError) as caught:
        ContactReport.model_validate(data)
    assert caught.value.errors()[0]["loc"][0] == field


def test_multi_selects_refuse_duplicates_and_sort() -> None:
    report = ContactReport(
        month="2023-01",
        caller_type="self_concerned",
        risk_factors=[
            {"factor": "substance_use", "basis": "assessed"},
            {"factor": "escalating_pornography", "basis": "stated"},
        ],
        help_needs=["wants_to_stop", "crisis"],
    )
    assert [m.factor for m in report.risk_factors] == ["escalating_pornography", "substance_use"]
    assert report.help_needs == ("crisis", "wants_to_stop")
    with pytest.raises(ValidationError, match="listed twice"):
        ContactReport(month="2023-01", help_needs=["crisis", "crisis"])
