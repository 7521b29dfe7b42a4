"""Readers for the files other parts of the system hand to the assessment model.

- ``safeguarding/triage-outcome-stats@1``: what triage observed about notifications it handled
  (shares with their counts and intervals, minutes per report, and the hours of that assessment
  time spent on the actionable reports).
- ``safeguarding/high-risk-services@1``: the services the platform register rates high-risk, with
  their volumes where known.

Both formats are documented in docs/formats.md. A reader refuses a file with the file name, the
field (as a JSON path) and the rule, and never guesses a missing value: a service's volume that is
neither given nor estimable from its audience is left out, and whoever uses it says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from safeguarding.assess.distributions import MAX_MAGNITUDE
from safeguarding.errors import ValidationError
from safeguarding.input_files import (
    UNREADABLE,
    RepeatedKeyError,
    load_json,
    read_input_text,
    why_unreadable,
)
from safeguarding.platforms.vocabulary import HARMS, SERVICE_TYPES

TRIAGE_FORMAT = "safeguarding/triage-outcome-stats@1"
QUEUE_LEVELS = ("P1", "P2", "P3", "informational")
SERVICES_FORMAT = "safeguarding/high-risk-services@1"
_MAX = f"{MAX_MAGNITUDE:g}"
# Rounding slack when one figure of the export must not exceed another it is part of.
CONSISTENCY_TOLERANCE = 1e-6
RATE_NAMES = (
    "actionable_share",
    "not_criminal_share",
    "duplicate_share",
    "insufficient_information_share",
    "youth_care_share",
)


class _Json:
    """Typed access to a parsed JSON document, failing with file and field path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        text = read_input_text(path)
        try:
            self.data: Any = load_json(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{path.name}:{exc.lineno}: not valid JSON ({exc.msg})",
                location=f"{path}:{exc.lineno}",
                rule="valid JSON",
            ) from exc
        except RepeatedKeyError as exc:
            raise ValidationError(
                f"{path.name}: {exc}", location=str(path), rule="repeated_key"
            ) from exc
        except UNREADABLE as exc:
            raise ValidationError(
                f"{path.name}: not JSON we read ({why_unreadable(exc)})",
                location=str(path),
                rule="valid JSON",
            ) from exc
        if not isinstance(self.data, dict):
            raise self.fail("$", "the document must be a JSON object")

    def fail(self, field: str, rule: str) -> ValidationError:
        return ValidationError(
            f"{self.path.name}: {field}: {rule}", location=f"{self.path}#{field}", rule=rule
        )

    def get(self, obj: Any, key: str, where: str) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where or "$", "must be an object")
        if key not in obj:
            raise self.fail(f"{where}.{key}" if where else key, "is required")
        return obj[key]

    def text(self, obj: Any, key: str, where: str = "") -> str:
        value = self.get(obj, key, where)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}" if where else key, "must be non-empty text")
        return value

    def integer(self, obj: Any, key: str, where: str = "", *, nullable: bool = False) -> int | None:
        value = self.get(obj, key, where)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MAGNITUDE:
            raise self.fail(
                f"{where}.{key}" if where else key, f"must be a whole number from 0 to {_MAX}"
            )
        return value

    def number(
        self, obj: Any, key: str, where: str = "", *, nullable: bool = False
    ) -> float | None:
        value = self.get(obj, key, where)
        if value is None and nullable:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 <= value <= MAX_MAGNITUDE  # also NaN and the inf json reads 1e400 as
        ):
            field = f"{where}.{key}" if where else key
            raise self.fail(field, f"must be a number from 0 to {_MAX}")
        return float(value)

    def check_format(self, expected: str) -> None:
        found = self.data.get("format")
        if found != expected:
            raise self.fail("format", f"must be {expected!r} (got {found!r})")

    def timestamp(self, key: str) -> str:
        value = self.text(self.data, key)
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise self.fail(key, "must be an ISO-8601 date and time") from exc
        return value


@dataclass(frozen=True)
class Rate:
    """An observed share: successes out of n, its value and its interval."""

    successes: int
    n: int
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Mean:
    mean: float
    n: int


@dataclass(frozen=True)
class LevelMix:
    """The offender queue's share of reports at each priority level, under one triage policy."""

    policy: str
    reports: int
    shares: dict[str, float]


@dataclass(frozen=True)
class TriageStats:
    """The triage outcome-statistics export."""

    file: str
    generated_at: str
    source: str
    period_from: date
    period_to: date
    reports_with_outcome: int
    rates: dict[str, Rate]
    minutes_per_report: Mean
    hours_per_actionable: Mean
    levels: LevelMix | None = None

    def describe(self) -> str:
        return (
            f"triage outcomes {Path(self.file).name} ({self.source}, "
            f"{self.period_from}–{self.period_to}, {self.reports_with_outcome} reports)"
        )


