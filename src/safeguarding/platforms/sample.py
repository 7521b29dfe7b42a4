"""Synthetic sample data: the fictional register and seeded, generated case files.

The case generator draws, for each synthetic case, the stages its file mentions and the platform
used at each, from the pattern in ``data/sample-case-pattern.yaml`` (which follows the letter's
observations). The same seed gives the same file, byte for byte.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from safeguarding.platforms.vocabulary import STAGES

DATA = Path(__file__).parent / "data"
SAMPLE_REGISTER = DATA / "sample-register.yaml"
CASE_PATTERN = DATA / "sample-case-pattern.yaml"
SAMPLE_SOURCE = "synthetic sample case file"


def case_pattern() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CASE_PATTERN.read_text(encoding="utf-8"))
    return data


def generate_cases(seed: int, pattern: dict[str, Any] | None = None) -> str:
    """A synthetic case CSV (columns of ``cases.CASE_COLUMNS``) drawn with ``seed``."""
    spec = pattern or case_pattern()
    rng = np.random.default_rng(seed)
    first, last = spec["years"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case", "platform", "stage", "role_pair", "year", "source"])
    for year in range(first, last + 1):
        for number in range(1, spec["cases_per_year"] + 1):
            case = f"SYN-{year}-{number:04d}"
            case_unknown = rng.random() < spec["unknown_case_share"]
            for stage in STAGES:
                if rng.random() >= spec["stage_probability"][stage]:
                    continue
                platform = _draw_platform(rng, spec, stage, year - first)
                if case_unknown or rng.random() < spec["unknown_platform_share"]:
                    platform = ""
                pairs = spec["role_pairs"][stage]
                role = pairs[0] if len(pairs) == 1 or rng.random() < 0.7 else pairs[1]
                writer.writerow(
                    [case, platform, stage, role, year, f"{SAMPLE_SOURCE} (seed {seed})"]
                )
    return out.getvalue()


def _draw_platform(rng: np.random.Generator, spec: dict[str, Any], stage: str, age: int) -> str:
    weights: dict[str, float] = spec["stage_weights"][stage]
    names = sorted(weights)
    trend = spec.get("trends", {})
    values = np.array([weights[n] * (1 + trend.get(n, 0.0)) ** age for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=values / values.sum()))]
