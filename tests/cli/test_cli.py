"""The CLI: --json listings, exit codes 0/1/2, one-line errors, and the demo's monitor report."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from safeguarding.evidence import shipped_evidence
from safeguarding.platforms.rules import DEFAULT_RULES
from safeguarding.platforms.sample import SAMPLE_REGISTER
from safeguarding.store import Store
from safeguarding.store.engine import alembic_config
from safeguarding.store.models import AuditEventRow, HashList
from safeguarding.store.models.helpline import HelplineContactRow
from safeguarding.store.models.platforms import PlatformAssessmentRunRow, PlatformServiceRow
from tests.cli_runner import invoke


def test_evidence_list_json_filters_by_tag(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    result = invoke(capsys, "evidence", "list", "--tag", "P", "--json")
    assert result.code == 0
    figures = json.loads(result.out)
    expected = {f.id for f in shipped_evidence() if f.tag == "P"}
    assert {f["id"] for f in figures} == expected


def test_evidence_show_and_unknown_id(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    shown = invoke(capsys, "evidence", "show", "pdq.threshold", "--json")
    assert shown.code == 0
    assert json.loads(shown.out)["tag"] == "P"
    missing = invoke(capsys, "evidence", "show", "no.such")
    assert missing.code == 1
    assert missing.err.strip() == "error: no evidence figure with id 'no.such'"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    assert invoke(capsys, "evidence", "list", "--tag", "Z").code == 2
    assert invoke(capsys, "no-such-command").code == 2


def test_a_file_name_no_store_can_hold_is_refused_before_the_import(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    """Imports record the file's name (the rules' whole path); a name in another encoding than
    UTF-8 reaches Python with a lone surrogate for its undecodable byte, which neither driver
    writes: each import failed half-way with an "unexpected UnicodeEncodeError". Refused before
    anything is stored now, asking for the file to be renamed."""
    odd = "\udcff"  # the byte 0xff of a Latin-1 name, as Python decodes it from the file system
    register = tmp_path / f"register{odd}.yaml"
    register.write_bytes(SAMPLE_REGISTER.read_bytes())
    cases = tmp_path / f"cases{odd}.csv"
    cases.write_text("case,platform,stage,role_pair,year,source\nC-1,example-chat,S2,o,2024,f\n")
    contacts = tmp_path / f"contacts{odd}.csv"
    contacts.write_text("month,channel,caller_type,age_band\n2025-03,chat,self_concerned,18_21\n")
    rules = tmp_path / f"rules{odd}" / "rules.yaml"
    rules.parent.mkdir()
    rules.write_bytes(DEFAULT_RULES.read_bytes())
    hashes = tmp_path / f"hashes{odd}.csv"
    hashes.write_text("hash,type\n" + "0" * 32 + ",md5\n")
    answers = [
        invoke(capsys, "platforms", "import", str(register)),
        invoke(capsys, "cases", "import", str(cases)),
        invoke(capsys, "helpline", "import", str(contacts)),
        invoke(capsys, "platforms", "assess", "--rules", str(rules)),
        invoke(capsys, "hashlist", "import", str(hashes), "--name", "odd"),
    ]
    for answer, path in zip(answers, (register, cases, contacts, rules, hashes), strict=True):
        assert answer.code == 2, answer.err
        shown = str(path).replace(odd, "\\xff")  # the byte itself: no output writes the name
        message = " ".join(answer.err.split())
        assert f"{shown}: the name is not UTF-8 text; rename the file" in message
    with store.session() as db:
        for table in (PlatformServiceRow, HelplineContactRow, PlatformAssessmentRunRow, HashList):
            assert db.scalar(select(func.count()).select_from(table)) == 0
        assert db.scalar(select(func.count()).select_from(AuditEventRow)) == 0
    assert invoke(capsys, "platforms", "import", str(SAMPLE_REGISTER)).code == 0


def test_bad_database_url_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEGUARDING_DATABASE_URL", "oracle://me:pw@host/db")
    result = invoke(capsys, "db", "status")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert result.err.startswith("error: bad database URL") and "pw" not in result.err


def test_unwritable_data_directory_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SAFEGUARDING_HOME", str(blocker / "home"))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)
    result = invoke(capsys, "db", "upgrade")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "not writable" in result.err


def test_a_data_directory_that_is_a_file_is_named_as_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was called "not writable (File exists)", sending the user to check permissions."""
    a_file = tmp_path / "home"
    a_file.write_text("x")
    monkeypatch.setenv("SAFEGUARDING_HOME", str(a_file))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)
    monkeypatch.delenv("SAFEGUARDING_CONFIG", raising=False)
    result = invoke(capsys, "db", "upgrade")
    assert result.code == 1
    assert result.err == (
        f"error: data directory {a_file} is a file, not a directory; "
        "set SAFEGUARDING_HOME to a directory\n"
    )
    assert a_file.read_text() == "x"


