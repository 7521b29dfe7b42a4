"""`safeguarding serve` as a real process: it answers, and acknowledged reports survive kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import select

from safeguarding.access import accounts
from safeguarding.store import Store
from safeguarding.store.models import ProviderReport
from tests.web.conftest import SETUP
from tests.web.served import free_port
from tests.web.test_submit import report_json


def test_served_app_keeps_every_acknowledged_report_after_kill_9(store: Store, home: Path) -> None:
    with store.session() as db:
        accounts.add_user(db, "prov", "provider", None, SETUP)
        token = accounts.create_token(db, "prov", "t", SETUP).secret
    port = free_port()
    command = str(Path(sys.executable).with_name("safeguarding"))
    server = subprocess.Popen(
        [command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).json() == {"status": "ok"}:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
        acknowledged = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            for i in range(20):
                response = client.post("/api/reports", json=report_json(f"K-{i}"))
                if response.status_code == 201:
                    acknowledged.append(f"K-{i}")
            assert client.get("/api/evidence").status_code == 403
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert len(acknowledged) == 20
    printed = " ".join((server.stdout.read().decode() if server.stdout else "").split())
    assert f"serving on http://127.0.0.1:{port} (database {store.display_url})" in printed
    assert "or set [web] secure_cookies = false for plain HTTP" in printed
    with store.session() as db:
        stored = set(db.scalars(select(ProviderReport.provider_report_id)))
    assert stored == set(acknowledged)
