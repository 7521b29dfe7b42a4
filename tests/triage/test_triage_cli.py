from __future__ import annotations

import json
from pathlib import Path

import pytest

from safeguarding.store import Store
from safeguarding.triage.sample import load_sample
from tests.cli_runner import invoke


def test_run_queue_outcome_stats_end_to_end(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    load_sample(store, 3)
    first = invoke(capsys, "triage", "run", "--json")
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    assert summary["mode"] == "full" and summary["reports"] == sum(summary["levels"].values())
    again = json.loads(invoke(capsys, "triage", "run", "--json").out)
    assert again["mode"] == "incremental" and again["new_reports"] == 0
    assert again["level_changes"]["changed"] == 0
    assert again["content_clusters"] == summary["content_clusters"]

    queue = json.loads(invoke(capsys, "queue", "--capacity-hours", "10", "--json").out)
    handled = [i for i in queue["offender_items"] if i["handled"]]
    assert sum(i["minutes"] for i in handled) <= 600
    report = queue["offender_items"][0]["reports"][0]

    bad = invoke(capsys, "outcome", str(report), "--result", "not_criminal", "--minutes", "20")
    assert bad.code == 1 and "--reason" in bad.err
    ok = invoke(
        capsys, "outcome", str(report), "--result", "actionable", "--minutes", "90",
        "--note", "case file 12",
    )  # fmt: skip
    assert ok.code == 0, ok.err
    export = tmp_path / "stats.json"
    stats = invoke(capsys, "triage", "stats", "--json", "--export", str(export))
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["overall"]["counts"]["actionable"] == 1
    document = json.loads(export.read_text())
    assert document["format"] == "safeguarding/triage-outcome-stats@1"
    assert document["rates"]["actionable_share"] == {
        "successes": 1, "n": 1, "value": 1.0, "low": pytest.approx(0.2065, abs=1e-4), "high": 1.0,
    }  # fmt: skip
    assert document["hours_per_actionable"] == {"mean": 1.5, "n": 1}
    # the note is not stored in clear anywhere in the database file or the statistics
    assert "case file 12" not in stats.out and "case file 12" not in export.read_text()


def test_usage_errors(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke(capsys, "queue", "--period", "year").code == 2
    missing = invoke(capsys, "queue")
    assert missing.code == 1 and "triage run" in missing.err
    assert invoke(capsys, "triage", "run", "--policy", "/no/such.toml").code == 1
