"""Hash lists: VICS shapes, versions and schemes, CSV/TXT lists, bad entries, updates, matching."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from safeguarding.store import Store
from safeguarding.store.engine import alembic_config
from safeguarding.triage import ingest as ingest_module
from safeguarding.triage.context import intake_context
from safeguarding.triage.generate import (
    GeneratorConfig,
    ListEntry,
    flip_bits,
    generate,
    known_list,
    vics_json,
)
from safeguarding.triage.ingest import ingest
from safeguarding.triage.listformats import read_hash_csv, read_vics
from tests.cli_runner import invoke

Capsys = pytest.CaptureFixture[str]
MD5 = "0123456789ABCDEF0123456789ABCDEF"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def _json(capsys: Capsys, *args: str) -> Any:
    result = invoke(capsys, *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize("shape", ["hashset", "case"])
@pytest.mark.parametrize("version", ["2.0", "1.3"])
def test_vics_both_shapes_and_generations(shape: str, version: str) -> None:
    entries = [ListEntry(md5=MD5, pdq=PDQ, category=1), ListEntry(md5=MD5[::-1], pdq=None,
                                                                  category=None)]  # fmt: skip
    parsed = read_vics(vics_json(entries, shape=shape, version=version), "l.json")  # type: ignore[arg-type]
    assert parsed.format_version == version and not parsed.rejected
    assert {(e.kind, e.value, e.category) for e in parsed.entries} == {
        ("md5", MD5.lower(), "abuse_material"),
        ("pdq", PDQ, "abuse_material"),
        ("md5", MD5[::-1].lower(), "uncategorised"),
    }
    assert {e.source_scheme for e in parsed.entries} == (
        {"vics_us"} if version == "2.0" else {"vics_dhs"}
    )


@pytest.mark.parametrize(
    ("code", "us", "dhs"),
    [
        (0, "non_pertinent", "uncategorised"),
        (1, "abuse_material", "abuse_material"),
        (2, "exploitive_age_difficult", "exploitive_age_difficult"),
        (3, "cgi_animation", "cgi_animation"),
        (4, "comparison", "comparison"),
        (5, None, "non_pertinent"),
    ],
)
def test_both_category_schemes_map_to_one_set(code: int, us: str | None, dhs: str) -> None:
    data = vics_json([ListEntry(md5=MD5, pdq=None, category=code)])
    for scheme, expected in (("vics_us", us), ("vics_dhs", dhs)):
        parsed = read_vics(data, "l.json", scheme)  # type: ignore[arg-type]
        if expected is None:
            assert parsed.rejected[0].rule == "unknown_category" and not parsed.entries
        else:
            (entry,) = parsed.entries
            assert (entry.category, entry.source_category, entry.source_scheme) == (
                expected, str(code), scheme,
            )  # fmt: skip


def test_bad_vics_entries_are_rejected_and_the_rest_reads() -> None:
    document = {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media",
        "value": [
            {"MediaID": 1, "Category": 1, "MD5": MD5},
            {"MediaID": 2, "Category": 1, "MD5": "ABC"},
            {"MediaID": 3, "Category": "x", "MD5": MD5[::-1]},
            {"MediaID": 4, "Category": 1, "SHA1": "Z" * 40, "PDQ": PDQ},
            "not an object",
            {"MediaID": 6, "Category": 1, "PhotoDNA": "AAAA"},
        ],
    }  # fmt: skip
    parsed = read_vics(json.dumps(document).encode(), "l.json")
    assert [(e.kind, e.source_media_id) for e in parsed.entries] == [("md5", "1"), ("pdq", "4")]
    assert [(r.location, r.rule) for r in parsed.rejected] == [
        ("l.json:value[1].MD5", "hash_length"),
        ("l.json:value[2].Category", "unknown_category"),
        ("l.json:value[3].SHA1", "hash_not_hex"),
        ("l.json:value[4]", "not_an_object"),
        ("l.json:value[5].PhotoDNA", "hash_length"),
    ]


def test_csv_and_text_lists() -> None:
    data = f"hash,type,category\n{MD5},MD5,\n{PDQ},PDQ,\nabc,MD5,\n{MD5},NETCLEAN,\n".encode()
    parsed = read_hash_csv(data + b"\xff\xfe,MD5,\n", "l.csv")
    assert [e.kind for e in parsed.entries] == ["md5", "pdq"]
    assert [(r.location, r.rule) for r in parsed.rejected] == [
        ("l.csv:4", "hash_length"), ("l.csv:5", "unknown_hash_type"), ("l.csv:6", "not_utf8"),
    ]  # fmt: skip
    plain = read_hash_csv(f"# md5 list\n{MD5}\n\n{MD5[:-1]}\n".encode(), "l.txt", hash_type="md5")
    assert len(plain.entries) == 1 and plain.rejected[0].location == "l.txt:4"
    undeclared = read_hash_csv(f"{MD5}\n".encode(), "l.txt")
    assert undeclared.rejected[0].rule == "missing_hash_type"
    # A header after comments and blank lines is still the header: its columns are read.
    commented = f"# exported list\n\nhash,type,category\n{MD5},MD5,1\n".encode()
    entries = read_hash_csv(commented, "l.csv", scheme="vics_us").entries
    assert [(e.kind, e.source_category) for e in entries] == [("md5", "1")]


def test_a_line_csv_cannot_split_is_refused_and_the_rest_of_the_list_imports() -> None:
    data = f"hash,type\n{MD5[:10]}\r{MD5[10:]},MD5\n{MD5},MD5\n".encode()
    parsed = read_hash_csv(data, "l.csv")
    assert [(r.location, r.rule) for r in parsed.rejected] == [("l.csv:2", "malformed_csv")]
    assert [e.value for e in parsed.entries] == [MD5.lower()]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_break_a_csv_list(data: bytes) -> None:
    parsed = read_hash_csv(data, "l.csv", hash_type="md5")
    assert all(r.location.startswith("l.csv:") and r.rule for r in parsed.rejected)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.binary(min_size=16, max_size=16).map(bytes.hex), st.text(max_size=40)),
                max_size=30))  # fmt: skip
def test_every_line_is_either_an_entry_or_a_named_rejection(lines: list[str]) -> None:
    """Each line is an entry, a named rejection, or a hash listed again alike (taken once)."""
    clean = [line.replace("\n", " ").replace("\r", " ").replace(",", " ") for line in lines]
    parsed = read_hash_csv("\n".join(clean).encode(), "p.txt", hash_type="md5")
    meaningful = [c for c in clean if c.strip() and not c.strip().startswith("#")]
    hashes = [c.strip().lower() for c in meaningful]
    valid = [h for h in hashes if len(h) == 32 and all(ch in "0123456789abcdef" for ch in h)]
    again = len(valid) - len(set(valid))
    assert len(parsed.entries) + len(parsed.rejected) + again == len(meaningful)
    assert len({(e.kind, e.value) for e in parsed.entries}) == len(parsed.entries)


def test_import_update_remove_and_retroactive_matching(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=4, reports=20, families=10))
    corpus.write_ncmec(tmp_path / "in")
    assert _json(capsys, "ingest", str(tmp_path / "in"))["matches"] == 0

    path = tmp_path / "known.json"
    bad = {"MediaID": 99, "Category": 1, "MD5": "NOT-HEX"}
    document = json.loads(vics_json(known_list(corpus, families=2, seed=1)))
    document["value"].append(bad)
    path.write_text(json.dumps(document))
    first = _json(capsys, "hashlist", "import", str(path), "--name", "known")
    files = [f for r in corpus.reports for f in r.files]
    in_two = sum(f.family < 2 for f in files) + sum(
        f.family < 2 and f.md5 == corpus.family_md5[f.family] for f in files
    )
    assert (first["entries"], first["quarantined"], first["matches"]) == (4, 1, in_two)

    again = _json(capsys, "hashlist", "import", str(path), "--name", "known")
    assert (again["changed"], again["version"], again["quarantined"]) == (False, 1, 0)

    document = json.loads(vics_json(known_list(corpus, families=4, seed=1)))
    path.write_text(json.dumps(document))
    grown = _json(capsys, "hashlist", "import", str(path), "--name", "known")
    in_four = sum(f.family < 4 for f in files) + sum(
        f.family < 4 and f.md5 == corpus.family_md5[f.family] for f in files
    )
    assert (grown["version"], grown["added"], grown["matches"]) == (2, 4, in_four)
    listed = _json(capsys, "hashlist", "list")
    assert listed[0]["quarantined"] == 0  # the corrected file resolved the bad entry

    shown = _json(capsys, "hashlist", "show", "known")
    assert shown["by_kind"] == {"md5": 4, "pdq": 4} and shown["source_schemes"] == ["vics_us"]

    assert invoke(capsys, "hashlist", "remove", "known").code == 0
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM hash_match")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM hash_list_entry")).scalar_one() == 0
    missing = invoke(capsys, "hashlist", "remove", "known")
    assert missing.code == 1 and "no hash list named 'known'" in missing.err
    # Every change to a list is audited with the change, as the account or user that made it.
    with store.engine.connect() as connection:
        events = connection.execute(
            text("SELECT action, role, target_id FROM audit_event WHERE action LIKE 'hashlist.%'")
        ).all()
    assert [tuple(e) for e in events] == [("hashlist.import", "cli", "known")] * 3 + [
        ("hashlist.remove", "cli", "known")
    ]


def test_a_refused_entry_that_comes_back_is_quarantined_again(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # A bad line fixed by a later import is resolved; when a still later import brings the bad
    # line back, its record is opened again (the same record, its earlier resolution kept),
    # never silently dropped and never a second open record.
    empty_md5 = "d41d8cd98f00b204e9800998ecf8427e"
    bad, fixed = tmp_path / "A.csv", tmp_path / "B.csv"
    bad.write_text(f"hash,type\n{empty_md5},md5\nNOT-A-HASH,md5\n")
    fixed.write_text(f"hash,type\n{empty_md5},md5\n{MD5},md5\n")

    def records() -> list[tuple[str, str, str]]:
        rows = _json(capsys, "quarantine", "list", "--status", "all")["records"]
        return [(r["status"], r["location"], r["rule"]) for r in rows]

    assert _json(capsys, "hashlist", "import", str(bad), "--name", "L")["quarantined"] == 1
    assert _json(capsys, "hashlist", "import", str(fixed), "--name", "L")["quarantined"] == 0
    assert records() == [("resolved", "line 3", "hash_not_hex")]
    assert _json(capsys, "hashlist", "import", str(bad), "--name", "L")["quarantined"] == 1
    assert records() == [("open", "line 3", "hash_not_hex")]
    assert _json(capsys, "hashlist", "list")[0]["quarantined"] == 1
    with store.engine.connect() as connection:
        (details,) = connection.execute(text("SELECT details FROM quarantine_record")).scalars()
    history = (json.loads(details) if isinstance(details, str) else details)["reopened"]
    assert len(history) == 1 and history[0]["resolved_at"] and history[0]["reopened_at"]
    # Importing the same file again changes nothing: the record is open already.
    assert _json(capsys, "hashlist", "import", str(bad), "--name", "L")["quarantined"] == 0
    assert records() == [("open", "line 3", "hash_not_hex")]


def test_the_same_list_under_another_file_name_quarantines_nothing_again(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """Records were keyed by the file's name and line: the same file saved as ``list (1).csv``
    quarantined its bad lines anew and resolved the earlier records, and back again on every
    switch. They are keyed by the list and the line now; the record keeps the first name."""
    content = "hash,type\nd41d8cd98f00b204e9800998ecf8427e,md5\nbad,md5\nworse,md5\n"
    quarantined = []
    for name in ("list.csv", "list.csv", "list (1).csv", "list.csv", "list (1).csv"):
        (tmp_path / name).write_text(content)
        summary = _json(capsys, "hashlist", "import", str(tmp_path / name), "--name", "L")
        quarantined.append((summary["version"], summary["quarantined"]))
    assert quarantined == [(1, 2)] + [(1, 0)] * 4
    rows = _json(capsys, "quarantine", "list", "--status", "all")["records"]
    assert [(r["status"], r["location"], r["source_file"]) for r in rows] == [
        ("open", "line 3", "list.csv"),
        ("open", "line 4", "list.csv"),
    ]


def test_list_quarantine_records_move_to_their_place_in_the_list_at_the_upgrade(
    store: Store,
) -> None:
    """Records of an earlier version, named by file and line, become ``line N``; two that the
    same list's line gave under two file names become one, the open one kept."""
    config = alembic_config(store.engine)
    command.downgrade(config, "triage_0006")
    now = "2026-12-01 00:00:00"
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO hash_list (id, name, kind, format, source_file, imported_at, version,"
                " version_token, pdq_threshold, flood_share, entry_count, quarantined_count)"
                " VALUES (1, 'L', 'known', 'csv', 'b.csv', :now, 1, 't', 31, 0.05, 0, 1)"
            ),
            {"now": now},
        )
        for record_id, location, status, digest in (
            (1, "a.csv:3", "resolved", "k:one"),
            (2, "b.csv:3", "open", "k:one"),
            (3, "b.csv:4", "open", "k:two"),
            (4, "a.csv:value[2]", "open", "k:three"),
        ):
            connection.execute(
                text(
                    "INSERT INTO quarantine_record (id, kind, source, source_file, location,"
                    " rule, error, format, hash_list_id, raw_sealed, raw_digest, status,"
                    " created_at, details) VALUES (:id, 'hash_entry', 'hashlist:L', :file,"
                    " :location, 'hash_not_hex', 'e', 'csv', 1, :raw, :digest, :status, :now,"
                    " '{}')"
                ),
                {"id": record_id, "file": location.split(":")[0], "location": location,
                 "raw": b"x", "digest": digest, "status": status, "now": now},
            )  # fmt: skip
    command.upgrade(config, "heads")
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, location, status FROM quarantine_record ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        (2, "line 3", "open"),
        (3, "line 4", "open"),
        (4, "value[2]", "open"),
    ]


