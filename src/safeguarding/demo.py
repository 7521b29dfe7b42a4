"""The main job on the embedded default: a fresh demo store with sample data of every area.

Steps run in order; each area adds its step here as it lands. Sample data is synthetic, seeded
and deterministic: the same seed gives identical data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from safeguarding.access import audit
from safeguarding.assess.demo_run import run_shipped_scenarios
from safeguarding.evidence import shipped_evidence
from safeguarding.evidence.store_sync import sync_evidence
from safeguarding.helpline.importer import IngestKeys, store_contacts
from safeguarding.helpline.sample import sample_contacts
from safeguarding.platforms.workflow import load_sample as load_platform_sample
from safeguarding.store import Store
from safeguarding.triage.operations import demo as triage_demo
from safeguarding.triage.sample import load_sample as load_notifications_sample


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[Store, int], str]


def _evidence(store: Store, _seed: int) -> str:
    with store.session() as session:
        count = sync_evidence(session, shipped_evidence())
    return f"{count} evidence figures"


def _helpline(store: Store, seed: int) -> str:
    keys = IngestKeys.from_store(store)
    with store.session() as session:
        inserted, present = store_contacts(session, sample_contacts(seed, keys), keys)
        counts = {"imported": str(inserted), "already_present": str(present), "seed": str(seed)}
        audit.record(
            session, audit.cli_actor(), "helpline.import", "helpline_file", "sample", counts
        )
    return f"{inserted + present} synthetic helpline contacts ({inserted} new)"


STEPS: tuple[DemoStep, ...] = (
    DemoStep("evidence base", _evidence),
    DemoStep("notifications", load_notifications_sample),
    DemoStep("triage", triage_demo),
    DemoStep("platforms", load_platform_sample),
    DemoStep("helpline contacts", _helpline),
    DemoStep("assessment scenarios", run_shipped_scenarios),
)


def build_demo(store: Store, seed: int, on_step: Callable[[str, str], None]) -> None:
    """Load every area's sample data into ``store``; ``on_step(name, summary)`` after each."""
    for step in STEPS:
        on_step(step.name, step.run(store, seed))
