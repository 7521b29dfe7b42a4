"""Ingest end to end through the CLI: every format, idempotence, conflicts, quarantine, media."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import shutil
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from safeguarding.config import Settings, load_settings
from safeguarding.disclosure.pseudonymise import Pseudonymiser
from safeguarding.hashing.files import hash_file
from safeguarding.store import Store
from safeguarding.triage import ingest as ingest_module
from safeguarding.triage.context import intake_context
from safeguarding.triage.formats import jsonl
from safeguarding.triage.generate import (
    Corpus,
    GeneratorConfig,
    benign_image,
    generate,
    image_variant,
    known_list,
    vics_json,
)
from safeguarding.triage.options import TriageOptions
from safeguarding.triage.quarantine import raw_digest
from safeguarding.triage.records import Rejected
from tests.cli_runner import invoke
from tests.triage.snapshot import snapshot
from tests.triage.test_jsonl_csv import HEADER, ROW, jsonl_report
from tests.triage.xml_samples import BILLION_LAUGHS, EXTERNAL_ENTITY, FILE_DETAILS, REPORT

Capsys = pytest.CaptureFixture[str]


def _json(capsys: Capsys, *args: str) -> object:
    result = invoke(capsys, *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _count(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_ncmec_directory_is_stored_and_matched_and_reingest_is_a_no_op(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=5, reports=12, families=8, subjects=4))
    corpus.write_ncmec(tmp_path / "in")
    listed = known_list(corpus, families=3, seed=1)
    (tmp_path / "known.json").write_bytes(vics_json(listed))
    _json(capsys, "hashlist", "import", str(tmp_path / "known.json"), "--name", "known")

    first = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "ncmec")
    assert isinstance(first, dict)
    assert (first["reports_stored"], first["files_stored"], first["rejected"]) == (12, 24, 0)
    # Ground truth: every file of a listed family matches by PDQ (variants are <= 16 bits away),
    # and exact re-sends of a listed family also match by MD5.
    files = [f for r in corpus.reports for f in r.files]
    expected_pdq = sum(f.family < 3 for f in files)
    expected_md5 = sum(f.family < 3 and f.md5 == corpus.family_md5[f.family] for f in files)
    assert first["matches"] == expected_pdq + expected_md5
    state = snapshot(store)

    again = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "ncmec")
    assert isinstance(again, dict)
    assert (again["reports_stored"], again["reports_unchanged"]) == (0, 12)
    assert (again["files_stored"], again["files_unchanged"]) == (0, 24)
    assert snapshot(store) == state


def test_zip_archive_gives_the_same_state_as_the_directory(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    corpus = generate(GeneratorConfig(seed=2, reports=5))
    with zipfile.ZipFile(tmp_path / "batch.zip", "w") as archive:
        for name, data in corpus.documents():
            archive.writestr(f"export/{name}", data)
        archive.writestr("export/readme.txt", "not a report")
    result = _json(capsys, "ingest", str(tmp_path / "batch.zip"), "--source", "s")
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["files_stored"]) == (5, 10)
    assert result["skipped"] == [f"{tmp_path / 'batch.zip'}!export/readme.txt"]


def test_identifiers_are_pseudonymised_and_free_text_not_stored(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "r.xml").write_text(REPORT)
    _json(capsys, "ingest", str(tmp_path / "r.xml"))
    with store.engine.connect() as connection:
        dump = " ".join(
            str(value)
            for table in ("provider_report", "report_party", "party_identifier",
                          "report_internet_detail")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )  # fmt: skip
        pseudonyms = set(
            connection.execute(text("SELECT pseudonym FROM party_identifier")).scalars()
        )
    for raw in ("Someone@Example.org", "someone@example.org", "acct-42", "fictional_42",
                "192.0.2.7", "Fictional", "danger now", "secret-name", "kept sealed"):  # fmt: skip
        assert raw not in dump
    key = Pseudonymiser(load_settings().secret("pseudonym"))
    assert key.pseudonym("email", "someone@example.org") in pseudonyms
    assert key.pseudonym("esp_id", "acct-42", scope="Example Chat") in pseudonyms


BAD_DOCUMENTS = {
    "billion-laughs.xml": (BILLION_LAUGHS, "xml_dtd_forbidden"),
    "external-entity.xml": (EXTERNAL_ENTITY, "xml_dtd_forbidden"),
    "truncated.xml": (REPORT[:700], "xml_malformed"),
    "wrong-root.xml": ("<invoice/>", "wrong_root"),
    "long.xml": (REPORT.replace("R-1", "L-1").replace(
        "<platform>Example Chat</platform>", f"<platform>{'p' * 300}</platform>"), "too_long"),
    "bad-date.xml": (REPORT.replace("R-1", "D-1").replace("2026-03-01T10:00:00Z", "31-02-2026"),
                     "bad_datetime"),
    "bad-enum.xml": (REPORT.replace("R-1", "E-1").replace(
        "Online Enticement of Children for Sexual Acts", "Other"), "unknown_enum"),
    "bad-hash.xml": (FILE_DETAILS.replace("0123456789ABCDEF0123456789ABCDEF", "XYZ"),
                     "hash_not_hex"),
}  # fmt: skip


def test_bad_documents_are_quarantined_with_rule_and_valid_ones_survive(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    directory = tmp_path / "mixed"
    directory.mkdir()
    for name, (content, _) in BAD_DOCUMENTS.items():
        (directory / name).write_text(content)
    corpus = generate(GeneratorConfig(seed=9, reports=3))
    corpus.write_ncmec(directory)
    result = invoke(capsys, "ingest", str(directory), "--source", "mixed")
    assert result.code == 0
    assert "reports 3 stored" in result.out
    listing = _json(capsys, "quarantine", "list")
    assert isinstance(listing, dict)
    by_file = {Path(r["source_file"]).name: r for r in listing["records"]}
    assert {name: r["rule"] for name, r in by_file.items()} == {
        name: rule for name, (_, rule) in BAD_DOCUMENTS.items()
    }
    assert by_file["long.xml"]["location"].endswith("long.xml:/report/incidentSummary/platform")
    assert _count(store, "provider_report") == 3 and _count(store, "reported_file") == 6

    # The raw input is kept sealed and comes back intact; a re-run quarantines nothing twice.
    shown = _json(capsys, "quarantine", "show", str(by_file["bad-enum.xml"]["id"]), "--raw")
    assert isinstance(shown, dict) and shown["raw"] == BAD_DOCUMENTS["bad-enum.xml"][0]
    with store.engine.connect() as connection:
        sealed = connection.execute(text("SELECT raw_sealed FROM quarantine_record")).scalars()
        assert all(b"Online Enticement" not in bytes(value) for value in sealed)
    invoke(capsys, "ingest", str(directory), "--source", "mixed")
    assert _count(store, "quarantine_record") == len(BAD_DOCUMENTS)


def test_quarantined_input_is_found_again_by_a_keyed_digest_only(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A plain hash of a short rejected input could be confirmed by hashing guesses. Digests are
    keyed; the plain ones of earlier versions are replaced at the next recording, and a re-run
    still quarantines nothing twice."""
    directory = tmp_path / "mixed"
    directory.mkdir()
    for name, (content, _) in BAD_DOCUMENTS.items():
        (directory / name).write_text(content)
    invoke(capsys, "ingest", str(directory), "--source", "mixed")
    sealer = intake_context(store).sealer
    raws = [content.encode() for content, _ in BAD_DOCUMENTS.values()]

    def digests() -> list[str]:
        with store.engine.connect() as connection:
            query = text("SELECT raw_digest FROM quarantine_record ORDER BY id")
            return list(connection.execute(query).scalars())

    stored = digests()
    assert sorted(stored) == sorted(raw_digest(sealer, raw) for raw in raws)
    assert all(d.startswith("k:") and len(d) == 64 for d in stored)
    assert not {hashlib.sha256(raw).hexdigest() for raw in raws} & set(stored)
    # a store written by an earlier version: plain SHA-256 of the raw input
    with store.engine.begin() as connection:
        for raw in raws:
            connection.execute(
                text("UPDATE quarantine_record SET raw_digest = :plain WHERE raw_digest = :keyed"),
                {"plain": hashlib.sha256(raw).hexdigest(), "keyed": raw_digest(sealer, raw)},
            )
    assert not any(d.startswith("k:") for d in digests())
    invoke(capsys, "ingest", str(directory), "--source", "mixed")
    assert digests() == stored and _count(store, "quarantine_record") == len(BAD_DOCUMENTS)


