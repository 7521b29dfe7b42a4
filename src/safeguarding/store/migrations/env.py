"""Alembic environment: runs migrations on the engine the Store hands over.

Each area of the system keeps its own branch of migrations (``branch_labels``) rooted on the core
revision, so areas evolve their tables independently and ``upgrade heads`` brings all of them up.
SQLite needs batch mode for ALTER TABLE; it is switched on for every migration.

On SQLite, batch mode rebuilds a table (copy, drop, rename). The store opens every connection with
foreign keys on, and dropping the old table would then cascade to every table that refers to it
(``ON DELETE CASCADE`` deletes their rows, ``SET NULL`` blanks them). So the migrating connection
runs with foreign keys off, as SQLite's own procedure for altering a table says, and checks them
all (``PRAGMA foreign_key_check``) before it is done.

Two processes may upgrade the same outdated store at once (the web app restarting while a
scheduled ingest starts, after an update). Upgrades are serialised, and each reads the current
revision only once it holds the lock, so the second finds nothing left to do: on PostgreSQL a
transaction-scoped advisory lock; on SQLite the write lock, taken at once by ``BEGIN IMMEDIATE``.
For that the migrating connection's driver is told to leave transactions to SQLAlchemy (the
sqlite3 module otherwise opens them only before INSERT/UPDATE/DELETE and runs DDL outside any, so
a failed migration left half a schema behind). All migrations then run in one transaction on both
backends: a failure, or a broken foreign key, leaves the store as it was.
"""

from typing import Any

from alembic import context
from sqlalchemy import Connection, event

import safeguarding.store.models  # noqa: F401  (registers every table on the metadata)
from safeguarding.errors import StoreError
from safeguarding.store.base import Base

engine = context.config.attributes["engine"]

# Any fixed number names the lock; an advisory lock belongs to one database, so this serialises
# the upgraders of one store and no others.
MIGRATION_LOCK_KEY = 0x5AFE_6A2D


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse to finish a SQLite migration that leaves a row pointing at nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({f"{row[0]} -> {row[2]}" for row in broken})
        raise StoreError(
            f"migrating would leave {len(broken)} row(s) whose foreign key points at no row "
            f"({', '.join(tables)}); nothing was changed"
        )


def _set_foreign_keys(driver_connection: Any, on: bool) -> None:
    """SQLite ignores this pragma inside a transaction, so it goes to the driver's connection
    directly, before SQLAlchemy begins one."""
    driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    driver_connection = connection.connection.driver_connection
    if sqlite:
        _set_foreign_keys(driver_connection, on=False)
        # SQLAlchemy's recipe for transactions on pysqlite: the driver begins none itself, and
        # SQLAlchemy's begin is a BEGIN IMMEDIATE (for this connection only).
        isolation_level = driver_connection.isolation_level
        driver_connection.isolation_level = None
        event.listen(connection, "begin", _begin_immediate)
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            if not sqlite:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
    finally:
        if sqlite:
            connection.rollback()
            event.remove(connection, "begin", _begin_immediate)
            driver_connection.isolation_level = isolation_level
            _set_foreign_keys(driver_connection, on=True)
