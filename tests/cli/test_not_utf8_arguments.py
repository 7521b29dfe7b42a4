"""Arguments that are not UTF-8: every command answers cleanly, never with an unexpected crash.

A byte that is not UTF-8 (a Latin-1 file name, a name typed in another encoding) reaches Python
as a lone surrogate, which neither database driver sends and an output of strict UTF-8 cannot
write. Several commands failed with an "unexpected UnicodeEncodeError": on a lookup in the store,
or on printing the name of what they had written, after the work was done. A name that is only
opened is taken as given and printed with the byte escaped (``\\xff``); text that is looked up or
stored is refused, naming the argument.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from safeguarding.platforms.sample import SAMPLE_REGISTER
from safeguarding.store import Store
from safeguarding.store.models import QuarantineRecord
from tests.cli_runner import invoke

ODD = "\udcff"  # the byte 0xff of a Latin-1 name, as Python decodes it from the command line
SHOWN = "\\xff"  # and as output shows it


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("hashlist", "show", f"list{ODD}"), "NAME"),
        (("hashlist", "remove", f"list{ODD}"), "NAME"),
        (("quarantine", "list", "--rule", f"rule{ODD}"), "--rule"),
        (("platforms", "show", f"service{ODD}"), "SERVICE_ID"),
        (
            ("outcome", "1", "--result", "actionable", "--minutes", "5", "--note", f"n{ODD}"),
            "--note",
        ),
        (("serve", "--host", f"host{ODD}"), "--host"),
    ],
)
def test_text_that_is_looked_up_or_stored_is_refused_naming_the_argument(
    capsys: pytest.CaptureFixture[str], store: Store, args: tuple[str, ...], named: str
) -> None:
    result = invoke(capsys, *args)
    assert result.code == 2, result.err
    message = " ".join(result.err.split())
    assert f"{named} {args[-1].replace(ODD, SHOWN)}: not UTF-8 text" in message
    assert "unexpected" not in result.err


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (("monitor", "--out", "{tmp}/monitor{odd}.html"), "monitor{odd}.html"),
        (("audit", "export", "--out", "{tmp}/audit{odd}.jsonl"), "audit{odd}.jsonl"),
        (("triage", "stats", "--export", "{tmp}/stats{odd}.json"), "stats{odd}.json"),
        (
            ("assess", "nl-status-quo", "--draws", "100", "--out", "{tmp}/charts{odd}"),
            "charts{odd}/assessment.json",
        ),
        (
            ("assess", "nl-status-quo", "--draws", "100", "--json", "--out", "{tmp}/json{odd}"),
            "json{odd}/assessment.json",
        ),
    ],
)
def test_a_file_that_is_only_written_may_have_any_name_and_is_shown_escaped(
    capsys: pytest.CaptureFixture[str],
    store: Store,
    tmp_path: Path,
    args: tuple[str, ...],
    written: str,
) -> None:
    result = invoke(capsys, *(a.format(tmp=tmp_path, odd=ODD) for a in args))
    assert result.code == 0, result.err
    assert (tmp_path / written.format(odd=ODD)).is_file()
    printed = json.loads(result.out)["written"] if "--json" in args else result.out
    assert f"{tmp_path}/{written.format(odd=SHOWN)}" in "".join(printed)


def test_the_platform_export_may_have_any_name(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    assert invoke(capsys, "platforms", "import", str(SAMPLE_REGISTER)).code == 0
    assert invoke(capsys, "platforms", "assess").code == 0
    out = tmp_path / f"high-risk{ODD}.json"
    result = invoke(capsys, "platforms", "export", str(out))
    assert result.code == 0, result.err
    assert out.is_file()
    assert f"to {tmp_path}/high-risk{SHOWN}.json" in result.out


def test_files_that_are_only_read_may_have_any_name(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path
) -> None:
    """Hashing reads the file and prints its name; ingest keeps the name with the byte escaped
    where it records it (the quarantine's source file), as it keeps other unstorable text."""
    media = tmp_path / f"photo{ODD}.bin"
    media.write_bytes(b"not an image")
    hashed = invoke(capsys, "hash", str(media), "--json")
    assert hashed.code == 0, hashed.err
    assert f'"file": "{tmp_path}/photo\\\\xff.bin"' in hashed.out
    assert invoke(capsys, "hash", str(media)).code == 0
    reports = tmp_path / f"reports{ODD}.jsonl"
    reports.write_text('{"not": "a report"}\n')
    ingested = invoke(capsys, "ingest", str(reports))
    assert ingested.code == 0, ingested.err
    with store.session() as session:
        (source_file,) = session.scalars(select(QuarantineRecord.source_file))
    assert source_file == f"{tmp_path}/reports\\udcff.jsonl"
    assert invoke(capsys, "quarantine", "list").code == 0
    assert invoke(capsys, "quarantine", "list", "--json").code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("user", "add", f"ana{ODD}", "--role", "analyst"),
        ("user", "disable", f"ana{ODD}"),
        ("token", "create", f"ana{ODD}", "--label", "x"),
        ("token", "create", "ana", "--label", f"x{ODD}"),
        ("ingest", "--source", f"s{ODD}", "{tmp}"),
        ("helpline", "import", f"{{tmp}}/contacts{ODD}.csv"),
        ("hashlist", "import", f"{{tmp}}/list{ODD}.csv", "--name", "l"),
        ("platforms", "import", f"{{tmp}}/register{ODD}.yaml"),
        ("cases", "import", f"{{tmp}}/cases{ODD}.csv"),
        ("audit", "verify", "--file", f"{{tmp}}/audit{ODD}.jsonl"),
        ("evidence", "show", f"figure{ODD}"),
    ],
)
def test_every_other_command_answers_in_one_line(
    capsys: pytest.CaptureFixture[str], store: Store, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Refused (exit 2) or failed as expected (exit 1), never unexpectedly."""
    assert invoke(capsys, "user", "add", "ana", "--role", "analyst").code == 0
    result = invoke(capsys, *(a.format(tmp=tmp_path) for a in args))
    assert result.code in (1, 2), result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err