@pytest.mark.parametrize("abuse_first", [True, False])
def test_a_hash_listed_with_two_categories_keeps_the_more_serious_and_quarantines_the_other(
    capsys: Capsys, store: Store, tmp_path: Path, abuse_first: bool
) -> None:
    # One entry is stored per hash: one of two categories would otherwise win by line order,
    # turning abuse material non-pertinent and its matches last. The more serious is kept,
    # whichever line gives it, and the other line is quarantined naming the kept one; the same
    # hash listed again alike is harmless.
    empty_md5 = "d41d8cd98f00b204e9800998ecf8427e"
    abuse, harmless = f"{empty_md5},md5,1", f"{empty_md5.upper()},md5,0"
    first, second = (abuse, harmless) if abuse_first else (harmless, abuse)
    path = tmp_path / "L.csv"
    path.write_text(f"hash,type,category\n{first}\n{MD5},md5,2\n{second}\n{MD5.lower()},md5,2\n")
    summary = _json(capsys, "hashlist", "import", str(path), "--name", "L", "--scheme", "us")
    assert (summary["entries"], summary["quarantined"]) == (2, 1)
    assert _json(capsys, "hashlist", "show", "L")["by_category"] == {
        "abuse_material": 1, "exploitive_age_difficult": 1,
    }  # fmt: skip
    (record,) = _json(capsys, "quarantine", "list")["records"]
    refused, kept = ("L.csv:4", "L.csv:2") if abuse_first else ("L.csv:2", "L.csv:4")
    assert (record["location"], record["source_file"], record["rule"], record["error"]) == (
        "line " + refused.removeprefix("L.csv:"),
        "L.csv",
        "conflicting_category",
        f"{refused}: the same md5 hash as {kept}, with category 0 (non_pertinent) where that "
        "line gives 1 (abuse_material); the more serious category is kept",
    )


