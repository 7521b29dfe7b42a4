"""Opening the store: engine, sessions, schema version checks and migrations.

A command that needs the store calls ``open_store``; by default it brings the schema up to date
(every area's Alembic branch to its head) so that a fresh data directory just works. With
``on_outdated="refuse"`` it refuses a database that is behind, naming the command that fixes it;
with ``must_exist`` (commands that only read or change stored rows) a SQLite database that is not
there, instead of creating one.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safeguarding.config import ENV_HOME, Settings
from safeguarding.errors import ConfigError, StoreError
from safeguarding.store import keys

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/+")


def masked_url(raw: str) -> str:
    """A database URL fit to show when it is refused: the user-info (everything between the
    scheme and the last ``@``, user name too: a mistyped URL may have them in any order) becomes
    ``***``; without an ``@``, everything after the first ``:`` past the scheme (a forgotten host
    leaves ``USER:PASSWORD`` where the host and port go)."""
    scheme = _SCHEME.match(raw)
    start = scheme.end() if scheme else 0
    at = raw.rfind("@", start)
    if at >= 0:
        return f"{raw[:start]}***{raw[at:]}"
    colon = raw.find(":", start)
    return raw if colon < 0 else f"{raw[: colon + 1]}***"


def normalise_url(raw: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` means the psycopg 3 driver we ship. A URL
    that is refused is named masked (``masked_url``): it is often a real one, mistyped."""
    expected = "expected sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/NAME"
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        # ValueError: a port that is not a number (SQLAlchemy converts it while parsing).
        raise StoreError(f"bad database URL {masked_url(raw)!r}: {expected}") from exc
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise StoreError(
            f"bad database URL {masked_url(raw)!r}: only SQLite and PostgreSQL are supported"
        )
    if url.get_backend_name() == "postgresql" and (
        "@" in (url.host or "") or set(url.database or "") & set("@:/")
    ):
        # One slash too many ("postgresql:///USER:PASSWORD@HOST/NAME") parses as a database
        # named "USER:PASSWORD@HOST/NAME", which every later message would show.
        raise StoreError(f"bad database URL {masked_url(raw)!r}: {expected}")
    return url


DEFAULT_BUSY_TIMEOUT = 30.0


