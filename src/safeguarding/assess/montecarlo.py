"""Monte Carlo over a scenario: seeded draws of every parameter, the funnel, medians and intervals.

Each parameter draws from its own random stream, derived from the seed and the parameter's name,
so the same seed gives identical results and adding a parameter does not shift the draws of the
others. Fixed parameters are passed as scalars (numpy broadcasts them), which keeps a million draws
of the whole funnel within one pass over a few dozen arrays.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from safeguarding.assess.funnel import (
    OUTPUT_BY_NAME,
    OUTPUTS,
    STAGES,
    FloatArray,
    FunnelResult,
    Value,
    output_inputs,
    run_funnel,
)
from safeguarding.assess.scenario import (
    TECHNOLOGIES,
    TECHNOLOGY_TITLES,
    Scenario,
    evidence_tags,
    shipped_unchanged,
)

INTERVAL = (5.0, 95.0)  # the 90% interval
# The largest seed a run takes: the web's limit, and one the store's seed column (a 64-bit
# integer) keeps on every backend, so a run that finished is never lost when it is saved.
MAX_SEED = 2**32 - 1
POOL = 1 << 16  # indices into the pool fit in 16 bits
THREADS = 2


@dataclass(frozen=True)
class Interval:
    """Median and 90% interval of an output over the draws where it is defined.

    ``undefined`` is the share of draws without a finite value (a PPV where nothing was
    flagged is 0/0): they cannot enter a percentile, and leaving them out unsaid would present
    the figures as holding for every draw.
    """

    median: float
    low: float
    high: float
    undefined: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "median": self.median,
            "low": self.low,
            "high": self.high,
            "undefined": self.undefined,
        }


@dataclass(frozen=True)
class Simulation:
    """The draws of every parameter and the funnel evaluated on them."""

    scenario: Scenario
    draws: int
    seed: int
    samples: dict[str, Value]
    result: FunnelResult


def parameter_stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one parameter: depends only on the seed and the parameter's name."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def draw(scenario: Scenario, draws: int, seed: int) -> dict[str, Value]:
    """``draws`` values of every parameter (a scalar for fixed ones), in double precision.

    Single precision halved the memory (a million draws of detection orders: 360 MB at its peak
    against 660 MB now), but the funnel's products of numbers within the documented limits reach
    1e47 and more, past its 3e38: they overflowed into NaN. Computing only the counts in double
    kept the draws small but cast every draw at each mixed operation, as slow as double overall.

    Up to ``POOL`` draws are taken exactly from each distribution. Beyond that, each parameter's
    draws are resampled with replacement from ``POOL`` exact draws (its empirical distribution):
    draws stay independent across parameters and the marginal is exact to 1/POOL in probability,
    at a fraction of the cost of generating a million beta variates per parameter.
    """
    if draws < 1:
        raise ValueError("draws must be at least 1")
    samples: dict[str, Value] = {}
    for parameter in scenario:
        dist = parameter.dist
        if dist.is_fixed:
            samples[parameter.name] = float(dist.support()[0])
            continue
        stream = parameter_stream(seed, parameter.name)
        values = dist.sample(stream, min(draws, POOL))
        if parameter.spec.kind == "share" and dist.kind == "lognormal":
            np.minimum(values, 1.0, out=values)
        if draws > POOL:
            values = values[stream.integers(0, POOL, draws, dtype=np.uint16)]
        samples[parameter.name] = values
    return samples


def simulate(scenario: Scenario, draws: int = 10_000, seed: int = 1) -> Simulation:
    samples = draw(scenario, draws, seed)
    return Simulation(scenario, draws, seed, samples, run_funnel(samples, size=draws))


def interval(values: FloatArray) -> Interval:
    """Median and 90% interval of the finite values (NaN where there are none), with the share
    of values left out for not being finite."""
    nan = float("nan")
    if values.size and values.strides == (0,):  # a broadcast constant
        value = float(values[0])
        if np.isfinite(value):
            return Interval(value, value, value)
        return Interval(nan, nan, nan, undefined=1.0)
    defined = np.isfinite(values)
    finite = values if defined.all() else values[defined]
    undefined = 1.0 - finite.size / values.size if values.size else 0.0
    if finite.size == 0:
        return Interval(nan, nan, nan, undefined=undefined)
    # Empirical quantiles (no interpolation): as exact as the draws, and half the selection work.
    low, median, high = np.percentile(
        finite, [INTERVAL[0], 50.0, INTERVAL[1]], method="inverted_cdf"
    )
    return Interval(float(median), float(low), float(high), undefined=undefined)


@dataclass(frozen=True)
class Summary:
    """What a run of one scenario says: every output and stage as a median with its interval."""

    scenario: Scenario
    draws: int
    seed: int
    outputs: dict[str, Interval]
    stages_tp: dict[str, Interval]
    stages_fp: dict[str, Interval]

    def traces(self, output: str) -> dict[str, Any]:
        """The parameters ``output`` is computed from, and where those came from.

        Each parameter is of one kind: taken from evidence alone (``from_evidence``), an
        assumption that evidence informs (``assumptions_with_evidence``), an assumption alone
        (``assumptions_only``), or set by a data file (``from_data``: triage outcomes, a services
        export). Counting the informed assumptions with the evidence presented reasoning as
        measurement. ``evidence`` names every figure cited, ``evidence_tags`` its reliability
        tag, and ``data`` the data files; without it an output computed from a calibrated
        parameter, which cites neither evidence nor an assumption, could not say what it rests on.
        """
        names = sorted(output_inputs(output))
        sources = {n: self.scenario[n].source for n in names}
        evidence = sorted({e for s in sources.values() for e in s.evidence})
        return {
            "parameters": names,
            "evidence": evidence,
            "evidence_tags": evidence_tags(evidence),
            "data": sorted({s.data for s in sources.values() if s.data}),
            "from_data": [n for n, s in sources.items() if s.data],
            "from_evidence": [
                n for n, s in sources.items() if s.evidence and not s.assumption and not s.data
            ],
            "assumptions_with_evidence": [
                n for n, s in sources.items() if s.evidence and s.assumption and not s.data
            ],
            "assumptions_only": [n for n, s in sources.items() if not s.evidence and not s.data],
        }

    def as_dict(self) -> dict[str, Any]:
        scenario = self.scenario
        return {
            "scenario": scenario.name,
            "title": scenario.title,
            "region": scenario.region,
            "description": scenario.description,
            "technologies": [TECHNOLOGY_TITLES[t] for t in TECHNOLOGIES if scenario.deployed(t)],
            "scope": scenario.scope,
            # its name only: results are shown to researchers, and the path is the server's
            "file": Path(scenario.file).name,
            # whether it is a shipped scenario as shipped, and what it said (Scenario.digest): a
            # run of a file that keeps a shipped name is not presented as the shipped scenario's
            "shipped": shipped_unchanged(scenario),
            "digest": scenario.digest(),
            "draws": self.draws,
            "seed": self.seed,
            "interval": "90% (5th to 95th percentile)",
            "outputs": {
                name: {
                    **value.as_dict(),
                    "unit": OUTPUT_BY_NAME[name].unit,
                    "description": OUTPUT_BY_NAME[name].description,
                    "inputs": self.traces(name),
                }
                for name, value in self.outputs.items()
            },
            "stages": [
                {
                    "stage": stage,
                    "true_positives": self.stages_tp[stage].as_dict(),
                    "false_positives": self.stages_fp[stage].as_dict(),
                }
                for stage in STAGES
            ],
            "parameters": [p.as_dict() for p in scenario],
            "replaced": [r.as_dict() for r in scenario.replaced],
            "kept": [k.as_dict() for k in scenario.kept],
            "observed": [
                {**o.as_dict(), "model": self.outputs[o.output].as_dict()}
                for o in scenario.observed
            ],
            "evidence": scenario.evidence_ids(),
            "evidence_tags": evidence_tags(scenario.evidence_ids()),
            "triage_figures": scenario.triage_figures,
        }


def summarise(simulation: Simulation) -> Summary:
    """Intervals of every output and stage; each distinct array is summarised once, in threads."""
    result = simulation.result
    named = (
        [("o", o.name, result.outputs[o.name]) for o in OUTPUTS]
        + [("tp", s, result.tp[s]) for s in STAGES]
        + [("fp", s, result.fp[s]) for s in STAGES]
    )
    distinct = {id(array): array for _, _, array in named}
    with ThreadPoolExecutor(THREADS) as pool:
        found = dict(zip(distinct, pool.map(interval, distinct.values()), strict=True))
    by_kind: dict[str, dict[str, Interval]] = {"o": {}, "tp": {}, "fp": {}}
    for kind, name, array in named:
        by_kind[kind][name] = found[id(array)]
    return Summary(
        scenario=simulation.scenario,
        draws=simulation.draws,
        seed=simulation.seed,
        outputs=by_kind["o"],
        stages_tp=by_kind["tp"],
        stages_fp=by_kind["fp"],
    )


def run(scenario: Scenario, draws: int = 10_000, seed: int = 1) -> Summary:
    """Simulate and summarise one scenario."""
    return summarise(simulate(scenario, draws, seed))