def test_vics_media_giving_a_listed_hash_another_category_is_refused_for_that_hash() -> None:
    entries = [
        ListEntry(md5=MD5, pdq=None, category=1),
        ListEntry(md5=MD5, pdq=PDQ, category=0),
        ListEntry(md5=MD5, pdq=None, category=1),
    ]
    parsed = read_vics(vics_json(entries), "l.json", "vics_us")
    assert [(e.kind, e.category) for e in parsed.entries] == [
        ("md5", "abuse_material"), ("pdq", "non_pertinent"),
    ]  # fmt: skip
    assert [(r.location, r.rule) for r in parsed.rejected] == [
        ("l.json:value[1].MD5", "conflicting_category")
    ]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "the file holds no entries"),
        (f"hash,type\n{MD5},MD5\n".encode("utf-16"), "update.csv:1: not UTF-8"),
        (b"hash,type\nnot-a-hash,MD5\n", "update.csv:2: md5 hash is not hexadecimal"),
    ],
)
def test_a_file_with_no_valid_entry_never_empties_a_stored_list(
    capsys: Capsys, store: Store, tmp_path: Path, data: bytes, said: str
) -> None:
    # Importing makes the stored list equal to the file: an empty file, one in another
    # encoding or one whose every line is refused is refused whole, and the list stays.
    good = tmp_path / "good.csv"
    good.write_text(f"hash,type\n{MD5},MD5\n{PDQ},PDQ\n")
    assert _json(capsys, "hashlist", "import", str(good), "--name", "known")["entries"] == 2
    bad = tmp_path / "update.csv"
    bad.write_bytes(data)
    refused = invoke(capsys, "hashlist", "import", str(bad), "--name", "known", "--json")
    assert refused.code == 1
    assert "update.csv: no valid entry, nothing imported" in refused.err and said in refused.err
    listed = _json(capsys, "hashlist", "list")
    assert [(row["name"], row["entries"], row["version"]) for row in listed] == [("known", 2, 1)]
    new = invoke(capsys, "hashlist", "import", str(bad), "--name", "fresh")
    assert new.code == 1
    assert [row["name"] for row in _json(capsys, "hashlist", "list")] == ["known"]


