"""The level mix in the outcome export: shares of the offender queue per level, by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeguarding.assess.exports import read_triage_stats
from safeguarding.errors import ValidationError
from safeguarding.triage.outcomes import level_mix
from safeguarding.triage.policy import LEVELS

EXAMPLE = Path(__file__).parents[1] / "data" / "triage-outcome-stats.json"


def test_level_mix_counts_every_level_by_hand() -> None:
    mix = level_mix({"P1": 2, "P3": 6}, "default@1", LEVELS)
    assert mix == {
        "policy": "default@1",
        "reports": 8,
        "shares": {"P1": 0.25, "P2": 0.0, "P3": 0.75, "informational": 0.0},
    }
    assert level_mix({}, "default@1", LEVELS) is None


def test_the_assessment_reads_the_mix_and_refuses_a_bad_one(tmp_path: Path) -> None:
    document = json.loads(EXAMPLE.read_text())
    document["levels"] = level_mix({"P1": 1, "P2": 1, "P3": 2}, "default@1", LEVELS)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(document))
    stats = read_triage_stats(good)
    assert stats.levels is not None and stats.levels.shares["P3"] == 0.5

    document["levels"]["shares"]["P1"] = 0.9
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(ValidationError, match="levels.shares.*add up to 1"):
        read_triage_stats(bad)
