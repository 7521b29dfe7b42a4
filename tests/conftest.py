"""Shared fixtures: an isolated data directory and a fresh, migrated store on every backend.

``store`` runs each test on SQLite, and again on PostgreSQL when ``SAFEGUARDING_TEST_DATABASE_URL``
points at a server (CI sets it). A migrated template database is built once per session and copied
for each test, so every test starts from an empty store at the current schema.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from safeguarding.config import Settings, sqlite_url
from safeguarding.store import Store
from safeguarding.store.engine import normalise_url

PG_ENV = "SAFEGUARDING_TEST_DATABASE_URL"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(PG_ENV) else [])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data directory, used by the settings of the process under test."""
    directory = tmp_path / "home"
    directory.mkdir()
    monkeypatch.setenv("SAFEGUARDING_HOME", str(directory))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)
    monkeypatch.delenv("SAFEGUARDING_CONFIG", raising=False)
    return directory


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(Settings(home=path.parent, database_url=sqlite_url(path)))
    store.upgrade()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    admin_url = normalise_url(os.environ[PG_ENV])
    name = f"sg_template_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    template_url = admin_url.set(database=name)
    store = Store(Settings(home=Path("."), database_url=template_url.render_as_string(False)))
    store.upgrade()
    store.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """An empty store at the current schema; its URL is also the process's database URL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = home / "safeguarding.db"
        shutil.copyfile(template, path)
        url = sqlite_url(path)
        cleanup = None
    else:
        template_name: str = request.getfixturevalue("pg_template")
        admin_url = normalise_url(os.environ[PG_ENV])
        name = f"sg_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)

        def cleanup() -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    monkeypatch.setenv("SAFEGUARDING_DATABASE_URL", url)
    opened = Store(Settings(home=home, database_url=url))
    yield opened
    opened.dispose()
    if cleanup is not None:
        cleanup()


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The main job, run once through the real CLI: the demo directory and what it printed.

    Tests that read the demo (never change it) share this build; they carry
    ``@pytest.mark.xdist_group("demo")`` so one worker builds it once.
    """
    from safeguarding.cli.main import run

    out = tmp_path_factory.mktemp("demo") / "demo"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = run(["demo", "--dir", str(out)])
    assert code == 0, stdout.getvalue()
    return out, stdout.getvalue()
