"""The anonymous contact report: every field coded, every coded field with ``unknown``.

One report describes one contact (a call, chat or email) with a helpline for people worried about
their own sexual thoughts or behaviour towards children. Only coded values are analysed; the one
free-text field, the counsellor's note, is stored encrypted and never enters statistics.

Design choices that protect callers:

- The date is kept as a month (``YYYY-MM``); a full date is accepted and cut to its month.
- Repeat contacts are linked only by a token the caller chooses (a nickname), never by a phone
  number, email or IP address; tokens that look like one are refused. The store keeps a keyed
  pseudonym of the token, not the token.
- The helpline's own reference is kept in clear, so one that looks like a phone number, email or
  IP address (or holds 7 or more digits) is refused as a token is.
- A missing or empty coded value means ``unknown``; ``none`` in a multi-select means "asked, and
  none applies", which is different from not recorded.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from safeguarding.helpline.identifiers import find_identifiers

UNKNOWN = "unknown"
NOT_APPLICABLE = "not_applicable"

Channel = Literal["phone", "chat", "email", "other", "unknown"]
ContactKind = Literal["first", "repeat", "unknown"]
CallerType = Literal[
    "self_concerned", "relative_partner", "professional", "other", "non_counselling", "unknown"
]
Concern = Literal[
    "viewing_csam",
    "feelings_no_offence",
    "past_contact_offence",
    "online_contact_minors",
    "other",
    "unknown",
    "not_applicable",
]
AgeBand = Literal["under_18", "18_21", "22_26", "27_35", "36_plus", "unknown"]
Gender = Literal["male", "female", "other", "unknown"]
RiskFactor = Literal[
    "escalating_pornography",
    "first_exposure_as_minor",
    "received_csam_groups_apps",
    "isolation_mental_health",
    "substance_use",
    "own_victimisation",
]
RiskBasis = Literal["stated", "assessed"]
HelpNeed = Literal[
    "wants_to_stop", "treatment_referral", "information_law", "support_relative", "crisis", "other"
]
Action = Literal[
    "information",
    "motivational_conversation",
    "referral",
    "safeguarding_escalation",
    "none",
    "unknown",
]
Referral = Literal[
    "forensic_outpatient",
    "mental_health",
    "general_practitioner",
    "self_help_online",
    "other",
    "none",
    "unknown",
]

AGE_BANDS: tuple[AgeBand, ...] = get_args(AgeBand)
AGE_BAND_LABELS: dict[str, str] = {
    "under_18": "<18",
    "18_21": "18–21",
    "22_26": "22–26",
    "27_35": "27–35",
    "36_plus": "36+",
    "unknown": "unknown",
}
RISK_FACTORS: tuple[RiskFactor, ...] = get_args(RiskFactor)
HELP_NEEDS: tuple[HelpNeed, ...] = get_args(HelpNeed)
# Help needs that count as "asking for help" with the caller's own behaviour.
ASKING_FOR_HELP: frozenset[str] = frozenset({"wants_to_stop", "treatment_referral", "crisis"})

CONTACT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")
TOKEN_PATTERN = re.compile(r"^[\w.\-]{3,40}$")
MAX_NOTE_LENGTH = 4000
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def _reaches_a_caller(value: str) -> str | None:
    """Why ``value`` could be a way to reach or trace a caller, or None: an email, phone number
    or IP address the scanner finds, or 7 or more digits anywhere (a local number written
    without its area code, or split by letters, is not found as a phone number)."""
    if find_identifiers(value):
        return "looks like a phone number, email or IP address"
    if sum(ch.isdigit() for ch in value) >= 7:
        return "holds 7 or more digits, which could be a phone number"
    return None


@lru_cache(maxsize=4096)
def token_problem(token: str) -> str | None:
    """Why a caller-chosen token cannot be used, or None. Tokens must not reach the caller."""
    problem = _reaches_a_caller(token)
    if problem:
        return f"{problem}; ask the caller for a nickname"
    if not TOKEN_PATTERN.match(token):
        return "must be 3-40 letters, digits, '.', '_' or '-'"
    return None


def reference_problem(reference: str) -> str | None:
    """Why a helpline reference (``contact_id``) cannot be used, or None. It is stored in clear
    and listed to staff, so it must not be the caller's number or address, which a call or chat
    system might offer as the contact's key."""
    if not CONTACT_ID_PATTERN.match(reference):
        return "must be 1-64 letters, digits, '.', '_', ':' or '-'"
    problem = _reaches_a_caller(reference)
    if problem:
        return (
            f"{problem}; use the helpline's own reference (at most 6 digits), "
            "never the caller's number or address"
        )
    return None


