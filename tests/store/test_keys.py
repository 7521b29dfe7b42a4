"""Keys and the store: a store refuses a key it was not written with, and never gets a new one
made behind its back.

Keys live in ``<home>/secrets/``, the data in the database; a store restored without its key
files, or opened from another data directory, used to have new keys made for it without a word:
its pseudonyms stopped linking and its sealed records could not be opened.

``store.keys`` is imported inside the tests that need it, after what they check of the commands,
and the fingerprints are read with plain SQL: each test then fails on its own, at the behaviour it
checks, on a version without them.
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic_command
from sqlalchemy import MetaData, func, select, text

from safeguarding.config import SECRET_NAMES, Settings
from safeguarding.errors import ConfigError
from safeguarding.store import Store
from safeguarding.store.engine import alembic_config
from safeguarding.web.app import create_app
from safeguarding.web.options import WebOptions
from tests.cli_runner import invoke
from tests.triage.xml_samples import REPORT

Capsys = pytest.CaptureFixture[str]


def _counts(store: Store) -> dict[str, int]:
    """Rows in every table: what "nothing was written" is checked against."""
    metadata = MetaData()
    with store.engine.connect() as connection:
        metadata.reflect(connection)
        return {
            table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in metadata.sorted_tables
        }


def _recorded(store: Store) -> dict[str, str]:
    """The fingerprints the store holds, by key name."""
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT name, fingerprint FROM key_fingerprint"))
        return {str(name): str(digest) for name, digest in rows}


def _populated(capsys: Capsys, store: Store, tmp_path: Path) -> Path:
    """A store with a report ingested, as any store in use; returns the report's file."""
    report = tmp_path / "r.xml"
    report.write_text(REPORT)
    assert invoke(capsys, "ingest", str(report)).code == 0
    return report


