"""Options of clustering and planning, from the ``[triage]`` section of the settings file.

``ip_window_hours`` (default 24): reports sharing an IP address link only when the address was
seen within this many hours (addresses are reassigned). ``viral_min_reports`` (default 50): a
file seen, with its direct copies, in this many reports counts as viral by spread.
``capacity_hours_per_week`` (default 40, one full-time analyst): the queue's default capacity. PDQ
threshold and minimum quality are the intake's (``pdq_threshold``, ``pdq_min_quality``; defaults
from evidence ``pdq.threshold``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safeguarding.config import Settings
from safeguarding.errors import ConfigError
from safeguarding.triage.cluster_content import DEFAULT_VIRAL_MIN_REPORTS, ContentSettings
from safeguarding.triage.cluster_subjects import DEFAULT_IP_WINDOW_HOURS, SubjectSettings
from safeguarding.triage.options import triage_options
from safeguarding.triage.pdq_pairs import MAX_SUPPORTED_DISTANCE
from safeguarding.triage.queue import DEFAULT_CAPACITY_HOURS_PER_WEEK


@dataclass(frozen=True)
class RunOptions:
    content: ContentSettings
    subjects: SubjectSettings
    pdq_min_quality: int
    capacity_hours_per_week: float


def _number(section: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = section.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"[triage] {key} = {value!r}: a number from {low:g} to {high:g}")
    return float(value)


def run_options(settings: Settings) -> RunOptions:
    section = settings.section("triage")
    intake = triage_options(settings)
    if intake.pdq_threshold > MAX_SUPPORTED_DISTANCE:
        raise ConfigError(
            f"[triage] pdq_threshold = {intake.pdq_threshold}: clustering supports at most "
            f"{MAX_SUPPORTED_DISTANCE} bits"
        )
    window = _number(section, "ip_window_hours", DEFAULT_IP_WINDOW_HOURS, 0, 24 * 365)
    viral = _number(section, "viral_min_reports", DEFAULT_VIRAL_MIN_REPORTS, 2, 10**9)
    if viral != int(viral):
        raise ConfigError(f"[triage] viral_min_reports = {viral!r}: a whole number")
    capacity = _number(
        section, "capacity_hours_per_week", DEFAULT_CAPACITY_HOURS_PER_WEEK, 0, 24 * 7 * 10_000
    )
    return RunOptions(
        content=ContentSettings(max_distance=intake.pdq_threshold, viral_min_reports=int(viral)),
        subjects=SubjectSettings(ip_window_hours=window),
        pdq_min_quality=intake.pdq_min_quality,
        capacity_hours_per_week=capacity,
    )
