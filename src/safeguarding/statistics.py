"""Small statistics shared by every area: proportions with Wilson score intervals.

The Wilson interval keeps its coverage for small samples and for shares near 0 or 1, where the
textbook normal interval runs outside [0, 1]; triage outcome counts are often small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``n`` with the observed share and its Wilson interval (0, 0, 1 for n=0)."""

    successes: int
    n: int
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "successes": self.successes,
            "n": self.n,
            "value": self.value,
            "low": self.low,
            "high": self.high,
        }


def wilson(successes: int, n: int, z: float = Z_95) -> Proportion:
    """Observed share and Wilson score interval at ``z`` (default 95%)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Proportion(0, 0, 0.0, 0.0, 1.0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # The bounds are exactly 0 and 1 at the extremes; clamping also absorbs rounding noise there.
    low = 0.0 if successes == 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes == n else max(p, min(1.0, centre + half))
    return Proportion(successes, n, p, low, high)
