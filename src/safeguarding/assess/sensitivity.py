"""Which inputs drive an output: a one-at-a-time tornado and first-order variance shares.

- **Tornado**: every parameter at its median, one at a time moved to its 5th and 95th percentile;
  the swing of the output ranks the parameters. Easy to read, blind to interactions.
- **First-order (Sobol) index** by binning: the share of the output's variance explained by one
  input alone, Var(E[Y | X_i]) / Var(Y), estimated from the Monte Carlo draws by sorting them into
  equal-count bins of X_i. It needs no extra model runs, and its sum falls short of 1 by what
  interactions explain.

Both use the draws of a ``Simulation``, so they are as reproducible as the run they come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeguarding.assess.funnel import FloatArray, Value, output_inputs, run_funnel
from safeguarding.assess.montecarlo import Simulation

BINS = 40


@dataclass(frozen=True)
class TornadoBar:
    """One parameter moved from its 5th to its 95th percentile, the others at their medians."""

    parameter: str
    low_input: float
    high_input: float
    low_output: float
    high_output: float
    base_output: float

    @property
    def swing(self) -> float:
        return abs(self.high_output - self.low_output)


def _percentiles(values: Value) -> tuple[float, float, float]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        value = float(array)
        return value, value, value
    low, mid, high = np.percentile(array, [5.0, 50.0, 95.0])
    return float(low), float(mid), float(high)


def tornado(simulation: Simulation, output: str, top: int | None = None) -> list[TornadoBar]:
    """Tornado bars for ``output``, largest swing first; fixed parameters are left out."""
    names = sorted(n for n in output_inputs(output) if np.ndim(simulation.samples[n]) > 0)
    points = {n: _percentiles(simulation.samples[n]) for n in simulation.samples}
    rows = 1 + 2 * len(names)
    values: dict[str, Value] = {}
    for name in simulation.samples:
        column = np.full(rows, points[name][1])
        if name in names:
            index = names.index(name)
            column[1 + 2 * index] = points[name][0]
            column[2 + 2 * index] = points[name][2]
        values[name] = column
    result = run_funnel(values, size=rows).outputs[output]
    bars = [
        TornadoBar(
            parameter=name,
            low_input=points[name][0],
            high_input=points[name][2],
            low_output=float(result[1 + 2 * i]),
            high_output=float(result[2 + 2 * i]),
            base_output=float(result[0]),
        )
        for i, name in enumerate(names)
    ]
    bars.sort(key=lambda bar: (-np.nan_to_num(bar.swing), bar.parameter))
    return bars[:top] if top else bars


def first_order(x: FloatArray, y: FloatArray, bins: int = BINS) -> float:
    """Var(E[Y | X]) / Var(Y) estimated with equal-count bins of X (0 when Y or X is constant)."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    # Too few defined draws (a PPV where nothing is flagged has none) is checked before the
    # variance, which numpy computes over an empty array with a printed RuntimeWarning.
    if y.size < 2 * bins:
        return 0.0
    total = float(np.var(y))
    if total == 0.0 or float(np.ptp(x)) == 0.0:
        return 0.0
    order = np.argsort(x, kind="stable")
    group = np.arange(y.size) * bins // y.size
    sums = np.bincount(group, weights=y[order], minlength=bins)
    counts = np.bincount(group, minlength=bins)
    means = sums / counts
    between = float(np.sum(counts * (means - y.mean()) ** 2) / y.size)
    # Each bin mean carries sampling noise of about Var(Y | bin)/count; remove that bias.
    within = float(np.sum((y[order] - means[group]) ** 2) / y.size)
    corrected = between - within * bins / y.size
    return float(min(max(corrected / total, 0.0), 1.0))


def first_order_indices(simulation: Simulation, output: str) -> dict[str, float]:
    """First-order index of every varying input of ``output``, largest first."""
    y = simulation.result.outputs[output]
    indices = {
        name: first_order(np.asarray(simulation.samples[name]), y)
        for name in sorted(output_inputs(output))
        if np.ndim(simulation.samples[name]) > 0
    }
    return dict(sorted(indices.items(), key=lambda item: (-item[1], item[0])))
