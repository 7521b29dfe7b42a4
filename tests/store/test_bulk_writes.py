"""Transactions of a bulk write: committed or rolled back whole, SQLite checkpointed off the
writer's path, the connection's settings given back."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, func, select

from safeguarding.store import Store, bulk_writes
from safeguarding.store.bulk_writes import bulk_transactions
from safeguarding.store.models import IngestRun


def _run(source: str) -> IngestRun:
    return IngestRun(
        source=source, started_at=datetime.now(UTC), reports_stored=0, reports_unchanged=0,
        files_stored=0, quarantined=0, matches=0,
    )  # fmt: skip


def test_each_transaction_commits_or_rolls_back_whole(store: Store) -> None:
    with bulk_transactions(store) as transaction:
        with transaction() as session:
            session.add(_run("kept"))
        with pytest.raises(RuntimeError), transaction() as session:
            session.add(_run("lost"))
            session.flush()
            raise RuntimeError("a batch fails half way")
        with transaction() as session:
            session.add(_run("after"))
    with store.session() as session:
        sources = session.scalars(select(IngestRun.source).order_by(IngestRun.id)).all()
    assert sources == ["kept", "after"]


def _pragma(connection: Connection, name: str) -> int:
    return int(connection.exec_driver_sql(f"PRAGMA {name}").scalar_one())


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_sqlite_log_is_checkpointed_in_the_background_and_settings_restored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_writes, "_CHECKPOINT_EVERY", 0.2)
    database = store.engine.url.database
    assert database is not None
    with store.engine.connect() as connection:
        before = {name: _pragma(connection, name) for name in ("cache_size", "wal_autocheckpoint")}
    with bulk_transactions(store) as transaction:
        with transaction() as session:
            # The writing connection itself never checkpoints, whatever the log's size.
            assert _pragma(session.connection(), "wal_autocheckpoint") == 0
            assert _pragma(session.connection(), "cache_size") < before["cache_size"]
            session.add_all(_run(f"run {number}") for number in range(3000))
        size = _file_size(database)
        deadline = time.monotonic() + 30
        while _file_size(database) == size and time.monotonic() < deadline:
            time.sleep(0.1)
        grown = _file_size(database) > size  # pages copied from the log by the thread
    assert grown
    with store.engine.connect() as connection:
        assert {name: _pragma(connection, name) for name in before} == before
        assert connection.scalar(select(func.count()).select_from(IngestRun)) == 3000


def _file_size(path: str) -> int:
    with open(path, "rb") as handle:
        return handle.seek(0, 2)