def _events(capsys: Capsys) -> list[dict[str, str]]:
    exported = invoke(capsys, "audit", "export", "--format", "jsonl")
    assert exported.code == 0, exported.err
    return [json.loads(line) for line in exported.out.splitlines()]


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_a_fresh_home_makes_its_keys_and_records_their_fingerprints(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    from safeguarding.store.keys import fingerprint

    _populated(capsys, store, tmp_path)
    recorded = _recorded(store)
    assert set(recorded) == {"pseudonym", "notes"}
    for name, digest in recorded.items():
        key = (home / "secrets" / f"{name}.key").read_bytes()
        assert digest == fingerprint(name, key)
        assert len(digest) == 32 and key.hex()[:8] not in digest


def test_a_store_whose_key_files_are_gone_refuses_the_ingest_and_makes_none(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    report = _populated(capsys, store, tmp_path)
    for path in (home / "secrets").iterdir():
        path.unlink()
    (home / "secrets").rmdir()
    before = _counts(store)
    result = invoke(capsys, "ingest", str(report))
    assert result.code == 1, result.out
    from safeguarding.store.keys import CONSEQUENCES

    notes = home / "secrets" / "notes.key"
    assert _one_line(result.err) == (
        f"error: the store {store.display_url} was written with a notes key, but the whole "
        f"{home / 'secrets'} directory is missing; restore the original "
        f"{notes} (or set SAFEGUARDING_HOME to the data directory that has it), or, to start "
        f"over with a new notes key ({CONSEQUENCES['notes']}), run: safeguarding db rekey notes"
    )
    assert not (home / "secrets").exists()
    assert _counts(store) == before


def test_a_different_key_file_is_refused_by_every_command_that_uses_it(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    report = _populated(capsys, store, tmp_path)
    key = home / "secrets" / "pseudonym.key"
    original = key.read_bytes()
    key.write_bytes(secrets.token_bytes(32))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("month,channel,caller_type,age_band\n2025-03,chat,self_concerned,18_21\n")
    cases = tmp_path / "cases.csv"
    cases.write_text("case,platform,stage,role_pair,year,source\nC-1,example-chat,S2,o,2024,f\n")
    before = _counts(store)
    for command in (
        ["ingest", str(report)],
        ["helpline", "import", str(contacts)],
        ["cases", "import", str(cases)],
    ):
        result = invoke(capsys, *command)
        assert result.code == 1, command
        assert _one_line(result.err).startswith(
            f"error: the store {store.display_url} was written with a different pseudonym key "
            f"than {key}; restore the original {key} (or set SAFEGUARDING_HOME"
        ), command
    assert _counts(store) == before
    key.write_bytes(original)
    assert invoke(capsys, "ingest", str(report)).code == 0


def test_another_data_directory_over_the_same_database_is_refused(
    capsys: Capsys, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two data directories pointing at one database URL: the second has keys of its own."""
    report = _populated(capsys, store, tmp_path)
    other = tmp_path / "other-home"
    other.mkdir()
    monkeypatch.setenv("SAFEGUARDING_HOME", str(other))
    result = invoke(capsys, "ingest", str(report))
    assert result.code == 1
    assert f"restore the original {other / 'secrets' / 'notes.key'} (or set" in result.err
    assert not (other / "secrets").exists()


def test_starting_over_with_new_keys_is_explicit_and_audited(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    from safeguarding.store.keys import CONSEQUENCES

    report = _populated(capsys, store, tmp_path)
    old = _recorded(store)
    for name in ("pseudonym", "notes"):
        (home / "secrets" / f"{name}.key").unlink()
    for name in ("notes", "pseudonym"):
        result = invoke(capsys, "db", "rekey", name)
        assert result.code == 0, result.err
        path = home / "secrets" / f"{name}.key"
        assert " ".join(result.out.split()) == (
            f"recorded {path} (made now) as the {name} key of {store.display_url}: "
            f"{CONSEQUENCES[name]}"
        )
    new = _recorded(store)
    assert all(new[name] != old[name] for name in old)
    assert invoke(capsys, "ingest", str(report)).code == 0
    rekeys = [e for e in _events(capsys) if e["action"] == "db.rekey"]
    assert [(e["target_kind"], e["target_id"], json.loads(e["detail"])) for e in rekeys] == [
        ("key", name, {"previous": old[name], "fingerprint": new[name], "key_file": "made"})
        for name in ("notes", "pseudonym")
    ]
    assert invoke(capsys, "audit", "verify").code == 0
    again = invoke(capsys, "db", "rekey", "notes")
    assert again.code == 0 and "nothing changed" in again.out
    assert len([e for e in _events(capsys) if e["action"] == "db.rekey"]) == 2


def test_rekey_names_the_keys_it_knows(capsys: Capsys, store: Store) -> None:
    result = invoke(capsys, "db", "rekey", "master")
    assert result.code == 2
    assert "must be one of pseudonym, session, notes" in result.err


def test_the_web_app_refuses_to_start_with_a_key_the_store_was_not_written_with(
    store: Store,
) -> None:
    """The app takes every key when it is made: a store whose session key file is gone is
    refused before it serves, in the same line as a command's, not with a 500 per request."""
    create_app(store, WebOptions(secure_cookies=False))
    recorded = _recorded(store)
    assert set(recorded) == set(SECRET_NAMES)
    session_key = store.settings.secret_file("session")
    session_key.unlink()
    fresh = Store(Settings(home=store.settings.home, database_url=store.settings.database_url))
    try:
        with pytest.raises(ConfigError) as refused:
            create_app(fresh, WebOptions(secure_cookies=False))
    finally:
        fresh.dispose()
    assert str(refused.value).startswith(
        f"the store {store.display_url} was written with a session key, but {session_key} is "
        "missing; restore the original"
    )
    assert not session_key.exists()


def test_a_key_is_looked_up_once_per_store(store: Store) -> None:
    """Only the first asking reads the store and the key file (every web request that seals a
    note asks); after that the store's own copy is used, even if the file goes. Another store
    object (another command) checks afresh."""
    first = store.secret("pseudonym")
    store.settings.secret_file("pseudonym").unlink()
    assert store.secret("pseudonym") == first
    other = Store(replace(store.settings))
    try:
        with pytest.raises(
            ConfigError, match="was written with a pseudonym key, but .* is missing"
        ):
            other.secret("pseudonym")
    finally:
        other.dispose()


def test_db_status_shows_how_each_key_file_stands_and_changes_nothing(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    """What an operator checks restored key files with, before any command uses them."""

    def states() -> dict[str, str]:
        status = invoke(capsys, "db", "status", "--json")
        assert status.code == 0, status.err
        keys: dict[str, str] = json.loads(status.out)["keys"]
        return keys

    assert states() == dict.fromkeys(SECRET_NAMES, "not recorded")
    _populated(capsys, store, tmp_path)
    assert states() == {"pseudonym": "matches", "notes": "matches", "session": "not recorded"}
    (home / "secrets" / "pseudonym.key").write_bytes(secrets.token_bytes(32))
    (home / "secrets" / "notes.key").unlink()
    recorded = _recorded(store)
    assert states() == {"pseudonym": "differs", "notes": "missing", "session": "not recorded"}
    assert _recorded(store) == recorded
    assert sorted(path.name for path in (home / "secrets").iterdir()) == ["pseudonym.key"]


def test_db_status_of_a_store_from_before_fingerprints(capsys: Capsys, store: Store) -> None:
    alembic_command.downgrade(alembic_config(store.engine), "keys@base")
    status = invoke(capsys, "db", "status", "--json")
    assert status.code == 0, status.err
    assert json.loads(status.out)["keys"] == dict.fromkeys(SECRET_NAMES, "not recorded")


def _first_use_in_a_process(url: str, home: str, start: Any, results: Any) -> None:
    """One command taking the pseudonym key of a new store; reports the key or its error."""
    start.wait()
    opened = Store(Settings(home=Path(home), database_url=url))
    try:
        results.put(opened.secret("pseudonym").hex())
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        opened.dispose()


def test_two_commands_starting_on_a_new_store_agree_on_its_keys(store: Store) -> None:
    """Both find no fingerprint, both record one: the second insert fails on the key name and
    that command checks against the first one's, made from the same key file."""
    context = multiprocessing.get_context("spawn")
    url = store.engine.url.render_as_string(hide_password=False)
    start, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(
            target=_first_use_in_a_process, args=(url, str(store.settings.home), start, results)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    answers = [results.get(timeout=5) for _ in workers]
    key = store.settings.secret_file("pseudonym").read_bytes().hex()
    assert answers == [key, key]
    assert list(_recorded(store)) == ["pseudonym"]