def test_retroactive_matching_of_one_list_leaves_another_with_the_same_hashes(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=5, reports=20, families=10))
    corpus.write_ncmec(tmp_path / "in")
    _json(capsys, "ingest", str(tmp_path / "in"))
    path = tmp_path / "known.json"
    path.write_bytes(vics_json(known_list(corpus, families=3, seed=2)))
    files = [f for r in corpus.reports for f in r.files]
    expected = sum(f.family < 3 for f in files) + sum(
        f.family < 3 and f.md5 == corpus.family_md5[f.family] for f in files
    )
    assert expected
    for name in ("first", "second"):
        assert _json(capsys, "hashlist", "import", str(path), "--name", name)["matches"] == expected
    with store.engine.connect() as connection:
        per_list = connection.execute(
            text(
                "SELECT l.name, m.hash_kind, count(*) FROM hash_match m"
                " JOIN hash_list l ON l.id = m.list_id GROUP BY l.name, m.hash_kind"
            )
        ).all()
    by_list = {(name, kind): count for name, kind, count in per_list}
    for name in ("first", "second"):
        assert by_list[(name, "md5")] + by_list[(name, "pdq")] == expected
    assert by_list[("first", "md5")] == by_list[("second", "md5")]


def test_allow_list_matches_are_kept_apart(capsys: Capsys, store: Store, tmp_path: Path) -> None:
    corpus = generate(GeneratorConfig(seed=6, reports=10, families=5))
    corpus.write_ncmec(tmp_path / "in")
    (tmp_path / "meme.json").write_bytes(
        vics_json(known_list(corpus, families=1, seed=0, category=0))
    )
    _json(
        capsys,
        "hashlist",
        "import",
        str(tmp_path / "meme.json"),
        "--name",
        "memes",
        "--kind",
        "allow",
    )
    _json(capsys, "ingest", str(tmp_path / "in"))
    with store.engine.connect() as connection:
        kinds = connection.execute(
            text("SELECT DISTINCT l.kind, e.category FROM hash_match m "
                 "JOIN hash_list l ON l.id = m.list_id JOIN hash_list_entry e ON e.id = m.entry_id")
        ).all()  # fmt: skip
    assert [tuple(k) for k in kinds] == [("allow", "non_pertinent")]


