"""Migrations on a store that holds data: no revision may lose a row, on any backend.

SQLite rebuilds a table for most ALTERs (Alembic's batch mode: copy, drop, rename); with foreign
keys on, the drop cascades to every table that refers to it. A store with data in every table is
walked up one revision at a time and each step must keep every row of every table it keeps.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, func, insert, select

from safeguarding.store import Store
from safeguarding.store.engine import alembic_config

_SAMPLES: dict[type, Any] = {
    bool: False,
    int: 1,
    float: 0.5,
    Decimal: Decimal(1),
    str: "x",
    bytes: b"x",
    datetime: datetime(2024, 1, 1, 12, 0),
    date: date(2024, 1, 1),
    dict: {},
    list: [],
}


def _sample(column: Any) -> Any:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return "x"
    return _SAMPLES.get(python_type, "x")


def _fill_empty_tables(connection: Connection) -> None:
    """One row in every empty table, every column set (keys too, as one row never collides;
    nullable columns too: a ``SET NULL`` is as much a loss as a deleted row), foreign keys
    pointing at rows of the tables they refer to."""
    metadata = MetaData()
    metadata.reflect(connection)
    for table in metadata.sorted_tables:
        if table.name == "alembic_version" or connection.scalar(
            select(func.count()).select_from(table)
        ):
            continue
        row: dict[str, Any] = {}
        for column in table.columns:
            targets = [fk.column for fk in column.foreign_keys]
            if targets:
                row[column.name] = connection.scalar(select(targets[0]).limit(1))
            else:
                row[column.name] = _sample(column)
        connection.execute(insert(table).values(row))


def _counts(connection: Connection) -> dict[str, int]:
    metadata = MetaData()
    metadata.reflect(connection)
    return {
        table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
        for table in metadata.sorted_tables
        if table.name != "alembic_version"
    }


def test_no_migration_loses_a_row(store: Store) -> None:
    config = alembic_config(store.engine)
    command.downgrade(config, "base")
    revisions = reversed(list(ScriptDirectory.from_config(config).walk_revisions("base", "heads")))
    checked = 0
    for script in revisions:
        with store.engine.begin() as connection:
            _fill_empty_tables(connection)
            before = _counts(connection)
        assert all(before.values()), before
        command.upgrade(config, script.revision)
        with store.engine.connect() as connection:
            after = _counts(connection)
        kept = {name: count for name, count in after.items() if name in before}
        assert kept == {name: before[name] for name in kept}, script.revision
        checked += 1
    assert checked == len(list(ScriptDirectory.from_config(config).walk_revisions()))
    assert store.is_current()
