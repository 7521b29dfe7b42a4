"""Small synthetic data for the platform, assessment and helpline pages, from the areas' own
sample loaders: the fictional register with generated cases, a short assessment run, and a slice
of the synthetic helpline sample."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from safeguarding.assess.assessment import assess_scenario
from safeguarding.assess.scenario import load_scenario
from safeguarding.assess.stored import json_safe, save_run
from safeguarding.helpline.importer import IngestKeys, store_contacts
from safeguarding.helpline.sample import sample_contacts
from safeguarding.platforms.workflow import load_sample
from safeguarding.store import Store

SEED = 7
ASSESS_DRAWS = 200
ASSESS_SCENARIOS = ("nl-status-quo", "nl-targeted")
HELPLINE_CONTACTS = 600


@lru_cache(maxsize=1)
def assessment_results() -> tuple[dict[str, Any], ...]:
    """A short run of two shipped scenarios, computed once per test session."""
    return tuple(
        json_safe(
            assess_scenario(
                load_scenario(name), ASSESS_DRAWS, SEED, sensitivity_draws=ASSESS_DRAWS
            ).as_dict()
        )
        for name in ASSESS_SCENARIOS
    )


def load_platforms(store: Store) -> None:
    load_sample(store, SEED)


def load_assessment(store: Store) -> str:
    with store.session() as session:
        return save_run(session, list(assessment_results()), draws=ASSESS_DRAWS, seed=SEED)


def load_helpline(store: Store) -> int:
    keys = IngestKeys.from_store(store)
    contacts = sample_contacts(SEED, keys)[:HELPLINE_CONTACTS]
    with store.session() as session:
        inserted, _ = store_contacts(session, contacts, keys)
    return inserted


def load_all(store: Store) -> None:
    load_platforms(store)
    load_assessment(store)
    load_helpline(store)