def test_non_pertinent_entries_of_a_known_list_make_no_file_known(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=6, reports=10, families=5))
    corpus.write_ncmec(tmp_path / "in")
    # One case export: family 0 reviewed as non-pertinent (VICS US 0), family 1 as abuse material.
    entries = [
        *known_list(corpus, families=1, seed=0, category=0),
        ListEntry(md5=corpus.family_md5[1].upper(), pdq=corpus.family_pdq[1], category=1),
    ]
    (tmp_path / "case.json").write_bytes(vics_json(entries))
    _json(capsys, "hashlist", "import", str(tmp_path / "case.json"), "--name", "case")
    _json(capsys, "ingest", str(tmp_path / "in"))
    _json(capsys, "triage", "run")
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT p.detection, "
                 "MAX(CASE WHEN e.category = 'abuse_material' THEN 1 ELSE 0 END), "
                 "MAX(CASE WHEN e.category = 'non_pertinent' THEN 1 ELSE 0 END) "
                 "FROM triage_priority p "
                 "JOIN reported_file f ON f.report_id = p.report_id "
                 "JOIN hash_match m ON m.file_id = f.id "
                 "JOIN hash_list_entry e ON e.id = m.entry_id GROUP BY p.report_id, p.detection")
        ).all()  # fmt: skip
    only_non_pertinent = {d for d, abuse, other in rows if other and not abuse}
    with_abuse = {d for d, abuse, _ in rows if abuse}
    assert only_non_pertinent == {"no_list_match"}
    assert with_abuse == {"known_match"}


def test_flood_guard_flags_an_entry_matching_too_much(
    capsys: Capsys, store: Store, tmp_path: Path, home: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=8, reports=60, families=30))
    corpus.write_ncmec(tmp_path / "in")
    # One entry is the base hash of the biggest content family: it matches more than half the
    # share of files its family holds, so with the flood share set to half that, it is flagged.
    files = [f for r in corpus.reports for f in r.files]
    popular = max(range(30), key=lambda family: sum(f.family == family for f in files))
    share = sum(f.family == popular for f in files) / len(files)
    (home / "config.toml").write_text(
        f"[triage]\nflood_share = {share / 2:.4f}\nflood_min_files = 20\n"
    )
    entries = [ListEntry(md5=None, pdq=corpus.family_pdq[popular], category=1)]
    (tmp_path / "l.json").write_bytes(vics_json(entries))
    _json(capsys, "hashlist", "import", str(tmp_path / "l.json"), "--name", "l")
    _json(capsys, "ingest", str(tmp_path / "in"))
    listed = _json(capsys, "hashlist", "list")
    assert listed[0]["flood_flags"] == 1
    with store.engine.connect() as connection:
        matched, checked = connection.execute(
            text("SELECT matched_files, checked_files FROM flood_flag")
        ).one()
    assert checked >= 20 and matched / checked > share / 2


def test_pdq_threshold_per_list_and_quality(capsys: Capsys, store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    near = flip_bits([PDQ, PDQ, PDQ], np.array([20, 31, 32]), rng)
    files = [
        {"file_id": f"F-{i}", "hashes": [{"kind": "pdq", "value": v, "quality": q}]}
        for i, (v, q) in enumerate(
            [(near[0], 90), (near[1], 90), (near[2], 90), (near[0], 40), (near[1], 60)]
        )
    ]
    report = {"report_id": "T-1", "incident_type": "Child Sex Trafficking",
              "incident_time": "2026-01-01T00:00:00Z", "files": files}  # fmt: skip
    (tmp_path / "r.jsonl").write_text(json.dumps(report))
    (tmp_path / "l.csv").write_text(f"hash,type\n{PDQ},PDQ\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "l.csv"), "--name", "default")
    _json(capsys, "hashlist", "import", str(tmp_path / "l.csv"), "--name", "strict",
          "--pdq-threshold", "25")  # fmt: skip
    _json(capsys, "ingest", str(tmp_path / "r.jsonl"))
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT f.provider_file_id, l.name, m.distance FROM hash_match m "
                 "JOIN reported_file f ON f.id = m.file_id JOIN hash_list l ON l.id = m.list_id")
        ).all()  # fmt: skip
    assert sorted(tuple(r) for r in rows) == [
        ("F-0", "default", 20),
        ("F-0", "strict", 20),
        ("F-1", "default", 31),
        ("F-4", "default", 31),
    ]  # F-2 at 32 bits never matches; F-3 has quality 40 (< 50): not matched; F-4 has the hash
    # of F-1 (searched once) and matches as F-1 does


