"""The main job on the embedded default: a fresh demo store with sample data of every area.

Steps run in order; each area adds its step here as it lands. Sample data is synthetic, seeded
and deterministic: the same seed gives identical data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from safeguarding.evidence import shipped_evidence
from safeguarding.evidence.store_sync import sync_evidence
from safeguarding.store import Store
from safeguarding.triage.sample import load_sample


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[Store, int], str]


def _evidence(store: Store, _seed: int) -> str:
    with store.session() as session:
        count = sync_evidence(session, shipped_evidence())
    return f"{count} evidence figures"


def _notifications(store: Store, seed: int) -> str:
    return load_sample(store, seed)


STEPS: tuple[DemoStep, ...] = (
    DemoStep("evidence base", _evidence),
    DemoStep("notifications", _notifications),
)


def build_demo(store: Store, seed: int, on_step: Callable[[str, str], None]) -> None:
    """Load every area's sample data into ``store``; ``on_step(name, summary)`` after each."""
    for step in STEPS:
        on_step(step.name, step.run(store, seed))
