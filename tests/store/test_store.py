"""The store: migrations to every head, SQLite pragmas, clear errors for bad URLs, old schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from safeguarding.config import Settings, sqlite_url
from safeguarding.errors import StoreError
from safeguarding.evidence import shipped_evidence
from safeguarding.evidence.store_sync import sync_evidence
from safeguarding.store import Store, open_store
from safeguarding.store.engine import (
    READ_ONLY_FS,
    alembic_config,
    cannot_connect,
    make_engine,
    normalise_url,
    why_unwritable,
)
from safeguarding.store.models import EvidenceFigureRow


def test_fresh_store_is_at_every_head(store: Store) -> None:
    assert store.current_revisions() == store.head_revisions()
    assert store.head_revisions()
    assert "evidence_figure" in inspect(store.engine).get_table_names()


def test_evidence_round_trips_through_the_store(store: Store) -> None:
    base = shipped_evidence()
    with store.session() as session:
        assert sync_evidence(session, base) == len(base)
    with store.session() as session:
        rows = {row.id: row for row in session.scalars(select(EvidenceFigureRow))}
    assert set(rows) == set(base.figures)
    for figure in base:
        row = rows[figure.id]
        assert (row.source, row.tag, row.statement) == (figure.source, figure.tag, figure.statement)
        assert row.values == figure.as_dict()["values"]


def test_sync_twice_does_not_duplicate(store: Store) -> None:
    with store.session() as session:
        sync_evidence(session, shipped_evidence())
    with store.session() as session:
        sync_evidence(session, shipped_evidence())
    with store.session() as session:
        count = session.scalar(text("SELECT count(*) FROM evidence_figure"))
    assert count == len(shipped_evidence())


def test_session_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        sync_evidence(session, shipped_evidence())
        raise RuntimeError("boom")
    with store.session() as session:
        assert session.scalar(text("SELECT count(*) FROM evidence_figure")) == 0


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "x.db"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "bad database URL"),
        ("mysql://u:secret@h/db", "only SQLite and PostgreSQL"),
    ],
)
def test_bad_database_url_is_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        make_engine(url)
    assert "secret" not in str(caught.value)


_PASSWORD = "Hunter2"
_URL_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


@given(
    scheme=st.sampled_from(["postgresql", "postgresql+psycopg", "postgres", "sqlite", "pg", ""]),
    separator=st.sampled_from(["://", ":/", ":", ":///", "//", ""]),
    user=_URL_TEXT.filter(lambda text: "@" not in text),
    password=_URL_TEXT.map(lambda text: _PASSWORD + text).filter(
        lambda text: not set(text) & set("@/?#")
    ),
    at=st.sampled_from(["@", ""]),
    rest=st.sampled_from(["db.example/sg", "db.example:54x2/sg", "h:5432/sg", "/sg", "", "h:"])
    | _URL_TEXT,
)
@settings(max_examples=300, deadline=None)
def test_a_database_url_is_never_shown_with_its_password(
    scheme: str, separator: str, user: str, password: str, at: str, rest: str
) -> None:
    """However mistyped (one slash, a letter in the port, the host forgotten), a URL is either
    refused by a message that does not hold its password, or accepted and shown without it."""
    assume(_PASSWORD not in user + rest)
    raw = f"{scheme}{separator}{user}:{password}{at}{rest}"
    try:
        url = normalise_url(raw)
    except StoreError as exc:
        assert _PASSWORD not in str(exc)
    else:
        # A SQLite URL has no password: its path is shown as given.
        if url.get_backend_name() == "postgresql":
            assert _PASSWORD not in url.render_as_string(hide_password=True)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("postgresql:/sg:Hunter2-secret@db.example/sg", "postgresql:/***@db.example/sg"),
        (
            "postgresql://sg:Hunter2-secret@db.example:54x2/sg",
            "postgresql://***@db.example:54x2/sg",
        ),
        ("postgresql://sg:Hunter2-secret/sg", "postgresql://sg:***"),
        ("postgresql:///sg:Hunter2-secret@db.example/sg", "postgresql:///***@db.example/sg"),
    ],
)
def test_a_mistyped_database_url_is_refused_with_its_password_masked(raw: str, shown: str) -> None:
    with pytest.raises(StoreError) as caught:
        normalise_url(raw)
    assert str(caught.value).startswith(f"bad database URL {shown!r}: expected ")


def test_unreachable_postgres_names_the_server_and_hides_the_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://user:hunter2@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot connect to the database") as caught:
        open_store(settings)
    assert "hunter2" not in str(caught.value)


def test_outdated_schema_is_refused_or_upgraded(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_url(tmp_path / "old.db"))
    with pytest.raises(StoreError, match="run: safeguarding db upgrade"):
        open_store(settings, on_outdated="refuse")
    upgraded = open_store(settings)
    assert upgraded.is_current()
    upgraded.dispose()
    again = open_store(settings, on_outdated="refuse")
    assert again.is_current()
    again.dispose()


def test_migrations_create_exactly_the_models(store: Store) -> None:
    """Hand-written migrations and the models must agree, on every backend."""
    import safeguarding.store.models  # noqa: F401
    from safeguarding.store.base import Base

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_migration_goes_down_and_up_again(store: Store) -> None:
    """Each downgrade undoes its upgrade: down to an empty schema and up again ends where the
    models are, on every backend (SQLite's deletion triggers included)."""
    import safeguarding.store.models  # noqa: F401
    from safeguarding.store.base import Base

    config = alembic_config(store.engine)
    command.downgrade(config, "base")
    with store.engine.connect() as connection:
        assert inspect(connection).get_table_names() == ["alembic_version"]
    command.upgrade(config, "heads")
    assert store.is_current()
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        if store.dialect == "sqlite":
            triggers = connection.exec_driver_sql(
                "SELECT name FROM sqlite_schema WHERE type = 'trigger'"
            ).all()
            assert len(triggers) == 6


def test_a_database_error_does_not_carry_the_values_it_was_given(store: Store) -> None:
    # Errors end up in logs; the values of a statement can be password hashes or tokens.
    secret = "a-value-that-must-not-be-logged"
    with pytest.raises(DBAPIError) as caught, store.engine.begin() as connection:
        connection.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": secret})
    assert "no_such_table" in str(caught.value) and secret not in str(caught.value)


def test_a_store_on_a_read_only_file_system_is_refused_naming_the_cause(tmp_path: Path) -> None:
    """SQLite in WAL mode writes -wal and -shm files beside the database even to read it, so a
    store on read-only media (an evidence copy) cannot be opened; the driver only says "unable to
    open database file". The error is the driver's own, from a directory it cannot write in."""
    with pytest.raises(sqlite3.OperationalError) as caught:
        sqlite3.connect(tmp_path / "missing" / "safeguarding.db")
    error = cannot_connect("sqlite:////evidence/safeguarding.db", caught.value, READ_ONLY_FS)
    assert str(error) == (
        "cannot connect to the database sqlite:////evidence/safeguarding.db: unable to open "
        "database file (read-only file system: the SQLite store needs to write its -wal and -shm "
        "files beside the database; copy it to a writable directory)"
    )
    assert str(cannot_connect("sqlite:///x.db", caught.value, None)) == (
        "cannot connect to the database sqlite:///x.db: unable to open database file"
    )
    assert why_unwritable(tmp_path) is None
