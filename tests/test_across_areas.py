"""The areas work together: exports of platforms and triage feed the assessment model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import invoke


@pytest.mark.xdist_group("demo")
def test_platform_and_triage_exports_calibrate_the_assessment(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    demo_build: tuple[Path, str],
) -> None:
    demo_dir, _ = demo_build
    monkeypatch.setenv("SAFEGUARDING_HOME", str(demo_dir))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)

    services, outcomes = tmp_path / "services.json", tmp_path / "outcomes.json"
    assert invoke(capsys, "platforms", "export", str(services)).code == 0
    assert invoke(capsys, "triage", "stats", "--export", str(outcomes)).code == 0
    exported = json.loads(outcomes.read_text())
    assert exported["reports_with_outcome"] > 0

    result = invoke(
        capsys,
        "assess",
        "nl-targeted",
        "--services",
        str(services),
        "--calibrate",
        str(outcomes),
        "--draws",
        "2000",
        "--json",
    )
    assert result.code == 0, result.err
    scenario = json.loads(result.out)["scenarios"][0]
    replaced = {item["name"]: item for item in scenario["replaced"]}
    assert {"police.actionable_share", "police.minutes_per_notification"} <= set(replaced)
    assert "volume.messages_per_day" in replaced
    assert "outcomes.json" in replaced["police.actionable_share"]["after"]
    assert "services.json" in replaced["volume.messages_per_day"]["after"]
    shares = exported["levels"]["shares"]
    assert abs(sum(shares.values()) - 1) < 1e-9 and exported["levels"]["policy"].startswith(
        "default@"
    )
    for level in ("P1", "P2", "P3"):
        assert scenario["queue"]["level_shares"][level] == shares[level]
        assert f"queue.{level.lower()}_share" in replaced
    minutes = exported["minutes_per_report"]["mean"]
    assert f"{minutes:.6g}" in replaced["police.minutes_per_notification"]["after"]
