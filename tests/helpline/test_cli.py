"""The helpline commands end to end: import, stats, DP budget, list, and the demo report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from safeguarding.helpline.schema import Gender
from safeguarding.store import Store
from tests.cli_runner import invoke

HEADER = "contact_id,month,channel,contact_kind,caller_token,caller_type,age_band,note\n"


def _file(tmp_path: Path, rows: int) -> Path:
    lines = [
        f"C{i},2023-{1 + i % 12:02d},chat,first,,self_concerned,"
        f"{'18_21' if i % 2 else '36_plus'},note {i}\n"
        for i in range(rows)
    ]
    path = tmp_path / "contacts.csv"
    path.write_text(HEADER + "".join(lines) + "bad,2023-01,pigeon,,,,,\n", encoding="utf-8")
    return path


def test_import_reports_rejected_rows_and_keeps_valid_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: Store
) -> None:
    path = _file(tmp_path, 40)
    result = invoke(capsys, "helpline", "import", str(path))
    assert result.code == 1
    assert "rejected: contacts.csv row 41 (line 42), field channel: must be" in result.err
    assert "40 imported, 0 already present, 1 rejected" in result.out
    again = invoke(capsys, "helpline", "import", str(path), "--json")
    assert again.code == 1
    assert json.loads(again.out)["already_present"] == 40


def test_import_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, home: Path
) -> None:
    missing = invoke(capsys, "helpline", "import", str(tmp_path / "missing.csv"))
    assert missing.code == 2 and "no such file" in missing.err
    directory = invoke(capsys, "helpline", "import", str(tmp_path))
    assert directory.code == 2 and "a directory, not a file" in directory.err
    (tmp_path / "x.txt").write_text("month\n")
    result = invoke(capsys, "helpline", "import", str(tmp_path / "x.txt"))
    assert result.code == 1 and result.err.startswith("error: x.txt: unknown file type .txt")


def test_stats_json_and_text(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: Store
) -> None:
    invoke(capsys, "helpline", "import", str(_file(tmp_path, 40)))
    result = invoke(capsys, "helpline", "stats", "--by", "age_band,year", "--json")
    assert result.code == 0
    document = json.loads(result.out)
    contacts = document["tables"][0]
    assert contacts["rows"] == ["18–21", "36+"] and contacts["total"] == 40
    assert contacts["cells"] == [[20], [20]]
    assert document["tables"][1]["title"] == "callers by age_band and year"
    assert document["tables"][1]["unit"] == "estimated unique people, counted once per year"
    assert "note 1" not in result.out and "caveats" in result.out
    text = invoke(capsys, "helpline", "stats", "--min-cell", "25", "--by", "age_band")
    assert text.code == 0 and "x = withheld" in text.out
    assert invoke(capsys, "helpline", "stats", "--by", "colour").code == 2
    none = invoke(capsys, "helpline", "stats", "--year", "1999")
    assert none.code == 1 and "no helpline contacts" in none.err


@pytest.mark.parametrize("setting", ["20.0", '"25"', "true", "0"])
def test_the_command_and_the_monitor_refuse_a_minimum_cell_that_is_no_cell_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: Store, home: Path, setting: str
) -> None:
    invoke(capsys, "helpline", "import", str(_file(tmp_path, 40)))
    (home / "config.toml").write_text(f"[helpline]\nmin_cell = {setting}\n", encoding="utf-8")
    rule = "must be a whole number of at least 1"
    for command in (["helpline", "stats"], ["monitor", "--out", str(tmp_path / "m.html")]):
        refused = invoke(capsys, *command)
        assert refused.code == 1 and "[helpline] min_cell = " in refused.err, command
        assert rule in refused.err, command
    assert not (tmp_path / "m.html").exists()


def test_dp_releases_spend_the_budget_until_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: Store, home: Path
) -> None:
    (home / "config.toml").write_text("[helpline]\ndp_epsilon_budget = 1.0\n")
    invoke(capsys, "helpline", "import", str(_file(tmp_path, 30)))
    first = invoke(capsys, "helpline", "stats", "--by", "age_band", "--dp", "0.6", "--json")
    assert first.code == 0
    release = json.loads(first.out)
    assert release["budget"]["spent"] == pytest.approx(0.6)
    # Every age band is released, those without contacts too: rows must not tell who is there.
    assert release["rows"] == ["<18", "18–21", "22–26", "27–35", "36+", "unknown"]
    assert len(release["noisy_counts"]) == 6
    mixed = invoke(capsys, "helpline", "stats", "--dp", "0.1", "--round", "5")
    assert mixed.code == 2
    refused = invoke(capsys, "helpline", "stats", "--by", "age_band", "--dp", "0.6")
    assert refused.code == 1 and "privacy budget of 'helpline.contacts' exhausted" in refused.err
    ledger = json.loads(invoke(capsys, "helpline", "budget", "--json").out)
    assert [r["epsilon"] for r in ledger["releases"]] == [0.6]


def test_a_private_release_shows_the_same_rows_whoever_is_counted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: Store, home: Path
) -> None:
    """A row or a refusal that exists because of the contacts would tell, whatever the noise,
    that a contact of that kind (or none in that year) is there."""
    invoke(capsys, "helpline", "import", str(_file(tmp_path, 30)))
    empty_year = invoke(capsys, "helpline", "stats", "--dp", "0.1", "--year", "1999", "--json")
    assert empty_year.code == 0
    assert json.loads(empty_year.out)["rows"] == ["1999"]
    by_month = invoke(
        capsys, "helpline", "stats", "--by", "month", "--dp", "0.1", "--year", "2023", "--json"
    )
    assert json.loads(by_month.out)["rows"] == [f"2023-{m:02d}" for m in range(1, 13)]
    unbounded = invoke(capsys, "helpline", "stats", "--by", "year", "--dp", "0.1")
    assert unbounded.code == 2 and "needs --year" in unbounded.err
    genders = invoke(capsys, "helpline", "stats", "--by", "gender", "--dp", "0.1", "--json")
    assert json.loads(genders.out)["rows"] == list(get_args(Gender))


def test_list_shows_no_notes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: Store
) -> None:
    invoke(capsys, "helpline", "import", str(_file(tmp_path, 3)))
    result = invoke(capsys, "helpline", "list", "--json")
    records = json.loads(result.out)
    assert len(records) == 3 and all("note" not in r for r in records)
    assert "note 1" not in result.out


@pytest.mark.xdist_group("demo")
def test_demo_puts_helpline_statistics_in_the_monitor(demo_build: tuple[Path, str]) -> None:
    directory, output = demo_build
    assert "3371 synthetic helpline contacts" in output
    html = (directory / "monitor.html").read_text()
    assert 'id="helpline"' in html or "Helpline contacts" in html
    assert "SYNTHETIC sample data" in html
    assert "nl.stopitnow.2023" in html and "nl.rapporteur.young.2023" in html
    assert html.count("<svg") >= 3
    assert "Synthetic note" not in html
