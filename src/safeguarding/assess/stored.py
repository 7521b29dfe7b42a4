"""Keeping assessment runs in the store and reading the latest one back."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.store.models import AssessResultRow


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None, so any JSON column (and reader) accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def save_run(
    session: Session,
    results: list[dict[str, Any]],
    *,
    draws: int,
    seed: int,
    now: datetime | None = None,
) -> str:
    """Store one run (the results of its scenarios, in order); returns the run's id."""
    created = now or datetime.now(UTC)
    run = f"{created.strftime('%Y%m%dT%H%M%S%f')}-s{seed}"
    session.add_all(
        AssessResultRow(
            run=run,
            position=position,
            scenario=result["scenario"],
            title=result["title"],
            region=result["region"],
            draws=draws,
            seed=seed,
            created_at=created,
            result=json_safe(result),
        )
        for position, result in enumerate(results)
    )
    session.flush()
    return run


def latest_run(session: Session) -> list[dict[str, Any]]:
    """The scenarios of the most recent run, in their order (empty when nothing is stored)."""
    newest = session.execute(
        select(AssessResultRow.run)
        .order_by(AssessResultRow.created_at.desc(), AssessResultRow.id.desc())
        .limit(1)
    ).scalar()
    if newest is None:
        return []
    rows = session.scalars(
        select(AssessResultRow)
        .where(AssessResultRow.run == newest)
        .order_by(AssessResultRow.position)
    )
    return [{**row.result, "run": row.run, "created_at": row.created_at} for row in rows]