def read_triage_stats(path: Path) -> TriageStats:
    """Read and validate a ``safeguarding/triage-outcome-stats@1`` file."""
    doc = _Json(path)
    doc.check_format(TRIAGE_FORMAT)
    data = doc.data
    generated_at = doc.timestamp("generated_at")
    source = doc.text(data, "source")
    period = doc.get(data, "period", "")
    dates = []
    for key in ("from", "to"):
        raw = doc.text(period, key, "period")
        try:
            dates.append(date.fromisoformat(raw))
        except ValueError as exc:
            raise doc.fail(f"period.{key}", "must be a date YYYY-MM-DD") from exc
    if dates[0] > dates[1]:
        raise doc.fail("period", "from must not be after to")
    total = doc.integer(data, "reports_with_outcome") or 0
    raw_rates = doc.get(data, "rates", "")
    if not isinstance(raw_rates, dict):
        raise doc.fail("rates", "must be an object")
    unknown = sorted(set(raw_rates) - set(RATE_NAMES))
    if unknown:
        raise doc.fail(f"rates.{unknown[0]}", f"unknown rate; known: {', '.join(RATE_NAMES)}")
    rates: dict[str, Rate] = {}
    for name in RATE_NAMES:
        where = f"rates.{name}"
        raw = doc.get(raw_rates, name, "rates")
        successes = doc.integer(raw, "successes", where) or 0
        n = doc.integer(raw, "n", where) or 0
        value = doc.number(raw, "value", where) or 0.0
        low = doc.number(raw, "low", where) or 0.0
        high = doc.number(raw, "high", where) or 0.0
        if successes > n:
            raise doc.fail(f"{where}.successes", f"must not exceed n ({successes} > {n})")
        # Every report has one result, so each share is out of all of them; a share out of fewer
        # would not add up with the others (and calibration would have to guess which n holds).
        if n != total:
            raise doc.fail(f"{where}.n", f"must equal reports_with_outcome ({n} ≠ {total})")
        if n and abs(value - successes / n) > 5e-4:
            raise doc.fail(f"{where}.value", f"must equal successes/n ({successes / n:.4f})")
        if not (0 <= low <= value <= high <= 1):
            raise doc.fail(where, "needs 0 <= low <= value <= high <= 1")
        rates[name] = Rate(successes, n, value, low, high)
    results = sum(rate.successes for rate in rates.values())
    if results > total:
        raise doc.fail(
            "rates",
            f"successes add up to {results}, more than reports_with_outcome ({total}); "
            "a report has one result",
        )
    means = []
    for key in ("minutes_per_report", "hours_per_actionable"):
        raw = doc.get(data, key, "")
        means.append(Mean(doc.number(raw, "mean", key) or 0.0, doc.integer(raw, "n", key) or 0))
    if means[0].n > total:
        raise doc.fail(
            "minutes_per_report.n",
            f"must not exceed reports_with_outcome ({means[0].n} > {total})",
        )
    actionable = rates["actionable_share"].successes
    if means[1].n > actionable:
        raise doc.fail(
            "hours_per_actionable.n",
            f"must not exceed the actionable reports, rates.actionable_share.successes "
            f"({means[1].n} > {actionable})",
        )
    # hours_per_actionable is the assessment time of the actionable reports, a part of the time
    # minutes_per_report averages over all reports; more than the whole means one of the two
    # figures is not what the format says (95 hours each for 60 reports against 42.5 minutes
    # each for 400 is 5,700 hours against 283).
    part = means[1].mean * means[1].n
    whole = means[0].mean * means[0].n / 60
    if part > whole * (1 + CONSISTENCY_TOLERANCE):
        raise doc.fail(
            "hours_per_actionable.mean",
            f"{means[1].n} actionable reports × {means[1].mean:,.4g} h = {part:,.4g} h, more than "
            f"all reports' assessment time ({means[0].n} × {means[0].mean:,.4g} min = "
            f"{whole:,.4g} h), which includes theirs",
        )
    return TriageStats(
        levels=_level_mix(doc, data["levels"]) if "levels" in data else None,
        file=str(path),
        generated_at=generated_at,
        source=source,
        period_from=dates[0],
        period_to=dates[1],
        reports_with_outcome=total,
        rates=rates,
        minutes_per_report=means[0],
        hours_per_actionable=means[1],
    )