class RiskFactorMark(BaseModel):
    """One risk factor and who named it: the caller (stated) or the counsellor (assessed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factor: RiskFactor
    basis: RiskBasis


class ContactReport(BaseModel):
    """One contact, coded. See the module docstring for what is kept and why."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    contact_id: Annotated[str | None, Field(description="The helpline's own reference")] = None
    month: Annotated[str, Field(description="YYYY-MM (a YYYY-MM-DD date is cut to its month)")]
    channel: Channel = "unknown"
    contact_kind: ContactKind = "unknown"
    caller_token: str | None = None
    caller_type: CallerType = "unknown"
    concern: Annotated[Concern | None, Field(validate_default=True)] = None
    age_band: AgeBand = "unknown"
    gender: Gender = "unknown"
    risk_factors: tuple[RiskFactorMark, ...] | Literal["unknown"] = "unknown"
    help_needs: tuple[HelpNeed, ...] | Literal["unknown"] = "unknown"
    action: Action = "unknown"
    referral: Referral = "unknown"
    note: Annotated[str | None, Field(max_length=MAX_NOTE_LENGTH)] = None

    @field_validator("contact_id")
    @classmethod
    def _contact_id(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        problem = reference_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("month")
    @classmethod
    def _month(cls, value: str) -> str:
        match = _MONTH.match(value)
        if not match:
            raise ValueError("must be YYYY-MM or YYYY-MM-DD")
        year, month, day = int(match[1]), int(match[2]), match[3]
        try:
            date(year, month, int(day) if day else 1)
        except ValueError as exc:
            raise ValueError(f"not a real date ({exc})") from None
        today = date.today()
        if year < 2000:
            raise ValueError("year must be 2000 or later")
        if (year, month) > (today.year, today.month):
            raise ValueError(f"must not be after the current month ({today:%Y-%m})")
        return f"{year:04d}-{month:02d}"

    @field_validator("caller_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        problem = token_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("risk_factors")
    @classmethod
    def _one_mark_per_factor(
        cls, value: tuple[RiskFactorMark, ...] | str
    ) -> tuple[RiskFactorMark, ...] | str:
        if isinstance(value, tuple):
            factors = [mark.factor for mark in value]
            if len(set(factors)) != len(factors):
                raise ValueError("a risk factor is listed twice")
            return tuple(sorted(value, key=lambda mark: mark.factor))
        return value

    @field_validator("help_needs")
    @classmethod
    def _needs_once(cls, value: tuple[str, ...] | str) -> tuple[str, ...] | str:
        if isinstance(value, tuple):
            if len(set(value)) != len(value):
                raise ValueError("a help need is listed twice")
            return tuple(sorted(value))
        return value

    @field_validator("concern", mode="before")
    @classmethod
    def _concern_only_for_self_concerned(cls, value: object, info: ValidationInfo) -> object:
        if "caller_type" not in info.data:
            return value  # the caller type is refused on its own; the concern cannot be judged
        is_self = info.data.get("caller_type") == "self_concerned"
        if value in (None, ""):
            return UNKNOWN if is_self else NOT_APPLICABLE
        if is_self and value == NOT_APPLICABLE:
            raise ValueError("a self_concerned caller's concern is coded or unknown")
        if not is_self and value != NOT_APPLICABLE:
            caller_type = info.data["caller_type"]
            raise ValueError(
                f"only recorded for self_concerned callers (caller_type is {caller_type}); "
                "leave it empty"
            )
        return value

    @property
    def year(self) -> int:
        return int(self.month[:4])

    @property
    def month_number(self) -> int:
        return int(self.month[5:7])

    def coded(self) -> dict[str, object]:
        """Every coded field (no note, no token, no reference) as plain JSON values."""
        return self.model_dump(mode="json", exclude={"note", "caller_token", "contact_id"})
