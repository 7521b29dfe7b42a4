"""Keeping assessment runs in the store and reading the latest one back."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safeguarding.access import audit
from safeguarding.access.audit import Actor
from safeguarding.assess.calibration import TRIAGE_PARAMETERS
from safeguarding.assess.scenario import MAX_NAME_LENGTH, MAX_REGION_LENGTH
from safeguarding.errors import ValidationError
from safeguarding.store.models import AssessResultRow
from safeguarding.triage.formats.fields import UNSTORABLE, unstorable


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None, so any JSON column (and reader) accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _storable(result: dict[str, Any]) -> None:
    """Refuse a result whose name, title or region its row cannot hold on every backend, naming
    the scenario, the field and the rule. The scenario loader refuses such a file already; this
    holds results made any other way (built in code rather than loaded) to the same rules, so
    that PostgreSQL's DataError, which SQLite would not raise, is never what tells them."""
    scenario = result["scenario"]
    limits = {"scenario": MAX_NAME_LENGTH, "title": None, "region": MAX_REGION_LENGTH}
    for field, limit in limits.items():
        text = result[field]
        if rule := unstorable(text):
            raise ValidationError(
                f"{scenario!r}: {field}: {UNSTORABLE[rule]}", location=field, rule=rule
            )
        if limit is not None and len(text) > limit:
            raise ValidationError(
                f"{scenario!r}: {field}: {len(text)} characters, at most {limit}",
                location=field,
                rule=f"{field}-length",
            )


def save_run(
    session: Session,
    results: list[dict[str, Any]],
    *,
    draws: int,
    seed: int,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> str:
    """Store one run (the results of its scenarios, in order); returns the run's id.

    Stored runs are shown to researchers, so a result calibrated with an export's exact triage
    figures is refused: calibrate with ``calibration.published_figures`` to store it. With
    ``actor``, storing it is audited (``assess.save``) in the same transaction.
    """
    exact = [result["scenario"] for result in results if not shown_to_researchers(result)]
    if exact:
        raise ValidationError(
            f"{', '.join(exact)}: calibrated with exact triage figures; a stored run is shown to "
            "researchers and takes only the figures the triage section publishes",
            rule="published triage figures",
        )
    for result in results:
        _storable(result)
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
    if actor is not None:
        scenarios = ", ".join(result["scenario"] for result in results)
        detail = {"scenarios": scenarios, "draws": str(draws), "seed": str(seed)}
        audit.record(session, actor, "assess.save", "assess_run", run, detail)
    return run


def shown_to_researchers(result: dict[str, Any]) -> bool:
    """Whether a scenario's stored result rests on no triage figure the triage section withholds:
    calibrated with published figures only, or not with triage figures at all."""
    figures = result.get("triage_figures")
    if figures is not None:
        return bool(figures == "published")
    # Results stored before they said which figures calibrated them took an export's exact ones.
    return not result.get("observed") and not any(
        replaced["name"] in TRIAGE_PARAMETERS for replaced in result.get("replaced", [])
    )


def origin(result: dict[str, Any]) -> str:
    """Where a stored result's scenario came from, for people: a shipped scenario file as shipped,
    or a file of its own (which may keep a shipped scenario's name); results stored before they
    recorded it say so rather than pass for either."""
    shipped = result.get("shipped")
    if shipped is None:
        return "origin unknown (stored before results recorded it)"
    if shipped:
        return "the shipped scenario file, unchanged"
    return f"{result['file']}, not the shipped scenario file unchanged"


def origins(results: list[dict[str, Any]]) -> str:
    """The origin of every scenario of a stored run, as one phrase for its provenance."""
    if all(result.get("shipped") is True for result in results):
        return "scenario files shipped with the package, unchanged"
    return "; ".join(f"{result['scenario']}: {origin(result)}" for result in results)


def _as_read(row: AssessResultRow) -> dict[str, Any]:
    """A stored result with its run, and its scenario file by name (older results hold the
    server's path to the file, which is not for researchers)."""
    result = {**row.result, "run": row.run, "created_at": row.created_at}
    if "file" in result:
        result["file"] = Path(result["file"]).name
    return result


def latest_run(session: Session) -> list[dict[str, Any]]:
    """The scenarios of the most recent run that may be shown to researchers, in their order
    (empty when there is none).

    Every reader of stored runs (the monitor report, the web app) is read by researchers. A run
    stored with exact triage figures, before ``save_run`` refused them, is passed over.
    """
    runs = session.scalars(
        select(AssessResultRow.run).order_by(
            AssessResultRow.created_at.desc(), AssessResultRow.id.desc()
        )
    )
    for run in dict.fromkeys(runs):
        rows = session.scalars(
            select(AssessResultRow)
            .where(AssessResultRow.run == run)
            .order_by(AssessResultRow.position)
        )
        results = [_as_read(row) for row in rows]
        if all(shown_to_researchers(result) for result in results):
            return results
    return []