def _level_mix(doc: _Json, raw: Any) -> LevelMix:
    """The optional ``levels`` block: shares of P1, P2, P3 and informational adding up to 1."""
    if not isinstance(raw, dict):
        raise doc.fail("levels", "must be an object")
    policy = doc.text(raw, "policy", "levels")
    reports = doc.integer(raw, "reports", "levels") or 0
    raw_shares = doc.get(raw, "shares", "levels")
    if not isinstance(raw_shares, dict) or set(raw_shares) != set(QUEUE_LEVELS):
        raise doc.fail("levels.shares", f"needs exactly the levels {', '.join(QUEUE_LEVELS)}")
    shares = {
        level: doc.number(raw_shares, level, "levels.shares") or 0.0 for level in QUEUE_LEVELS
    }
    if any(not 0 <= share <= 1 for share in shares.values()):
        raise doc.fail("levels.shares", "each share must be between 0 and 1")
    if reports and abs(sum(shares.values()) - 1) > 1e-6:
        raise doc.fail("levels.shares", "shares must add up to 1")
    return LevelMix(policy, reports, shares)


VOLUME_KINDS = ("messages", "images", "videos")


@dataclass(frozen=True)
class Service:
    """One high-risk service with whatever volumes the register knows."""

    id: str
    name: str
    type: str
    harms: tuple[str, ...]
    monthly_active_recipients: int | None
    daily_messages: float | None
    daily_images: float | None
    daily_videos: float | None
    source: str

    def daily(self, kind: str) -> float | None:
        """The known daily volume of ``kind`` (messages, images or videos), or None."""
        value: float | None = getattr(self, f"daily_{kind}")
        return value

    def estimable(self, kind: str) -> bool:
        """Whether the model can take a volume of ``kind`` from this service: a known one, or
        its monthly active recipients to multiply by the scenario's per-user assumption."""
        return self.daily(kind) is not None or self.monthly_active_recipients is not None


@dataclass(frozen=True)
class ServicesExport:
    """The platform register's high-risk services export."""

    file: str
    generated_at: str
    rules_version: str
    services: tuple[Service, ...]

    def describe(self) -> str:
        return (
            f"high-risk services {Path(self.file).name} (rules {self.rules_version}, "
            f"{len(self.services)} services)"
        )


def read_services(path: Path) -> ServicesExport:
    """Read and validate a ``safeguarding/high-risk-services@1`` file."""
    doc = _Json(path)
    doc.check_format(SERVICES_FORMAT)
    data = doc.data
    generated_at = doc.timestamp("generated_at")
    rules_version = doc.text(data, "rules_version")
    raw_services = doc.get(data, "services", "")
    if not isinstance(raw_services, list):
        raise doc.fail("services", "must be a list")
    if not raw_services:
        raise doc.fail(
            "services",
            "lists no service, so there is nothing to scope detection to",
        )
    services = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_services):
        where = f"services[{index}]"
        ident = doc.text(raw, "id", where)
        if ident in seen:
            raise doc.fail(f"{where}.id", f"duplicate service id {ident!r}")
        seen.add(ident)
        if doc.get(raw, "risk", where) != "high":
            raise doc.fail(f"{where}.risk", "must be 'high' (the export lists high-risk services)")
        harms = doc.get(raw, "harms", where)
        if not isinstance(harms, list) or not harms or not set(harms) <= set(HARMS):
            raise doc.fail(f"{where}.harms", f"must be a list of one or more of {', '.join(HARMS)}")
        kind = doc.text(raw, "type", where)
        if kind not in SERVICE_TYPES:
            raise doc.fail(f"{where}.type", f"must be one of {', '.join(SERVICE_TYPES)}")
        services.append(
            Service(
                id=ident,
                name=doc.text(raw, "name", where),
                type=kind,
                harms=tuple(harms),
                monthly_active_recipients=doc.integer(
                    raw, "eu_monthly_active_recipients", where, nullable=True
                ),
                daily_messages=doc.number(raw, "daily_messages", where, nullable=True),
                daily_images=doc.number(raw, "daily_images", where, nullable=True),
                daily_videos=doc.number(raw, "daily_videos", where, nullable=True),
                source=doc.text(raw, "source", where),
            )
        )
    if not any(s.estimable(kind) for s in services for kind in VOLUME_KINDS):
        raise doc.fail(
            "services",
            "no service has a daily volume or eu_monthly_active_recipients to estimate one "
            "from, so there is nothing to scope detection to",
        )
    return ServicesExport(str(path), generated_at, rules_version, tuple(services))