@pytest.mark.parametrize(
    "command",
    [
        ["queue"],
        ["triage", "stats"],
        ["outcome", "3", "--result", "actionable", "--minutes", "5"],
        ["db", "status"],
        ["monitor", "--out", "{tmp}/m.html"],
        ["audit", "verify"],
        ["hashlist", "list"],
        ["user", "list"],
        ["triage", "run"],
        ["platforms", "assess"],
    ],
)
def test_a_command_that_reads_the_store_refuses_a_missing_one_and_creates_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    """A mistyped data directory used to get a new, migrated, empty store, on which the
    command then reported (an empty queue, a verified empty audit log) or ran (a triage run or
    a platform assessment over nothing)."""
    mistyped = tmp_path / "no-such-home"
    monkeypatch.setenv("SAFEGUARDING_HOME", str(mistyped))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)
    monkeypatch.delenv("SAFEGUARDING_CONFIG", raising=False)
    result = invoke(capsys, *(part.format(tmp=tmp_path) for part in command))
    assert result.code == 1, result.err
    assert result.err.strip() == (
        f"error: no database at {mistyped / 'safeguarding.db'} (is SAFEGUARDING_HOME right?); "
        "to create a store there, run: safeguarding db upgrade"
    )
    assert not mistyped.exists()
    assert invoke(capsys, "db", "upgrade").code == 0
    assert invoke(capsys, "db", "status").code == 0


@pytest.mark.parametrize(
    "command",
    [
        ["queue"],
        ["triage", "stats"],
        ["platforms", "gaps"],
        ["platforms", "list"],
        ["hashlist", "list"],
        ["quarantine", "list"],
        ["helpline", "budget"],
        ["user", "list"],
        ["audit", "verify"],
        ["monitor", "--out", "{tmp}/m.html"],
    ],
)
def test_a_command_that_only_reads_refuses_an_outdated_store_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path, command: list[str]
) -> None:
    """Reading must not migrate: an old store opened by a newer version (an evidence copy, a
    store another installation still uses) is left as it is until someone runs the upgrade."""
    from alembic import command as alembic_command

    from safeguarding.config import load_settings

    old = Store(load_settings())
    alembic_command.upgrade(alembic_config(old.engine), "platforms_0001")
    before = old.current_revisions()
    result = invoke(capsys, *(part.format(tmp=tmp_path) for part in command))
    assert result.code == 1, result.err
    assert result.err.strip() == (
        f"error: the database {old.display_url} is not at the current schema; "
        "run: safeguarding db upgrade"
    )
    assert old.current_revisions() == before
    old.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["db", "status"],
        ["db", "upgrade"],
        ["queue"],
        ["hashlist", "list"],
        ["user", "add", "x", "--role", "analyst"],
    ],
)
def test_a_store_migrated_by_a_newer_version_is_refused_and_left_alone(
    capsys: pytest.CaptureFixture[str], store: Store, command: list[str]
) -> None:
    """A revision this version has no script for is not "outdated": upgrading cannot reach it
    (Alembic: "Can't locate revision"), and this version's code may not fit its tables."""
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE alembic_version SET version_num = 'triage_0099' WHERE version_num = :v"),
            {"v": next(rev for rev in store.head_revisions() if rev.startswith("triage_0"))},
        )
        schema_before = sorted(inspect(connection).get_table_names())
    revisions_before = store.current_revisions()
    result = invoke(capsys, *command)
    assert result.code == 1, result.err
    assert result.err.strip() == (
        f"error: the database {store.display_url} is at a newer schema (triage_0099) than this "
        "version of safeguarding knows; upgrade safeguarding"
    )
    assert store.current_revisions() == revisions_before
    with store.engine.connect() as connection:
        assert sorted(inspect(connection).get_table_names()) == schema_before
        assert connection.scalar(text("SELECT count(*) FROM access_user")) == 0


