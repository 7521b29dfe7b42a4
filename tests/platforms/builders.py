"""Hand-built services for the platform tests: a plain base row and overrides per test."""

from __future__ import annotations

from typing import Any

from safeguarding.platforms.register import Service
from safeguarding.platforms.vocabulary import FEATURES


def service(**overrides: Any) -> Service:
    """A minimal valid service (a small forum with no features); ``overrides`` change fields."""
    data: dict[str, Any] = {
        "id": "hand-built",
        "name": "Hand Built (fictional)",
        "type": "forum",
        "provider": "Test Provider (fictional)",
        "provider_size": "small",
        "age_assurance": "verification",
        "features": [],
        "source": "hand-built test row",
    }
    data.update(overrides)
    return Service.model_validate(data)


def service_with(factors: set[str]) -> Service:
    """A hand-built service whose derived factors include those in ``factors``."""
    data: dict[str, Any] = {"features": sorted(f for f in factors if f in FEATURES)}
    kinds = [f.removeprefix("type.") for f in factors if f.startswith("type.")]
    if kinds:
        data["type"] = kinds[0]
    weak = "weak_age_assurance" in factors
    data["age_assurance"] = "none" if weak else "verification"
    if "child_access_possible" in factors and not weak:
        data["features"] = sorted({*data["features"], "child_users_possible"})
    if "adult_service" in factors:
        data["adult"] = True
    return service(**data)


def row(**overrides: Any) -> dict[str, Any]:
    """A valid register row as a mapping, for parser tests."""
    data: dict[str, Any] = {
        "id": "row-one",
        "name": "Row One (fictional)",
        "type": "social",
        "provider": "Row Provider (fictional)",
        "source": "test",
    }
    data.update(overrides)
    return data
