"""Bulk inserts through the DB-API cursor, inside the session's transaction.

SQLAlchemy's Core ``executemany`` builds a parameter dictionary per row and runs every value
through the column's bind processing on each call; at thousands of rows per batch that cost more
than the database's own work. Here each table's statement and its columns' bind processors (the
same ones SQLAlchemy would apply, so values are stored exactly as the ORM stores them) are built
once per dialect, and rows go to the driver's ``executemany`` as plain tuples.

Row ids, where the caller needs them, come from the database, never from a guess:

- PostgreSQL: ids are drawn from the table's sequence (``nextval``) first, then the rows are
  inserted with those ids, so concurrent writers can never collide.
- SQLite: multi-row ``INSERT ... VALUES ... RETURNING id``; SQLite assigns ascending ids in the
  order of the ``VALUES`` rows, and the writer holds the database's write lock from the first row
  to the end of the transaction, so the returned ids, sorted, are the rows' ids in order (the same
  rule SQLAlchemy's own bulk ``RETURNING`` relies on for SQLite).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import Boolean, DateTime, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

# SQLite allows 32,766 bound parameters per statement (since 3.32); stay well below it.
_SQLITE_MAX_PARAMETERS = 30_000
Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    """One table's insert for one set of columns on one dialect."""

    columns: tuple[str, ...]
    processors: tuple[tuple[int, Processor], ...]
    statement: str
    head: str
    placeholders: str


_PLANS: dict[tuple[str, tuple[str, ...], str, bool], _Plan] = {}


def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...], with_id: bool) -> _Plan:
    key = (table.name, columns, dialect.name, with_id)
    found = _PLANS.get(key)
    if found is not None:
        return found
    names = (("id",) if with_id else ()) + columns
    processors: list[tuple[int, Processor]] = []
    for position, name in enumerate(names):
        column_type = table.c[name].type
        if isinstance(column_type, Boolean) and dialect.name == "sqlite":
            # Stored as 1 or 0, as SQLAlchemy's processor stores it; as an exact int, sqlite3
            # binds it at once (a bool is first looked up among its adapters, six times slower).
            processors.append((position, int))
            continue
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            continue
        if isinstance(column_type, DateTime) and dialect.name == "sqlite":
            processors.append((position, _sqlite_datetime(processor)))
        else:
            processors.append((position, processor))
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.name == "sqlite" else "%s"
    placeholders = "(" + ", ".join([marker] * len(names)) + ")"
    # Table and column names come from the models, quoted by the dialect; values are bound.
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "  # noqa: S608
    found = _PLANS[key] = _Plan(names, tuple(processors), head + placeholders, head, placeholders)
    return found


def _sqlite_datetime(processor: Processor) -> Processor:
    """SQLAlchemy's SQLite text of a datetime (``YYYY-MM-DD HH:MM:SS.ffffff``, an offset
    dropped) written by ``isoformat``, in half the time of the processor's formatting;
    anything else still goes to the processor. A bulk intake binds hundreds of thousands."""

    def process(value: Any) -> Any:
        if type(value) is datetime:
            return value.isoformat(" ", "microseconds")[:26]
        return processor(value)

    return process


def _processed(
    plan: _Plan, rows: Sequence[Sequence[Any]], ids: Sequence[int] | None, *, bound: bool = False
) -> list[Any]:
    """The rows as driver parameter lists (with their ids first, if given), bind-processed unless
    they are ``bound`` already (``row_binder``)."""
    out: list[Any] = (
        [[row_id, *row] for row_id, row in zip(ids, rows, strict=True)]
        if ids is not None
        else [list(row) for row in rows]
    )
    if bound:
        return out
    for position, processor in plan.processors:
        for values in out:
            value = values[position]
            if value is not None:
                values[position] = processor(value)
    return out


