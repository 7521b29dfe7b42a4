"""Migrations on a store in use: no revision may lose a row, and upgraders may not collide.

SQLite rebuilds a table for most ALTERs (Alembic's batch mode: copy, drop, rename); with foreign
keys on, the drop cascades to every table that refers to it. A store with data in every table is
walked up one revision at a time and each step must keep every row of every table it keeps.
Two processes upgrading one store at once must both end at the current schema.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, func, insert, inspect, select, text

from safeguarding.config import Settings, sqlite_url
from safeguarding.errors import ConfigError, StoreError
from safeguarding.store import Store, open_store
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


def _upgrade_in_a_process(url: str, home: str, start: Any, results: Any) -> None:
    """One upgrader, as a command opening an outdated store does; reports "ok" or its error."""
    start.wait()
    try:
        opened = open_store(Settings(home=Path(home), database_url=url))
        opened.dispose()
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")
    else:
        results.put("ok")


def _leftovers(store: Store) -> list[str]:
    return [name for name in inspect(store.engine).get_table_names() if name.startswith("_alembic")]


def test_two_processes_upgrading_at_once_both_end_at_the_current_schema(store: Store) -> None:
    """Two commands opening the same outdated store together (a restart of the web app while a
    scheduled ingest starts) both upgraded it: on PostgreSQL the second failed on a column the
    first had added; on SQLite it failed half-way and left a ``_alembic_tmp_*`` table behind."""
    import safeguarding.store.models  # noqa: F401
    from safeguarding.store.base import Base

    config = alembic_config(store.engine)
    context = multiprocessing.get_context("spawn")
    url = store.engine.url.render_as_string(hide_password=False)
    for _round in range(3):
        command.downgrade(config, "base")
        start, results = context.Barrier(2), context.Queue()
        workers = [
            context.Process(
                target=_upgrade_in_a_process,
                args=(url, str(store.settings.home), start, results),
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [results.get(timeout=5) for _ in workers] == ["ok", "ok"]
        assert store.is_current()
        assert _leftovers(store) == []
    with store.engine.connect() as connection:
        migration = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(migration, Base.metadata) == []


def test_a_migration_that_would_break_a_foreign_key_changes_nothing(tmp_path: Path) -> None:
    """SQLite: the foreign key check runs before the migrations commit, so a store with a row
    pointing at nothing is refused whole, not left half-migrated. (PostgreSQL checks every
    foreign key as each row is written: such a row cannot be there.)"""
    store = Store(Settings(home=tmp_path, database_url=sqlite_url(tmp_path / "old.db")))
    command.upgrade(alembic_config(store.engine), "platforms_0001")
    with store.engine.begin() as connection:
        _fill_empty_tables(connection)
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.execute(text("UPDATE platform_assessment SET run_id = 999"))
        connection.commit()
    before = store.current_revisions()
    with pytest.raises(StoreError, match="foreign key points at no row") as caught:
        store.upgrade()
    assert "nothing was changed" in str(caught.value)
    assert store.current_revisions() == before
    assert _leftovers(store) == []
    store.dispose()


def test_an_upgrade_waiting_out_another_writer_is_reported_busy_and_changes_nothing(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path / "old.db")
    old = Store(Settings(home=tmp_path, database_url=url))
    command.upgrade(alembic_config(old.engine), "platforms_0001")
    before = old.current_revisions()
    old.dispose()
    impatient = Store(
        Settings(home=tmp_path, database_url=url, options={"store": {"busy_timeout_seconds": 0.2}})
    )
    writer = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="is busy: another process is writing to it"):
            impatient.upgrade()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert impatient.current_revisions() == before
    assert impatient.upgrade()
    assert impatient.is_current()
    impatient.dispose()


@pytest.mark.parametrize("value", [-1, "30", True, 86400])
def test_a_busy_timeout_that_is_no_number_of_seconds_is_refused(
    tmp_path: Path, value: object
) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=sqlite_url(tmp_path / "x.db"),
        options={"store": {"busy_timeout_seconds": value}},
    )
    with pytest.raises(ConfigError, match=r"\[store\] busy_timeout_seconds = .*: must be a number"):
        Store(settings)
