"""Transactions of a long bulk write (an ingest run) on one connection set up for it.

SQLite in write-ahead-log mode writes each changed page twice: into the log when a transaction
commits, and into the database file at a checkpoint, syncing to disk. By default the connection that
commits also checkpoints, as soon as the log passes 1,000 pages. A bulk intake changes index pages
all over the file in every batch (hash values and pseudonyms are random keys), so it checkpointed
after every batch and waited on the disk there (in a 100,000-report run the transactions took 38.6 s
of wall time for 27.2 s of CPU). Here the writing connection never checkpoints; a thread with its
own connection checkpoints the committed pages every few seconds (a page changed by several batches
is copied once), off the writer's path (SQLite works without Python's global lock). Its page cache
is large for the same reason: index pages are otherwise read again for most rows. Durability does
not change: a transaction is committed when ``transaction()`` returns. PostgreSQL checkpoints in its
own server processes; there only the transactions are given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from safeguarding.store.engine import Store

Transactions = Callable[[], AbstractContextManager[Session]]

_CACHE_KIB = 131_072  # the writing connection's page cache
_CHECKPOINT_EVERY = 5.0  # seconds between checkpoints of the background thread


@contextmanager
def bulk_transactions(store: Store) -> Iterator[Transactions]:
    """A factory of transactions (each a session that commits on success and rolls back on
    error) on one connection, for as long as the block runs."""
    with store.engine.connect() as connection:
        database = store.engine.url.database
        if store.dialect != "sqlite" or not database or database == ":memory:":
            yield _transactions_on(connection)  # a database in memory has no log to checkpoint
            return
        before = {name: _pragma(connection, name) for name in ("cache_size", "wal_autocheckpoint")}
        _set(connection, cache_size=-_CACHE_KIB, wal_autocheckpoint=0)
        stop = threading.Event()
        checkpoints = threading.Thread(
            target=_checkpoint_until, args=(store.engine, stop), name="checkpoints", daemon=True
        )
        checkpoints.start()
        try:
            yield _transactions_on(connection)
        finally:
            stop.set()
            checkpoints.join()
            connection.rollback()
            _set(connection, **before)


def _transactions_on(connection: Connection) -> Transactions:
    """Transactions on ``connection``, each in a session of its own."""

    @contextmanager
    def transaction() -> Iterator[Session]:
        with Session(bind=connection, expire_on_commit=False) as session, session.begin():
            yield session

    return transaction


def _pragma(connection: Connection, name: str) -> int:
    value = connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
    connection.rollback()
    return int(value)


def _set(connection: Connection, **values: int) -> None:
    for name, value in values.items():
        connection.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
    connection.commit()


def _checkpoint_until(engine: Engine, stop: threading.Event) -> None:
    """Passive checkpoints (they never wait for the writer) every ``_CHECKPOINT_EVERY`` seconds
    until ``stop`` is set. One that finds the log busy is simply tried again next time; without
    a connection of its own the log just grows until the writer's checkpointing is restored."""
    try:
        connection = engine.connect()
    except SQLAlchemyError:
        return
    with connection:
        while not stop.wait(_CHECKPOINT_EVERY):
            with suppress(OperationalError):
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
            connection.rollback()
