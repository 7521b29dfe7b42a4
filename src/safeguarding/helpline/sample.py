"""Synthetic helpline contacts, consistent with the published yearly aggregates.

The sample is for demonstrations and tests only and says so: every contact is flagged
``synthetic``, its reference starts with ``SYNTH-`` and its note (where it has one) starts with
"Synthetic note". It is seeded and deterministic: the same seed gives the same contacts.

Totals come from the evidence base and are met exactly:

- 2023: 1,716 contacts from 795 people, "almost half" aged 26 or younger (``nl.stopitnow.2023``);
- 2022: 943 contacts, 88 people aged 26 or younger (``nl.stopitnow.2022``);
- 2021: 712 contacts (``nl.stopitnow.2021``).

Everything else (the number of people in 2021 and 2022, the mix of channels, caller types and
concerns, how often each risk factor and help need occurs) is an assumption, listed with its
reason in ``ASSUMPTIONS``; where a published share informs an assumption, its evidence id is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from safeguarding.evidence import shipped_evidence
from safeguarding.helpline.importer import IngestKeys, PreparedContact
from safeguarding.helpline.schema import ContactReport

# name -> (value, where it comes from)
ASSUMPTIONS: dict[str, tuple[float, str]] = {
    "young_share_2023": (0.48, "nl.stopitnow.2023 'almost half' aged 26 or younger [P]"),
    "young_share_2021": (0.2, "assumption: below 2022's count of young people"),
    "contacts_per_person_2021_2022": (
        1716 / 795,
        "assumption: the 2023 ratio of contacts to people (nl.stopitnow.2023)",
    ),
    "self_concerned_share": (0.75, "assumption; uk.stopitnow.2021 reports ~50% in the UK [S]"),
    "escalating_pornography_young": (
        0.55,
        "nl.rapporteur.young.2023: a risk factor for over half of young perpetrators [S]",
    ),
    "escalating_pornography_older": (0.4, "assumption"),
    "first_exposure_as_minor": (0.653, "fi.redirection.2024 first_saw_csam_as_child_share [P]"),
    "asking_for_help_young": (0.7, "assumption: 'most young callers ask for help' (unverified)"),
    "asking_for_help_older": (0.55, "assumption; fi.redirection.2024 want_to_stop_share 0.481"),
    "risk_factors_recorded": (0.85, "assumption"),
    "help_needs_recorded": (0.9, "assumption"),
    "token_share": (0.7, "assumption: callers who choose a nickname"),
    "note_share": (0.1, "assumption"),
}

_NOTES = (
    "Synthetic note: caller described worry about escalating online viewing; discussed stopping.",
    "Synthetic note: caller asked how treatment works and whether it is confidential.",
    "Synthetic note: partner worried about what they found; explained support options.",
    "Synthetic note: caller wanted information on the law and on self-help.",
)


@dataclass(frozen=True)
class YearPlan:
    year: int
    contacts: int
    people: int
    young_people: int
    source: str


def year_plans() -> tuple[YearPlan, ...]:
    """Per year: contacts, people and young people, from the evidence base where published."""
    evidence = shipped_evidence()
    f2023, f2022, f2021 = (evidence.get(f"nl.stopitnow.{y}") for y in (2023, 2022, 2021))
    ratio = ASSUMPTIONS["contacts_per_person_2021_2022"][0]
    contacts_2023 = int(f2023.value("contacts", 2023).value)
    people_2023 = int(f2023.value("people", 2023).value)
    contacts_2022 = int(f2022.value("contacts", 2022).value)
    contacts_2021 = int(f2021.value("contacts", 2021).value)
    people_2021 = round(contacts_2021 / ratio)
    return (
        YearPlan(
            2021,
            contacts_2021,
            people_2021,
            round(people_2021 * ASSUMPTIONS["young_share_2021"][0]),
            f2021.citation([f2021.value("contacts", 2021)]),
        ),
        YearPlan(
            2022,
            contacts_2022,
            round(contacts_2022 / ratio),
            int(f2022.value("people_aged_26_or_younger", 2022).value),
            f2022.citation(
                [f2022.value("contacts", 2022), f2022.value("people_aged_26_or_younger", 2022)]
            ),
        ),
        YearPlan(
            2023,
            contacts_2023,
            people_2023,
            round(people_2023 * ASSUMPTIONS["young_share_2023"][0]),
            f2023.citation([f2023.value("contacts", 2023), f2023.value("people", 2023)]),
        ),
    )


def _pick(
    rng: np.random.Generator, options: tuple[str, ...], weights: tuple[float, ...], size: int
) -> np.ndarray[Any, np.dtype[np.str_]]:
    p = np.asarray(weights, dtype=float)
    return rng.choice(np.asarray(options), size=size, p=p / p.sum())


def _people(rng: np.random.Generator, plan: YearPlan) -> dict[str, np.ndarray[Any, Any]]:
    n, young = plan.people, plan.young_people
    is_young = np.zeros(n, dtype=bool)
    is_young[rng.choice(n, size=young, replace=False)] = True
    age = np.where(
        is_young,
        _pick(rng, ("under_18", "18_21", "22_26"), (0.15, 0.45, 0.4), n),
        _pick(rng, ("27_35", "36_plus", "unknown"), (0.45, 0.5, 0.05), n),
    )
    caller_type = _pick(
        rng,
        ("self_concerned", "relative_partner", "professional", "other", "non_counselling"),
        (ASSUMPTIONS["self_concerned_share"][0], 0.1, 0.05, 0.05, 0.05),
        n,
    )
    concern = np.where(
        caller_type == "self_concerned",
        _pick(
            rng,
            (
                "viewing_csam",
                "feelings_no_offence",
                "past_contact_offence",
                "online_contact_minors",
                "other",
                "unknown",
            ),
            (0.5, 0.25, 0.07, 0.1, 0.05, 0.03),
            n,
        ),
        "not_applicable",
    )
    porn = rng.random(n) < np.where(
        is_young,
        ASSUMPTIONS["escalating_pornography_young"][0],
        ASSUMPTIONS["escalating_pornography_older"][0],
    )
    asks = rng.random(n) < np.where(
        is_young, ASSUMPTIONS["asking_for_help_young"][0], ASSUMPTIONS["asking_for_help_older"][0]
    )
    # Extra contacts beyond each person's first, spread unevenly but summing exactly.
    propensity = rng.gamma(0.6, 1.0, n)
    extra = rng.multinomial(plan.contacts - n, propensity / propensity.sum())
    return {
        "age": age,
        "caller_type": caller_type,
        "concern": concern,
        "gender": _pick(rng, ("male", "female", "other", "unknown"), (0.85, 0.08, 0.02, 0.05), n),
        "porn": porn,
        "first_exposure": rng.random(n) < ASSUMPTIONS["first_exposure_as_minor"][0],
        "isolation": rng.random(n) < 0.4,
        "substance": rng.random(n) < 0.1,
        "victimisation": rng.random(n) < 0.15,
        "groups_apps": rng.random(n) < 0.15,
        "asks": asks,
        "token": rng.random(n) < ASSUMPTIONS["token_share"][0],
        "contacts": extra + 1,
    }


def _risk_factors(
    people: dict[str, np.ndarray[Any, Any]], p: int, rng: np.random.Generator
) -> list[dict[str, str]]:
    flags = (
        ("escalating_pornography", "porn"),
        ("first_exposure_as_minor", "first_exposure"),
        ("received_csam_groups_apps", "groups_apps"),
        ("isolation_mental_health", "isolation"),
        ("substance_use", "substance"),
        ("own_victimisation", "victimisation"),
    )
    return [
        {"factor": factor, "basis": "stated" if rng.random() < 0.7 else "assessed"}
        for factor, key in flags
        if people[key][p]
    ]


def _help_needs(asks: bool, caller_type: str, rng: np.random.Generator) -> list[str]:
    needs: list[str] = []
    if caller_type == "relative_partner":
        needs.append("support_relative")
    if asks and caller_type == "self_concerned":
        needs.append("wants_to_stop" if rng.random() < 0.7 else "treatment_referral")
        if rng.random() < 0.05:
            needs.append("crisis")
    if rng.random() < 0.3:
        needs.append("information_law")
    return needs


ACTIONS = (
    (
        "information",
        "motivational_conversation",
        "referral",
        "safeguarding_escalation",
        "none",
        "unknown",
    ),
    (0.3, 0.35, 0.3, 0.01, 0.02, 0.02),
)
REFERRALS = (
    ("forensic_outpatient", "mental_health", "general_practitioner", "self_help_online"),
    (0.5, 0.2, 0.1, 0.2),
)
CHANNELS = (("phone", "chat", "email"), (0.45, 0.4, 0.15))


def _contact_draws(rng: np.random.Generator, n: int) -> dict[str, np.ndarray[Any, Any]]:
    """Per-contact codes for ``n`` contacts, drawn at once."""
    action = _pick(rng, *ACTIONS, n)
    return {
        "channel": _pick(rng, *CHANNELS, n),
        "action": action,
        "referral": np.where(action == "referral", _pick(rng, *REFERRALS, n), "none"),
        "risk_recorded": rng.random(n) < ASSUMPTIONS["risk_factors_recorded"][0],
        "help_recorded": rng.random(n) < ASSUMPTIONS["help_needs_recorded"][0],
        "note": np.where(
            rng.random(n) < ASSUMPTIONS["note_share"][0], rng.integers(0, len(_NOTES), n), -1
        ),
    }


def sample_reports(seed: int) -> list[ContactReport]:
    """The synthetic contacts of every planned year, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    reports: list[ContactReport] = []
    for plan in year_plans():
        people = _people(rng, plan)
        draws = _contact_draws(rng, plan.contacts)
        serial = 0
        for p in range(plan.people):
            token = f"fictional{plan.year % 100}-{p:04d}" if people["token"][p] else None
            # Contacts spread over the year; the person's first contact is the earliest.
            months = np.sort(rng.integers(1, 13, int(people["contacts"][p])))
            is_self = people["caller_type"][p] == "self_concerned"
            for k, month in enumerate(months):
                c = serial
                serial += 1
                record: dict[str, Any] = {
                    # At most 6 digits, as any reference (``schema.reference_problem``).
                    "contact_id": f"SYNTH-{plan.year % 100}-{serial:04d}",
                    "month": f"{plan.year}-{int(month):02d}",
                    "channel": str(draws["channel"][c]),
                    "contact_kind": "first" if k == 0 else "repeat",
                    "caller_token": token,
                    "caller_type": str(people["caller_type"][p]),
                    "concern": str(people["concern"][p]),
                    "age_band": str(people["age"][p]),
                    "gender": str(people["gender"][p]),
                    "action": str(draws["action"][c]),
                    "referral": str(draws["referral"][c]),
                }
                if is_self and draws["risk_recorded"][c]:
                    record["risk_factors"] = _risk_factors(people, p, rng)
                if draws["help_recorded"][c]:
                    record["help_needs"] = _help_needs(
                        bool(people["asks"][p]), str(people["caller_type"][p]), rng
                    )
                if draws["note"][c] >= 0:
                    record["note"] = _NOTES[int(draws["note"][c])]
                reports.append(ContactReport.model_validate(record))
    return reports


def sample_contacts(seed: int, keys: IngestKeys) -> list[PreparedContact]:
    """The synthetic reports with import keys, flagged synthetic, ready for ``store_contacts``."""
    return [
        PreparedContact(report, keys.import_key(report, 0), synthetic=True)
        for report in sample_reports(seed)
    ]
