"""Options of the notifications intake, from the ``[triage]`` section of the settings file.

Defaults for PDQ come from the evidence base (``pdq.threshold``: distance <= 31, quality >= 50),
so the number in use always names its source. Every option is checked on load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguarding.config import Settings
from safeguarding.errors import ConfigError
from safeguarding.evidence import shipped_evidence
from safeguarding.hashing.files import DEFAULT_MAX_PIXELS
from safeguarding.triage.formats.ncmec_xml import DEFAULT_MAX_DOCUMENT_BYTES

PDQ_EVIDENCE = "pdq.threshold"


def pdq_defaults() -> tuple[int, int]:
    """(maximum distance, minimum quality) as published (evidence ``pdq.threshold``)."""
    figure = shipped_evidence().get(PDQ_EVIDENCE)
    return int(figure.value("max_distance").value), int(figure.value("min_quality").value)


@dataclass(frozen=True)
class TriageOptions:
    pdq_threshold: int
    pdq_min_quality: int
    flood_share: float = 0.05
    flood_min_files: int = 50
    flood_window: int = 10_000
    batch_size: int = 10_000
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    parse_workers: int = 2


_INT_RANGES = {
    "pdq_threshold": (0, 128),
    "pdq_min_quality": (0, 100),
    "flood_min_files": (1, 10**9),
    "flood_window": (1, 10**9),
    "batch_size": (1, 100_000),
    "max_document_bytes": (1_000, 10**9),
    "max_image_pixels": (1, 10**10),
    "parse_workers": (1, 64),
}


def triage_options(settings: Settings) -> TriageOptions:
    threshold, quality = pdq_defaults()
    section: dict[str, Any] = settings.section("triage")
    values: dict[str, Any] = {"pdq_threshold": threshold, "pdq_min_quality": quality}
    for key, value in section.items():
        if key in _INT_RANGES:
            low, high = _INT_RANGES[key]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"[triage] {key} = {value!r}: a whole number {low}…{high}")
            values[key] = value
        elif key == "flood_share":
            if not isinstance(value, int | float) or not 0 < float(value) <= 1:
                raise ConfigError(f"[triage] flood_share = {value!r}: a share in (0, 1]")
            values[key] = float(value)
    options = TriageOptions(**values)
    if options.flood_min_files > options.flood_window:
        # The guard judges the last flood_window files once flood_min_files are stored: it
        # would never judge at all.
        raise ConfigError(
            f"[triage] flood_min_files = {options.flood_min_files} is more than flood_window = "
            f"{options.flood_window}: the flood guard would never judge"
        )
    return options


def index_directory(settings: Settings) -> Path:
    """Where the PDQ index of this database lives: the data directory, one per database URL."""
    key = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return settings.home / "index" / f"pdq-{key}"
