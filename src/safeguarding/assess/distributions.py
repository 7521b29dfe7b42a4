"""Uncertain inputs as probability distributions, sampled in bulk with numpy.

Every parameter of an assessment is a distribution rather than a number, because almost none of
them is known precisely: a published figure is one observation, an assumption is a range. The
kinds are the usual ones for expert-elicited inputs:

- ``fixed``: a single value (``value``).
- ``uniform``: anything between ``low`` and ``high`` equally likely.
- ``triangular``: ``low``, ``mode``, ``high``.
- ``pert``: ``low``, ``mode``, ``high`` as a scaled beta that puts less weight on the extremes than
  the triangular (the classic PERT weighting, shape 4).
- ``beta``: ``alpha``, ``beta`` on [0, 1], e.g. a share observed as successes out of n.
- ``lognormal``: a positive quantity given by its 90% interval ``low`` .. ``high`` (the 5th and
  95th percentiles), for volumes and rates that span orders of magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "pert": ("low", "mode", "high"),
    "beta": ("alpha", "beta"),
    "lognormal": ("low", "high"),
}
KINDS = tuple(KIND_FIELDS)
PERT_SHAPE = 4.0
# The largest number the model takes from a file, either sign: far above any real volume, count or
# rate (a quadrillion a day), and far enough below the float limit that the funnel's products and
# sums of such numbers stay finite (at 1e200 they overflowed into NaN deep in the simulation). The
# funnel multiplies up to about five such numbers, so it computes in double precision (single
# precision ends at 3e38).
MAX_MAGNITUDE = 1e15
# The smallest value a strictly positive quantity (items per report, hours, the bundling ratio)
# may take: the funnel divides by these, and a divisor of 1e-300 made 1e300 of its numerator.
MIN_POSITIVE = 1 / MAX_MAGNITUDE
_Z95 = NormalDist().inv_cdf(0.95)
LOGNORMAL_TAIL_Z = 6.0  # a lognormal's draws beyond this many standard deviations: 1 in 1e9


@dataclass(frozen=True)
class Distribution:
    """A distribution of one kind with its numeric fields (see the module docstring)."""

    kind: str
    fields: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = check(self.kind, self.fields)
        if problem:
            raise ValueError(problem)

    @classmethod
    def fixed(cls, value: float) -> Distribution:
        return cls("fixed", {"value": float(value)})

    def __getitem__(self, name: str) -> float:
        return self.fields[name]

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed" or (
            self.kind in {"uniform", "triangular", "pert", "lognormal"}
            and self.fields["low"] == self.fields["high"]
        )

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (lognormal: unbounded above)."""
        f = self.fields
        if self.kind == "fixed":
            return f["value"], f["value"]
        if self.kind == "beta":
            return 0.0, 1.0
        if self.kind == "lognormal":
            return 0.0, math.inf
        return f["low"], f["high"]

    def mean(self) -> float:
        f = self.fields
        if self.kind == "fixed":
            return f["value"]
        if self.kind == "uniform":
            return (f["low"] + f["high"]) / 2
        if self.kind == "triangular":
            return (f["low"] + f["mode"] + f["high"]) / 3
        if self.kind == "pert":
            return (f["low"] + PERT_SHAPE * f["mode"] + f["high"]) / (PERT_SHAPE + 2)
        if self.kind == "beta":
            return f["alpha"] / (f["alpha"] + f["beta"])
        mu, sigma = _lognormal_mu_sigma(f["low"], f["high"])
        return math.exp(mu + sigma**2 / 2)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        """``size`` independent draws."""
        f = self.fields
        if self.is_fixed:
            value = f["value"] if self.kind == "fixed" else f["low"]
            return np.full(size, value, dtype=np.float64)
        if self.kind == "uniform":
            return rng.uniform(f["low"], f["high"], size)
        if self.kind == "triangular":
            return rng.triangular(f["low"], f["mode"], f["high"], size)
        if self.kind == "pert":
            a, b = _pert_shapes(f["low"], f["mode"], f["high"])
            return f["low"] + (f["high"] - f["low"]) * rng.beta(a, b, size)
        if self.kind == "beta":
            return rng.beta(f["alpha"], f["beta"], size)
        mu, sigma = _lognormal_mu_sigma(f["low"], f["high"])
        return rng.lognormal(mu, sigma, size)

    def describe(self) -> str:
        """Short human form, e.g. ``pert(0.9, 0.98, 0.99)``."""
        args = ", ".join(f"{self.fields[name]:.6g}" for name in KIND_FIELDS[self.kind])
        if self.kind == "fixed":
            return args
        if self.kind == "lognormal":
            return f"lognormal(90%: {args})"
        return f"{self.kind}({args})"

    def as_dict(self) -> dict[str, Any]:
        return {"dist": self.kind, **self.fields}


