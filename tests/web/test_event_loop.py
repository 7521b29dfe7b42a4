"""A request waiting for the database's write lock waits on a worker thread, never on the event
loop: while another process writes (a command-line ingest, import or triage run holds SQLite's
lock, or on PostgreSQL the tables it writes), every other request is answered.

So does work that keeps a core busy for seconds (a run on request and its charts).

The app is served by uvicorn on loopback, as ``safeguarding serve`` serves it, and a second
connection of the test holds the lock that a writing command would hold."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from safeguarding.access import accounts
from safeguarding.assess.assessment import KEY_OUTPUTS
from safeguarding.platforms.sample import SAMPLE_REGISTER
from safeguarding.store import Store
from safeguarding.store.models import ProviderReport, QuarantineRecord
from safeguarding.store.models.helpline import HelplineContactRow
from safeguarding.triage.quarantine import KEYED
from safeguarding.web.routers.assess import MAX_DRAWS
from tests.web.conftest import SETUP, make_app, session_cookie
from tests.web.served import served
from tests.web.test_submit import report_json

# How long the lock is held: well under SQLite's busy timeout (30 s), so the waiting writes
# go through once it is released, and long enough that a blocked loop shows plainly.
HOLD_SECONDS = 3.0
# The longest a request may take while the writes wait: a blocked loop answers only after
# the lock is released, seconds later.
PROMPT_SECONDS = 1.0
WRITE_TIMEOUT = HOLD_SECONDS + 20


@contextmanager
def write_lock_held(store: Store, tables: str = "audit_head") -> Iterator[None]:
    """What a writing command holds meanwhile: on SQLite the database's write lock, taken by a
    second connection to the same file; on PostgreSQL, where writers of other tables go on,
    ``tables`` against every writer (the audit log's head: every audited change)."""
    if store.dialect == "sqlite":
        database = store.engine.url.database
        assert database
        connection = sqlite3.connect(database, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE audit_head SET seq = seq")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    with store.engine.connect() as holder:
        holder.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        yield
        holder.rollback()


@dataclass
class Answer:
    status: int = 0
    seconds: float = 0.0
    text: str = ""
    finished: float = 0.0  # time.monotonic() when the answer had come whole


def _in_thread(send: Callable[[], httpx.Response]) -> tuple[threading.Thread, Answer]:
    answer = Answer()

    def run() -> None:
        started = time.monotonic()
        response = send()
        answer.finished = time.monotonic()
        answer.seconds = answer.finished - started
        answer.status, answer.text = response.status_code, response.text

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, answer


def _latency(client: httpx.Client, path: str) -> float:
    """Seconds to an answer of 200, or infinity when none comes while it would still be prompt
    (a blocked loop answers only once the lock is released, which comes later)."""
    started = time.monotonic()
    try:
        response = client.get(path, timeout=PROMPT_SECONDS + 1)
    except httpx.TimeoutException:
        return float("inf")
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def while_locked(
    store: Store,
    base: str,
    writes: dict[str, Callable[[], httpx.Response]],
    tables: str = "audit_head",
) -> dict[str, Answer]:
    """Sends ``writes`` at once while the lock is held, and the open pages (``/healthz``,
    ``/login``) again and again meanwhile; returns the writes' answers, once the lock is
    released. Every open page must have been answered promptly, and every write must have
    waited for the lock (else the test proves nothing)."""
    latencies: list[float] = []
    with httpx.Client(base_url=base) as anonymous, write_lock_held(store, tables):
        locked = time.monotonic()
        waiting = {name: _in_thread(send) for name, send in writes.items()}
        while time.monotonic() - locked < HOLD_SECONDS:
            latencies += [_latency(anonymous, path) for path in ("/healthz", "/login")]
            time.sleep(0.1)
        assert [name for name, (thread, _) in waiting.items() if not thread.is_alive()] == []
    for thread, _ in waiting.values():
        thread.join(timeout=WRITE_TIMEOUT)
    answers = {name: answer for name, (_, answer) in waiting.items()}
    assert min(answer.seconds for answer in answers.values()) >= HOLD_SECONDS - PROMPT_SECONDS
    assert max(latencies) < PROMPT_SECONDS, latencies
    return answers


def _contact(month: str, entry_key: str) -> dict[str, object]:
    return {
        "month": month,
        "channel": "chat",
        "caller_type": "self_concerned",
        "age_band": "18_21",
        "help_needs": ["wants_to_stop"],
        "risk_factors": [],
        "entry_key": entry_key,
    }


def _cases(case: str) -> bytes:
    header = "case,platform,stage,role_pair,year,source"
    return f"{header}\n{case},example-chat,S2,offender-victim,2024,file\n".encode()


def test_entries_and_imports_waiting_for_the_write_lock_leave_the_app_answering(
    store: Store,
) -> None:
    with store.session() as db:
        for name, role in (("cou", "counsellor"), ("sup", "supervisor")):
            accounts.add_user(db, name, role, None, SETUP)
        counsellor = accounts.create_token(db, "cou", "t", SETUP).secret
        supervisor = accounts.create_token(db, "sup", "t", SETUP).secret
    with served(store) as base:
        cookie, csrf = session_cookie(make_app(store), store, "cou")
        sup_cookie, sup_csrf = session_cookie(make_app(store), store, "sup")
        cou_api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {counsellor}"})
        sup_api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {supervisor}"})
        cou_page = httpx.Client(base_url=base, cookies={"sg_session": cookie})
        sup_page = httpx.Client(base_url=base, cookies={"sg_session": sup_cookie})
        clients = (cou_api, sup_api, cou_page, sup_page)
        try:
            # Before the lock: each token's first use records when it was used (a write of its
            # own), and the register the case files name is stored.
            first = cou_api.post("/api/helpline/contacts", json=_contact("2025-03", "k" * 20))
            assert first.status_code == 201, first.text
            register = sup_api.post(
                "/api/platforms/import",
                params={"kind": "register", "filename": "register.yaml"},
                content=SAMPLE_REGISTER.read_bytes(),
            )
            assert register.status_code == 200, register.text
            form = cou_page.get("/helpline/entry").text
            key = re.search(r'name="entry_key" value="([^"]+)"', form)
            assert key
            writes: dict[str, Callable[[], httpx.Response]] = {
                "api entry": lambda: cou_api.post(
                    "/api/helpline/contacts",
                    json=_contact("2025-04", "m" * 20),
                    timeout=WRITE_TIMEOUT,
                ),
                "form entry": lambda: cou_page.post(
                    "/helpline/entry",
                    data={
                        "entry_key": key.group(1),
                        "month": "2025-05",
                        "caller_type": "self_concerned",
                        "csrf_token": csrf,
                    },
                    timeout=WRITE_TIMEOUT,
                ),
                "api import": lambda: sup_api.post(
                    "/api/platforms/import",
                    params={"kind": "cases", "filename": "cases.csv"},
                    content=_cases("C-1"),
                    timeout=WRITE_TIMEOUT,
                ),
                "form import": lambda: sup_page.post(
                    "/platforms/import",
                    data={"kind": "cases", "csrf_token": sup_csrf},
                    files={"file": ("more.csv", _cases("C-2"))},
                    timeout=WRITE_TIMEOUT,
                ),
            }
            answers = while_locked(store, base, writes)
        finally:
            for client in clients:
                client.close()
    assert {name: answer.status for name, answer in answers.items()} == {
        "api entry": 201,
        "form entry": 200,
        "api import": 200,
        "form import": 200,
    }, {name: answer.text[:300] for name, answer in answers.items()}
    with store.session() as db:
        months = db.scalars(select(HelplineContactRow.month).order_by(HelplineContactRow.month))
        assert list(months) == [3, 4, 5]
        assert db.scalar(select(func.count()).select_from(HelplineContactRow)) == 3


def test_the_first_report_submission_waiting_for_the_write_lock_leaves_the_app_answering(
    store: Store,
) -> None:
    """The first submission opens the intake (the PDQ index from its files, the secrets), which
    also rekeys any quarantine digest an earlier version left plain: a write, waiting for the
    lock like any other."""
    with store.session() as db:
        accounts.add_user(db, "prov", "provider", None, SETUP)
        headers = {
            "Authorization": f"Bearer {accounts.create_token(db, 'prov', 't', SETUP).secret}"
        }
    with TestClient(make_app(store), base_url="http://127.0.0.1", headers=headers) as client:
        refused = client.post("/api/reports", json={"report_id": "Q-1"})
        assert refused.status_code == 422, refused.text
    with store.session() as db:
        # A plain SHA-256 hex digest, as versions before keyed digests stored it.
        db.execute(update(QuarantineRecord).values(raw_digest="0" * 64))
    with served(store) as base, httpx.Client(base_url=base, headers=headers) as provider:
        answers = while_locked(
            store,
            base,
            {
                "report": lambda: provider.post(
                    "/api/reports", json=report_json("R-1"), timeout=WRITE_TIMEOUT
                )
            },
            tables="audit_head, quarantine_record",
        )
    assert answers["report"].status == 201, answers["report"].text
    with store.session() as db:
        [digest] = db.scalars(select(QuarantineRecord.raw_digest)).all()
        assert digest.startswith(KEYED)
        reports = db.scalars(select(ProviderReport.provider_report_id)).all()
    assert reports == ["R-1"]


def test_a_run_on_request_leaves_the_app_answering_while_it_runs_and_draws_its_charts(
    store: Store,
) -> None:
    """A run's page renders a dozen charts to SVG, seconds of CPU for three scenarios, after the
    run itself: on the event loop, no other request was answered meanwhile."""
    with store.session() as db:
        accounts.add_user(db, "sup", "supervisor", None, SETUP)
    with served(store) as base:
        cookie, csrf = session_cookie(make_app(store), store, "sup")
        form = {
            "scenarios": ["nl-status-quo", "nl-detection-orders", "nl-targeted"],
            "draws": "100",
            "seed": "1",
            "csrf_token": csrf,
        }
        with (
            httpx.Client(base_url=base, cookies={"sg_session": cookie}) as page,
            httpx.Client(base_url=base) as anonymous,
        ):
            thread, answer = _in_thread(
                lambda: page.post("/assess/run", data=form, timeout=WRITE_TIMEOUT * 3)
            )
            latencies: list[float] = []
            while thread.is_alive():
                latencies += [_latency(anonymous, path) for path in ("/healthz", "/login")]
                time.sleep(0.1)
    assert answer.status == 200, answer.text[:300]
    assert answer.text.count("<svg") >= 3 * 4
    # The run took long enough for the open pages to be asked again and again meanwhile.
    assert answer.seconds > 2 * PROMPT_SECONDS and len(latencies) > 10
    assert max(latencies) < PROMPT_SECONDS, latencies


def test_a_run_on_the_api_leaves_the_app_answering_while_it_runs_and_encodes_its_answer(
    store: Store,
) -> None:
    """The largest run the API takes keeps a core busy for a second or more: the health check,
    asked again and again from when it was sent, is answered again and again before the run's
    answer comes. Computed on the event loop, the run held each check until it was done: none
    came back meanwhile but those answered before it began. (Its comparison and the encoding of
    its answer go to the worker thread with it, but last tens of milliseconds: too short to
    show here.)"""
    with store.session() as db:
        accounts.add_user(db, "res", "researcher", None, SETUP)
        token = accounts.create_token(db, "res", "t", SETUP).secret
    run = {
        "scenarios": ["eu-status-quo", "eu-detection-orders", "eu-targeted"],
        "draws": MAX_DRAWS,
        "seed": 1,
    }
    checked: list[float] = []
    with (
        served(store) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api,
        httpx.Client(base_url=base) as anonymous,
    ):
        thread, answer = _in_thread(
            lambda: api.post("/api/assess/run", json=run, timeout=WRITE_TIMEOUT * 3)
        )
        while thread.is_alive():
            health = anonymous.get("/healthz", timeout=WRITE_TIMEOUT * 3)
            assert health.status_code == 200, health.text
            checked.append(time.monotonic())
            time.sleep(0.05)
        thread.join()
    assert answer.status == 200, answer.text[:300]
    result = json.loads(answer.text)
    assert result["scenarios"] == run["scenarios"] and result["draws"] == MAX_DRAWS
    assert [row["output"] for row in result["comparison"]] == list(KEY_OUTPUTS)
    answered_meanwhile = [at for at in checked if at < answer.finished]
    assert len(answered_meanwhile) >= 5, (len(checked), answer.seconds)


def test_the_writes_waiting_for_the_lock_hold_at_most_the_threads_the_settings_give(
    store: Store,
) -> None:
    """Each write waiting for the lock keeps a worker thread until the lock is released or the
    busy timeout passes. With ``[web] threads = 2``, two waiting writes leave no thread for a
    page meanwhile; with one thread more, the page is answered at once."""
    with store.session() as db:
        accounts.add_user(db, "cou", "counsellor", None, SETUP)
        token = accounts.create_token(db, "cou", "t", SETUP).secret
    bearer = {"Authorization": f"Bearer {token}"}
    answered: dict[int, bool] = {}
    keys = iter("abcd")
    for threads in (2, 3):
        with served(store, threads=threads) as base:
            writers = [httpx.Client(base_url=base, headers=bearer) for _ in range(2)]
            try:
                # The token's first use records itself (a write), before the lock is taken.
                assert writers[0].get("/api/openapi.json").status_code == 200
                with write_lock_held(store), httpx.Client(base_url=base) as anonymous:
                    waiting = [
                        _in_thread(
                            lambda client=client, key=next(keys): client.post(
                                "/api/helpline/contacts",
                                json=_contact("2025-03", key * 20),
                                timeout=WRITE_TIMEOUT,
                            )
                        )
                        for client in writers
                    ]
                    time.sleep(PROMPT_SECONDS)  # both writes are waiting for the lock
                    answered[threads] = _latency(anonymous, "/login") < PROMPT_SECONDS
                for thread, answer in waiting:
                    thread.join(timeout=WRITE_TIMEOUT)
                    assert answer.status == 201, answer.text
            finally:
                for client in writers:
                    client.close()
    assert answered == {2: False, 3: True}
