"""Benchmark: the triage queue page and ``GET /api/queue`` over 1 M reports, served on loopback.

Fills a fresh SQLite store (or ``--database-url``) with ``--reports`` synthetic reports: the triage
core (``triage.synthetic.generate`` and ``triage.engine.run`` with the shipped policy) gives each
report its level, score, route and work item, and the rows go in by bulk insert (report rows with
only the columns the queue reads, one priority decision each, one triage run with the queue's input
stored as ``triage run`` stores it). Then the app is served by uvicorn on loopback and timed from a
client over HTTP: the first request (which reads the run's stored queue input, kept until the next
run, and builds the work items), then ``--requests`` page requests at random pages (the cached
plan), then requests with a new capacity each (the plan recomputed over the cached items), for the
page and for the API; then one outcome is recorded through the API, answered after the work items
are rebuilt from the kept input (timed), and the next pages are timed. Filling is not counted.

Run: .venv/bin/python benchmarks/web_queue.py [--reports N] [--requests N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import numpy as np
import uvicorn
from sqlalchemy import insert

from safeguarding.access import accounts
from safeguarding.access.audit import cli_actor
from safeguarding.config import Settings, sqlite_url
from safeguarding.store import Store, open_store
from safeguarding.store.models import PriorityDecision, ProviderReport, TriageRun
from safeguarding.store.models.access import UserRow
from safeguarding.triage.cluster_content import ContentSettings
from safeguarding.triage.cluster_subjects import SubjectSettings
from safeguarding.triage.engine import Previous, run
from safeguarding.triage.input_cache import write_cache
from safeguarding.triage.policy import load_policy
from safeguarding.triage.synthetic import generate
from safeguarding.web.app import create_app
from safeguarding.web.auth import SESSION_COOKIE, start_session
from safeguarding.web.options import WebOptions

CHUNK = 50_000
INCIDENT = "Child Pornography (possession, manufacture, and distribution)"


def fill(store: Store, n_reports: int, seed: int) -> dict[str, float]:
    """Synthetic reports and their triage results, bulk inserted; returns timings (s)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = generate(
        n_reports=n_reports, files_per_report=2.0, n_families=max(1, n_reports // 16), seed=seed
    )
    policy = load_policy()
    result = run(
        data.reports, data.files, data.identifiers,
        Previous.none(len(data.reports), len(data.files)), policy,
        ContentSettings(), SubjectSettings(),
    )  # fmt: skip
    timings["generate and triage"] = time.perf_counter() - started
    started = time.perf_counter()
    now = datetime.now(UTC)
    ids = data.reports.report_id
    received = data.reports.received_at
    priorities = result.priorities
    level_names = [priorities.level_name(i) for i in range(len(ids))]
    route_names = [priorities.route_name(i) for i in range(len(ids))]
    with store.session() as db:
        run_row = TriageRun(
            started_at=now, finished_at=now, mode="full", policy=policy.label,
            policy_digest=policy.digest, reports=len(ids), new_reports=len(ids),
            new_files=len(data.files), content_clusters=result.content_summary.height,
            subjects=result.subject_summary.height, merged_clusters=0, merged_subjects=0,
            compared=0, changed_level=0, raised=0, lowered=0,
        )  # fmt: skip
        db.add(run_row)
        db.flush()
        run_id = run_row.id
    for start in range(0, len(ids), CHUNK):
        stop = min(start + CHUNK, len(ids))
        reports = [
            {
                "id": int(ids[i]), "source": "bench-synthetic", "provider_report_id": f"B{ids[i]}",
                "content_digest": hashlib.sha256(str(ids[i]).encode()).hexdigest(),
                "format": "jsonl", "incident_type": INCIDENT, "provider": "Example Provider 1",
                "received_at": datetime.fromtimestamp(int(received[i]), tz=UTC),
            }
            for i in range(start, stop)
        ]  # fmt: skip
        decisions = [
            {
                "report_id": int(ids[i]), "subject_id": int(result.report_subject[i]),
                "work_item": int(result.work_item[i]), "level": level_names[i],
                "score": float(priorities.score[i]), "route": route_names[i],
                "detection": "no_list_match", "reasons": [], "policy": policy.label,
                "policy_digest": policy.digest, "run_id": run_id, "decided_at": now,
            }
            for i in range(start, stop)
        ]  # fmt: skip
        with store.session() as db:
            db.execute(insert(ProviderReport), reports)
            db.execute(insert(PriorityDecision), decisions)
    # The columns a run leaves in the input cache that the queue is built from.
    queue_input = {
        "p_work_item": result.work_item, "r_id": ids, "p_level": priorities.level,
        "p_score": priorities.score, "r_received": received, "p_route": priorities.route,
    }  # fmt: skip
    with store.session() as db:
        write_cache(db, queue_input, {}, {"run": run_id}, None)
    timings["bulk insert"] = time.perf_counter() - started
    return timings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.text[:200]}")
    return elapsed