def check(kind: str, fields: dict[str, float]) -> str | None:
    """Why ``fields`` do not make a distribution of ``kind``, or None when they do."""
    if kind not in KIND_FIELDS:
        return f"unknown distribution {kind!r}; known: {', '.join(KINDS)}"
    wanted = KIND_FIELDS[kind]
    missing = [name for name in wanted if name not in fields]
    if missing:
        return f"{kind} needs {', '.join(wanted)} (missing {', '.join(missing)})"
    extra = sorted(set(fields) - set(wanted))
    if extra:
        return f"{kind} takes only {', '.join(wanted)} (not {', '.join(extra)})"
    if any(not math.isfinite(fields[name]) for name in wanted):
        return f"{kind} fields must be finite numbers"
    if kind in {"uniform", "lognormal"} and fields["low"] > fields["high"]:
        return f"{kind} needs low <= high"
    if kind in {"triangular", "pert"} and not (fields["low"] <= fields["mode"] <= fields["high"]):
        return f"{kind} needs low <= mode <= high"
    if kind == "beta" and (fields["alpha"] <= 0 or fields["beta"] <= 0):
        return "beta needs alpha > 0 and beta > 0"
    if kind == "lognormal" and fields["low"] <= 0:
        return "lognormal needs low > 0 (it describes a positive quantity)"
    if kind == "lognormal" and not _lognormal_within_range(fields["low"], fields["high"]):
        return (
            f"a lognormal with its 90% interval from {fields['low']:g} to {fields['high']:g} is "
            f"too wide: one draw in a billion would lie outside {1 / MAX_MAGNITUDE:g} to "
            f"{MAX_MAGNITUDE:g}, where the funnel's numbers overflow or vanish; narrow the interval"
        )
    return None


def _lognormal_within_range(low: float, high: float) -> bool:
    """Whether draws of the lognormal stay within the model's range but for one in a billion
    (six standard deviations): wider ones leave the range the funnel stays finite in, and the
    results would be taken over the draws left."""
    mu, sigma = _lognormal_mu_sigma(low, high)
    spread = LOGNORMAL_TAIL_Z * sigma
    limit = math.log(MAX_MAGNITUDE)
    return -limit <= mu - spread and mu + spread <= limit


def beta_from_counts(successes: int, n: int) -> Distribution:
    """The share behind ``successes`` out of ``n`` under a uniform prior: Beta(s + 1, n − s + 1)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    return Distribution("beta", {"alpha": successes + 1.0, "beta": n - successes + 1.0})


def beta_from_moments(mean: float, variance: float) -> Distribution:
    """A beta with the given mean and variance (method of moments), e.g. from yearly shares."""
    if not 0 < mean < 1:
        raise ValueError(f"mean must be strictly between 0 and 1, got {mean}")
    if not 0 < variance < mean * (1 - mean):
        raise ValueError(f"variance must be between 0 and mean*(1-mean), got {variance}")
    common = mean * (1 - mean) / variance - 1
    return Distribution("beta", {"alpha": mean * common, "beta": (1 - mean) * common})


def _pert_shapes(low: float, mode: float, high: float) -> tuple[float, float]:
    span = high - low
    a = 1 + PERT_SHAPE * (mode - low) / span
    b = 1 + PERT_SHAPE * (high - mode) / span
    return a, b


def _lognormal_mu_sigma(low: float, high: float) -> tuple[float, float]:
    mu = (math.log(low) + math.log(high)) / 2
    sigma = (math.log(high) - math.log(low)) / (2 * _Z95)
    return mu, sigma