def row_binder(
    dialect: Dialect, model: type[Any], columns: tuple[str, ...]
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function that bind-processes one row of values (in the order of ``columns``) for
    ``dialect`` as ``insert_values`` would: rows bound where they are built (a parse worker) go
    to ``insert_bound`` with no per-value work left for the writing process."""
    processors = _plan(dialect, model.__table__, columns, with_id=False).processors
    if not processors:
        return tuple

    def bind(values: Sequence[Any]) -> tuple[Any, ...]:
        out = list(values)
        for position, processor in processors:
            value = out[position]
            if value is not None:
                out[position] = processor(value)
        return tuple(out)

    return bind


def _columns(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The columns the rows give (all rows give the same keys); ``id`` is the database's."""
    columns = tuple(name for name in rows[0] if name != "id")
    unknown = [name for name in columns if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: no column {unknown[0]!r}")
    return columns


def insert_rows(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dictionaries with the same keys) into ``model``'s table."""
    if rows:
        columns = _columns(model.__table__, rows)
        insert_values(session, model, columns, [[row[c] for c in columns] for row in rows])


def insert_returning_ids(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert ``rows`` into ``model``'s table; returns their new ids, in row order."""
    if not rows:
        return []
    columns = _columns(model.__table__, rows)
    return insert_values_returning_ids(
        session, model, columns, [[row[c] for c in columns] for row in rows]
    )


def insert_values(
    session: Session, model: type[Any], columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``model``'s table."""
    _insert(session, model, columns, rows, bound=False)


def insert_bound(
    session: Session, model: type[Any], columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> None:
    """``insert_values`` for rows whose values are bind-processed already (``row_binder``)."""
    _insert(session, model, columns, rows, bound=True)


def _insert(
    session: Session,
    model: type[Any],
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    bound: bool,
) -> None:
    if not rows:
        return
    connection = session.connection()
    plan = _plan(connection.dialect, model.__table__, columns, with_id=False)
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(plan.statement, rows if bound else _processed(plan, rows, None))
    finally:
        cursor.close()


def insert_values_returning_ids(
    session: Session, model: type[Any], columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """Insert ``rows`` (values in the order of ``columns``) into ``model``'s table; returns their
    new ids, in row order."""
    return _insert_returning_ids(session, model, columns, rows, bound=False)


def insert_bound_returning_ids(
    session: Session, model: type[Any], columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """``insert_values_returning_ids`` for rows bind-processed already (``row_binder``)."""
    return _insert_returning_ids(session, model, columns, rows, bound=True)


def _insert_returning_ids(
    session: Session,
    model: type[Any],
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    bound: bool,
) -> list[int]:
    if not rows:
        return []
    table: Table = model.__table__
    connection = session.connection()
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                (table.name, len(rows)),
            )
            ids = [row[0] for row in cursor.fetchall()]
            plan = _plan(dialect, table, columns, with_id=True)
            cursor.executemany(plan.statement, _processed(plan, rows, ids, bound=bound))
            return ids
        plan = _plan(dialect, table, columns, with_id=False)
        per_statement = max(1, _SQLITE_MAX_PARAMETERS // len(columns))
        ids = []
        for begin in range(0, len(rows), per_statement):
            chunk = rows[begin : begin + per_statement]
            flat = list(chain.from_iterable(chunk if bound else _processed(plan, chunk, None)))
            statement = plan.head + ", ".join([plan.placeholders] * len(chunk)) + " RETURNING id"
            cursor.execute(statement, flat)
            returned = sorted(row[0] for row in cursor.fetchall())
            if len(returned) != len(chunk):
                raise RuntimeError(f"{table.name}: {len(chunk)} rows inserted, {len(returned)} ids")
            ids += returned
        return ids
    finally:
        cursor.close()


def fetch_in(
    session: Session, statement: str, keys: Sequence[Any], fixed: Sequence[Any] = ()
) -> list[Any]:
    """The rows of ``statement`` (``?`` placeholders; ``{keys}`` where the placeholders of a
    chunk of ``keys`` go, after the ``fixed`` parameters) for all ``keys``, 500 at a time."""
    connection = session.connection()
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    cursor = connection.connection.cursor()
    rows: list[Any] = []
    try:
        for begin in range(0, len(keys), 500):
            chunk = list(keys[begin : begin + 500])
            text = statement.replace("?", marker).format(keys=", ".join([marker] * len(chunk)))
            cursor.execute(text, [*fixed, *chunk])
            rows += cursor.fetchall()
    finally:
        cursor.close()
    return rows


def upsert_values(
    session: Session,
    model: type[Any],
    columns: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    *,
    key: tuple[str, ...],
    bound_columns: frozenset[str] = frozenset(),
) -> None:
    """Insert ``rows`` (values in the order of ``columns``), replacing the stored row with the
    same ``key`` (``ON CONFLICT ... DO UPDATE``, SQLite and PostgreSQL alike): one statement per
    row instead of a delete and an insert, and the indexes of columns whose value stays are left
    alone. ``bound_columns``: columns whose values are in the driver's form already (say JSON
    text built as columns, or one timestamp bound once for all rows)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    plan = _plan(dialect, model.__table__, columns, with_id=False)
    quote = dialect.identifier_preparer.quote
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in key)
    statement = (
        f"{plan.statement} ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {updates}"
    )
    skip = {columns.index(name) for name in bound_columns}
    processors = tuple((at, p) for at, p in plan.processors if at not in skip)
    cursor = connection.connection.cursor()
    try:
        if processors:
            values = _processed(dataclasses.replace(plan, processors=processors), rows, None)
            cursor.executemany(statement, values)
        else:
            cursor.executemany(statement, rows)
    finally:
        cursor.close()


def bound_value(session: Session, model: type[Any], column: str, value: Any) -> Any:
    """``value`` as the driver receives it for ``model``'s ``column`` (bind-processed once, for
    a value every row of a bulk write shares)."""
    dialect = session.connection().dialect
    processor = model.__table__.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return value if processor is None or value is None else processor(value)


def bound_epochs(
    session: Session, model: type[Any], column: str, epochs: Sequence[int] | np.ndarray
) -> list[Any]:
    """Whole epoch seconds (UTC) as the driver receives them for ``model``'s timestamp
    ``column``: what ``bind_processor(datetime)`` gives, built as one column on SQLite (its
    processor's text, ``YYYY-MM-DD HH:MM:SS.ffffff``) instead of one call per value."""
    dialect = session.connection().dialect
    processor = model.__table__.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    values = np.asarray(epochs, dtype=np.int64)
    if dialect.name == "sqlite" and processor is not None:
        text = np.datetime_as_string(values.astype("datetime64[s]").astype("datetime64[us]"))
        return [t.replace("T", " ") for t in text.tolist()]
    stamps = [datetime.fromtimestamp(v, tz=UTC) for v in values.tolist()]
    return stamps if processor is None else [processor(v) for v in stamps]
