"""Archives read by the intake: the same listing and bytes as ``zipfile`` gives, damage refused."""

from __future__ import annotations

import os
import posixpath
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.errors import ValidationError
from safeguarding.triage import archives
from safeguarding.triage.archives import (
    Listing,
    MemberEntry,
    list_members,
    member_bytes,
    member_head,
)
from safeguarding.triage.ingest import _extension


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=5000) | st.text(max_size=3000).map(str.encode),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    limit=st.integers(min_value=0, max_value=6000),
)
def test_members_read_as_zipfile_reads_them(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, method: int, limit: int
) -> None:
    path = tmp_path_factory.mktemp("zip") / "a.zip"
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("x/doc.xml", data)
    with zipfile.ZipFile(path) as archive:
        with archive.open("x/doc.xml") as handle:
            expected = handle.read(limit)
        assert _read(path, archive, "x/doc.xml", limit) == expected


def _read(path: Path, archive: zipfile.ZipFile, member: str, limit: int) -> bytes:
    entry = MemberEntry.of(archive.getinfo(member))
    assert entry is not None
    descriptor = os.open(path, os.O_RDONLY)
    try:
        return member_bytes(descriptor, entry, member, limit)
    finally:
        os.close(descriptor)


def _corrupt(path: Path, old: bytes, new: bytes) -> None:
    raw = path.read_bytes()
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, new))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_damaged_member_is_refused_as_zipfile_refuses_it(tmp_path: Path, method: int) -> None:
    text = b"<report><reportId>R-1</reportId>" + b"<note/>" * 40 + b"</report>"
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("doc.xml", text)
        archive.writestr("other.xml", b"<fileDetails/>")
    if method == zipfile.ZIP_STORED:
        _corrupt(path, b"R-1", b"R-2")
    else:
        raw = bytearray(path.read_bytes())
        raw[60] ^= 0xFF  # inside the deflated data of the first member
        path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(zipfile.BadZipFile):
            _read(path, archive, "doc.xml", len(text) + 1)
        with pytest.raises((zipfile.BadZipFile, zlib.error)):
            archive.read("doc.xml")
        assert _read(path, archive, "other.xml", 100) == b"<fileDetails/>"


_NAMES = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
    ).filter(lambda name: 0 < len(name) < 60),
    min_size=0,
    max_size=8,
    unique=True,
)


@settings(max_examples=60, deadline=None)
@given(
    names=_NAMES,
    methods=st.lists(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]), min_size=8),
    comment=st.binary(max_size=300),
    prefix=st.binary(max_size=200),
    directory=st.booleans(),
)
def test_the_listing_is_the_one_zipfile_gives(
    tmp_path_factory: pytest.TempPathFactory,
    names: list[str],
    methods: list[int],
    comment: bytes,
    prefix: bytes,
    directory: bool,
) -> None:
    # Data before the archive (as in a self-extracting one) moves every offset; a comment
    # moves the end record; directories are left out.
    path = tmp_path_factory.mktemp("zip") / "a.zip"
    with open(path, "wb") as handle:
        handle.write(prefix)
        with zipfile.ZipFile(handle, "w") as archive:
            if directory:
                archive.mkdir("folder")
            for name, method in zip(names, methods, strict=False):
                archive.writestr(name, name.encode() * 3, compress_type=method)
            archive.comment = comment
    try:
        expected = _zipfile_listing(path)
    except zipfile.BadZipFile:  # a comment can hide the end record from zipfile too
        with pytest.raises(ValidationError) as refused:
            list_members(path)
        assert refused.value.rule == "bad_archive"
        return
    assert list_members(path) == expected
    descriptor = os.open(path, os.O_RDONLY)
    try:
        for name, size, entry in zip(*list_members(path), strict=True):
            assert entry is not None
            data = member_bytes(descriptor, entry, name, size)
            assert data == name.encode() * 3
            head = member_head(descriptor, entry, 16)
            assert data.startswith(head) and len(head) >= min(16, len(data))
    finally:
        os.close(descriptor)


def test_zip64_archives_are_listed_as_zipfile_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Archives past 4 GB or 65,535 members: zipfile writes ZIP64 records past these limits.
    path = tmp_path / "a.zip"
    with monkeypatch.context() as limits:
        limits.setattr(zipfile, "ZIP64_LIMIT", 4)
        limits.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("big.xml", b"<report/>")
            archive.writestr("small.xml", b"<fileDetails/>")
    raw = path.read_bytes()
    assert b"PK\x06\x06" in raw and b"\xff\xff\xff\xff" in raw[raw.index(b"PK\x01\x02") :]
    listing = list_members(path)
    assert listing == _zipfile_listing(path)
    assert (listing.names, listing.sizes) == (["big.xml", "small.xml"], [9, 14])


def test_encrypted_members_are_left_to_zipfile(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.xml", b"<report/>")
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 8] |= 0x1  # the encryption flag, in the central directory only
    path.write_bytes(bytes(raw))
    assert list_members(path) == Listing(["a.xml"], [9], [None])


def test_archives_that_are_not_archives_or_too_large_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValidationError, match=r"bad\.zip: not a readable zip archive") as bad:
        list_members(tmp_path / "bad.zip")
    assert bad.value.rule == "bad_archive"
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(3):
            archive.writestr(f"{number}.xml", b"<report/>")
    cut = path.read_bytes()
    (tmp_path / "cut.zip").write_bytes(cut[: cut.rindex(b"PK\x01\x02") + 20] + cut[-22:])
    with pytest.raises(ValidationError) as damaged:
        list_members(tmp_path / "cut.zip")
    assert damaged.value.rule == "bad_archive"
    monkeypatch.setattr(archives, "MAX_ARCHIVE_MEMBERS", 2)
    with pytest.raises(ValidationError, match="3 members, at most 2") as large:
        list_members(path)
    assert large.value.rule == "archive_too_large"


def test_names_are_decoded_and_cut_as_zipfile_does(tmp_path: Path) -> None:
    # zipfile writes every non-ASCII name as UTF-8 and cuts names at a NUL, so the other cases
    # are written into the archive's bytes: a cp437 name (no UTF-8 flag), a NUL inside a name.
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("caf\u00e9.xml", b"<report/>")
        archive.writestr("old-Q.xml", b"<report/>")
        archive.writestr("cut-Z-here.xml", b"<report/>")
        archive.mkdir("folder")
        archive.writestr("folder/inner.csv", b"a\n")
    raw = path.read_bytes().replace(b"old-Q", b"old-\x82").replace(b"-Z-", b"-\x00-")
    path.write_bytes(raw)
    listing = list_members(path)
    assert listing == _zipfile_listing(path)
    assert listing.names == ["caf\u00e9.xml", "old-\u00e9.xml", "cut-", "folder/inner.csv"]
    with open(path, "rb") as handle:  # read by this module's reader, not left to zipfile
        assert archives._central_directory(handle.fileno(), len(raw)) == listing


def _zipfile_listing(path: Path) -> Listing:
    with zipfile.ZipFile(path) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
    return Listing(
        [i.filename for i in infos],
        [i.file_size for i in infos],
        [MemberEntry.of(i) for i in infos],
    )


@given(name=st.text(alphabet="ab./XML", max_size=14))
def test_member_extensions_are_the_ones_splitext_gives(name: str) -> None:
    assert _extension(name) == posixpath.splitext(name)[1].lower()
