"""Ctrl-C during a parallel ingest: one line from the command, none from its parse workers, and
running the same ingest again completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from safeguarding.store import Store
from safeguarding.store.models import ProviderReport, ReportedFile
from safeguarding.triage.generate import GeneratorConfig, generate
from tests.cli_runner import invoke
from tests.triage.test_kill import _children

# Three documents a report (the report and two file details): past the count from which an
# ingest parses in worker processes, in batches small enough to be stopped in the middle.
REPORTS = 300
INTERRUPTED = (
    "ingest interrupted: the reports stored so far are kept; run the same ingest again to "
    "complete it"
)


def _count(store: Store, table: type[ProviderReport] | type[ReportedFile]) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_ctrl_c_during_a_parallel_ingest_is_one_line_and_a_rerun_completes_it(
    capsys: pytest.CaptureFixture[str], store: Store, home: Path, tmp_path: Path
) -> None:
    """Ctrl-C reaches every process of the terminal's group, the parse workers too: each
    printed a traceback (a KeyboardInterrupt, an EOFError from its task queue) and the command
    ended with exit 130 and no word of its own."""
    generate(GeneratorConfig(seed=5, reports=REPORTS, families=20)).write_ncmec(tmp_path / "in")
    (home / "config.toml").write_text("[triage]\nbatch_size = 20\nparse_workers = 2\n")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "safeguarding"), "ingest", str(tmp_path / "in")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        start_new_session=True,  # a group of its own, as a terminal's foreground job has
    )
    deadline = time.monotonic() + 60
    while _count(store, ProviderReport) == 0:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.02)
    workers = _children(process.pid)
    assert workers, "the ingest parses with worker processes"
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
    _, err = process.communicate(timeout=60)
    stopped_at = _count(store, ProviderReport)
    printed = err.decode()
    assert "Traceback" not in printed, printed
    assert printed == INTERRUPTED + "\n"
    assert process.returncode == 130
    assert 0 < stopped_at < REPORTS, "the interrupt must land in the middle of the ingest"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "parse workers outlived the interrupted ingest"
        time.sleep(0.05)

    rerun = invoke(capsys, "ingest", str(tmp_path / "in"), "--json")
    assert rerun.code == 0, rerun.err
    summary = json.loads(rerun.out)
    assert summary["reports_unchanged"] == stopped_at
    assert summary["reports_stored"] == REPORTS - stopped_at
    assert _count(store, ProviderReport) == REPORTS
    assert _count(store, ReportedFile) == 2 * REPORTS