def series(label: str, values: list[float]) -> None:
    array = np.array(values)
    print(
        f"{label:<44} n={array.size:<4} p50 {np.percentile(array, 50):7.1f} ms   "
        f"p99 {np.percentile(array, 99):7.1f} ms   (target <= 300 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sg-bench-queue-"))
    url = args.database_url or sqlite_url(home / "safeguarding.db")
    store = open_store(Settings(home=home, database_url=url))
    timings = fill(store, args.reports, args.seed)
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.1f} s (not counted)")
    with store.session() as db:
        accounts.add_user(db, "bench-analyst", "analyst", None, cli_actor())
        token = accounts.create_token(db, "bench-analyst", "benchmark", cli_actor()).secret
    app = create_app(store, WebOptions(secure_cookies=False))
    with store.session() as db:
        user = db.query(UserRow).filter(UserRow.name == "bench-analyst").one()
    cookie, _ = start_session(app.state.auth, user)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rng = np.random.default_rng(args.seed)
    base = f"http://127.0.0.1:{port}"
    try:
        with (
            httpx.Client(base_url=base, cookies={SESSION_COOKIE: cookie}, timeout=600) as page,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=600
            ) as api,
        ):
            first = timed(page, "/queue", {})
            print(f"database: {store.dialect}; {args.reports:,} reports; load {os.getloadavg()}")
            print(f"first request (reads the run's queue input, builds work items): {first:.0f} ms")
            pages = [str(int(p)) for p in rng.integers(1, 200, size=args.requests)]
            series("GET /queue, random pages", [timed(page, "/queue", {"page": p}) for p in pages])
            series(
                "GET /api/queue, random pages",
                [timed(api, "/api/queue", {"page": p}) for p in pages],
            )
            capacities = [
                f"{c:.1f}" for c in rng.uniform(10, 400, size=max(10, args.requests // 5))
            ]
            series(
                "GET /queue, a new capacity each (re-plan)",
                [timed(page, "/queue", {"capacity_hours": c}) for c in capacities],
            )
            series(
                "GET /api/queue?period=month, new capacity",
                [
                    timed(api, "/api/queue", {"capacity_hours": c, "period": "month"})
                    for c in capacities
                ],
            )
            report = api.get("/api/queue").json()["items"][0]["reports"][0]
            started = time.perf_counter()
            recorded = api.post(
                f"/api/reports/{report}/outcome", json={"result": "duplicate", "minutes": 5}
            )
            posted = (time.perf_counter() - started) * 1000
            assert recorded.status_code == 200, recorded.text
            print(f"POST outcome (stored, then the work items rebuilt): {posted:.0f} ms")
            after = timed(page, "/queue", {})
            print(f"first page request after the outcome: {after:.0f} ms")
            series(
                "GET /queue after that, random pages",
                [timed(page, "/queue", {"page": p}) for p in pages],
            )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        store.dispose()


if __name__ == "__main__":
    main()