def test_a_long_running_matcher_never_searches_a_removed_lists_segment(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # SQLite gives the next list the highest id plus one: after a removal the new list got the
    # removed one's id and version again, so a matcher open all along (the web app's) kept the
    # removed list's segment under the new list's name.
    old, new = flip_bits([PDQ], np.array([100]), np.random.default_rng(3))[0], PDQ
    web = intake_context(store)
    (tmp_path / "old.csv").write_text(f"hash,type\n{old},PDQ\n")
    (tmp_path / "new.csv").write_text(f"hash,type\n{new},PDQ\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "old.csv"), "--name", "old")
    with store.session() as session:
        web.matcher.sync(session)
    assert [hit[2] for hit in web.matcher.search_pdq([old])[old]] == [0]

    assert invoke(capsys, "hashlist", "remove", "old").code == 0
    _json(capsys, "hashlist", "import", str(tmp_path / "new.csv"), "--name", "new")
    with store.session() as session:
        web.matcher.sync(session)
        (entry,) = session.execute(text("SELECT list_id, id FROM hash_list_entry")).all()
    hits = web.matcher.search_pdq([old, new])
    assert hits == {old: [], new: [(entry[0], entry[1], 0)]}


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # it copies the database's file
def test_a_restored_copy_of_the_database_never_uses_segments_of_the_lists_it_lost(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # The index lives beside the database; a database restored from an older copy names its
    # list as the list that replaced it did (same id, same version), and the index kept the
    # replacement's segment for it.
    old, new = flip_bits([PDQ], np.array([100]), np.random.default_rng(3))[0], PDQ
    (tmp_path / "old.csv").write_text(f"hash,type\n{old},PDQ\n")
    (tmp_path / "new.csv").write_text(f"hash,type\n{new},PDQ\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "old.csv"), "--name", "L")
    database = Path(store.engine.url.database or "")
    store.dispose()
    with sqlite3.connect(database) as live, sqlite3.connect(tmp_path / "copy.db") as copy:
        live.backup(copy)
    assert invoke(capsys, "hashlist", "remove", "L").code == 0
    _json(capsys, "hashlist", "import", str(tmp_path / "new.csv"), "--name", "M")
    store.dispose()
    with sqlite3.connect(tmp_path / "copy.db") as copy, sqlite3.connect(database) as live:
        copy.backup(live)

    files = [{"file_id": f"F-{i}", "hashes": [{"kind": "pdq", "value": v, "quality": 90}]}
             for i, v in enumerate([old, new])]  # fmt: skip
    report = {"report_id": "T-1", "incident_type": "Child Sex Trafficking",
              "incident_time": "2026-01-01T00:00:00Z", "files": files}  # fmt: skip
    (tmp_path / "r.jsonl").write_text(json.dumps(report))
    _json(capsys, "ingest", str(tmp_path / "r.jsonl"))
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT f.provider_file_id, l.name, m.distance FROM hash_match m "
                 "JOIN reported_file f ON f.id = m.file_id JOIN hash_list l ON l.id = m.list_id")
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [("F-0", "L", 0)]


def test_lists_existing_at_the_upgrade_get_a_token_and_keep_their_entries(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text(f"hash,type\n{PDQ},PDQ\n{MD5},MD5\n")
    (tmp_path / "b.csv").write_text(f"hash,type\n{PDQ},PDQ\n")
    for name in ("a", "b"):
        _json(capsys, "hashlist", "import", str(tmp_path / f"{name}.csv"), "--name", name)
    config = alembic_config(store.engine)
    command.downgrade(config, "triage_0003")
    command.upgrade(config, "heads")
    with store.engine.connect() as connection:
        tokens = connection.execute(text("SELECT version_token FROM hash_list")).scalars().all()
        entries = connection.execute(text("SELECT count(*) FROM hash_list_entry")).scalar_one()
    assert len(set(tokens)) == 2 and all(len(token) == 16 for token in tokens)
    assert entries == 3  # the column was added in place: no rebuilt table, no cascaded delete
    context = intake_context(store)
    with store.session() as session:
        assert len(context.matcher.sync(session)) == 2  # built again under the new names
    assert len(context.matcher.search_pdq([PDQ])[PDQ]) == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_an_ingest_running_while_a_list_changes_matches_each_batch_against_the_new_list(
    capsys: Capsys, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # The matcher synchronised once per run and the run's PDQ hits were all searched against
    # the list as it was then (by the parse workers, forked with the index of the start): after
    # an update during the run, files were matched to entry ids that now held other hashes, and
    # no file stored after the update matched its new entries.
    monkeypatch.setattr(ingest_module, "_PARALLEL_FROM", 1)
    rng = np.random.default_rng(7)
    a, b = PDQ, flip_bits([PDQ], np.array([128]), rng)[0]
    near = flip_bits([a, b] * 3, np.array([3, 4, 5, 6, 7, 8]), rng)
    (tmp_path / "in").mkdir()
    for i, value in enumerate(near):
        files = [{"file_id": f"F-{i}", "hashes": [{"kind": "pdq", "value": value, "quality": 90}]}]
        report = {"report_id": f"R-{i}", "incident_type": "Child Sex Trafficking",
                  "incident_time": "2026-01-01T00:00:00Z", "files": files}  # fmt: skip
        (tmp_path / "in" / f"r{i}.jsonl").write_text(json.dumps(report))
    (tmp_path / "v1.csv").write_text(f"hash,type\n{a},PDQ\n")
    (tmp_path / "v2.csv").write_text(f"hash,type\n{b},PDQ\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "v1.csv"), "--name", "L")
    context = intake_context(store)

    def update_the_list_midway(number: int, _total: int) -> None:
        if number == 3:  # two batches stored, the third about to be
            updated = _json(capsys, "hashlist", "import", str(tmp_path / "v2.csv"), "--name", "L")
            assert (updated["version"], updated["added"], updated["removed"]) == (2, 1, 1)

    summary = ingest(
        store, [tmp_path / "in"], source="t",
        writer_factory=lambda run_id, at: context.writer("t", run_id, at),
        matcher=context.matcher,
        options=replace(context.options, batch_size=1, parse_workers=workers),
        on_document=update_the_list_midway,
    )  # fmt: skip
    assert summary.reports_stored == 6
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT f.provider_file_id, e.value FROM hash_match m "
                 "JOIN reported_file f ON f.id = m.file_id "
                 "JOIN hash_list_entry e ON e.id = m.entry_id")
        ).all()  # fmt: skip
    # Files stored before the update were matched again by it, those stored after against it.
    assert sorted(tuple(r) for r in rows) == [("F-1", b), ("F-3", b), ("F-5", b)]


def test_a_reimport_keeps_the_lists_kind_and_threshold_unless_given(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # The options defaulted to known and the configured threshold, so updating an allow list
    # without naming its kind turned it into a known list (its matches then counted as abuse
    # material) and reset a tuned threshold, silently.
    path = tmp_path / "l.csv"
    path.write_text(f"hash,type\n{PDQ},PDQ\n")
    _json(capsys, "hashlist", "import", str(path), "--name", "L", "--kind", "allow",
          "--pdq-threshold", "20")  # fmt: skip
    path.write_text(f"hash,type\n{PDQ},PDQ\n{MD5},MD5\n")
    updated = _json(capsys, "hashlist", "import", str(path), "--name", "L")
    (listed,) = _json(capsys, "hashlist", "list")
    assert (listed["kind"], listed["pdq_threshold"], listed["version"]) == ("allow", 20, 2)
    assert (updated["added"], updated["settings_changed"]) == (1, {})

    changed = invoke(capsys, "hashlist", "import", str(path), "--name", "L", "--kind", "known")
    assert changed.code == 0 and "now version 3" in changed.out
    assert "kind changed: allow → known" in changed.out
    again = _json(capsys, "hashlist", "import", str(path), "--name", "L", "--pdq-threshold", "25")
    assert again["settings_changed"] == {"pdq_threshold": [20, 25]} and again["version"] == 4
    (listed,) = _json(capsys, "hashlist", "list")
    assert (listed["kind"], listed["pdq_threshold"]) == ("known", 25)
    fresh = _json(capsys, "hashlist", "import", str(path), "--name", "M")
    assert fresh["settings_changed"] == {}
    kinds = {
        row["name"]: (row["kind"], row["pdq_threshold"])
        for row in _json(capsys, "hashlist", "list")
    }
    assert kinds["M"] == ("known", 31)


def _small_run(tmp_path: Path, run: int, files: list[str]) -> Path:
    """A JSON Lines document of one report per file, each file given by its MD5."""
    path = tmp_path / f"run-{run}.jsonl"
    lines = [
        json.dumps({"report_id": f"R-{run}-{i}", "incident_type": "Child Sex Trafficking",
                    "incident_time": "2026-01-01T00:00:00Z",
                    "files": [{"file_id": "F", "hashes": [{"kind": "md5", "value": md5}]}]})
        for i, md5 in enumerate(files)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_flood_guard_judges_the_recent_files_of_every_run_together(
    capsys: Capsys, store: Store, tmp_path: Path, home: Path
) -> None:
    # Each batch was judged on its own and only from flood_min_files files: small daily runs
    # never reached it, however much one entry matched across them.
    (home / "config.toml").write_text("[triage]\nflood_share = 0.2\nflood_min_files = 50\n")
    (tmp_path / "l.csv").write_text(f"hash,type\n{MD5},MD5\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "l.csv"), "--name", "l")
    other = [f"{n:032x}" for n in range(1000)]
    for run in range(3):  # 20 files a run, a quarter of them listed
        files = [MD5 if i % 4 == 0 else other[run * 20 + i] for i in range(20)]
        _json(capsys, "ingest", str(_small_run(tmp_path, run, files)))
        (listed,) = _json(capsys, "hashlist", "list")
        assert listed["flood_flags"] == (1 if run == 2 else 0)
    with store.engine.connect() as connection:
        flag = connection.execute(text("SELECT matched_files, checked_files FROM flood_flag")).one()
    assert tuple(flag) == (15, 60)


def test_a_burst_after_a_long_quiet_history_is_flagged_over_the_window(
    capsys: Capsys, store: Store, tmp_path: Path, home: Path
) -> None:
    # The window is the recent files, not every file stored: a burst is not diluted by history.
    (home / "config.toml").write_text(
        "[triage]\nflood_share = 0.25\nflood_min_files = 20\nflood_window = 40\n"
    )
    (tmp_path / "l.csv").write_text(f"hash,type\n{MD5},MD5\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "l.csv"), "--name", "l")
    quiet = [f"{n:032x}" for n in range(100)]
    _json(capsys, "ingest", str(_small_run(tmp_path, 0, quiet)))
    burst = [MD5 if i < 12 else f"{1000 + i:032x}" for i in range(20)]
    _json(capsys, "ingest", str(_small_run(tmp_path, 1, burst)))
    with store.engine.connect() as connection:
        flag = connection.execute(text("SELECT matched_files, checked_files FROM flood_flag")).one()
    assert tuple(flag) == (12, 40)  # 12 of 120 stored would be 10 %, under the share


def test_two_ingests_flagging_one_entry_at_once_both_keep_their_batches_and_one_flag(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """Two ingests (two processes, or an ingest and the web app's submissions) whose batches
    each take one entry past its share both find it unflagged, and both insert its flag. Each is
    held just before that insert until the other has got there too: on PostgreSQL the second
    insert waited for the first to commit, then broke the flag's unique key, and its batch was
    rolled back with it. SQLite lets one writer at a time: the second batch is written after the
    first has committed, finds the flag and adds none (the first one's wait runs out)."""
    (tmp_path / "l.csv").write_text(f"hash,type\n{MD5},MD5\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "l.csv"), "--name", "l")
    # 46 files matching nothing, then two runs of 4 listed files: each run sees 50 files (the
    # default flood_min_files), 8 % of them matching the entry (the default share is 5 %).
    _json(capsys, "ingest", str(_small_run(tmp_path, 0, [f"{n:032x}" for n in range(46)])))
    postgresql = store.dialect == "postgresql"
    both_inserting = threading.Barrier(2, timeout=10 if postgresql else 1)
    met: list[bool] = []

    def hold_the_flag(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO flood_flag"):
            try:
                both_inserting.wait()
                met.append(True)
            except threading.BrokenBarrierError:
                met.append(False)

    event.listen(store.engine, "before_cursor_execute", hold_the_flag)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            context = intake_context(store)  # each its own, as two processes have
            ingest(
                store, [_small_run(tmp_path, number, [MD5] * 4)], source="t",
                writer_factory=lambda run_id, at: context.writer("t", run_id, at),
                matcher=context.matcher, options=context.options,
            )  # fmt: skip
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert met == ([True, True] if postgresql else [False])  # the race happened where it can
    with store.engine.connect() as connection:
        flags = connection.execute(text("SELECT matched_files, checked_files FROM flood_flag"))
        assert [tuple(flag) for flag in flags] == [(4, 50)]
        matches = connection.execute(text("SELECT count(*) FROM hash_match")).scalar_one()
    assert matches == 8  # both batches kept


def test_a_flood_window_smaller_than_the_files_it_needs_is_refused(
    capsys: Capsys, store: Store, home: Path
) -> None:
    # The guard judges once flood_min_files of the last flood_window files are stored: with
    # fewer in the window than it needs, it would never judge, silently.
    (home / "config.toml").write_text("[triage]\nflood_min_files = 50\nflood_window = 40\n")
    refused = invoke(capsys, "ingest", str(home))
    assert (
        refused.code == 1 and "flood_min_files = 50 is more than flood_window = 40" in refused.err
    )