def busy_timeout(settings: Settings) -> float:
    """``[store] busy_timeout_seconds``: how long a SQLite write waits for another process's
    write to finish before it gives up (PostgreSQL waits for row locks as long as they are held,
    except in the web app: ``Store.bound_lock_waits``)."""
    value = settings.section("store").get("busy_timeout_seconds", DEFAULT_BUSY_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 86400:
        raise ConfigError(
            f"[store] busy_timeout_seconds = {value!r}: must be a number of seconds, "
            "0 or more and under a day"
        )
    return float(value)


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        cursor.close()

    return set_pragmas


def _null(value: None) -> None:
    """The value sqlite3 binds for None: SQL NULL, as without an adapter."""
    return value


def make_engine(raw_url: str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """An engine for the URL, with SQLite's WAL and foreign keys switched on, and a SQLite write
    waiting up to ``busy_timeout`` seconds for another's. A database error never carries the
    statement's values (``hide_parameters``): they can be password hashes, session tokens or
    pseudonyms, and errors end up in logs."""
    url = normalise_url(raw_url)
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:":
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"database directory {parent} does not exist")
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(
            f"bad database URL {url.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
        # sqlite3 binds an exact int, float or str at once; any other value, None too, is looked
        # up among its adapters and then asked to adapt itself, which costs twice as much as
        # finding an adapter. Bulk intakes bind millions of NULLs (process-wide, and harmless:
        # None still binds as NULL).
        sqlite3.register_adapter(type(None), _null)
    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


class Store:
    """The database behind one data directory: sessions and schema management."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.busy_timeout = busy_timeout(settings)
        self.engine = engine or make_engine(settings.database_url, busy_timeout=self.busy_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._keys: dict[str, bytes] = {}
        self._keys_lock = threading.Lock()
        self._lock_waits_bounded = False

    def secret(self, name: str) -> bytes:
        """The named key, checked against the fingerprint this store recorded of it (and recorded
        on a new store) the first time it is asked for, then kept: one lookup per store and key,
        however many records use it. A key the store was not written with, or a missing key
        file, is refused in one line naming the file (``keys.checked_key``); no new key file is
        made for a store that has a fingerprint. The lock: web requests ask from many threads."""
        with self._keys_lock:
            key = self._keys.get(name)
            if key is None:
                key = self._keys[name] = keys.checked_key(self, name)
            return key

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only, that never commits: a write in it fails (PostgreSQL's
        read-only transaction; SQLite's ``query_only``, set on its connection for the while),
        and it ends with a rollback. For long reads done in short pieces (the audit export),
        where holding nothing that writers wait for is the point."""
        sqlite = self.dialect == "sqlite"
        with self.engine.connect() as connection:
            connection.exec_driver_sql(
                "PRAGMA query_only = ON" if sqlite else "SET TRANSACTION READ ONLY"
            )
            session = Session(bind=connection)
            try:
                yield session
            finally:
                session.close()
                connection.rollback()
                if sqlite:
                    connection.exec_driver_sql("PRAGMA query_only = OFF")

    def head_revisions(self) -> set[str]:
        return set(ScriptDirectory.from_config(alembic_config(self.engine)).get_heads())

    def current_revisions(self) -> set[str]:
        try:
            with self.engine.connect() as connection:
                return set(MigrationContext.configure(connection).get_current_heads())
        except OperationalError as exc:
            database = self.engine.url.database
            directory = (
                Path(database).expanduser().resolve().parent
                if self.dialect == "sqlite" and database not in (None, "", ":memory:")
                else None
            )
            unwritable = why_unwritable(directory) if directory is not None else None
            raise cannot_connect(self.display_url, exc, unwritable) from exc

    def known_revisions(self) -> set[str]:
        """Every revision this version has a migration for."""
        scripts = ScriptDirectory.from_config(alembic_config(self.engine))
        return {script.revision for script in scripts.walk_revisions()}

    def refuse_newer(self) -> None:
        """Refuse a database a newer version of safeguarding migrated: its revision has no
        script here, so upgrading cannot reach it (Alembic cannot even place it), and this
        version's code may not fit its tables. Nothing short of a newer version helps."""
        newer = self.current_revisions() - self.known_revisions()
        if newer:
            raise StoreError(
                f"the database {self.display_url} is at a newer schema ({', '.join(sorted(newer))})"
                " than this version of safeguarding knows; upgrade safeguarding"
            )

    def is_current(self) -> bool:
        self.refuse_newer()
        return self.current_revisions() == self.head_revisions()

    def upgrade(self) -> list[str]:
        """Apply every pending migration; returns the revisions applied. The migrations run in
        one transaction, after any other upgrader of the same store has finished (see the
        migration environment), so a failure leaves the store as it was and is reported as one
        line, not as a driver's error with its SQL."""
        self.refuse_newer()
        before = self.current_revisions()
        if before == self.head_revisions():
            # Nothing to do, and no need to wait for the write lock that migrating takes.
            return []
        try:
            command.upgrade(alembic_config(self.engine), "heads")
        except (SQLAlchemyError, CommandError) as exc:
            if is_busy(exc):
                raise self.busy_error() from exc
            raise StoreError(
                f"cannot migrate the database {self.display_url}: {_first_line(exc)}; "
                "nothing was changed"
            ) from exc
        after = self.current_revisions()
        return sorted(after - before)

    def bound_lock_waits(self) -> None:
        """End every wait of this store's connections for another transaction's lock after the
        busy timeout, on PostgreSQL as on SQLite (whose busy timeout does so already), failing
        the statement as busy (``is_busy``). For the web app: a request waiting for a lock keeps
        a worker thread, and on PostgreSQL it waited as long as the lock was held, so writes
        waiting behind one long command could take every thread and stop the app answering.
        Not for the command line, which waits (a migration waits for another upgrader's)."""
        if self.dialect != "postgresql" or self._lock_waits_bounded:
            return
        # lock_timeout = 0 means no limit; a busy timeout of 0 means do not wait.
        milliseconds = max(1, round(self.busy_timeout * 1000))

        def set_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = {milliseconds}")
            # A SET is undone with its transaction; the pool's reset rolls back.
            dbapi_connection.commit()

        event.listen(self.engine, "connect", set_lock_timeout)
        # Connections opened before (checking the schema at start) are closed, not reused.
        self.engine.dispose()
        self._lock_waits_bounded = True

    def busy_error(self) -> StoreError:
        """What to tell a user whose write waited out the busy timeout (see ``is_busy``)."""
        return StoreError(f"the database {self.display_url} {BUSY}")

    def dispose(self) -> None:
        self.engine.dispose()


# The command line and the web app tell a write that waited out the busy timeout the same thing.
BUSY = "is busy: another process is writing to it; try again when it has finished"


# PostgreSQL's lock_not_available: a lock wait ended by ``lock_timeout`` (``bound_lock_waits``).
LOCK_NOT_AVAILABLE = "55P03"


def is_busy(exc: BaseException) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"): another connection held the write lock for
    the whole busy timeout; or PostgreSQL's lock timeout where ``bound_lock_waits`` set one.
    Nothing is wrong with the store or the command; it can be run again."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
        return True
    return isinstance(orig, sqlite3.OperationalError) and str(
        getattr(orig, "sqlite_errorname", "")
    ).startswith("SQLITE_BUSY")


READ_ONLY_FS = "read-only file system"


def why_unwritable(directory: Path) -> str | None:
    """Why a SQLite store in ``directory`` cannot be opened even to read, if that is the cause:
    in WAL mode every connection writes -wal and -shm files beside the database."""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return READ_ONLY_FS
    except OSError:
        return None
    if not os.access(directory, os.W_OK):
        return f"no permission to write in {directory}"
    return None


def cannot_connect(display_url: str, exc: BaseException, unwritable: str | None) -> StoreError:
    """The error for a database that cannot be opened; SQLite's own ("unable to open database
    file") does not say that a directory it cannot write in is the cause (``why_unwritable``)."""
    message = f"cannot connect to the database {display_url}: {_first_line(exc)}"
    if unwritable:
        message += (
            f" ({unwritable}: the SQLite store needs to write its -wal and -shm files beside the "
            "database; copy it to a writable directory)"
        )
    return StoreError(message)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


OnOutdated = Literal["upgrade", "refuse", "ignore"]


def _sqlite_file(raw_url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory ones)."""
    url = normalise_url(raw_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser()


def open_store(
    settings: Settings, *, on_outdated: OnOutdated = "upgrade", must_exist: bool = False
) -> Store:
    """Open the store of ``settings``; upgrade an outdated schema, refuse it, or (for status and
    upgrade commands) leave it as it is. A schema newer than this version knows is refused in
    every case (``Store.refuse_newer``). ``must_exist``: refuse a SQLite database that is not
    there instead of creating it (and its data directory): a command that only reads, run with a
    mistyped data directory, would otherwise leave a new empty store there and report on it."""
    database = _sqlite_file(settings.database_url)
    if must_exist and database is not None and not database.is_file():
        raise StoreError(
            f"no database at {database} (is {ENV_HOME} right?); to create a store there, run: "
            "safeguarding db upgrade"
        )
    if settings.database_url.startswith("sqlite"):
        settings.ensure_home()
    store = Store(settings)
    try:
        if on_outdated == "ignore":
            store.refuse_newer()
        elif not store.is_current():
            if on_outdated == "refuse":
                raise StoreError(
                    f"the database {store.display_url} is not at the current schema; "
                    "run: safeguarding db upgrade"
                )
            store.upgrade()
    except BaseException:
        store.dispose()
        raise
    return store
