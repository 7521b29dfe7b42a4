"""Alembic environment: runs migrations on the engine the Store hands over.

Each area of the system keeps its own branch of migrations (``branch_labels``) rooted on the core
revision, so areas evolve their tables independently and ``upgrade heads`` brings all of them up.
SQLite needs batch mode for ALTER TABLE; it is switched on for every migration.

On SQLite, batch mode rebuilds a table (copy, drop, rename). The store opens every connection with
foreign keys on, and dropping the old table would then cascade to every table that refers to it
(``ON DELETE CASCADE`` deletes their rows, ``SET NULL`` blanks them). So the migrating connection
runs with foreign keys off, as SQLite's own procedure for altering a table says, and checks them
all (``PRAGMA foreign_key_check``) before it is done.
"""

from typing import Any

from alembic import context
from sqlalchemy import Connection

import safeguarding.store.models  # noqa: F401  (registers every table on the metadata)
from safeguarding.errors import StoreError
from safeguarding.store.base import Base

engine = context.config.attributes["engine"]


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse to finish a SQLite migration that leaves a row pointing at nothing."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({f"{row[0]} -> {row[2]}" for row in broken})
        raise StoreError(
            f"migrating left {len(broken)} row(s) whose foreign key points at no row "
            f"({', '.join(tables)}); the migration is not applied"
        )


def _set_foreign_keys(driver_connection: Any, on: bool) -> None:
    """SQLite ignores this pragma inside a transaction, so it goes to the driver's connection
    directly, before SQLAlchemy begins one."""
    driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    driver_connection = connection.connection.driver_connection
    if sqlite:
        _set_foreign_keys(driver_connection, on=False)
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _check_foreign_keys(connection)
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            _set_foreign_keys(driver_connection, on=True)
