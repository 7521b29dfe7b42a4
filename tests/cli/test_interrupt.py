"""Ctrl-C in any command: one line on stderr naming the command, exit 130, no traceback.

The commands run as real processes, sent SIGINT as a terminal sends it to its foreground job.
Typer turned the interruption into exit 130 without a word, so a stopped server or an import cut
short said nothing of it; only ``ingest`` said so (tests/triage/test_interrupt.py).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx

from safeguarding.store import Store
from tests.web.served import free_port


def _started(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "safeguarding"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        start_new_session=True,  # a group of its own, as a terminal's foreground job has
    )


def _interrupted(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """What ``process`` printed on stdout and stderr, stopped with Ctrl-C."""
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
    out, err = process.communicate(timeout=30)
    return out.decode(), err.decode()


def _failed(process: subprocess.Popen[bytes]) -> str:
    """Why ``process`` ended before it could be interrupted, for an assertion's message."""
    process.kill()
    out, err = process.communicate(timeout=30)
    return f"exit {process.returncode}: {out.decode()}{err.decode()}"


def test_ctrl_c_stops_serve_with_one_line_and_exit_130(store: Store) -> None:
    port = free_port()
    process = _started("serve", "--host", "127.0.0.1", "--port", str(port))
    deadline = time.monotonic() + 30
    while True:  # interrupted once it serves: uvicorn holds SIGINT then, to shut down first
        assert process.poll() is None, _failed(process)
        assert time.monotonic() < deadline, _failed(process)
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    out, err = _interrupted(process)
    assert "Traceback" not in err, err
    assert err == "serve interrupted\n"
    assert process.returncode == 130
    assert out.startswith(f"serving on http://127.0.0.1:{port} (database {store.display_url})")


def test_ctrl_c_while_a_command_waits_for_input_names_that_command(
    home: Path, tmp_path: Path
) -> None:
    """A list read from a pipe that stops sending (``hashlist import <(curl ...)``), stopped
    with Ctrl-C; ``--debug`` before the command neither changes its name nor adds a
    traceback."""
    pipe = tmp_path / "list.csv"
    os.mkfifo(pipe)
    process = _started("--debug", "hashlist", "import", str(pipe), "--name", "slow")
    deadline = time.monotonic() + 30
    while True:  # opened for writing once the command has opened it to read: it is reading
        assert process.poll() is None, _failed(process)
        assert time.monotonic() < deadline, _failed(process)
        try:
            writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            assert exc.errno == errno.ENXIO, exc  # no reader yet
            time.sleep(0.05)
    try:
        out, err = _interrupted(process)
    finally:
        os.close(writer)
    assert "Traceback" not in err, err
    assert err == "hashlist import interrupted\n"
    assert process.returncode == 130
    assert out == ""
    assert not (home / "safeguarding.db").exists()  # stopped before it reached the store
