"""Platform × stage matrix on a large coded case set: the Polars path against a plain-Python count.

Generates N synthetic mentions (default 1,000,000) over 200 platforms and 100,000 cases, builds
the frame once (as the store does when it loads mentions), then times ``stage_matrix``,
``year_trend`` and ``cases_by_platform_and_harm`` on it and, in the same run, a naive
dict-of-sets count of the same matrix over the same mentions, checking that both agree. Each
timing is the best of three runs.

Run: .venv/bin/python benchmarks/platforms_matrix.py [N]
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from safeguarding.platforms.cases import (
    StoredMention,
    cases_by_platform_and_harm,
    mention_frame,
    stage_matrix,
    year_trend,
)
from safeguarding.platforms.vocabulary import STAGES

T = TypeVar("T")
HARM_STAGES = {
    "grooming": ("S1", "S2", "S3", "S4", "S5"),
    "image_csam": ("S4",),
    "sexual_exploitation": ("S6", "S7", "S8", "S9"),
}


def mentions(n: int, seed: int = 1) -> list[StoredMention]:
    rng = np.random.default_rng(seed)
    cases = rng.integers(0, 100_000, n)
    platforms = rng.integers(-20, 200, n)  # negative: platform unknown
    stages = rng.integers(0, len(STAGES), n)
    years = rng.integers(2015, 2025, n)
    return [
        StoredMention(
            f"c{c}", f"p{p}" if p >= 0 else None, STAGES[s], "offender-victim", int(y), "bench"
        )
        for c, p, s, y in zip(cases, platforms, stages, years, strict=True)
    ]


def naive(items: list[StoredMention]) -> dict[tuple[str, str], int]:
    cells: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m in items:
        if m.platform is not None:
            cells[(m.platform, m.stage)].add(m.case)
    return {key: len(value) for key, value in cells.items()}


def best_of_three(label: str, fn: Callable[[], T]) -> tuple[float, T]:
    times, result = [], None
    for _ in range(3):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    print(f"{label:<36} {min(times):8.3f} s")
    assert result is not None
    return min(times), result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    items = mentions(n)
    print(f"{n:,} mentions")
    _, frame = best_of_three("build frame (once per load)", lambda: mention_frame(items))
    fast, matrix = best_of_three("stage_matrix (Polars)", lambda: stage_matrix(frame))
    best_of_three("year_trend (Polars)", lambda: year_trend(frame))
    best_of_three(
        "cases_by_platform_and_harm (Polars)",
        lambda: cases_by_platform_and_harm(frame, HARM_STAGES),
    )
    slow, reference = best_of_three("naive dict-of-sets matrix (reference)", lambda: naive(items))
    got = {
        (row, stage): count
        for row, counts in matrix.counts.items()
        for stage, count in counts.items()
        if count
    }
    assert got == reference, "the two counts disagree"
    print(f"counts agree; naive / Polars matrix time: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
