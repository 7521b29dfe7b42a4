"""An ingest killed halfway, run again, ends in the same state as an uninterrupted one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from safeguarding.config import Settings
from safeguarding.store import Store
from safeguarding.triage.generate import GeneratorConfig, generate, known_list, vics_json
from tests.cli_runner import invoke
from tests.triage.snapshot import snapshot
from tests.triage.xml_samples import BILLION_LAUGHS

REPORTS = 400


def _cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "safeguarding"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )


def _stored(store: Store) -> int:
    """Reports and files stored so far (a parallel run stores reports before file details)."""
    with store.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM provider_report)"
                    " + (SELECT count(*) FROM reported_file)"
                )
            ).scalar_one()
        )


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_kill_during_ingest_then_rerun_equals_uninterrupted(
    capsys: pytest.CaptureFixture[str],
    store: Store,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = generate(GeneratorConfig(seed=3, reports=REPORTS, families=20))
    corpus.write_ncmec(tmp_path / "in")
    (tmp_path / "in" / "bomb.xml").write_text(BILLION_LAUGHS)
    (tmp_path / "known.json").write_bytes(vics_json(known_list(corpus, families=5, seed=2)))
    (home / "config.toml").write_text("[triage]\nbatch_size = 20\n")
    known = str(tmp_path / "known.json")
    assert invoke(capsys, "hashlist", "import", known, "--name", "k").code == 0

    records = REPORTS + sum(len(report.files) for report in corpus.reports)
    process = _cli("ingest", str(tmp_path / "in"), "--source", "ncmec")
    deadline = time.monotonic() + 120
    while _stored(store) < records // 4 and process.poll() is None:
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.05)
    workers = _children(process.pid)
    assert workers, "the ingest parses with worker processes"
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = _stored(store)
    assert 0 < stopped_at < records, "the kill must land in the middle of the ingest"
    # Its parse workers end with it (they hold its database connections).
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "parse workers outlived the killed ingest"
        time.sleep(0.05)

    rerun = _cli("ingest", str(tmp_path / "in"), "--source", "ncmec")
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
    resumed = snapshot(store)

    # The same input, uninterrupted, into a fresh store with the same keys.
    fresh_home = tmp_path / "fresh"
    fresh_home.mkdir()
    shutil.copytree(home / "secrets", fresh_home / "secrets")
    shutil.copy(home / "config.toml", fresh_home / "config.toml")
    fresh_url = f"sqlite:///{fresh_home / 'safeguarding.db'}"
    monkeypatch.setenv("SAFEGUARDING_HOME", str(fresh_home))
    monkeypatch.setenv("SAFEGUARDING_DATABASE_URL", fresh_url)
    assert invoke(capsys, "hashlist", "import", known, "--name", "k").code == 0
    assert invoke(capsys, "ingest", str(tmp_path / "in"), "--source", "ncmec").code == 0
    fresh = Store(Settings(home=fresh_home, database_url=fresh_url))
    uninterrupted = snapshot(fresh)
    fresh.dispose()

    assert len(resumed["reports"]) == REPORTS and len(resumed["files"]) == 2 * REPORTS
    assert resumed["matches"], "the run must have matched something to compare"
    assert resumed == uninterrupted
