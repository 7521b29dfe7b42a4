"""Rounding published counts to a base (e.g. 5), on top of suppression.

Rounding hides the exact size of published cells, so that small differences between two releases
(a month re-published after a late record) do not single out a person. Each value, totals included,
is rounded on its own to the nearest multiple of the base (halves upwards), so a rounded table need
not add up; readers are told so. Zero stays zero. Rounding never replaces suppression: a cell of 3
rounded to 5 still says "a few people", which is why suppression runs first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def round_to_base(values: ArrayLike, base: int) -> NDArray[np.int64]:
    """Each value rounded to the nearest multiple of ``base``; ``x.5`` multiples round up."""
    if base < 1:
        raise ValueError("rounding base must be at least 1")
    array = np.asarray(values, dtype=np.int64)
    if np.any(array < 0):
        raise ValueError("only non-negative counts are rounded")
    rounded: NDArray[np.int64] = ((array + base // 2) // base) * base
    return rounded
