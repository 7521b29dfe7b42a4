"""Archive members read by the intake: the same bytes as ``zipfile`` gives, corruption refused."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguarding.triage.ingest import MemberEntry, member_bytes


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