def test_conflicting_duplicate_goes_to_quarantine_and_never_overwrites(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "a.xml").write_text(REPORT)
    _json(capsys, "ingest", str(tmp_path / "a.xml"), "--source", "p")
    before = snapshot(store)
    changed = tmp_path / "b.xml"
    changed.write_text(
        REPORT.replace("<platform>Example Chat</platform>", "<platform>X</platform>")
    )
    result = _json(capsys, "ingest", str(changed), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {"conflicting_duplicate": 1}
    after = snapshot(store)
    assert after["reports"] == before["reports"]
    (record,) = after["quarantine"]
    assert record[2] == "conflicting_duplicate"
    # The same id from another source is another report, not a conflict.
    other = _json(capsys, "ingest", str(changed), "--source", "q")
    assert isinstance(other, dict) and other["reports_stored"] == 1


def test_file_details_before_their_report_wait_in_quarantine_then_retry(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "f.xml").write_text(FILE_DETAILS)
    first = _json(capsys, "ingest", str(tmp_path / "f.xml"))
    assert isinstance(first, dict) and first["rules"] == {"unknown_report": 1}
    (tmp_path / "r.xml").write_text(REPORT)
    _json(capsys, "ingest", str(tmp_path / "r.xml"))
    outcome = _json(capsys, "quarantine", "retry")
    assert isinstance(outcome, list) and [o["resolved"] for o in outcome] == [True]
    assert _count(store, "reported_file") == 1 and _count(store, "file_hash") == 2
    listing = _json(capsys, "quarantine", "list")
    assert isinstance(listing, dict) and listing["records"] == []


def test_retry_reads_a_document_with_the_configured_size_limit(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    # Ingest accepts documents up to [triage] max_document_bytes; retry must read the raw
    # input with the same limit, not the built-in 5 MB, or a large file details document
    # whose report came later could never leave quarantine.
    (home / "config.toml").write_text("[triage]\nmax_document_bytes = 20000000\n")
    padding = "<!-- padding -->" * (6_000_000 // 16)
    large = FILE_DETAILS.replace("<fileDetails>", "<fileDetails>" + padding)
    assert len(large.encode()) > 6_000_000
    (tmp_path / "f.xml").write_text(large)
    first = _json(capsys, "ingest", str(tmp_path / "f.xml"))
    assert isinstance(first, dict) and first["rules"] == {"unknown_report": 1}
    (tmp_path / "r.xml").write_text(REPORT)
    _json(capsys, "ingest", str(tmp_path / "r.xml"))
    outcome = _json(capsys, "quarantine", "retry")
    assert outcome == [
        {"record_id": 1, "resolved": True, "message": "0 report(s), 1 file(s) stored"}
    ]
    assert _count(store, "reported_file") == 1
    listing = _json(capsys, "quarantine", "list")
    assert isinstance(listing, dict) and listing["records"] == []


def test_input_refused_for_its_size_is_never_stored_from_the_part_kept(
    capsys: Capsys, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The quarantine keeps only the first bytes of a line that is too long, and nothing of a
    # file refused unread. A valid report padded past the limit reads as valid once cut down,
    # and nothing reads as nothing to store: retry must keep both open, saying why.
    line = json.dumps(jsonl_report(report_id="LONG-1")) + " " * jsonl.MAX_LINE_BYTES
    (tmp_path / "long.jsonl").write_text(line + "\n")
    (tmp_path / "big.jsonl").write_text(json.dumps(jsonl_report(report_id="BIG-1")) + "\n")
    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "MAX_TABULAR_BYTES", 100)
        _json(capsys, "ingest", str(tmp_path / "big.jsonl"))
    first = _json(capsys, "ingest", str(tmp_path / "long.jsonl"))
    assert isinstance(first, dict) and first["rules"] == {"line_too_long": 1}
    outcome = _json(capsys, "quarantine", "retry")
    assert isinstance(outcome, list) and [o["resolved"] for o in outcome] == [False, False]
    big, long = (str(tmp_path / name) for name in ("big.jsonl", "long.jsonl"))
    kept = "(refused for its size, the quarantine keeps only part of it: ingest the file again)"
    assert outcome[0]["message"].startswith(f"document_too_large: {big}: ")
    assert outcome[0]["message"].endswith(kept)
    assert outcome[1]["message"] == (
        f"line_too_long: {long}:1: line over {jsonl.MAX_LINE_BYTES} bytes {kept}"
    )
    assert _count(store, "provider_report") == 0
    listing = _json(capsys, "quarantine", "list")
    assert isinstance(listing, dict)
    assert [(r["rule"], r["status"]) for r in listing["records"]] == [
        ("document_too_large", "open"), ("line_too_long", "open"),
    ]  # fmt: skip


@pytest.mark.parametrize("held", [ingest_module.MAX_HELD_FILES, 1])
def test_file_details_named_before_their_report_find_it_in_a_later_batch(
    capsys: Capsys,
    store: Store,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    held: int,
) -> None:
    # With room for one waiting file only, the other documents are read again at the end.
    monkeypatch.setattr(ingest_module, "MAX_HELD_FILES", held)
    (home / "config.toml").write_text("[triage]\nbatch_size = 1\n")
    other = FILE_DETAILS.replace("F-1", "F-2")
    orphan = FILE_DETAILS.replace("R-1", "R-404")
    for name, text_ in (("a-f1.xml", FILE_DETAILS), ("b-f2.xml", other), ("c-f3.xml", orphan)):
        (tmp_path / name).write_text(text_)
    (tmp_path / "z-report.xml").write_text(REPORT)
    result = _json(capsys, "ingest", str(tmp_path))
    assert isinstance(result, dict) and result["rules"] == {"unknown_report": 1}
    assert result["reports_stored"] == 1 and result["files_stored"] == 2
    with store.engine.connect() as connection:
        files = connection.execute(
            text("SELECT provider_file_id FROM reported_file ORDER BY provider_file_id")
        ).scalars()
        assert list(files) == ["F-1", "F-2"]
    again = _json(capsys, "ingest", str(tmp_path))
    assert isinstance(again, dict) and again["reports_unchanged"] == 1
    assert again["files_stored"] == 0 and _count(store, "reported_file") == 2


def test_jsonl_and_csv_end_to_end(capsys: Capsys, store: Store, tmp_path: Path) -> None:
    lines = [json.dumps(jsonl_report(report_id=f"J-{i}")) for i in range(3)]
    (tmp_path / "in.jsonl").write_text("\n".join([*lines, '{"report_id": "only"}']) + "\n")
    (tmp_path / "in.csv").write_bytes(f"{HEADER}\n{ROW}\n".encode() + b"\xff\n")
    result = _json(capsys, "ingest", str(tmp_path / "in.jsonl"), str(tmp_path / "in.csv"))
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["files_stored"]) == (4, 4)
    assert result["rules"] == {"missing_field": 1, "not_utf8": 1}
    with store.engine.connect() as connection:
        formats = sorted(connection.execute(text("SELECT format FROM provider_report")).scalars())
    assert formats == ["csv", "jsonl", "jsonl", "jsonl"]


def test_media_are_hashed_and_broken_images_are_recorded_unhashable(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    own = media / "J-1"  # the report's own directory: its files found by their names
    own.mkdir(parents=True)
    benign_image(1).save(own / "good.png")
    image_variant(benign_image(1), 2).save(tmp_path / "listed.jpg")
    (own / "empty.jpg").write_bytes(b"")
    (own / "corrupt.jpg").write_bytes(b"garbage" * 50)
    buffer = io.BytesIO()
    benign_image(3).save(buffer, "JPEG")
    (own / "cut.jpg").write_bytes(buffer.getvalue()[:900])
    Image.new("1", (15_000, 15_000)).save(own / "bomb.png")
    names = ["good.png", "empty.jpg", "corrupt.jpg", "cut.jpg", "bomb.png", "missing.jpg"]
    report = jsonl_report(
        files=[{"file_id": f"F-{i}", "file_name": n} for i, n in enumerate(names)]
    )
    (tmp_path / "r.jsonl").write_text(json.dumps(report))
    listed = hash_file(tmp_path / "listed.jpg")
    assert listed.pdq is not None
    (tmp_path / "list.csv").write_text(f"hash,type\n{listed.pdq},PDQ\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "list.csv"), "--name", "near")
    (tmp_path / "config.toml").write_text("[triage]\nmax_image_pixels = 100000000\n")
    result = _json(capsys, "ingest", str(tmp_path / "r.jsonl"), "--media", str(media))
    assert isinstance(result, dict) and result["files_stored"] == 6
    with store.engine.connect() as connection:
        status = dict(
            connection.execute(
                text("SELECT provider_file_id, coalesce(unhashable_reason, media_status) "
                     "FROM reported_file")
            ).all()
        )  # fmt: skip
        matched = connection.execute(text("SELECT distance FROM hash_match")).scalars().all()
    assert status == {
        "F-0": "hashed", "F-1": "empty_file", "F-2": "corrupt_image", "F-3": "truncated_image",
        "F-4": "decompression_bomb", "F-5": "not_supplied",
    }  # fmt: skip
    assert len(matched) == 1 and 0 < matched[0] <= 31  # the near-duplicate of good.png


def _media_report(report_id: str, files: list[dict[str, Any]]) -> str:
    report = {"report_id": report_id, "incident_type": "Child Sex Trafficking",
              "incident_time": "2026-01-01T00:00:00Z", "files": files}  # fmt: skip
    return json.dumps(report) + "\n"


def _media_found(store: Store) -> dict[tuple[str, str], str | None]:
    """(report id, file id) -> the SHA-256 of the media hashed for the file (None: not found)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT r.provider_report_id, f.provider_file_id, h.value FROM reported_file f "
                 "JOIN provider_report r ON r.id = f.report_id "
                 "LEFT JOIN file_hash h ON h.file_id = f.id AND h.kind = 'sha256'")
        ).all()  # fmt: skip
    return {(report, file): value for report, file, value in rows}


def test_media_are_found_by_plain_names_inside_the_media_directory_only(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # The fallback lookup globbed ``<file id>.*`` (an id ``*`` or ``o?her`` took other media)
    # and followed a link out of the directory; and a file name was looked up at the top level
    # before the file id, so one ``image.jpg`` was hashed for every report naming its file so.
    media, outside = tmp_path / "media", tmp_path / "outside"
    (media / "R-2").mkdir(parents=True)
    outside.mkdir()
    benign_image(1).save(outside / "secret.jpg")
    for seed, name in enumerate(["other.png", "image.jpg", "R-2/image.jpg", "F-ok.png",
                                 "F-two.png", "F-two.jpg", "F-id"], start=2):  # fmt: skip
        benign_image(seed).save(media / name, "PNG")
    (media / "Fsym.jpg").symlink_to(outside / "secret.jpg")
    (media / "R-3").symlink_to(outside)  # a report's directory that is a link out
    (tmp_path / "r.jsonl").write_text(
        _media_report("R-1", [{"file_id": "*"}, {"file_id": "o?her"}, {"file_id": "Fsym"},
                              {"file_id": "F-1", "file_name": "image.jpg"}, {"file_id": "F-ok"},
                              {"file_id": "F-two"}, {"file_id": "F-id", "file_name": "other.png"}])
        + _media_report("R-2", [{"file_id": "F-1", "file_name": "image.jpg"}])
        + _media_report("R-3", [{"file_id": "F-1", "file_name": "secret.jpg"}])
    )  # fmt: skip
    _json(capsys, "ingest", str(tmp_path / "r.jsonl"), "--media", str(media))

    def sha256(name: str) -> str:
        return hashlib.sha256((media / name).read_bytes()).hexdigest()

    assert _media_found(store) == {
        ("R-1", "*"): None, ("R-1", "o?her"): None, ("R-1", "Fsym"): None,
        ("R-1", "F-1"): None,  # a name alone at the top level names no one report's file
        ("R-1", "F-ok"): sha256("F-ok.png"),
        ("R-1", "F-two"): None,  # two files named F-two.*: neither is taken
        ("R-1", "F-id"): sha256("F-id"),  # the file id before the name
        ("R-2", "F-1"): sha256("R-2/image.jpg"),
        ("R-3", "F-1"): None,
    }  # fmt: skip


def test_a_file_name_that_cannot_exist_is_not_found_and_never_printed(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # A NUL byte or 2,000 characters in a reported file name ended the whole run with the
    # name in the error (names can name people). A NUL is refused by the reader, as in every
    # text field, without the name; a name too long to be a file name is not found.
    media = tmp_path / "media"
    (media / "R-1").mkdir(parents=True)
    benign_image(1).save(media / "R-1" / "F-3.png")
    long_name = "Alice-" + "x" * 2000 + ".png"
    (tmp_path / "r.jsonl").write_text(
        _media_report("R-0", [{"file_id": "F-1", "file_name": "Bob\u0000Smith.png"}])
        + _media_report("R-1", [{"file_id": "F-2", "file_name": long_name},
                                {"file_id": "F-3", "file_name": "x.png"}])
    )  # fmt: skip
    result = invoke(capsys, "ingest", str(tmp_path / "r.jsonl"), "--media", str(media), "--json")
    assert result.code == 0, result.err[:300]
    assert "Bob" not in result.out + result.err and "Alice" not in result.out + result.err
    assert json.loads(result.out)["rules"] == {"nul_character": 1}
    assert "Bob" not in repr(_quarantined(store))
    found = _media_found(store)
    assert ("R-0", "F-1") not in found and found[("R-1", "F-2")] is None
    assert (
        found[("R-1", "F-3")]
        == hashlib.sha256((media / "R-1" / "F-3.png").read_bytes()).hexdigest()
    )


def test_a_provider_pdq_without_quality_keeps_the_quality_computed_from_the_media(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    # The provider's row (quality unknown, so matched) won over the row computed here for the
    # same value, hiding that the media are flat (quality 0): the flat image was matched.
    media = tmp_path / "media"
    (media / "R-1").mkdir(parents=True)
    Image.new("RGB", (256, 256), (128, 128, 128)).save(media / "R-1" / "F-1.png")
    Image.new("RGB", (256, 256), (128, 128, 128)).save(media / "R-1" / "F-2.png")
    flat = hash_file(media / "R-1" / "F-1.png")
    assert flat.pdq is not None and flat.pdq_quality == 0
    (tmp_path / "list.csv").write_text(f"hash,type\n{flat.pdq},PDQ\n")
    _json(capsys, "hashlist", "import", str(tmp_path / "list.csv"), "--name", "flat")
    given = [{"kind": "pdq", "value": flat.pdq}]
    (tmp_path / "r.jsonl").write_text(
        _media_report("R-1", [{"file_id": "F-1", "hashes": given},
                              {"file_id": "F-2", "hashes": [given[0] | {"quality": 90}]}])
    )  # fmt: skip
    result = _json(capsys, "ingest", str(tmp_path / "r.jsonl"), "--media", str(media))
    assert isinstance(result, dict) and result["matches"] == 0
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT kind, quality, origin FROM file_hash WHERE kind = 'pdq'")
        ).all()
    assert [tuple(row) for row in rows] == [("pdq", 0, "provider")] * 2


def test_hash_command_reports_every_file(capsys: Capsys, home: Path, tmp_path: Path) -> None:
    benign_image(5).save(tmp_path / "a.png")
    (tmp_path / "z.jpg").write_bytes(b"")
    rows = _json(capsys, "hash", str(tmp_path / "a.png"), str(tmp_path / "z.jpg"))
    assert isinstance(rows, list)
    assert rows[0]["pdq"] and rows[0]["pdq_quality"] >= 50 and rows[0]["unhashable_reason"] is None
    assert rows[1]["unhashable_reason"] == "empty_file"
    missing = invoke(capsys, "hash", str(tmp_path / "nope.png"))
    assert missing.code == 1 and "no such file" in missing.err
    directory = invoke(capsys, "hash", str(tmp_path))
    assert directory.code == 1 and f"{tmp_path}: a directory, not a file" in directory.err


def test_unknown_path_and_format_are_one_line_errors(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    missing = invoke(capsys, "ingest", str(tmp_path / "none"))
    assert missing.code == 1 and "no such file or directory" in missing.err
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    unknown = invoke(capsys, "ingest", str(tmp_path / "x.pdf"))
    assert unknown.code == 1 and "unknown format" in unknown.err
    assert invoke(capsys, "ingest", str(tmp_path), "--media", str(tmp_path / "no")).code == 2


def _archive(corpus: Corpus, path: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A compressed zip archive of the corpus's documents (and ``extra`` members)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in corpus.documents():
            archive.writestr(name, data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_parallel_parsing_stores_exactly_what_serial_parsing_stores(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = generate(GeneratorConfig(seed=21, reports=200))
    _archive(corpus, tmp_path / "in.zip")
    known = tmp_path / "known.json"
    known.write_bytes(vics_json(known_list(corpus, families=15, seed=3, extra=50)))
    (home / "config.toml").write_text("[triage]\nparse_workers = 2\n")
    # The workers search the PDQ index themselves: the matches must be the writer's own.
    assert invoke(capsys, "hashlist", "import", str(known), "--name", "known").code == 0
    assert invoke(capsys, "ingest", str(tmp_path / "in.zip")).code == 0
    parallel = snapshot(store)
    assert {kind for _, _, kind, _, _ in parallel["matches"]} == {"md5", "pdq"}

    serial_home = tmp_path / "serial"
    serial_home.mkdir()
    (serial_home / "config.toml").write_text("[triage]\nparse_workers = 1\n")
    shutil.copytree(home / "secrets", serial_home / "secrets")
    url = f"sqlite:///{serial_home / 'safeguarding.db'}"
    monkeypatch.setenv("SAFEGUARDING_HOME", str(serial_home))
    monkeypatch.setenv("SAFEGUARDING_DATABASE_URL", url)
    assert invoke(capsys, "hashlist", "import", str(known), "--name", "known").code == 0
    assert invoke(capsys, "ingest", str(tmp_path / "in.zip")).code == 0
    serial_store = Store(Settings(home=serial_home, database_url=url))
    assert snapshot(serial_store) == parallel and len(parallel["reports"]) == 200
    serial_store.dispose()


def test_oversized_documents_in_an_archive_are_refused_unread(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    (home / "config.toml").write_text("[triage]\nmax_document_bytes = 2000\n")
    padded = REPORT.replace("<report>", "<report>" + "<!-- padding -->" * 200)
    with zipfile.ZipFile(tmp_path / "in.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.xml", padded)
        archive.writestr("ok.xml", REPORT)
    result = _json(capsys, "ingest", str(tmp_path / "in.zip"))
    assert isinstance(result, dict)
    assert result["rules"] == {"document_too_large": 1} and result["reports_stored"] == 1


def test_files_of_a_conflicting_report_are_not_attached_to_the_stored_one(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(jsonl_report(report_id="K-1")))
    _json(capsys, "ingest", str(tmp_path / "a.jsonl"))
    changed = jsonl_report(report_id="K-1", platform="Other", files=[{"file_id": "F-new"}])
    (tmp_path / "b.jsonl").write_text(json.dumps(changed))
    result = _json(capsys, "ingest", str(tmp_path / "b.jsonl"))
    assert isinstance(result, dict) and result["rules"] == {"conflicting_duplicate": 1}
    with store.engine.connect() as connection:
        files = connection.execute(text("SELECT provider_file_id FROM reported_file")).scalars()
        assert list(files) == ["F-1"]


def test_with_parse_workers_reports_are_read_before_file_details(
    store: Store, tmp_path: Path
) -> None:
    # File details named before their reports are read after them, so that the writing
    # process stores reports while the workers parse; every other document keeps its place.
    corpus = generate(GeneratorConfig(seed=4, reports=300))
    path = _archive(
        corpus,
        tmp_path / "in.zip",
        {
            "m-broken.xml": b"<fileDet",
            "m-commented.xml": b"<!-- <fileDetails> --><report/>",
            "m-lines.jsonl": json.dumps(jsonl_report(report_id="J-1")).encode(),
        },
    )
    names, details_from = _reading_order_of(store, path)
    details = [name for name in names if name.startswith("file-")]
    assert len(details) == 600
    assert names == [name for name in sorted(names) if not name.startswith("file-")] + details
    assert details == sorted(details)
    assert names[details_from:] == details  # the workers take these in larger tasks


def test_an_ingest_leaves_the_garbage_collector_as_it_found_it(
    capsys: Capsys, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # During a run no collection starts by itself; afterwards the caller's settings hold again.
    (tmp_path / "a.jsonl").write_text(json.dumps(jsonl_report(report_id="G-1")))
    gc.unfreeze()  # whatever an earlier test froze: nothing is frozen before this run
    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    seen: list[bool] = []
    flush = ingest_module._Intake.flush
    monkeypatch.setattr(
        ingest_module._Intake, "flush", lambda self: (seen.append(gc.isenabled()), flush(self))
    )
    result = _json(capsys, "ingest", str(tmp_path / "a.jsonl"))
    assert isinstance(result, dict) and result["reports_stored"] == 1
    assert seen == [False]
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == before


def _reading_order_of(store: Store, path: Path) -> tuple[list[str], int]:
    """The member names in reading order, and where the file details begin among them."""
    documents, _, _ = ingest_module.discover([path])
    context = intake_context(store)
    options = replace(context.options, parse_workers=2)
    with ingest_module._workers(
        documents, options, context.writer("test", 1, datetime.now(UTC)), context.matcher
    ) as pool:
        assert pool is not None
        order, details_from = ingest_module._reading_order(documents, pool)
    assert sorted(order) == list(range(len(documents)))
    return [str(documents[position].member) for position in order], details_from


def test_documents_named_alike_but_of_mixed_kinds_are_each_looked_at(
    store: Store, tmp_path: Path
) -> None:
    # Names that differ only in digits do not tell the kind here: the sample of the name shape
    # is mixed, so every document is looked at and every detail still comes after the reports.
    corpus = generate(GeneratorConfig(seed=5, reports=200))
    documents = sorted(corpus.documents(), key=lambda item: hashlib.sha256(item[1]).digest())
    path = tmp_path / "in.zip"
    kinds = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, data) in enumerate(documents):
            kinds[f"doc-{number:05d}.xml"] = name.startswith("file-")
            archive.writestr(f"doc-{number:05d}.xml", data)
    names, details_from = _reading_order_of(store, path)
    assert [kinds[name] for name in names] == sorted(kinds.values())
    details = [name for name in names if kinds[name]]
    assert len(details) == 400 and details == sorted(details)
    assert names[details_from:] == details


def test_a_report_named_like_file_details_is_stored_with_its_files(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path
) -> None:
    # A wrong guess from a name shape's sample costs order, never records: the first report,
    # named like file details (third of its shape, so outside the sample), is read after the
    # other reports, and its files wait for it.
    corpus = generate(GeneratorConfig(seed=6, reports=200))
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in corpus.documents():
            if name == "report-000600000001.xml":
                name = "file-000600000001-F00000009.xml"
            archive.writestr(name, data)
    names, _ = _reading_order_of(store, path)
    reports = [index for index, name in enumerate(names) if name.startswith("report-")]
    assert len(reports) == 199 and names.index("file-000600000001-F00000009.xml") > max(reports)
    (home / "config.toml").write_text("[triage]\nparse_workers = 2\n")
    result = _json(capsys, "ingest", str(path))
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["files_stored"], result["rejected"]) == (200, 400, 0)


_READ_CHUNK = ingest_module._read_chunk


def _read_chunk_or_die(positions: list[int], options: object) -> object:
    """In a parse worker: dies (as a killed process does) at the first file details."""
    documents = ingest_module._WORKER_STATE[0][2]
    if any(str(documents[p].member).startswith("file-") for p in positions):
        os._exit(9)
    return _READ_CHUNK(positions, options)  # type: ignore[arg-type]


def test_a_parse_worker_that_dies_fails_the_run_which_a_new_run_completes(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = generate(GeneratorConfig(seed=9, reports=200))
    path = _archive(corpus, tmp_path / "in.zip")
    (home / "config.toml").write_text("[triage]\nparse_workers = 2\nbatch_size = 50\n")
    monkeypatch.setattr(ingest_module, "_read_chunk", _read_chunk_or_die)
    failed = invoke(capsys, "ingest", str(path))
    assert failed.code == 1 and "a parse worker stopped" in failed.err
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM provider_report")).scalar_one()
        files = connection.execute(text("SELECT count(*) FROM reported_file")).scalar_one()
    # Whole batches of reports, as many as the writer had stored when the pool broke.
    assert stored % 50 == 0 and stored <= 200 and files == 0
    monkeypatch.setattr(ingest_module, "_read_chunk", _READ_CHUNK)
    again = _json(capsys, "ingest", str(path))
    assert isinstance(again, dict)
    assert (again["reports_unchanged"], again["reports_stored"]) == (stored, 200 - stored)
    assert (again["files_stored"], again["rejected"]) == (400, 0)


# What the next test's parse workers need, set before they are forked: the store's URL and a
# directory to note what they saw in.
_WATCH: dict[str, str] = {}


def _read_chunk_watching_the_store(positions: list[int], options: object) -> object:
    """In a parse worker: the chunk of document 256 notes how many reports are stored while it
    is parsed; the last chunk (it holds document 399) waits, up to 20 s, until the files of
    every other chunk are stored, and notes how many were."""
    if 256 in positions or 399 in positions:
        engine = create_engine(_WATCH["url"])
        with engine.connect() as connection:
            if 256 in positions:
                count = connection.execute(text("SELECT count(*) FROM provider_report"))
                Path(_WATCH["notes"], "before").write_text(str(count.scalar_one()))
            else:
                for _ in range(400):
                    files = connection.execute(text("SELECT count(*) FROM reported_file"))
                    found = files.scalar_one()
                    connection.rollback()
                    if found >= 384:
                        break
                    time.sleep(0.05)
                Path(_WATCH["notes"], "last").write_text(str(found))
        engine.dispose()
    return _READ_CHUNK(positions, options)  # type: ignore[arg-type]


def test_the_batch_is_stored_while_the_last_chunks_are_parsed(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reports in 13 chunks of 16, file details (positions 0-399, read last) in 7 of 64; the
    # batch (10,000 records) would hold everything to the end. Before taking each of the last
    # two results, the writing process stores what it has, so the file details of all other
    # chunks are stored while the last one is still being parsed; before that, nothing is.
    corpus = generate(GeneratorConfig(seed=12, reports=200))
    path = _archive(corpus, tmp_path / "in.zip")
    (home / "config.toml").write_text("[triage]\nparse_workers = 2\n")
    monkeypatch.setattr(ingest_module, "_CHUNK", 16)
    monkeypatch.setattr(ingest_module, "_DETAILS_CHUNK", 64)
    monkeypatch.setattr(ingest_module, "_read_chunk", _read_chunk_watching_the_store)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two workers on any machine
    url = store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setitem(_WATCH, "url", url)
    monkeypatch.setitem(_WATCH, "notes", str(tmp_path))
    result = _json(capsys, "ingest", str(path))
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["files_stored"], result["rejected"]) == (200, 400, 0)
    assert (tmp_path / "before").read_text() == "0"
    assert (tmp_path / "last").read_text() == "384"


def test_file_details_are_parsed_in_larger_tasks(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documents before ``details_from`` go in tasks of ``_CHUNK``, the file details after it
    # in tasks of ``_DETAILS_CHUNK`` (their PDQ hashes are searched a task at a time); every
    # document is in exactly one task, in order.
    corpus = generate(GeneratorConfig(seed=7, reports=10))
    path = _archive(corpus, tmp_path / "in.zip", {})
    documents, _, _ = ingest_module.discover([path])
    monkeypatch.setattr(ingest_module, "_CHUNK", 4)
    monkeypatch.setattr(ingest_module, "_DETAILS_CHUNK", 7)
    context = intake_context(store)
    writer = context.writer("test", None, datetime.now(UTC))
    positions = list(range(len(documents)))
    chunks = [
        chunk
        for chunk, _ in ingest_module._parsed(
            documents, positions, context.options, None, writer, context.matcher, 10
        )
    ]
    assert [len(chunk) for chunk in chunks] == [4, 4, 2, 7, 7, 6]
    assert [position for chunk in chunks for position in chunk] == positions


def _quarantined(store: Store) -> dict[str, tuple[str, str]]:
    """Quarantine records by location: (rule, error message)."""
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT location, rule, error FROM quarantine_record"))
        return {location: (rule, error) for location, rule, error in rows}


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_a_time_that_overflows_in_utc_is_quarantined_and_the_run_completes(
    capsys: Capsys, store: Store, tmp_path: Path, when: str
) -> None:
    """Such a time cannot be converted to UTC at all (``astimezone`` raises OverflowError);
    it is out of range like any other, and the valid records of the run are stored."""
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "a.jsonl").write_text(
        json.dumps(jsonl_report(report_id="J-ok"))
        + "\n"
        + json.dumps(jsonl_report(report_id="J-bad", incident_time=when))
        + "\n"
    )
    (directory / "b.xml").write_text(REPORT.replace("2026-03-01T10:00:00Z", when))
    (directory / "c.csv").write_text(f"{HEADER}\n{ROW.replace('2026-01-05T12:00:00Z', when)}\n")
    (directory / "d.xml").write_text(REPORT.replace("R-1", "R-ok"))
    result = _json(capsys, "ingest", str(directory), "--source", "p")
    assert isinstance(result, dict)
    assert result["rules"] == {"datetime_out_of_range": 3} and result["reports_stored"] == 2
    prefix = f"{directory}/"
    quarantined = {
        location.removeprefix(prefix): (rule, error.removeprefix(prefix))
        for location, (rule, error) in _quarantined(store).items()
    }
    assert {location: rule for location, (rule, _) in quarantined.items()} == {
        "a.jsonl:2:incident_time": "datetime_out_of_range",
        "b.xml:/report/incidentSummary/incidentDateTime": "datetime_out_of_range",
        "c.csv:2:incident_time": "datetime_out_of_range",
    }
    messages = sorted(error for _, error in quarantined.values())
    assert messages == [
        f"a.jsonl:2: incident_time: Value error, date-time {when!r} is outside 1990 … today",
        f"b.xml:/report/incidentSummary/incidentDateTime: incidentDateTime {when!r} is "
        "outside 1990 … today",
        f"c.csv:2: incident_time: incident_time {when!r} is outside 1990 … today",
    ]
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT provider_report_id FROM provider_report"))
        assert sorted(stored.scalars()) == ["J-ok", "R-ok"]
        finished = connection.execute(text("SELECT finished_at FROM ingest_run")).scalars()
        assert all(value is not None for value in finished)


def _with_unreadable_members(path: Path) -> None:
    """Adds to the archive at ``path`` a JSON Lines member whose data no longer matches its CRC
    and an XML one marked encrypted (in the central directory, where ``zipfile`` looks)."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("damaged.jsonl", json.dumps(jsonl_report(report_id="R-damaged")))
        archive.writestr("locked.xml", REPORT.replace("R-1", "R-locked"))
    raw = bytearray(path.read_bytes())
    assert raw.count(b"R-damaged") == 1
    raw[raw.index(b"R-damaged") + 2] ^= 0x20
    central = raw.rindex(b"PK\x01\x02")
    assert raw[central + 46 : central + 56] == b"locked.xml"
    raw[central + 8] |= 0x1
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("workers", [1, 2])
def test_an_unreadable_archive_member_is_quarantined_and_the_others_stored(
    capsys: Capsys, store: Store, home: Path, tmp_path: Path, workers: int
) -> None:
    """A damaged or encrypted member is refused alone, by name, in a small archive (read by the
    writing process) as in a large one (read by parse workers, which also look at its first
    bytes to order the reading)."""
    (home / "config.toml").write_text(f"[triage]\nparse_workers = {workers}\n")
    corpus = generate(GeneratorConfig(seed=5, reports=200 if workers > 1 else 2))
    path = _archive(corpus, tmp_path / "in.zip", {"ok.xml": REPORT.encode()})
    _with_unreadable_members(path)
    assert (len(list(corpus.documents())) + 3 >= ingest_module._PARALLEL_FROM) == (workers > 1)
    result = _json(capsys, "ingest", str(path), "--source", "p")
    assert isinstance(result, dict)
    assert result["rules"] == {"zip_member_unreadable": 2}
    assert result["reports_stored"] == len(corpus.reports) + 1
    assert result["files_stored"] == sum(len(r.files) for r in corpus.reports)
    assert _quarantined(store) == {
        f"{path}!damaged.jsonl": (
            "zip_member_unreadable",
            f"{path}!damaged.jsonl: archive member cannot be read "
            "(Bad CRC-32 for file 'damaged.jsonl')",
        ),
        f"{path}!locked.xml": (
            "zip_member_unreadable",
            f"{path}!locked.xml: archive member cannot be read "
            "(File 'locked.xml' is encrypted, password required for extraction)",
        ),
    }
    with store.engine.connect() as connection:
        stored = set(connection.execute(text("SELECT provider_report_id FROM provider_report")))
        assert ("R-1",) in stored and not {("R-damaged",), ("R-locked",)} & stored
    # Nothing of such a member is kept: a retry leaves it open, a re-run records it once.
    outcome = _json(capsys, "quarantine", "retry")
    assert isinstance(outcome, list) and [o["resolved"] for o in outcome] == [False, False]
    _json(capsys, "ingest", str(path), "--source", "p")
    assert _count(store, "quarantine_record") == 2


def _files(store: Store) -> list[tuple[str, str, str | None]]:
    """Stored files: (report id, file id, md5 hash or None)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.provider_report_id, f.provider_file_id, h.value FROM reported_file f "
                "JOIN provider_report r ON r.id = f.report_id "
                "LEFT JOIN file_hash h ON h.file_id = f.id AND h.kind = 'md5'"
            )
        )
        return sorted(tuple(row) for row in rows)


def test_the_stored_copy_keeps_its_files_when_a_conflicting_copy_is_in_the_batch(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """Two copies of one report id in a batch: the first is stored with its files; only the
    second, refused as a conflict, loses its files (they are quarantined in its line)."""
    first = jsonl_report(
        report_id="J-5", files=[{"file_id": "F1", "hashes": [{"kind": "md5", "value": "1" * 32}]}]
    )
    second = jsonl_report(
        report_id="J-5", platform="Other", files=[{"file_id": "F9", "hashes": []}]
    )
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    result = _json(capsys, "ingest", str(path), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {"conflicting_duplicate": 1}
    assert result["reports_stored"] == 1 and result["files_stored"] == 1
    assert _files(store) == [("J-5", "F1", "1" * 32)]
    assert _quarantined(store) == {
        f"{path}:2": (
            "conflicting_duplicate",
            f"{path}:2: report J-5 is already stored with different content; the stored one "
            "is kept",
        )
    }
    again = _json(capsys, "ingest", str(path), "--source", "p")
    assert isinstance(again, dict) and again["files_unchanged"] == 1
    assert _files(store) == [("J-5", "F1", "1" * 32)] and _count(store, "quarantine_record") == 1

    # Two alike copies that conflict with the stored report are both refused with their files.
    later = tmp_path / "b.jsonl"
    later.write_text(json.dumps(second) + "\n" + json.dumps(second) + "\n")
    refused = _json(capsys, "ingest", str(later), "--source", "p")
    assert isinstance(refused, dict) and refused["rules"] == {"conflicting_duplicate": 1}
    assert _files(store) == [("J-5", "F1", "1" * 32)]


def _url_hosts(store: Store) -> dict[str, list[str]]:
    """Stored URL hosts by report id."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.provider_report_id, d.url_hosts FROM report_internet_detail d "
                "JOIN provider_report r ON r.id = d.report_id"
            )
        )
        return {
            report_id: hosts if isinstance(hosts, list) else json.loads(hosts)
            for report_id, hosts in rows
        }


def test_json_lines_urls_are_stored_as_host_names_as_xml_ones_are(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A URL's path, query or user name can name a person: JSON Lines URLs are reduced to their
    host, as XML ones always were."""
    urls = [
        "https://www.Example.com/users/dave.jones?mail=dave@example.org",
        "https://dave:secret@cdn.example.net:8443/a/b",
        "files.example.net",
    ]
    details = [{"kind": "web_page", "url_hosts": urls}]
    (tmp_path / "a.jsonl").write_text(json.dumps(jsonl_report(internet_details=details)))
    result = _json(capsys, "ingest", str(tmp_path), "--source", "p")
    assert isinstance(result, dict) and result["reports_stored"] == 1 and not result["rules"]
    assert _url_hosts(store) == {
        "J-1": ["cdn.example.net", "files.example.net", "www.example.com"],
    }


def test_a_url_host_that_is_an_ip_address_is_stored_as_a_marker(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A host that is an IP address identifies a person or a line: only the fact that the URL
    named an address is stored, in every form a browser takes for one."""
    urls = ["http://198.51.100.77/path", "http://[2001:db8::7]:8080/x", "files.example.net"]
    details = [{"kind": "web_page", "url_hosts": urls}]
    (tmp_path / "a.jsonl").write_text(json.dumps(jsonl_report(internet_details=details)))
    xml = REPORT.replace(
        "<url>https://files.example.net/u/secret-name/page?x=1</url>",
        "<url>https://files.example.net/u/secret-name/page?x=1</url>"
        "<url>http://198.51.100.77./path</url><url>http://3325256781/</url>"
        "<url>http://0xc6.0x33.0x64.0x4d/</url>",
    )
    (tmp_path / "b.xml").write_text(xml)
    result = _json(capsys, "ingest", str(tmp_path), "--source", "p")
    assert isinstance(result, dict) and result["reports_stored"] == 2 and not result["rules"]
    assert _url_hosts(store) == {
        "J-1": ["[ip-address]", "files.example.net"],
        "R-1": ["[ip-address]", "files.example.net"],
    }


def _events(store: Store) -> list[tuple[str, str, str | None]]:
    """Stored identifiers: (report id, kind, event name)."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.provider_report_id, i.kind, i.event_name FROM party_identifier i "
                "JOIN provider_report r ON r.id = i.report_id WHERE i.event_name IS NOT NULL"
            )
        )
        return sorted(tuple(row) for row in rows)


def test_an_event_name_outside_the_capture_events_is_refused(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """An event name is stored in clear: in JSON Lines and in an XML ``<deviceId>`` it is one of
    the capture events, as in ``<ipCaptureEvent>``, and free text there is refused."""
    chat = "met Dave Jones at dave@example.org"
    device = "<deviceId><idType>IMEI</idType><idValue>000000000000000</idValue>"
    identifier = {"kind": "device_id", "value": "000000000000000", "scope": "IMEI"}
    lines = [
        jsonl_report(report_id="J-ok"),
        jsonl_report(
            report_id="J-bad", reported_user={"identifiers": [{**identifier, "event_name": chat}]}
        ),
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    (tmp_path / "b.xml").write_text(
        REPORT.replace(device, f"{device}<eventName>{chat}</eventName>")
    )
    (tmp_path / "c.xml").write_text(
        REPORT.replace("R-1", "R-ok").replace(device, f"{device}<eventName>Upload</eventName>")
    )
    result = _json(capsys, "ingest", str(tmp_path), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {"unknown_enum": 2}
    prefix = f"{tmp_path}/"
    quarantined = {
        location.removeprefix(prefix): (rule, error.removeprefix(prefix))
        for location, (rule, error) in _quarantined(store).items()
    }
    assert quarantined == {
        "a.jsonl:2:reported_user.identifiers.0.event_name": (
            "unknown_enum",
            "a.jsonl:2: reported_user.identifiers.0.event_name: Input should be 'Login', "
            "'Registration', 'Purchase', 'Upload', 'Other' or 'Unknown'",
        ),
        "b.xml:/report/personOrUserReported[0]/deviceId[0]/eventName": (
            "unknown_enum",
            "b.xml:/report/personOrUserReported[0]/deviceId[0]/eventName: eventName 'met Dave "
            "Jones at [email address removed]' is not one of 'Login', 'Registration', 'Purchase', "
            "'Upload', 'Other', 'Unknown'",  # the value quoted, its identifier not
        ),
    }
    assert _events(store) == [
        ("J-ok", "ip", "Login"), ("R-ok", "device_id", "Upload"), ("R-ok", "ip", "Login"),
    ]  # fmt: skip


def test_a_scope_that_holds_an_identifier_is_refused(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A scope is stored in clear beside the pseudonym: one holding an email address, a phone
    number or an IP address is refused, naming the kind found but not the value."""
    scopes = ["dave@example.org", "+31 6 1234 5678", "198.51.100.77"]
    lines = [jsonl_report(report_id="J-ok")] + [
        jsonl_report(
            report_id=f"J-{i}",
            reported_user={"identifiers": [{"kind": "esp_id", "value": "acct-1", "scope": scope}]},
        )
        for i, scope in enumerate(scopes)
    ]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    result = _json(capsys, "ingest", str(path), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {"identifier_in_scope": 3}
    location = "reported_user.identifiers.0.scope"
    assert _quarantined(store) == {
        f"{path}:{line}:{location}": (
            "identifier_in_scope",
            f"{path}:{line}: {location}: Value error, scope is stored in clear and may not hold "
            f"an identifier: it holds {kind} ×1",
        )
        for line, kind in ((2, "email address"), (3, "phone number"), (4, "IPv4 address"))
    }
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT scope FROM party_identifier")).scalars()
        # J-ok's IP is a documentation address (192.0.2.1): stored as not globally routable.
        assert sorted(stored) == ["Example Chat", "not-global"]


def test_a_service_or_device_type_that_holds_an_identifier_is_refused(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """An ESP service and a device id type are stored in clear, like a scope: in XML and in
    JSON Lines, one that holds an identifier is refused, and nothing of it is stored."""
    (tmp_path / "x").mkdir()
    service = REPORT.replace("<espService>", "<espService>ask for dave@example.org ", 1)
    assert service != REPORT
    (tmp_path / "x" / "R-9.xml").write_text(service.replace("R-1", "R-9"))
    device = REPORT.replace("<idType>", "<idType>+31 6 1234 5678 ", 1)
    assert device != REPORT
    (tmp_path / "x" / "R-8.xml").write_text(device.replace("R-1", "R-8"))
    (tmp_path / "x" / "a.jsonl").write_text(
        json.dumps(jsonl_report(report_id="J-9", reported_user={"esp_service": "198.51.100.7"}))
    )
    result = _json(capsys, "ingest", str(tmp_path / "x"), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {"identifier_in_scope": 3}
    kinds = {location.rsplit(":", 1)[-1].rsplit("/", 1)[-1]: message
             for location, (_, message) in _quarantined(store).items()}  # fmt: skip
    assert set(kinds) == {"espService", "idType", "reported_user.esp_service"}
    assert (
        "espService is stored in clear and may not hold an identifier: it holds email address ×1"
        in (kinds["espService"])
    )
    assert "it holds phone number ×1" in kinds["idType"]
    assert "it holds IPv4 address ×1" in kinds["reported_user.esp_service"]
    assert not any("dave@" in m or "1234" in m for m in kinds.values())
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM provider_report")).scalar() == 0


# Identifiers written where only a name or place belongs, one per kind the scanner finds.
_MISPLACED = {
    "email": "jane.roe@example.org",
    "phone": "+31 6 12345678",
    "ipv4": "198.51.100.77",
    "bare_phone": "+31612345678",
}
_WEB_PAGE = (
    '<webPageIncident thirdPartyHostedContent="true">\n'
    "      <url>https://files.example.net/u/secret-name/page?x=1</url>\n"
    "    </webPageIncident>"
)
_REPORT_TABLES = (
    "provider_report", "report_party", "party_identifier", "report_internet_detail",
    "reported_file", "file_hash", "quarantine_record",
)  # fmt: skip


def _all_text(store: Store) -> str:
    """Every value of every row of the report tables and the quarantine, as one text."""
    with store.engine.connect() as connection:
        return "\n".join(
            repr(tuple(row))
            for table in _REPORT_TABLES
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )


def test_every_text_stored_in_clear_that_holds_an_identifier_is_refused(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A provider, platform, region, country, chat client or URL host is stored in clear: in
    XML, JSON Lines and CSV, one that holds an email address, phone number or IP address is
    refused with the field named, and no identifier reaches the store in clear. Before, only a
    service, scope or device id type was checked and the others were stored as given."""
    email, phone, ip, bare = (_MISPLACED[k] for k in ("email", "phone", "ipv4", "bare_phone"))
    assert _WEB_PAGE in REPORT
    xml = {
        "R-P": ("<espName>Example Provider", f"<espName>ops contact {email}"),
        "R-L": ("<platform>Example Chat", f"<platform>chat {phone}"),
        "R-R": ("<region>Example Region", f"<region>{ip}"),
        "R-N": ("<countryCode>nl", "<countryCode>1.2.3.4"),
        "R-C": (_WEB_PAGE, f"<chatImIncident><chatClient>peer {ip} {email}</chatClient>"
                           "</chatImIncident>"),
        "R-U": ("https://files.example.net/", f"https://{bare}/"),
    }  # fmt: skip
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "R-1.xml").write_text(REPORT)
    for report_id, (old, new) in xml.items():
        assert old in REPORT
        document = REPORT.replace(old, new, 1).replace("R-1", report_id)
        (tmp_path / "in" / f"{report_id}.xml").write_text(document)
    user = jsonl_report()["reported_user"]
    lines = [
        jsonl_report(report_id="J-ok"),
        jsonl_report(report_id="J-P", provider=f"ops contact {email}"),
        jsonl_report(report_id="J-L", platform=f"chat {phone}"),
        jsonl_report(report_id="J-R", reported_user={**user, "region": ip}),
        jsonl_report(report_id="J-N", reported_user={**user, "country": "a@b.cc"}),
        jsonl_report(report_id="J-C", internet_details=[{"kind": "peer2peer",
                                                         "client": f"peer {ip} {email}"}]),
        jsonl_report(report_id="J-U", internet_details=[{"kind": "web_page",
                                                         "url_hosts": [f"http://{bare}/a"]}]),
    ]  # fmt: skip
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    rows = [
        ROW,
        ROW.replace("C-1", "C-P").replace("Example Provider", f"ops contact {email}"),
        ROW.replace("C-1", "C-S").replace("Example Chat", f"chat {phone}"),
    ]
    (tmp_path / "in" / "b.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    result = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "p")
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["rules"]) == (3, {"identifier_in_scope": 14})
    quarantined = _quarantined(store)
    person = "/report/personOrUserReported[0]"
    assert {location.split("/in/", 1)[1]: rule for location, (rule, _) in quarantined.items()} == {
        "R-P.xml:/report/reporter/espName": "identifier_in_scope",
        "R-L.xml:/report/incidentSummary/platform": "identifier_in_scope",
        f"R-R.xml:{person}/estimatedLocation/region": "identifier_in_scope",
        f"R-N.xml:{person}/estimatedLocation/countryCode": "identifier_in_scope",
        "R-C.xml:/report/internetDetails[0]/chatImIncident/chatClient": "identifier_in_scope",
        "R-U.xml:/report/internetDetails[0]/webPageIncident/url[0]": "identifier_in_scope",
        "a.jsonl:2:provider": "identifier_in_scope",
        "a.jsonl:3:platform": "identifier_in_scope",
        "a.jsonl:4:reported_user.region": "identifier_in_scope",
        "a.jsonl:5:reported_user.country": "identifier_in_scope",
        "a.jsonl:6:internet_details.0.client": "identifier_in_scope",
        "a.jsonl:7:internet_details.0.url_hosts.0": "identifier_in_scope",
        "b.csv:3:provider": "identifier_in_scope",
        "b.csv:4:reported_esp_service": "identifier_in_scope",
    }
    messages = {location.rsplit(":", 1)[1]: error for location, (_, error) in quarantined.items()}
    assert messages["/report/reporter/espName"].endswith(
        "espName is stored in clear and may not hold an identifier: it holds email address ×1"
    )
    assert messages["internet_details.0.client"].endswith(
        "it holds IPv4 address ×1, email address ×1"
    )
    stored = _all_text(store)
    assert "Example Provider" in stored  # the valid reports are there
    for identifier in (email, "12345678", ip, "1.2.3.4", "a@b.cc"):
        assert identifier not in stored


def test_a_client_named_with_its_version_is_stored_and_an_address_is_not(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """Providers name a chat client, game or peer-to-peer client with its version, and a
    four-part version is a valid IPv4 address (``Skype 8.110.0.215``): such reports were
    quarantined as holding an identifier. In a client's field a dotted quad after the product's
    name is its version and the report is stored, in XML and JSON Lines; an address written
    there (``IP …``, ``Skype from …``) is still refused, and so is a name and quad in any other
    field stored in clear. A version marked as one (``Skype/8.110.0.215``) is one in any field."""
    ip = _MISPLACED["ipv4"]
    (tmp_path / "in").mkdir()
    details = {
        "R-C": ("chatImIncident", "chatClient", "Skype 8.110.0.215"),
        "R-G": ("onlineGamingIncident", "gameName", "Minecraft Bedrock 1.20.40.1"),
        "R-T": ("peer2peerIncident", "client", "BitTorrent 7.11.0.46"),
        "R-I": ("chatImIncident", "chatClient", f"IP {ip}"),
    }
    for report_id, (incident, element, value) in details.items():
        detail = f"<{incident}><{element}>{value}</{element}></{incident}>"
        document = REPORT.replace(_WEB_PAGE, detail, 1).replace("R-1", report_id)
        (tmp_path / "in" / f"{report_id}.xml").write_text(document)
    platform = REPORT.replace("<platform>Example Chat", "<platform>Skype 8.110.0.215", 1)
    (tmp_path / "in" / "R-L.xml").write_text(platform.replace("R-1", "R-L"))
    lines = [
        jsonl_report(report_id="J-C", internet_details=[{"kind": "chat_im",
                                                         "client": "Skype 8.110.0.215"}]),
        jsonl_report(report_id="J-F", internet_details=[{"kind": "chat_im",
                                                         "client": f"Skype from {ip}"}]),
        jsonl_report(report_id="J-L", platform="Skype/8.110.0.215"),
    ]  # fmt: skip
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    result = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "p")
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["rules"]) == (5, {"identifier_in_scope": 3})
    assert {location.split("/in/", 1)[1]: error.rsplit(": ", 1)[1]
            for location, (_, error) in _quarantined(store).items()} == {
        "R-I.xml:/report/internetDetails[0]/chatImIncident/chatClient": "it holds IPv4 address ×1",
        "R-L.xml:/report/incidentSummary/platform": "it holds IPv4 address ×1",
        "a.jsonl:2:internet_details.0.client": "it holds IPv4 address ×1",
    }  # fmt: skip
    with store.engine.connect() as connection:
        clients = connection.execute(text("SELECT client FROM report_internet_detail"))
        platforms = connection.execute(
            text("SELECT platform FROM provider_report WHERE platform IS NOT NULL")
        )
        assert sorted(clients.scalars()) == [
            "BitTorrent 7.11.0.46", "Example Chat", "Minecraft Bedrock 1.20.40.1",
            "Skype 8.110.0.215", "Skype 8.110.0.215",
        ]  # fmt: skip
        assert sorted(platforms.scalars()) == [
            "Example Chat", "Example Chat", "Example Chat", "Skype/8.110.0.215",
        ]  # fmt: skip
    assert ip not in _all_text(store)


def test_numbers_side_by_side_in_a_text_stored_in_clear_are_each_found(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """Two phone numbers side by side are one run of digits, too long to be one number: read
    whole, neither was found, and a platform or service holding them was stored in clear. In
    XML, JSON Lines and CSV, each is found and the text refused."""
    numbers = "+31 6 12345678 0612345678"
    (tmp_path / "in").mkdir()
    xml = REPORT.replace("<platform>Example Chat", f"<platform>chat {numbers}", 1)
    (tmp_path / "in" / "R-L.xml").write_text(xml.replace("R-1", "R-L"))
    line = jsonl_report(report_id="J-L", platform=f"chat {numbers}")
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps(line))
    row = ROW.replace("C-1", "C-S").replace("Example Chat", f"chat {numbers}")
    (tmp_path / "in" / "b.csv").write_text(f"{HEADER}\n{row}\n")
    result = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "p")
    assert isinstance(result, dict)
    assert (result["reports_stored"], result["rules"]) == (0, {"identifier_in_scope": 3})
    quarantined = _quarantined(store)
    assert sorted(location.rsplit(":", 1)[1] for location in quarantined) == [
        "/report/incidentSummary/platform", "platform", "reported_esp_service",
    ]  # fmt: skip
    for _, message in quarantined.values():
        assert message.endswith("may not hold an identifier: it holds phone number ×2")
    assert "12345678" not in _all_text(store)


def test_a_refused_value_is_quoted_without_the_identifiers_in_it(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A refusal's message quotes the value it refuses, and the message is stored in clear in
    the quarantine (the input is sealed): an identifier typed into the wrong field was stored
    with it. It is quoted with each identifier replaced by its kind."""
    email, phone, ip = (_MISPLACED[k] for k in ("email", "phone", "ipv4"))
    (tmp_path / "in").mkdir()
    kind = "Online Enticement of Children for Sexual Acts"
    (tmp_path / "in" / "R-1.xml").write_text(REPORT.replace(kind, f"call {email}", 1))
    late = jsonl_report(incident_time=phone)
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps(late))
    (tmp_path / "in" / "b.csv").write_text(f"{HEADER}\n{ROW.replace(',true,', f',{ip},')}\n")
    (tmp_path / "in" / "c.csv").write_text(f"report_id,{email},provider\n{ROW}\n")
    result = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {
        "unknown_enum": 1, "bad_datetime": 1, "bad_boolean": 1, "bad_header": 1,
    }  # fmt: skip
    errors = {
        location.split("/in/", 1)[1]: error for location, (_, error) in _quarantined(store).items()
    }
    assert (
        "incidentType 'call [email address removed]' is not one of"
        in errors["R-1.xml:/report/incidentSummary/incidentType"]
    )
    assert errors["a.jsonl:1:incident_time"].endswith(
        "date-time is not an ISO 8601 date-time: '[phone number removed]'"
    )
    assert errors["b.csv:2:escalated"].endswith("is not true or false: '[IPv4 address removed]'")
    assert "'[email address removed]'" in errors["c.csv:1"]
    stored = _all_text(store)
    for identifier in (email, "12345678", ip):
        assert identifier not in stored


def test_text_no_store_can_hold_is_quarantined_and_the_run_completes(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A NUL in a JSON Lines or CSV field failed the run on PostgreSQL (SQLite stored it), and a
    lone surrogate in a JSON report id, or a file name that is not UTF-8, failed it on both
    ("unexpected UnicodeEncodeError") while recording the quarantine. Each is now refused with
    its field and quarantined, on both backends, and the valid records are stored."""
    (tmp_path / "in").mkdir()
    lines = [
        jsonl_report(report_id="J-ok"),
        jsonl_report(report_id="J-1", provider="P\x00x"),
        jsonl_report(report_id="A\ud800"),
    ]
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    nul = ROW.replace("C-1", "C-2").replace("Example Provider", "P\x00x")
    (tmp_path / "in" / "b.csv").write_text(f"{HEADER}\n{ROW}\n{nul}\n")
    # A file name in another encoding: Python reads it with its bytes as lone surrogates.
    odd = os.fsencode(tmp_path / "in") + b"/c\xff.jsonl"
    Path(os.fsdecode(odd)).write_text(json.dumps(jsonl_report(report_id="J-2", provider=7)))
    refused = invoke(capsys, "ingest", str(tmp_path / "in"), "--source", "p\udcff")
    assert (refused.code, "--source must be UTF-8 text" in refused.err) == (2, True)
    result = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "p")
    assert isinstance(result, dict) and result["reports_stored"] == 2
    assert result["rules"] == {"nul_character": 2, "lone_surrogate": 1, "wrong_type": 1}
    root = str(tmp_path / "in")
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT location, rule, provider_report_id, source_file FROM quarantine_record")
        )
        quarantined = {tuple(row) for row in rows}
    assert quarantined == {
        (f"{root}/a.jsonl:2:provider", "nul_character", "J-1", f"{root}/a.jsonl"),
        (f"{root}/a.jsonl:3:report_id", "lone_surrogate", None, f"{root}/a.jsonl"),
        (f"{root}/b.csv:3:provider", "nul_character", "C-2", f"{root}/b.csv"),
        (f"{root}/c\\udcff.jsonl:1:provider", "wrong_type", "J-2", f"{root}/c\\udcff.jsonl"),
    }
    again = _json(capsys, "ingest", str(tmp_path / "in"), "--source", "p")
    assert isinstance(again, dict) and (again["reports_unchanged"], again["quarantined"]) == (2, 0)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (
            "<incidentDateTime>",
            "<incidentType>Child Sex Trafficking</incidentType><incidentDateTime>",
            "/report/incidentSummary/incidentType[1]",
        ),
        (
            "</incidentSummary>",
            "<incidentDateTime>2020-01-01T00:00:00Z</incidentDateTime></incidentSummary>",
            "/report/incidentSummary/incidentDateTime[1]",
        ),
        (
            "<espService>Example Chat</espService>",
            "<espService>Example Chat</espService><espIdentifier>acct-43</espIdentifier>",
            "/report/personOrUserReported[0]/espIdentifier[1]",
        ),
        (
            "<screenName>victim_1</screenName>",
            "<screenName>victim_1</screenName><screenName>victim_2</screenName>",
            "/report/victim[0]/screenName[1]",
        ),
        ("</reportId>", "</reportId><reportId>R-2</reportId>", "/report/reportId[1]"),
    ],
)
def test_a_second_value_of_a_single_valued_element_is_refused(
    capsys: Capsys, store: Store, tmp_path: Path, old: str, new: str, path: str
) -> None:
    """The reader takes the first of a single-valued element: a second one would be dropped
    unseen (an incident type, a time, an account id never pseudonymised), so it is refused."""
    assert REPORT.count(old) == 1
    (tmp_path / "a.xml").write_text(REPORT.replace(old, new))
    (tmp_path / "b.xml").write_text(REPORT.replace("R-1", "R-ok"))
    result = _json(capsys, "ingest", str(tmp_path), "--source", "p")
    assert isinstance(result, dict) and result["rules"] == {"repeated_element": 1}
    tag = path.rsplit("/", 1)[1].split("[")[0]
    assert _quarantined(store) == {
        f"{tmp_path}/a.xml:{path}": (
            "repeated_element",
            f"{tmp_path}/a.xml:{path}: <{tag}> is given more than once; it holds one value",
        )
    }
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT provider_report_id FROM provider_report"))
        assert list(stored.scalars()) == ["R-ok"]


def test_what_cannot_be_read_in_a_directory_is_named_and_the_rest_stored(
    capsys: Capsys, store: Store, tmp_path: Path
) -> None:
    """A broken link, a link loop and a FIFO were dropped without a word (a FIFO named alone
    waited forever for a writer); they are left out, named with why, and the rest is stored."""
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "ok.xml").write_text(REPORT)
    os.mkfifo(directory / "fifo.xml")
    (directory / "broken.xml").symlink_to("nowhere.xml")
    (directory / "loop").symlink_to("loop")
    result = _json(capsys, "ingest", str(directory))
    assert isinstance(result, dict) and result["reports_stored"] == 1
    assert result["unreadable"] == [
        f"{directory}/broken.xml: cannot be read (No such file or directory)",
        f"{directory}/fifo.xml: not a regular file",
        f"{directory}/loop: cannot be read (Too many levels of symbolic links)",
    ]
    shown = invoke(capsys, "ingest", str(directory))
    printed = " ".join(shown.out.split())
    assert shown.code == 0 and "skipped 3 path(s) that cannot be read:" in printed
    # Printed wrapped to the terminal's width, where a long path may break anywhere.
    assert "fifo.xml: not a regular file" in printed
    alone = invoke(capsys, "ingest", str(directory / "fifo.xml"))
    assert alone.code == 1
    assert "fifo.xml: not a regular file" in " ".join(alone.err.split())


def test_a_file_that_cannot_be_opened_is_refused_alone(tmp_path: Path) -> None:
    """A file that fails to open once found (its permission, or replaced since) is one
    rejection naming it, not the end of the run; a directory fails to open as a file as root."""
    found = tmp_path / "report.xml"
    found.mkdir()
    document = ingest_module.Document(str(found), "ncmec_xml", str(found), None, 0)
    refused = ingest_module.read_document(
        document, TriageOptions(pdq_threshold=31, pdq_min_quality=50)
    )
    assert isinstance(refused, Rejected)
    assert (refused.location, refused.rule, refused.message) == (
        str(found),
        "file_unreadable",
        f"{found}: file cannot be read (Is a directory)",
    )
