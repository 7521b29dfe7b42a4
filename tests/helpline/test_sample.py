"""The synthetic sample: published totals met exactly, labelled synthetic, deterministic."""

from __future__ import annotations

import polars as pl

from safeguarding.evidence import shipped_evidence
from safeguarding.helpline.importer import IngestKeys
from safeguarding.helpline.notes import NoteCipher
from safeguarding.helpline.sample import ASSUMPTIONS, sample_contacts, sample_reports
from safeguarding.helpline.schema import token_problem
from safeguarding.helpline.stats import Facts, callers

KEYS = IngestKeys(pseudonym_secret=b"p" * 32, cipher=NoteCipher(b"n" * 32), note_retention_days=9)


def _facts(seed: int) -> Facts:
    prepared = sample_contacts(seed, KEYS)
    rows = [
        {
            "id": i,
            "year": p.report.year,
            "month": p.report.month_number,
            "contact_kind": p.report.contact_kind,
            "caller_key": KEYS.caller_key(p.report.caller_token),
            "age_band": p.report.age_band,
            "synthetic": p.synthetic,
        }
        for i, p in enumerate(prepared)
    ]
    frame = pl.DataFrame(rows, schema_overrides={"caller_key": pl.String})
    return Facts(frame, pl.DataFrame(), pl.DataFrame())


def test_published_totals_are_met() -> None:
    evidence = shipped_evidence()
    facts = _facts(7)
    contacts = dict(facts.contacts.group_by("year").len().rows())
    for year in (2021, 2022, 2023):
        figure = evidence.get(f"nl.stopitnow.{year}")
        assert contacts[year] == figure.value("contacts", year).value
    people = callers(facts.contacts)
    per_year = dict(people.group_by("year").len().rows())
    assert per_year[2023] == evidence.get("nl.stopitnow.2023").value("people", 2023).value
    young = people.filter(pl.col("age_band").is_in(["under_18", "18_21", "22_26"]))
    young_per_year = dict(young.group_by("year").len().rows())
    assert young_per_year[2022] == (
        evidence.get("nl.stopitnow.2022").value("people_aged_26_or_younger", 2022).value
    )
    share_2023 = young_per_year[2023] / per_year[2023]
    assert 0.4 < share_2023 < 0.5, "almost half aged 26 or younger"
    assert facts.synthetic


def test_sample_is_labelled_synthetic_and_safe() -> None:
    reports = sample_reports(3)
    assert all(r.contact_id is not None and r.contact_id.startswith("SYNTH-") for r in reports)
    notes = [r.note for r in reports if r.note]
    assert notes and all(n.startswith("Synthetic note") for n in notes)
    tokens = {r.caller_token for r in reports if r.caller_token}
    assert tokens and all(token_problem(t) is None for t in tokens)
    assert all(source for _, source in ASSUMPTIONS.values())


def test_same_seed_same_sample_other_seed_other_sample() -> None:
    assert sample_reports(11) == sample_reports(11)
    assert sample_reports(11) != sample_reports(12)