def test_a_store_another_process_is_writing_to_is_reported_busy_in_one_line(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    """SQLite: once the busy timeout has passed, the driver's "database is locked" and the SQL it
    was running reached the user as an unexpected error."""
    (home / "config.toml").write_text("[store]\nbusy_timeout_seconds = 0.2\n")
    assert invoke(capsys, "db", "upgrade").code == 0
    writer = sqlite3.connect(home / "safeguarding.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        result = invoke(capsys, "user", "add", "ana", "--role", "analyst")
        waited = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.code == 1
    assert result.err == (
        f"error: the database sqlite:///{home / 'safeguarding.db'} is busy: another process is "
        "writing to it; try again when it has finished\n"
    )
    assert waited < 10
    assert invoke(capsys, "user", "add", "ana", "--role", "analyst").code == 0


def test_malformed_evidence_file_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from safeguarding.evidence import loader

    bad = tmp_path / "data"
    bad.mkdir()
    (bad / "bad.toml").write_text('topic = "x"\n[[figure]]\nid = "a.b"\n')
    monkeypatch.setattr(loader, "DATA_DIR", bad)
    loader.shipped_evidence.cache_clear()
    try:
        result = invoke(capsys, "evidence", "list")
    finally:
        loader.shipped_evidence.cache_clear()
    assert result.code == 1
    assert result.err.strip() == "error: bad.toml:2: figure a.b: statement is required text"


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    result = invoke(capsys, "--debug", "evidence", "show", "no.such")
    assert result.code == 1
    assert "Traceback" in result.err


def test_db_upgrade_and_status(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    assert invoke(capsys, "db", "upgrade").code == 0
    status = invoke(capsys, "db", "status", "--json")
    assert json.loads(status.out)["up_to_date"] is True


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value and tag != "a":
                self.external.append(value)


@pytest.mark.xdist_group("demo")
def test_demo_writes_a_monitor_with_every_figure(demo_build: tuple[Path, str]) -> None:
    out, _ = demo_build
    html = (out / "monitor.html").read_text()
    evidence_section = re.search(r'<section id="evidence">.*?</section>', html, re.S)
    assert evidence_section
    for figure in shipped_evidence():
        row = re.search(
            rf"<code>{re.escape(figure.id)}</code>.*?</tr>", evidence_section.group(0), re.S
        )
        assert row, figure.id
        assert f'tag-{figure.tag}"' in row.group(0)
        assert escape(figure.source) in row.group(0)
    parser = _Collect()
    parser.feed(html)
    assert parser.external == []


def test_monitor_command_writes_the_report(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "m.html"
    result = invoke(capsys, "monitor", "--out", str(out))
    assert result.code == 0, result.err
    assert out.read_text().startswith("<!doctype html>")
    # The report names no database of the server (researchers read it); the operator is told.
    assert store.display_url not in out.read_text()
    assert result.out.strip() == f"wrote {out} from {store.display_url}"


def test_serve_on_a_port_in_use_says_so_in_one_line_and_announces_nothing(
    capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    """It printed "serving on ..." and only then failed to bind, exiting 3 with uvicorn's log."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(capsys, "serve", "--host", "127.0.0.1", "--port", str(port))
    assert result.code == 1
    assert result.out == ""
    assert result.err == (
        f"error: --port {port}: already in use on 127.0.0.1; stop what listens there or "
        "choose another port\n"
    )


def test_serve_refuses_a_data_directory_without_a_store_and_makes_none(home: Path) -> None:
    """It created an empty store and served it: a mistyped SAFEGUARDING_HOME gave an app that
    worked, with none of the data in it. A process of its own, so that a server that starts all
    the same fails the test at the timeout instead of blocking it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "safeguarding"), "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: no database at {home / 'safeguarding.db'} (is SAFEGUARDING_HOME right?); "
        "to create a store there, run: safeguarding db upgrade\n"
    )
    assert list(home.iterdir()) == []


def test_monitor_to_a_directory_is_refused_in_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    # It rendered the report and then failed with an "unexpected IsADirectoryError".
    result = invoke(capsys, "monitor", "--out", str(tmp_path))
    assert result.code == 1
    assert result.err == (
        f"error: --out {tmp_path} is a directory, not a file; give the file to write\n"
    )


def test_the_command_line_loads_heavy_modules_only_when_used() -> None:
    # Every command starts a process: loading them for nothing cost each about 2 s of start-up
    # (the intake's parsers, the helpline's and the register's schemas, about 0.4 s of it).
    heavy = (
        "fastapi", "uvicorn", "altair", "opendp", "numba", "safeguarding.web.app",
        "safeguarding.triage.ingest", "safeguarding.triage.formats.jsonl", "pydantic", "yaml",
    )  # fmt: skip
    code = (
        "import sys, safeguarding.cli.main\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_python_dash_m_runs_the_command_line(home: Path) -> None:
    """``python -m safeguarding`` is the command line, for a bare interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "safeguarding", "evidence", "show", "ncmec.bundling.2024"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ncmec.bundling.2024" in done.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "safeguarding", "evidence", "show", "no.such.figure"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 1 and "no.such.figure" in unknown.stderr


def _quick_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo without its sample data: where it builds is what is tested, not what."""
    from safeguarding import demo

    monkeypatch.setattr(demo, "STEPS", ())


def test_the_demo_builds_in_the_data_directory_when_one_is_set(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It built var/demo whatever SAFEGUARDING_HOME said, so the commands after it looked for
    the demo elsewhere."""
    _quick_demo(monkeypatch)
    home = tmp_path / "home"
    monkeypatch.setenv("SAFEGUARDING_HOME", str(home))
    monkeypatch.delenv("SAFEGUARDING_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    built = invoke(capsys, "demo")
    assert built.code == 0, built.err
    assert (home / "monitor.html").is_file() and (home / "safeguarding.db").is_file()
    assert not (tmp_path / "var").exists()
    assert invoke(capsys, "db", "status").code == 0  # the commands after it find it
    assert invoke(capsys, "demo").code == 0  # an earlier demo may be replaced
    monkeypatch.delenv("SAFEGUARDING_HOME")
    assert invoke(capsys, "demo").code == 0
    assert (tmp_path / "var" / "demo" / "monitor.html").is_file()


def test_the_demo_never_replaces_a_data_directory_holding_other_data(
    capsys: pytest.CaptureFixture[str],
    store: Store,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _quick_demo(monkeypatch)
    monkeypatch.chdir(tmp_path)  # var/demo, where a demo that ignores the setting would build
    # A PostgreSQL store keeps no file here; a file of the user's is data all the same.
    (home / "notes-to-keep.txt").write_text("not a demo\n")
    before = sorted(p.name for p in home.iterdir())
    refused = invoke(capsys, "demo")
    assert refused.code == 1
    assert "holds data that is not a demo store" in refused.err and "--dir" in refused.err
    assert sorted(p.name for p in home.iterdir()) == before


def test_the_demo_never_replaces_a_directory_named_with_dir_holding_other_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--dir`` removed whatever the directory held: ``--dir .`` deleted the working tree."""
    _quick_demo(monkeypatch)
    kept = tmp_path / "work"
    kept.mkdir()
    (kept / "safeguarding.db").write_bytes(b"a real store")
    refused = invoke(capsys, "demo", "--dir", str(kept))
    assert refused.code == 1
    assert f"--dir {kept} holds data that is not a demo store" in refused.err
    assert (kept / "safeguarding.db").read_bytes() == b"a real store"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "is a file, not a directory" in invoke(capsys, "demo", "--dir", str(a_file)).err
    fresh = tmp_path / "fresh"
    assert invoke(capsys, "demo", "--dir", str(fresh)).code == 0
    (fresh / "monitor.html").write_text("stale")
    assert invoke(capsys, "demo", "--dir", str(fresh)).code == 0  # an earlier demo: replaced
    assert (fresh / "monitor.html").read_text() != "stale"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("queue", "--limit", str(10**30)), "--limit"),
        (("queue", "--limit", str(10**30), "--json"), "--limit"),
        (("helpline", "stats", "--round", str(10**23)), "--round"),
        (("helpline", "stats", "--year", str(10**23)), "--year"),
        (("demo", "--seed", "-1", "--dir", "{dir}"), "--seed"),
        (("demo", "--seed", str(2**32), "--dir", "{dir}"), "--seed"),
    ],
)
def test_numbers_out_of_range_are_usage_errors_naming_the_option(
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    option: str,
) -> None:
    # They reached the database or the arithmetic and failed there (OverflowError), and a seed
    # the generators refuse failed only after the demo directory had been replaced.
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    (demo_dir / "kept.txt").write_text("mine")
    result = invoke(capsys, *(a.replace("{dir}", str(demo_dir)) for a in args))
    assert result.code == 2, result.err
    assert option in result.err and "unexpected" not in result.err
    assert (demo_dir / "kept.txt").read_text() == "mine"
