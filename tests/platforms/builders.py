"""Hand-built services for the platform tests: a plain base row and overrides per test."""

from __future__ import annotations

from typing import Any

from safeguarding.platforms.register import Service


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
