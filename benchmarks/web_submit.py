"""Report submission over HTTP on loopback: sustained rate, latency, and no loss after kill -9.

Starts ``safeguarding serve`` in a subprocess on a fresh data directory (SQLite, or PostgreSQL with
``--database-url``), creates a provider account and token, and drives ``POST /api/reports`` from
``--connections`` keep-alive connections for ``--seconds`` seconds, one report per request
(``--batch 1``) or JSON Lines of ``--batch`` reports per request. Every report has its own id;
each acknowledged (201) id is remembered. Then the server is killed with SIGKILL while requests
are in flight, and the store is opened again: every acknowledged report must be in it.

Besides rate and latency it prints the CPU time the server process used per report, the figure
that holds whatever else the machine is doing, and the load average before and after.

Run: .venv/bin/python benchmarks/web_submit.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from safeguarding.access import accounts
from safeguarding.access.audit import cli_actor
from safeguarding.config import Settings, sqlite_url
from safeguarding.store import open_store
from safeguarding.store.models import ProviderReport

INCIDENT = "Child Pornography (possession, manufacture, and distribution)"


def report_line(report_id: str) -> bytes:
    """A synthetic report in the project's JSON schema (fictional identifiers)."""
    return json.dumps(
        {
            "report_id": report_id,
            "incident_type": INCIDENT,
            "incident_time": "2026-02-01T10:00:00Z",
            "provider": "Example Provider 1",
            "reported_user": {
                "identifiers": [{"kind": "email", "value": f"user{report_id}@example.org"}]
            },
            "files": [
                {
                    "file_id": "F1",
                    "hashes": [{"kind": "md5", "value": f"{int(report_id[1:]):032x}"}],
                }
            ],
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Load:
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return status, body


async def _connection(
    port: int, token: str, ids: list[list[str]], load: Load, stop_at: float
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    content_type = b"application/json" if len(ids[0]) == 1 else b"application/x-ndjson"
    try:
        for batch in ids:
            if time.perf_counter() >= stop_at:
                break
            body = b"\n".join(report_line(i) for i in batch)
            request = (
                b"POST /api/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + b"Authorization: Bearer " + token.encode() + b"\r\n"
                + b"Content-Type: " + content_type + b"\r\n"
                + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                + body
            )  # fmt: skip
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status, _ = await _read_response(reader)
            load.latencies.append(time.perf_counter() - started)
            load.statuses[status] = load.statuses.get(status, 0) + 1
            if status == 201:
                load.acknowledged.extend(batch)
    except (ConnectionError, asyncio.IncompleteReadError):
        load.errors += 1
    finally:
        writer.close()


async def drive(
    port: int, token: str, *, connections: int, seconds: float, batch: int, prefix: str
) -> tuple[Load, float]:
    load = Load()
    per_connection = int(seconds * 4000 / connections / batch) + 10
    plans = [
        [[f"{prefix}{c:03d}{k:07d}{j:03d}" for j in range(batch)] for k in range(per_connection)]
        for c in range(connections)
    ]
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_connection(port, token, p, load, stop_at) for p in plans))
    return load, time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("safeguarding")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"server did not start: {server.stderr.read() if server.stderr else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1, help="reports per request")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--kill-after", type=float, default=5.0)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sg-bench-"))
    try:
        run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace, home: Path) -> None:
    """Measure on a fresh data directory ``home`` (removed afterwards by ``main``)."""
    url = args.database_url or sqlite_url(home / "safeguarding.db")
    (home / "config.toml").write_text(
        "[web]\nsecure_cookies = false\nsubmit_burst = 1000000\nsubmit_per_second = 1000000\n"
    )
    settings = Settings(home=home, database_url=url)
    store = open_store(settings)
    with store.session() as db:
        accounts.add_user(db, "bench-provider", "provider", None, cli_actor())
        token = accounts.create_token(db, "bench-provider", "benchmark", cli_actor()).secret
    store.dispose()
    env = {**os.environ, "SAFEGUARDING_HOME": str(home), "SAFEGUARDING_DATABASE_URL": url}

    port = free_port()
    load_before = f"{os.getloadavg()[0]:.2f}"
    server = start_server(env, port)
    cpu_before = cpu_seconds(server.pid)
    try:
        load, elapsed = asyncio.run(
            drive(port, token, connections=args.connections, seconds=args.seconds,
                  batch=args.batch, prefix="S")
        )  # fmt: skip
        server_cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    latencies = np.array(load.latencies) * 1000
    rate = len(load.acknowledged) / elapsed
    print(f"database: {store.dialect}; {args.connections} connections; {args.batch} per request")
    print(f"sustained: {len(load.acknowledged):,} reports acknowledged in {elapsed:.1f} s "
          f"= {rate:,.0f} reports/s ({len(load.latencies) / elapsed:,.0f} requests/s)")  # fmt: skip
    print(f"latency per request: p50 {np.percentile(latencies, 50):.1f} ms, "
          f"p99 {np.percentile(latencies, 99):.1f} ms; statuses {load.statuses}")  # fmt: skip
    # CPU the server spent, whatever share of the machine it got: the figure that does not
    # depend on what else the machine was doing.
    per_report = server_cpu / max(len(load.acknowledged), 1) * 1000
    print(f"server CPU: {server_cpu:.1f} s = {per_report:.2f} ms per report "
          f"({len(load.acknowledged) / max(server_cpu, 1e-9):,.0f} reports per CPU-second); "
          f"load average before/after: {load_before} / {os.getloadavg()[0]:.2f}")  # fmt: skip

    # Kill -9 while requests are in flight, then count what survived.
    port = free_port()
    server = start_server(env, port)

    async def until_killed() -> Load:
        task = asyncio.create_task(
            drive(port, token, connections=args.connections, seconds=args.kill_after + 5,
                  batch=args.batch, prefix="K")
        )  # fmt: skip
        await asyncio.sleep(args.kill_after)
        server.send_signal(signal.SIGKILL)
        killed_load, _ = await task
        return killed_load

    killed = asyncio.run(until_killed())
    server.wait(timeout=30)
    store = open_store(settings)
    with store.session() as db:
        stored = set(
            db.scalars(
                select(ProviderReport.provider_report_id).where(
                    ProviderReport.source == "api:bench-provider"
                )
            )
        )
    store.dispose()
    acknowledged = set(load.acknowledged) | set(killed.acknowledged)
    lost = acknowledged - stored
    print(f"kill -9 after {args.kill_after:.0f} s: {len(killed.acknowledged):,} more acknowledged; "
          f"{len(acknowledged):,} acknowledged in all, {len(stored):,} stored, "
          f"{len(lost)} lost")  # fmt: skip
    if lost:
        raise SystemExit(f"LOST {len(lost)} acknowledged reports, e.g. {sorted(lost)[:5]}")


if __name__ == "__main__":
    main()
